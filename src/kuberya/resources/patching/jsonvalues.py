"""JSON value equality as the wire means it, not as Python's ``==`` does.

Python says ``True == 1`` and ``{"a": True} == {"a": 1}``; JSON (and Go's ``reflect.DeepEqual`` on
decoded values) tells booleans and numbers apart. Every engine here compares through these helpers.
"""

from __future__ import annotations

import json
from typing import Any


def json_equal(left: Any, right: Any) -> bool:
    """Deep equality of two JSON values; ``1 == 1.0`` but ``True != 1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(value, right[key]) for key, value in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    return type(left) is type(right) and bool(left == right)


def canonical(value: Any) -> str:
    """Encode compact, key-sorted JSON: a hashable identity for a value, and FieldsV1's key syntax."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
