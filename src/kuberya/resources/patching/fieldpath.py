"""Field sets: which fields of an object a field manager owns, and their ``FieldsV1`` encoding.

A path is a tuple of upstream path elements, already in FieldsV1 spelling:

- ``f:<name>``: a field of a map;
- ``k:{"name":"web"}``: the item of a keyed list (merge key from :mod:`.schema`) with that key;
- ``v:"x"``: the item of a set-like list of primitives (``finalizers``).

What a set holds follows structured-merge-diff's ``ToFieldSet``: every leaf (scalar, null, empty
map, atomic list or map) and every list item (spelt ``.`` under the item in FieldsV1). Maps that
merely contain other fields are not members themselves. Lists with no merge strategy are atomic,
as are all lists of custom resources, so they are one leaf.

Server-managed fields are never owned: ``apiVersion``, ``kind``, and ``metadata``'s ``name``,
``namespace``, ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``, ``selfLink``,
``managedFields`` (upstream's ``stripMetaManager``), plus ``status`` on the main resource and
everything but ``status`` on the ``status`` subresource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kuberya.resources.patching import schema
from kuberya.resources.patching.errors import PatchError
from kuberya.resources.patching.jsonvalues import canonical
from kuberya.resources.types import JSONObject

FieldPath = tuple[str, ...]

ITEM: Any = object()
"""The value :func:`collect_fields` gives a list item: items are owned, never "modified"."""

_UNOWNED_TOP = frozenset({"apiVersion", "kind"})
_UNOWNED_METADATA = frozenset(
    {
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink",
        "managedFields", "clusterName",
    }
)  # fmt: skip


def collect_fields(obj: JSONObject, *, kind: str, subresource: str = "") -> dict[FieldPath, Any]:
    """Map every owned path of ``obj`` to its value (:data:`ITEM` for list items)."""
    fields: dict[FieldPath, Any] = {}
    for key, value in obj.items():
        if key in _UNOWNED_TOP or (key == "status") != (subresource == "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _UNOWNED_METADATA:
                    _walk_value(meta_value, ("metadata", meta_key), ("f:metadata", f"f:{meta_key}"), fields, kind)
            continue
        _walk_value(value, (key,), (f"f:{key}",), fields, kind)
    return fields


def _walk_value(value: Any, spath: schema.Path, fpath: FieldPath, out: dict[FieldPath, Any], kind: str) -> None:
    meta = schema.lookup(kind, spath)
    if isinstance(value, dict):
        if not value or meta.atomic:
            out[fpath] = value
            return
        for key, child in value.items():
            _walk_value(child, (*spath, key), (*fpath, f"f:{key}"), out, kind)
        return
    if isinstance(value, list) and meta.strategy == "merge":
        key = meta.merge_key
        if key and all(isinstance(item, dict) and key in item for item in value):
            for item in value:
                item_path = (*fpath, item_element(item, key))
                out[item_path] = ITEM
                for field, child in item.items():
                    _walk_value(child, (*spath, field), (*item_path, f"f:{field}"), out, kind)
            return
        if not key and not any(isinstance(item, dict | list) for item in value):
            for item in value:
                out[(*fpath, f"v:{canonical(item)}")] = ITEM
            return
    out[fpath] = value


def item_element(item: JSONObject, key: str) -> str:
    """Spell the ``k:`` path element of a keyed list item."""
    return "k:" + canonical({key: item[key]})


def encode_fields_v1(paths: Iterable[FieldPath]) -> JSONObject:
    """Encode a field set as upstream's FieldsV1 trie: ``{"f:spec": {"f:replicas": {}}}``."""
    root: dict[str, Any] = {}
    members: list[FieldPath] = []
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        members.append(path)
    for path in members:
        node = root
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted_trie(root)


def _sorted_trie(node: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted_trie(node[key]) for key in sorted(node, key=lambda k: (k != ".", k))}


def decode_fields_v1(fields: Any) -> set[FieldPath]:
    """Decode a FieldsV1 trie into a set of paths; :class:`PatchError` if it is malformed."""
    if not isinstance(fields, dict):
        raise PatchError("fieldsV1 must be a JSON object")
    paths: set[FieldPath] = set()
    _decode(fields, (), paths)
    return paths


def _decode(node: dict[str, Any], prefix: FieldPath, out: set[FieldPath]) -> None:
    for element, child in node.items():
        if not isinstance(child, dict):
            raise PatchError(f"fieldsV1 entry {element!r} must be an object")
        if element == ".":
            if prefix:
                out.add(prefix)
            continue
        if element[:2] not in ("f:", "k:", "v:", "i:"):
            raise PatchError(f"fieldsV1 has an unknown path element {element!r}")
        path = (*prefix, element)
        if child:
            _decode(child, path, out)
        else:
            out.add(path)


def path_string(path: FieldPath) -> str:
    """Upstream's ``fieldpath.Path.String()``: ``.spec.containers[name="web"].image``."""
    parts: list[str] = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append(f".{text}")
        elif kind == "k:":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={canonical(v)}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)
