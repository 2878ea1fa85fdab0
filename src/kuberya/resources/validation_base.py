"""Building :class:`Cause` s worded like apimachinery's ``field.Error`` (``ErrorBody``).

Upstream prints a rejected value with Go's ``%#v``-like formatting (``"x"``, ``5``,
``map[string]string{"app":"web"}``); :func:`go_value` imitates it so messages read the same.
"""

from __future__ import annotations

import json
from typing import Any

from kuberya.resources.types import Cause


def go_value(value: Any) -> str:
    """Render ``value`` as upstream error messages do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def required(field: str, detail: str = "") -> Cause:
    return Cause(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}")


def not_supported(field: str, value: Any, supported: tuple[str, ...]) -> Cause:
    quoted = ", ".join(json.dumps(s) for s in sorted(supported))
    return Cause(field, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {quoted}")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(field: str, limit: int) -> Cause:
    return Cause(field, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def port_range(field: str, port: Any) -> list[Cause]:
    """Check a port number: an int from 1 to 65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return [invalid(field, port, "must be between 1 and 65535, inclusive")]
    return []


def non_negative(field: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []
