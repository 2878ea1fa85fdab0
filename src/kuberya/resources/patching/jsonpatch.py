"""JSON Patch (RFC 6902), the ``application/json-patch+json`` content type.

Used by ``kubectl rollout undo`` (``replace`` of ``/spec/template`` and ``/metadata/annotations``),
by the Python client for list bodies, and by kubectl's CSA→SSA managedFields migration.

Operations run in order on a private deep copy, so a failing operation leaves the caller's document
untouched (RFC 6902 §5: the whole patch fails). Pointers follow RFC 6901: ``~1`` is ``/``, ``~0`` is
``~``, and ``-`` names the slot after the last array element (valid only where something is added).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kuberya.resources.patching.errors import PatchError
from kuberya.resources.patching.jsonvalues import json_equal

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def json_patch(original: Any, operations: list[Any]) -> Any:
    """Apply the RFC 6902 ``operations`` to ``original`` and return the new document."""
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be a list of operations, not {type(operations).__name__}")
    document = copy.deepcopy(original)
    for number, operation in enumerate(operations):
        try:
            document = _apply(document, operation)
        except PatchError as error:
            raise PatchError(f"JSON patch operation {number} ({_describe(operation)}): {error}") from None
    return document


def _describe(operation: Any) -> str:
    if isinstance(operation, dict):
        return f"{operation.get('op')} {operation.get('path')}"
    return repr(operation)


def _apply(document: Any, operation: Any) -> Any:
    if not isinstance(operation, dict):
        raise PatchError("an operation must be an object with 'op' and 'path'")
    op = operation.get("op")
    path = _parse_pointer(_member(operation, "path"))
    if op == "add":
        return _add(document, path, copy.deepcopy(_member(operation, "value")))
    if op == "remove":
        document, _ = _remove(document, path)
        return document
    if op == "replace":
        value = copy.deepcopy(_member(operation, "value"))
        if not path:
            return value
        parent, token = _parent(document, path)
        if isinstance(parent, dict):
            if token not in parent:
                raise PatchError(f"cannot replace missing member {token!r}")
            parent[token] = value
        else:
            parent[_existing_index(parent, token)] = value
        return document
    if op in ("move", "copy"):
        source = _parse_pointer(_member(operation, "from"))
        if op == "move":
            if path[: len(source)] == source and len(path) > len(source):
                raise PatchError("cannot move a value into one of its own children")
            if path == source:
                return document
            document, value = _remove(document, source)
        else:
            value = copy.deepcopy(_get(document, source))
        return _add(document, path, value)
    if op == "test":
        if not json_equal(_get(document, path), _member(operation, "value")):
            raise PatchError("test failed: the value differs")
        return document
    raise PatchError(f"unknown operation {op!r}; expected add, remove, replace, move, copy or test")


def _member(operation: dict[str, Any], name: str) -> Any:
    # ``value`` may legitimately be null, so presence is checked rather than truthiness.
    if name not in operation:
        raise PatchError(f"missing {name!r}")
    return operation[name]


def _parse_pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"a JSON pointer must be a string, not {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} must start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PatchError(f"JSON pointer {pointer!r} has an invalid '~' escape")
    # ~1 first, then ~0: "~01" must decode to "~1", not "/".
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for token in path:
        if isinstance(current, dict):
            if token not in current:
                raise PatchError(f"member {token!r} does not exist")
            current = current[token]
        elif isinstance(current, list):
            current = current[_existing_index(current, token)]
        else:
            raise PatchError(f"cannot descend into a {type(current).__name__} at {token!r}")
    return current


def _parent(document: Any, path: list[str]) -> tuple[Any, str]:
    parent = _get(document, path[:-1])
    if not isinstance(parent, dict | list):
        raise PatchError(f"the parent of {path[-1]!r} is not an object or array")
    return parent, path[-1]


def _existing_index(array: list[Any], token: str) -> int:
    if not _ARRAY_INDEX.fullmatch(token):
        raise PatchError(f"{token!r} is not an array index")
    index = int(token)
    if index >= len(array):
        raise PatchError(f"index {index} is out of range (array length {len(array)})")
    return index


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif token == "-":
        parent.append(value)
    else:
        if not _ARRAY_INDEX.fullmatch(token) or int(token) > len(parent):
            raise PatchError(f"cannot insert at {token!r} in an array of length {len(parent)}")
        parent.insert(int(token), value)
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"cannot remove missing member {token!r}")
        return document, parent.pop(token)
    return document, parent.pop(_existing_index(parent, token))
