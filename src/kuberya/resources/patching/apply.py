"""Server-side apply and ``metadata.managedFields`` bookkeeping.

A simplified structured-merge-diff (``sigs.k8s.io/structured-merge-diff/v4/merge/update.go``).
Every field manager — identified by name, operation (``Apply`` or ``Update``), subresource and, for
updates, API version — owns a set of field paths (:mod:`.fieldpath`). An apply:

1. merges the applied configuration into the live object (keyed lists by their merge key, primitive
   sets by value, atomic lists and maps replaced; list order as upstream's ``visitListItems``);
2. prunes what this applier owned last time but no longer applies, unless someone else owns it;
3. compares live with the result: another manager's fields that were added or changed are
   conflicts (an error unless ``force``, in which case they change hands); removed fields leave
   every other manager's set;
4. records the applier's set as exactly what it applied.

A non-apply write (:func:`record_update_manager`) gives its manager the fields it added or changed
and takes them, with the removed ones, away from everybody else.

Differences from upstream, none visible to kubectl's logic: list keys are the single strategic merge
key (upstream keys ``ports`` by ``containerPort`` *and* ``protocol``); updates record intermediate
maps only when they are empty; nothing here converts field sets between API versions.
"""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from kuberya.resources.patching import schema
from kuberya.resources.patching.errors import ApplyConflictError, PatchError
from kuberya.resources.patching.fieldpath import (
    ITEM,
    FieldPath,
    collect_fields,
    decode_fields_v1,
    encode_fields_v1,
    path_string,
)
from kuberya.resources.patching.jsonvalues import canonical, json_equal
from kuberya.resources.types import JSONObject

BEFORE_FIRST_APPLY = "before-first-apply"
"""Upstream's name for the owner of everything an object held before its first tracked write."""
ANCIENT_CHANGES = "ancient-changes"
"""Upstream's name for the bucket the oldest Update managers are merged into (``capManagersManager``)."""
MAX_UPDATE_MANAGERS = 10
"""Update entries an object keeps (upstream's ``DefaultMaxUpdateManagers``): without a cap, every
client that ever wrote an object — each kubectl version, each controller — would add an entry for
ever, and managedFields would outgrow the object."""

# Fields the applier cannot set: the API server owns them. ``status`` is written only through the
# status subresource.
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")

_Identity = tuple[str, str, str, str]


@dataclass(slots=True)
class _Manager:
    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str = ""
    fields: set[FieldPath] = field(default_factory=set)

    @property
    def identity(self) -> _Identity:
        # Upstream keys Update managers by API version too; an applier keeps one entry.
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, version, self.subresource)

    def shown(self) -> str:
        """How upstream's ``printManager`` names this manager in conflict messages."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}" + (f" at {self.time}" if self.time else "")
        return text

    def entry(self) -> JSONObject:
        entry: JSONObject = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = encode_fields_v1(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def server_side_apply(
    live: JSONObject | None,
    applied: JSONObject,
    *,
    kind: str,
    manager: str,
    force: bool,
    operation_time: str,
) -> JSONObject:
    """Apply ``applied`` for ``manager``; return the new object with updated ``managedFields``.

    Raises :class:`ApplyConflictError` when another manager owns a field this apply changes and
    ``force`` is false, and :class:`PatchError` for a malformed configuration.
    """
    if not isinstance(applied, dict):
        raise PatchError(f"an apply configuration must be a JSON object, not {type(applied).__name__}")
    if not manager:
        raise PatchError("fieldManager is required for apply patch")
    config = _without_server_fields(applied)
    base = _without_managed_fields(live) if live is not None else {}
    managers = _read_managers(live)
    if live is not None and not managers:
        # An object nobody tracked yet: its fields belong to a stand-in Update manager, so the
        # first apply conflicts with them instead of silently claiming them.
        stand_in = _Manager(BEFORE_FIRST_APPLY, "Update", str(live.get("apiVersion", "")), None)
        stand_in.fields = set(collect_fields(base, kind=kind))
        if stand_in.fields:
            managers[stand_in.identity] = stand_in

    me = _Manager(manager, "Apply", str(applied.get("apiVersion") or base.get("apiVersion", "")), operation_time)
    previous = managers.pop(me.identity, None)
    me.fields = set(collect_fields(config, kind=kind))

    before = collect_fields(base, kind=kind)
    merged: JSONObject = _merge_value(copy.deepcopy(base), config, (), kind)
    if previous is not None:
        owned = me.fields.union(*(m.fields for m in managers.values()))
        _prune(merged, previous.fields - owned, owned)
    after = collect_fields(merged, kind=kind)
    changed, removed = _compare(before, after)
    conflicts = [
        (other.manager, path_string(path))
        for other in sorted(managers.values(), key=lambda m: m.manager)
        for path in sorted(other.fields & changed, key=path_string)
    ]
    if conflicts and not force:
        raise ApplyConflictError(conflicts, managers={m.manager: m.shown() for m in managers.values()})
    for other in managers.values():
        other.fields -= changed | removed
    if previous is not None and previous.fields == me.fields and not changed and not removed:
        me.time = previous.time  # a no-op apply leaves the timestamp alone
    managers[me.identity] = me
    _write_managers(merged, managers)
    return merged


def record_update_manager(
    old: JSONObject | None,
    new: JSONObject,
    *,
    manager: str,
    api_version: str,
    operation_time: str,
    subresource: str = "",
) -> None:
    """Update ``new``'s ``managedFields`` in place for a non-apply write (create, update, patch).

    ``new`` may carry managedFields of its own: a non-empty list replaces the old one (that is how
    clients rewrite ownership), a list holding one empty entry clears tracking altogether, and an
    absent or empty list keeps the old object's.
    """
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        return
    sent = metadata.get("managedFields")
    if sent == [{}]:
        del metadata["managedFields"]
        return
    managers = _read_managers(old)
    if sent:
        # Upstream's decodeLiveOrNew: managedFields the client garbled are taken from the live
        # object, never an error (validation has its say on what is finally stored).
        with contextlib.suppress(PatchError):
            managers = _read_managers(new)
    before = collect_fields(old, kind=_kind(new, old), subresource=subresource) if old is not None else {}
    after = collect_fields(new, kind=_kind(new, old), subresource=subresource)
    changed, removed = _compare(before, after)
    me = _Manager(manager, "Update", api_version, operation_time, subresource)
    previous = managers.pop(me.identity, None)
    for other in managers.values():
        other.fields -= changed | removed
    me.fields = ((previous.fields if previous else set()) | changed) - removed
    if previous is not None and not changed and not removed:
        me.time = previous.time
    managers[me.identity] = me
    _write_managers(new, _cap_update_managers(managers))


def _cap_update_managers(
    managers: dict[_Identity, _Manager], limit: int = MAX_UPDATE_MANAGERS
) -> dict[_Identity, _Manager]:
    """Merge the oldest Update managers into per-version ``ancient-changes`` buckets.

    Upstream's ``capUpdateManagers``: Update entries (those left with fields) sorted oldest first,
    ties by name; each, until no more than ``limit`` remain, moves into the bucket of its API
    version, which takes its time. Merging into a bucket that exists makes one entry fewer;
    the first of a version only renames. Apply entries are never touched.
    """
    managers = {identity: m for identity, m in managers.items() if m.fields}
    updaters = [m for m in managers.values() if m.operation == "Update"]
    if len(updaters) <= limit:
        return managers
    updaters.sort(key=lambda m: (m.time or "", m.manager, m.api_version, m.subresource))
    remaining = len(updaters)
    for oldest in updaters:
        if remaining <= limit:
            break
        bucket = _Manager(ANCIENT_CHANGES, "Update", oldest.api_version, oldest.time)
        if oldest.identity == bucket.identity:
            continue
        existing = managers.pop(bucket.identity, None)
        if existing is not None:
            bucket.fields = existing.fields | oldest.fields
            remaining -= 1
        else:
            bucket.fields = set(oldest.fields)
        del managers[oldest.identity]
        managers[bucket.identity] = bucket
    return managers


def _kind(new: JSONObject, old: JSONObject | None) -> str:
    return str(new.get("kind") or (old or {}).get("kind") or "")


# -- managedFields in and out ----------------------------------------------------------------------


def _read_managers(obj: JSONObject | None) -> dict[_Identity, _Manager]:
    metadata = (obj or {}).get("metadata")
    raw = metadata.get("managedFields") if isinstance(metadata, dict) else None
    managers: dict[_Identity, _Manager] = {}
    if raw is not None and not isinstance(raw, list):
        raise PatchError(f"managedFields must be a list, not {type(raw).__name__}")
    for entry in raw or []:
        if not isinstance(entry, dict) or not entry.get("manager"):
            raise PatchError(f"invalid managedFields entry {entry!r}: a manager name is required")
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise PatchError(f"managedFields entry of {entry['manager']!r}: only fieldsType FieldsV1 is supported")
        manager = _Manager(
            manager=str(entry["manager"]),
            operation=str(entry.get("operation", "Update")),
            api_version=str(entry.get("apiVersion", "")),
            time=entry.get("time"),
            subresource=str(entry.get("subresource", "")),
            fields=decode_fields_v1(entry.get("fieldsV1", {})),
        )
        existing = managers.get(manager.identity)
        if existing is not None:
            existing.fields |= manager.fields
        else:
            managers[manager.identity] = manager
    return managers


def _write_managers(obj: JSONObject, managers: dict[_Identity, _Manager]) -> None:
    # Upstream's sortEncodedManagedFields: Apply before Update, then oldest first, then by name.
    kept = sorted(
        (m for m in managers.values() if m.fields),
        key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource),
    )
    metadata = obj.setdefault("metadata", {})
    if kept:
        metadata["managedFields"] = [m.entry() for m in kept]
    else:
        metadata.pop("managedFields", None)


def _without_managed_fields(obj: JSONObject) -> JSONObject:
    result = copy.deepcopy(obj)
    metadata = result.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return result


def _without_server_fields(applied: JSONObject) -> JSONObject:
    config = {k: copy.deepcopy(v) for k, v in applied.items() if k != "status"}
    metadata = config.get("metadata")
    if isinstance(metadata, dict):
        for key in _SERVER_METADATA:
            metadata.pop(key, None)
    return config


# -- comparing, merging, pruning --------------------------------------------------------------------


def _compare(before: dict[FieldPath, Any], after: dict[FieldPath, Any]) -> tuple[set[FieldPath], set[FieldPath]]:
    """Return (added or modified, removed) paths, as ``TypedValue.Compare`` would."""
    changed = {path for path in after if path not in before}
    changed |= {
        path
        for path, value in after.items()
        if path in before and value is not ITEM and before[path] is not ITEM and not json_equal(value, before[path])
    }
    removed = {path for path in before if path not in after}
    return changed, removed


def _clean(value: Any) -> Any:
    """Deep-copy a configuration value, dropping the nulls of maps (null there means "not set")."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _merge_value(live: Any, config: Any, spath: schema.Path, kind: str) -> Any:
    meta = schema.lookup(kind, spath)
    if isinstance(config, dict) and isinstance(live, dict) and not meta.atomic:
        result = dict(live)
        for key, value in config.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = _merge_value(result[key], value, (*spath, key), kind)
            else:
                result[key] = _clean(value)
        return result
    if isinstance(config, list) and isinstance(live, list) and meta.strategy == "merge":
        return _merge_lists(live, config, spath, kind, meta.merge_key)
    return _clean(config)


def _list_identity(item: Any, key: str) -> str | None:
    if key:
        return canonical(item[key]) if isinstance(item, dict) and key in item else None
    return None if isinstance(item, dict | list) else canonical(item)


def _merge_lists(live: list[Any], config: list[Any], spath: schema.Path, kind: str, key: str) -> list[Any]:
    """Merge an associative list: structured-merge-diff's ``visitListItems`` ordering.

    Live-only items keep their place, shared items follow the configuration's order, new items are
    inserted where the configuration puts them.
    """
    live_ids = [_list_identity(item, key) for item in live]
    config_ids = [_list_identity(item, key) for item in config]
    if None in live_ids or None in config_ids:
        atomic: list[Any] = _clean(config)  # items without their key cannot be matched: atomic
        return atomic
    live_by_id: dict[str | None, Any] = {}
    for pe, item in zip(live_ids, live, strict=True):
        live_by_id.setdefault(pe, item)
    config_by_id: dict[str | None, Any] = {}
    for pe, item in zip(config_ids, config, strict=True):
        config_by_id.setdefault(pe, item)
    shared = [pe for pe in config_ids if pe in live_by_id]
    next_shared = shared.pop(0) if shared else None
    merged_ids: set[str | None] = set()
    out: list[Any] = []

    def merged_item(pe: str | None) -> Any:
        if pe in live_by_id:
            return _merge_value(live_by_id[pe], config_by_id[pe], spath, kind)
        return _clean(config_by_id[pe])

    li = ri = 0
    while li < len(live) or ri < len(config):
        if li < len(live) and ri < len(config):
            pe = live_ids[li]
            if pe == config_ids[ri]:
                merged_ids.add(pe)
                out.append(merged_item(pe))
                li, ri = li + 1, ri + 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in config_by_id and next_shared is not None and next_shared != pe:
                li += 1  # a shared item, but not the one due now: it is placed when its turn comes
                continue
        if li < len(live):
            pe = live_ids[li]
            if pe not in config_by_id:
                out.append(copy.deepcopy(live[li]))
                li += 1
                continue
            if pe in merged_ids:
                li += 1
                continue
        if ri < len(config):
            pe = config_ids[ri]
            if pe in merged_ids:
                ri += 1  # a duplicate key in the configuration
                continue
            merged_ids.add(pe)
            out.append(merged_item(pe))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


def _prune(obj: JSONObject, stale: set[FieldPath], owned: set[FieldPath]) -> None:
    """Remove ``stale`` paths from ``obj``, keeping any node that an ``owned`` path runs through."""
    kept = {path[:length] for path in owned for length in range(1, len(path) + 1)}
    # Shallowest first: a removed list item takes its fields with it, and its key fields must not
    # go before the item itself, or the item could no longer be found.
    for path in sorted(stale, key=len):
        if path in kept or _is_key_of_kept_item(path, kept):
            continue
        _remove_path(obj, path)
        # Drop containers the removal emptied (Go's omitempty would), unless someone owns them.
        for length in range(len(path) - 1, 0, -1):
            parent = path[:length]
            container = _locate(obj, parent)
            if parent in kept or not isinstance(container, dict | list) or container:
                break
            _remove_path(obj, parent)


def _is_key_of_kept_item(path: FieldPath, kept: set[FieldPath]) -> bool:
    """Tell whether ``path`` is a key field of a list item someone still owns part of."""
    if len(path) < 2 or not path[-2].startswith("k:") or path[:-1] not in kept:
        return False
    return path[-1][2:] in _parse_key(path[-2][2:])


def _locate(obj: Any, path: FieldPath) -> Any:
    current = obj
    for element in path:
        current = _child(current, element)
        if current is None:
            return None
    return current


def _child(container: Any, element: str) -> Any:
    kind, text = element[:2], element[2:]
    if kind == "f:" and isinstance(container, dict):
        return container.get(text)
    if isinstance(container, list):
        for item in container:
            if _matches(item, kind, text):
                return item
    return None


def _matches(item: Any, kind: str, text: str) -> bool:
    if kind == "k:":
        keys = _parse_key(text)
        return isinstance(item, dict) and all(k in item and json_equal(item[k], v) for k, v in keys.items())
    if kind == "v:":
        return not isinstance(item, dict | list) and canonical(item) == text
    return False


def _parse_key(text: str) -> dict[str, Any]:
    keys = json.loads(text)
    if not isinstance(keys, dict):
        raise PatchError(f"invalid list key {text!r} in managedFields")
    return keys


def _remove_path(obj: Any, path: FieldPath) -> None:
    parent = _locate(obj, path[:-1])
    kind, text = path[-1][:2], path[-1][2:]
    if kind == "f:" and isinstance(parent, dict):
        parent.pop(text, None)
    elif isinstance(parent, list):
        parent[:] = [item for item in parent if not _matches(item, kind, text)]
