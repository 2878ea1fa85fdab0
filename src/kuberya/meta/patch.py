"""JSON Merge Patch (RFC 7386), the ``application/merge-patch+json`` content type.

Used by ``kubectl scale``, ``label``, ``annotate`` and for custom resources, by the API server
and by the fake client alike. The algorithm is the RFC's pseudo-code: an object patch merges key
by key, ``null`` deletes, anything else (arrays included) replaces. Inputs are never mutated: the
result shares no containers with them.
"""

from __future__ import annotations

import copy
from typing import Any


def json_merge_patch(original: Any, patch: Any) -> Any:
    """Return ``original`` with the RFC 7386 ``patch`` applied."""
    return _merge(copy.deepcopy(original), patch)


def _merge(target: Any, patch: Any) -> Any:
    # ``target`` is already a private copy, so it may be changed in place.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target
