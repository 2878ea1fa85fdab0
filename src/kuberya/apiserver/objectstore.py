"""Objects on top of the revision log: keys, resourceVersions, compare-and-swap updates.

This is the API server's generic registry (upstream's ``genericregistry.Store``): it knows how
an object maps to a storage key (``/registry/<group>/<resource>/<namespace>/<name>``), turns a
storage revision into ``metadata.resourceVersion``, retries read-modify-write cycles that lose
a compare-and-swap, and translates storage errors into API ``Status`` errors. It knows nothing
of HTTP and nothing of any particular kind: defaulting, validation and the rest of admission
happen in :mod:`kuberya.apiserver.admission` before a write reaches it.

Objects are stored as JSON in their storage version without ``resourceVersion`` (the revision
that wrote them *is* their resourceVersion, set again on every read).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from kuberya.apiserver import errors
from kuberya.resources.selectors import FieldSelector, LabelSelector
from kuberya.resources.types import JSONObject, ResourceType
from kuberya.storage import (
    Backend,
    CompactedError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    RevisionMismatchError,
)

Mutation = Callable[[JSONObject], Awaitable[JSONObject | None]]
"""Given the current object, return the object to write, or None to write nothing."""

MAX_LIST_CHUNK = 1 << 31
"""Most keys one storage read of a paged list asks for: a client's ``limit`` can be any int64 (or
larger), and storage drivers take machine-sized limits (``islice``, SQLite's ``LIMIT``)."""

MAX_UPDATE_ATTEMPTS = 16
"""Read-modify-write cycles that lose a compare-and-swap are retried this often (upstream
``GuaranteedUpdate`` retries without bound; a bound turns a livelock into a clear 409)."""


def storage_prefix(rt: ResourceType, namespace: str | None) -> str:
    group = rt.group or "core"
    if rt.namespaced and namespace:
        return f"/registry/{group}/{rt.resource}/{namespace}/"
    return f"/registry/{group}/{rt.resource}/"


def storage_key(rt: ResourceType, namespace: str | None, name: str) -> str:
    return storage_prefix(rt, namespace if rt.namespaced else None) + name


def decode(kv: KeyValue) -> JSONObject:
    obj: JSONObject = json.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def encode(obj: JSONObject) -> bytes:
    meta = obj.get("metadata", {})
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ObjectFilter:
    """What a list or watch selects: a namespace (None: all), label and field selectors."""

    namespace: str | None = None
    labels: LabelSelector | None = None
    fields: FieldSelector | None = None

    def matches(self, obj: JSONObject) -> bool:
        meta = obj.get("metadata", {})
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        return not (self.fields is not None and not self.fields.matches(obj))


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[JSONObject]
    resource_version: int
    continue_token: str
    remaining: int | None


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    """ADDED, MODIFIED, DELETED."""
    object: JSONObject
    revision: int


def _encode_continue(*, revision: int, start_after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    """The revision and start key of a token :func:`_encode_continue` made; 400 for anything else.

    A token is client input: its fields are checked for type, not converted (``1e999`` is no
    revision), and a revision below 1 is refused as upstream's ``DecodeContinue`` does.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error) as e:
        raise errors.bad_request(f"invalid continue token: {e}") from e
    if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: server does not recognize this encoding"
        )
    revision, start = data.get("rv"), data.get("start")
    if type(revision) is not int or revision < 1:
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)"
        )
    if not isinstance(start, str):
        raise errors.bad_request(f"invalid continue token: continue key is not valid: {start!r}")
    return revision, start


class ObjectStore:
    """Get, list, watch and write objects of any kind through a :class:`Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> JSONObject:
        kv = await self.backend.get(storage_key(rt, namespace, name))
        if kv is None:
            raise errors.not_found(rt.group, rt.resource, name)
        return decode(kv)

    async def get_or_none(self, rt: ResourceType, namespace: str | None, name: str) -> JSONObject | None:
        kv = await self.backend.get(storage_key(rt, namespace, name))
        return decode(kv) if kv is not None else None

    async def list(
        self,
        rt: ResourceType,
        *,
        selection: ObjectFilter,
        limit: int = 0,
        continue_token: str = "",
        resource_version: int = 0,
    ) -> ListPage:
        """One page of matching objects, all read at one revision.

        With ``limit``, storage is read in chunks until ``limit`` objects *match* (upstream
        does the same against etcd), so a selective list still fills its page.
        """
        prefix = storage_prefix(rt, selection.namespace)
        start_after = ""
        revision = resource_version
        if continue_token:
            revision, start_after = _decode_continue(continue_token)
        items: list[JSONObject] = []
        try:
            while True:
                chunk = min(max(limit - len(items), 0) * 2, MAX_LIST_CHUNK) if limit else 0
                result = await self.backend.list(prefix, revision=revision, limit=chunk, start_after=start_after)
                revision = result.revision
                for index, kv in enumerate(result.items):
                    obj = decode(kv)
                    if selection.matches(obj):
                        items.append(obj)
                    start_after = kv.key
                    if limit and len(items) >= limit:
                        more = result.more or index < len(result.items) - 1
                        token = _encode_continue(revision=revision, start_after=start_after) if more else ""
                        return ListPage(items, revision, token, None)
                if not result.more:
                    return ListPage(items, revision, "", None)
        except CompactedError as e:
            if continue_token:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from e
            raise errors.expired(f"too old resource version: {e.requested} ({e.compacted})") from e
        except FutureRevisionError as e:
            raise errors.StatusError(
                504,
                "Timeout",
                f"Too large resource version: {e.requested}, current: {e.current}",
                details={
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1,
                },
            ) from e

    async def create(self, rt: ResourceType, obj: JSONObject, *, dry_run: bool = False) -> JSONObject:
        meta = obj["metadata"]
        key = storage_key(rt, meta.get("namespace"), meta["name"])
        if dry_run:
            if await self.backend.get(key) is not None:
                raise errors.already_exists(rt.group, rt.resource, meta["name"])
            return obj
        try:
            revision = await self.backend.create(key, encode(obj))
        except KeyExistsError as e:
            raise errors.already_exists(rt.group, rt.resource, meta["name"]) from e
        meta["resourceVersion"] = str(revision)
        return obj

    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Mutation,
        *,
        dry_run: bool = False,
    ) -> tuple[JSONObject, JSONObject]:
        """Read, mutate, compare-and-swap; again on a lost race. Returns (old, new).

        ``mutate`` may raise a 409 itself when the caller pinned a resourceVersion (a PUT
        with ``metadata.resourceVersion``): then a lost race is the caller's conflict.
        """
        key = storage_key(rt, namespace, name)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            kv = await self.backend.get(key)
            if kv is None:
                raise errors.not_found(rt.group, rt.resource, name)
            current = decode(kv)
            new = await mutate(json.loads(json.dumps(current)))
            if new is None or dry_run:
                return current, new if new is not None else current
            if _same_content(current, new):
                return current, current
            try:
                revision = await self.backend.update(key, encode(new), expected_revision=kv.mod_revision)
            except RevisionMismatchError:
                continue
            new["metadata"]["resourceVersion"] = str(revision)
            return current, new
        raise errors.conflict(rt.group, rt.resource, name)

    async def delete(self, rt: ResourceType, obj: JSONObject, *, dry_run: bool = False) -> JSONObject:
        """Remove ``obj`` for good, provided it has not changed since it was read."""
        meta = obj["metadata"]
        key = storage_key(rt, meta.get("namespace"), meta["name"])
        if dry_run:
            return obj
        try:
            revision = await self.backend.delete(key, expected_revision=int(meta["resourceVersion"]))
        except RevisionMismatchError as e:
            if e.current is None:
                raise errors.not_found(rt.group, rt.resource, meta["name"]) from e
            raise errors.conflict(rt.group, rt.resource, meta["name"]) from e
        deleted = dict(obj)
        deleted["metadata"] = {**meta, "resourceVersion": str(revision)}
        return deleted

    async def current_revision(self) -> int:
        return await self.backend.current_revision()

    async def watch(
        self, rt: ResourceType, *, selection: ObjectFilter, after_revision: int
    ) -> AsyncIterator[WatchEvent]:
        """Storage events turned into watch events for objects matching ``selection``.

        An update that moves an object into the selection is ADDED, out of it DELETED (so a
        label-selected watch sees what a list would), as upstream's cacher does.
        """
        prefix = storage_prefix(rt, selection.namespace)
        stream = self.backend.watch(prefix, after_revision=after_revision)
        try:
            async for event in stream:
                translated = _translate(event, selection)
                if translated is not None:
                    yield translated
        except CompactedError as e:
            raise errors.expired(f"too old resource version: {e.requested} ({e.compacted})") from e
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


def _translate(event: Event, selection: ObjectFilter) -> WatchEvent | None:
    revision = event.revision
    if event.type is EventType.DELETE:
        obj = json.loads(event.kv.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return WatchEvent("DELETED", obj, revision) if selection.matches(obj) else None
    new = decode(event.kv)
    new_matches = selection.matches(new)
    if event.prev_kv is None:
        return WatchEvent("ADDED", new, revision) if new_matches else None
    old_matches = selection.matches(decode(event.prev_kv))
    if new_matches:
        return WatchEvent("MODIFIED" if old_matches else "ADDED", new, revision)
    if old_matches:
        return WatchEvent("DELETED", new, revision)
    return None


def _same_content(old: JSONObject, new: JSONObject) -> bool:
    """True when a write would change nothing but the resourceVersion (upstream skips those)."""
    return encode(old) == encode(new)
