"""Strategic merge patch, the ``application/strategic-merge-patch+json`` content type.

A port of the apply half of apimachinery ``pkg/util/strategicpatch/patch.go`` (``mergeMap``,
``mergeSlice``, ``mergePatchIntoOriginal``, ``normalizeElementOrder``), run with the options the API
server uses (``MergeParallelList`` and ``IgnoreUnmatchedNulls``). The struct tags it needs come from
:mod:`.schema`.

- Maps merge key by key; ``null`` deletes; a value of a different type replaces.
- Lists tagged ``merge`` with a key merge item by item (a patch item merges into the live item with
  the same key, new items are added); untagged lists are replaced whole. Tagged lists of primitives
  are merged as sets.
- Directives: ``$patch: replace|delete`` on a map or a list item (and ``merge``, the default, which
  upstream's parser refuses but the SMP design document lists), ``$setElementOrder/<field>``,
  ``$retainKeys`` and ``$deleteFromPrimitiveList/<field>``.
- Order of a merged list: patch items in ``$setElementOrder`` (or patch) order, live-only items
  slotted in by their live position (upstream's ``mergeSortedSlice``; a new item of a two-way patch
  lands first, as upstream's does).

One deliberate difference: upstream copies a patch value that has no live counterpart verbatim and
relies on decoding into Go structs to drop leftover directives; kuberya stores JSON, so such a value
is merged into an empty map or list, which applies its directives and drops its nulls.

Kinds :mod:`.schema` does not know (custom resources) get JSON merge patch semantics.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberya.resources.patching import schema
from kuberya.resources.patching.errors import PatchError
from kuberya.resources.patching.jsonvalues import canonical, json_equal
from kuberya.resources.patching.merge import json_merge_patch
from kuberya.resources.types import JSONObject

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


def strategic_merge_patch(original: JSONObject, patch: JSONObject, *, kind: str) -> JSONObject:
    """Return ``original`` with the strategic merge ``patch`` applied; neither input is changed."""
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, not {type(patch).__name__}")
    if not isinstance(original, dict):
        raise PatchError("the patched object must be a JSON object")
    if not schema.is_known_kind(kind):
        merged = json_merge_patch(original, patch)
        assert isinstance(merged, dict)  # an object patch always yields an object
        return merged
    return _Merger(kind).merge_map(copy.deepcopy(original), copy.deepcopy(patch), ())


class _Merger:
    """One patch application. Works in place on private copies of the original and the patch."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def meta(self, path: schema.Path) -> schema.PatchMeta:
        return schema.lookup(self.kind, path)

    # -- maps ---------------------------------------------------------------------------------

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: schema.Path) -> dict[str, Any]:
        if DIRECTIVE in patch:
            directive = patch.pop(DIRECTIVE)
            if directive == "replace":
                return self.merge_map({}, patch, path)
            if directive == "delete":
                return {}
            if directive != "merge":
                raise PatchError(
                    f"unknown patch directive {directive!r} at {_show(path)}; expected replace, delete or merge"
                )
        self._retain_keys(original, patch, path)
        self._set_element_orders(original, patch, path)
        deletions: list[tuple[str, Any]] = []
        for key, value in patch.items():
            if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
                deletions.append((_directive_field(key, DELETE_FROM_PRIMITIVE_LIST), value))
                continue
            if value is None:
                original.pop(key, None)
                continue
            original[key] = self.merge_value(original.get(key), value, (*path, key), present=key in original)
        for field, values in deletions:
            if not isinstance(values, list):
                raise PatchError(f"{DELETE_FROM_PRIMITIVE_LIST}{field} at {_show(path)} must be a list")
            current = original.get(field)
            if isinstance(current, list):
                original[field] = [item for item in current if not any(json_equal(item, v) for v in values)]
        return original

    def merge_value(self, original: Any, patch: Any, path: schema.Path, *, present: bool) -> Any:
        if isinstance(patch, dict):
            if present and isinstance(original, dict):
                if self.meta(path).strategy == "replace":
                    return self.merge_map({}, patch, path)
                return self.merge_map(original, patch, path)
            return self.merge_map({}, patch, path)
        if isinstance(patch, list):
            meta = self.meta(path)
            if meta.strategy != "merge":
                return [self.fresh_item(item, path) for item in patch]
            base = original if present and isinstance(original, list) else []
            return self.merge_list(base, patch, path, meta)
        return patch

    def fresh_item(self, item: Any, path: schema.Path) -> Any:
        """Clean an element of a replaced list of directives and nulls, like any new value."""
        return self.merge_map({}, item, path) if isinstance(item, dict) else item

    def _retain_keys(self, original: dict[str, Any], patch: dict[str, Any], path: schema.Path) -> None:
        if RETAIN_KEYS not in patch:
            return
        retained = patch.pop(RETAIN_KEYS)
        if not isinstance(retained, list) or not all(isinstance(k, str) for k in retained):
            raise PatchError(f"{RETAIN_KEYS} at {_show(path)} must be a list of field names")
        for key, value in patch.items():
            if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
                continue
            if key not in retained:
                raise PatchError(f"{RETAIN_KEYS} at {_show(path)} does not list {key!r}, which the patch sets")
        for key in [k for k in original if k not in retained]:
            del original[key]

    # -- lists ----------------------------------------------------------------------------------

    def merge_list(self, original: list[Any], patch: list[Any], path: schema.Path, meta: schema.PatchMeta) -> list[Any]:
        if not original and not patch:
            return original
        of_maps = _elements_are_maps(original, patch, path)
        key = meta.merge_key
        if of_maps:
            if not key:
                raise PatchError(f"cannot merge the list at {_show(path)}: it has no merge key")
            original, patch = self._special_items(original, patch, key, path)
            merged = self._merge_items(original, patch, key, path)
        else:
            merged = _deduplicate(original + patch)
        return _order(merged, patch_order=patch, server_order=original, key=key if of_maps else "")

    def _special_items(
        self, original: list[Any], patch: list[Any], key: str, path: schema.Path
    ) -> tuple[list[Any], list[Any]]:
        """Apply ``$patch`` items of a keyed list; return the live list left and the plain patch items."""
        plain: list[Any] = []
        replace = False
        for item in patch:
            if DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[DIRECTIVE]
            if directive == "delete":
                if key not in item:
                    raise PatchError(f"a $patch: delete item at {_show(path)} lacks its merge key {key!r}")
                original = [o for o in original if not _has_key(o, key, item[key])]
            elif directive == "replace":
                replace = True  # keep scanning: other directives in the list are still pruned
            elif directive == "merge":
                plain.append({k: v for k, v in item.items() if k != DIRECTIVE})
            else:
                raise PatchError(
                    f"unknown patch directive {directive!r} in the list at {_show(path)};"
                    " expected replace, delete or merge"
                )
        if replace:
            return [self.merge_map({}, item, path) for item in plain], []
        return original, plain

    def _merge_items(self, original: list[Any], patch: list[Any], key: str, path: schema.Path) -> list[Any]:
        merged = list(original)
        for item in patch:
            if key not in item:
                raise PatchError(f"an item of the list at {_show(path)} lacks its merge key {key!r}: {item}")
            for index, live in enumerate(merged):
                if _has_key(live, key, item[key]):
                    merged[index] = self.merge_map(live, item, path)
                    break
            else:
                merged.append(self.merge_map({}, item, path))
        return merged

    def _set_element_orders(self, original: dict[str, Any], patch: dict[str, Any], path: schema.Path) -> None:
        """Merge each list named by a ``$setElementOrder/<field>`` and put it in that order."""
        for directive_key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
            order = patch.pop(directive_key)
            field = _directive_field(directive_key, SET_ELEMENT_ORDER)
            if not isinstance(order, list):
                raise PatchError(f"{directive_key} at {_show(path)} must be a list")
            if patch.get(field, []) is None:
                continue  # the list itself is deleted; ordering it is moot
            live, patch_list = original.get(field), patch.pop(field, None)
            if (live is not None and not isinstance(live, list)) or (
                patch_list is not None and not isinstance(patch_list, list)
            ):
                raise PatchError(f"{directive_key} at {_show(path)} orders {field!r}, which is not a list")
            if live is None and patch_list is None:
                continue
            sub = (*path, field)
            meta = self.meta(sub)
            key = meta.merge_key
            _check_order(patch_list or [], order, key, sub)
            if patch_list is None:
                merged = list(live or [])
            else:
                merged = self.merge_value(live, patch_list, sub, present=live is not None)
            original[field] = _order(merged, patch_order=order, server_order=live or [], key=key)


# -- ordering (upstream normalizeElementOrder / mergeSortedSlice) ------------------------------------


def _identity(item: Any, key: str) -> str:
    return canonical(item.get(key) if key and isinstance(item, dict) else item)


def _order(merged: list[Any], *, patch_order: list[Any], server_order: list[Any], key: str) -> list[Any]:
    """Patch items in patch order, live-only items in live order, the two interleaved by live order."""
    if key:
        for item in (*merged, *patch_order):
            if not isinstance(item, dict) or key not in item:
                raise PatchError(f"list item {item!r} lacks its merge key {key!r}")
        patch_order = [item for item in patch_order if item.get(DIRECTIVE) != "delete"]
    in_patch = {_identity(item, key) for item in patch_order}
    patch_items = [item for item in merged if _identity(item, key) in in_patch]
    server_only = [item for item in merged if _identity(item, key) not in in_patch]
    patch_rank = _ranks(patch_order, key)
    server_rank = _ranks(server_order, key)
    patch_items.sort(key=lambda item: patch_rank.get(_identity(item, key), len(patch_rank)))
    server_only.sort(key=lambda item: server_rank.get(_identity(item, key), len(server_rank)))
    result: list[Any] = []
    left, right = 0, 0
    while left < len(server_only) or right < len(patch_items):
        if right >= len(patch_items):
            result.append(server_only[left])
            left += 1
        elif left >= len(server_only):
            result.append(patch_items[right])
            right += 1
        else:
            # A live-only item goes first only if both are live items and it came first there.
            l_rank = server_rank.get(_identity(server_only[left], key))
            r_rank = server_rank.get(_identity(patch_items[right], key))
            if l_rank is not None and r_rank is not None and l_rank < r_rank:
                result.append(server_only[left])
                left += 1
            else:
                result.append(patch_items[right])
                right += 1
    return result


def _ranks(items: list[Any], key: str) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for index, item in enumerate(items):
        ranks.setdefault(_identity(item, key), index)
    return ranks


def _check_order(patch_list: list[Any], order: list[Any], key: str, path: schema.Path) -> None:
    """Upstream's ``validatePatchWithSetOrderList``: patch items appear in the order list, in order."""
    if key:
        for item in order:
            if not isinstance(item, dict) or key not in item:
                raise PatchError(f"$setElementOrder item {item!r} at {_show(path)} lacks merge key {key!r}")
    items = [i for i in patch_list if not (isinstance(i, dict) and DIRECTIVE in i)]
    position = 0
    for item in items:
        wanted = _identity(item, key)
        while position < len(order) and _identity(order[position], key) != wanted:
            position += 1
        if position == len(order):
            raise PatchError(f"the order of the patch list at {_show(path)} does not match its $setElementOrder list")
        position += 1


def _elements_are_maps(original: list[Any], patch: list[Any], path: schema.Path) -> bool:
    kinds = {type(item) is dict for item in (*original, *patch)}
    if any(isinstance(item, list) for item in (*original, *patch)):
        raise PatchError(f"cannot merge the list at {_show(path)}: lists of lists are not supported")
    if len(kinds) > 1:
        raise PatchError(f"cannot merge the list at {_show(path)}: its items mix objects and primitives")
    return kinds == {True}


def _deduplicate(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    unique = []
    for item in items:
        identity = canonical(item)
        if identity not in seen:
            seen.add(identity)
            unique.append(item)
    return unique


def _has_key(item: Any, key: str, value: Any) -> bool:
    return isinstance(item, dict) and key in item and json_equal(item[key], value)


def _directive_field(key: str, prefix: str) -> str:
    field = key[len(prefix) :]
    if not field:
        raise PatchError(f"directive {key!r} names no field")
    return field


def _show(path: schema.Path) -> str:
    return "." + ".".join(path) if path else "the top level"
