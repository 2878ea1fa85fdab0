"""The garbage collector: dependents go when their owners go, in the order the owner asked for.

Every object is identified by its uid; ``metadata.ownerReferences[].uid`` links a dependent to
its owners. The collector keeps an informer per discovered resource (list+watch+delete verbs,
events left out as upstream does), each indexed by ``uid`` and by owner uid, and re-reads
discovery every ``discovery_interval`` seconds to follow new kinds.

Keys (:class:`ObjectKey`) are queued when something may need doing: an object with owners
changed; an object is being deleted with the ``orphan`` or ``foregroundDeletion`` finalizer; an
object vanished (its dependents, and its owners that wait for it, are queued). ``sync(key)``
then decides from the cache, level-triggered, as upstream's ``attemptToDeleteItem``:

* **a dependent** classifies each owner as *solid* (exists), *waiting* (exists, being deleted in
  the foreground) or *dangling* (gone). An owner missing from the cache is confirmed with a live
  GET (and a uid check) before anything is deleted: a lagging cache must never cost an object.
  With a solid owner, references to dangling and waiting owners are removed; with only waiting
  owners, the dependent is deleted in the foreground (so the owner's wait covers it); with every
  owner gone it is deleted, by default in the background (Deployment → ReplicaSet → Pods).
* **an owner with ``orphan``** strips its reference from every dependent, then drops the finalizer.
* **an owner with ``foregroundDeletion``** has its dependents processed as above (which deletes
  them); once no dependent with ``blockOwnerDeletion`` is left in the cache it drops the finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kuberya.client import (
    Clock,
    HandlerRegistration,
    Informer,
    KubeClient,
    LoopClock,
    NotFoundError,
    ResourceRef,
    SharedInformerFactory,
    WorkQueue,
    malformed,
    run_workers,
)
from kuberya.client.prepare import PropagationPolicy
from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.controllers.events import EventRecorder
from kuberya.controllers.failures import InvalidObjects
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


COMPONENT = "garbage-collector-controller"
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
"""Upstream's GC ignores events: they are many, never owners, and expire by themselves."""
UID_INDEX = "uid"
OWNER_INDEX = "owner-uid"


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """One object of one resource: what the collector's queue holds."""

    ref: ResourceRef
    namespace: str | None
    name: str

    @classmethod
    def of(cls, ref: ResourceRef, obj: Obj) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(ref, meta.get("namespace") if ref.namespaced else None, str(meta.get("name", "")))

    @property
    def cache_key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{self.ref.group_resource} {self.cache_key}"


class OwnerState(enum.Enum):
    SOLID = "solid"
    """The owner exists and is not waiting for its dependents."""
    WAITING = "waiting"
    """The owner is being deleted in the foreground: it waits for its dependents to go."""
    DANGLING = "dangling"
    """The owner is gone (or a different object now has its name)."""


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _owner_refs(obj: Obj) -> list[dict[str, Any]]:
    return [r for r in _meta(obj).get("ownerReferences") or [] if isinstance(r, dict) and r.get("uid")]


def _finalizers(obj: Obj) -> list[str]:
    return list(_meta(obj).get("finalizers") or [])


# Module functions, not lambdas: the informers are shared, and an index added again with the
# same function (a resource dropped from discovery, then served again) is the same index.
def _uid_index(obj: Obj) -> list[str]:
    return [str(_meta(obj).get("uid", ""))]


def _owner_uid_index(obj: Obj) -> list[str]:
    return [str(r["uid"]) for r in _owner_refs(obj)]


_OBJECT = malformed.fields(metadata=malformed.METADATA)


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class GarbageCollector:
    """Deletes dependents of deleted owners; carries out foreground and orphan deletion."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 8,
        discovery_interval: float = 30.0,
        initial_sync_timeout: float = 30.0,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.workers = workers
        self.events = events or EventRecorder(client, component=COMPONENT)
        self.discovery_interval = discovery_interval
        self.initial_sync_timeout = initial_sync_timeout
        self._clock: Clock = clock or LoopClock()
        self._shared = informers or SharedInformerFactory(client, clock=self._clock)
        self.queue: WorkQueue[ObjectKey] = WorkQueue(name="garbage-collector", clock=self._clock)
        self.invalid = InvalidObjects(
            name="garbage-collector", queue=self.queue, events=self.events, lookup=self._cached
        )
        self.informers: dict[tuple[str, str], Informer] = {}
        """One informer per (group, resource) collected."""
        self._kinds: dict[tuple[str, str], ResourceRef] = {}
        """(group, kind) → the resource serving it, to look owners up by their reference."""
        self._informer_tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._registrations: dict[tuple[str, str], HandlerRegistration] = {}
        """Our handlers on each (shared) informer, taken off when its resource is dropped."""

    # -- wiring ---------------------------------------------------------------------------

    def set_resources(self, refs: Iterable[ResourceRef]) -> list[Informer]:
        """Follow exactly the collectable resources among ``refs``; returns informers made new.

        Informers of resources no longer served are dropped (their tasks cancelled by
        :meth:`run`). Nothing here does I/O: tests call it, then seed the informers' stores.
        """
        refs = list(refs)
        self._kinds = {(r.group, r.kind): r for r in refs}
        wanted = {
            (r.group, r.resource): r
            for r in refs
            if r.supports("list", "watch", "delete") and (r.group, r.resource) not in IGNORED_RESOURCES
        }
        for gr in list(self.informers):
            if gr not in wanted:
                dropped = self.informers.pop(gr)
                registration = self._registrations.pop(gr, None)
                if registration is not None:
                    dropped.remove_handlers(registration)
                task = self._informer_tasks.pop(gr, None)
                if task is not None:
                    task.cancel()
        created = []
        for gr, ref in wanted.items():
            if gr not in self.informers:
                informer = self._make_informer(ref)
                self.informers[gr] = informer
                self._registrations[gr] = self._add_handlers(informer, ref)
                created.append(informer)
        return created

    def informer(self, ref: ResourceRef) -> Informer:
        return self.informers[(ref.group, ref.resource)]

    def _make_informer(self, ref: ResourceRef) -> Informer:
        informer = self._shared.informer(ref)
        informer.add_index(UID_INDEX, _uid_index)
        informer.add_index(OWNER_INDEX, _owner_uid_index)
        return informer

    def _add_handlers(self, informer: Informer, ref: ResourceRef) -> HandlerRegistration:
        return informer.add_handlers(
            on_add=lambda obj: self._on_change(ref, obj),
            on_update=lambda _old, new: self._on_change(ref, new),
            on_delete=lambda obj: self._on_delete(ref, obj),
        )

    def _on_change(self, ref: ResourceRef, obj: Obj) -> None:
        meta = _meta(obj)
        deleting = bool(meta.get("deletionTimestamp"))
        if _owner_refs(obj) or (deleting and {ORPHAN, FOREGROUND} & set(_finalizers(obj))):
            self.queue.add(ObjectKey.of(ref, obj))
        self._enqueue_waiting_owners(obj)

    def _on_delete(self, ref: ResourceRef, obj: Obj) -> None:
        uid = str(_meta(obj).get("uid", ""))
        for dep_ref, dep in self._dependents(uid, ref, obj):
            self.queue.add(ObjectKey.of(dep_ref, dep))
        self._enqueue_waiting_owners(obj)

    def _enqueue_waiting_owners(self, obj: Obj) -> None:
        # A foreground-deleting owner re-checks whether its blocking dependents are gone.
        for owner_ref in _owner_refs(obj):
            found = self._cached_by_uid(str(owner_ref["uid"]))
            if found is not None and _meta(found[1]).get("deletionTimestamp"):
                self.queue.add(ObjectKey.of(*found))

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Collect garbage until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                await self._refresh_discovery(group)
                await self._wait_for_initial_sync()
                start_task(self._discovery_loop(group), name="gc-discovery", group=group)
                start_task(
                    run_workers(self.queue, self.sync, workers=self.workers, name="garbage-collector"),
                    name="gc-workers",
                    group=group,
                )
        finally:
            self.queue.shutdown()
            await cancel_and_wait(*self._informer_tasks.values())
            self._informer_tasks.clear()

    async def _refresh_discovery(self, group: asyncio.TaskGroup) -> None:
        self.set_resources(await self.client.discover())
        for gr, informer in self.informers.items():
            if gr not in self._informer_tasks:
                name = f"gc-informer-{informer.ref.group_resource}"
                self._informer_tasks[gr] = start_task(informer.run(), name=name, group=group)

    async def _discovery_loop(self, group: asyncio.TaskGroup) -> None:
        while True:
            await self._clock.sleep(self.discovery_interval)
            try:
                await self._refresh_discovery(group)
            except Exception as exc:
                logger.warning("garbage collector: discovery failed, keeping the resources it had: %s", exc)

    async def _wait_for_initial_sync(self) -> None:
        # Acting before owners are cached would only cost live GETs, never objects; waiting
        # avoids a burst of them at start.
        waits = [asyncio.ensure_future(i.has_synced.wait()) for i in self.informers.values()]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=self.initial_sync_timeout)
        for w in pending:
            w.cancel()
        if pending:
            logger.warning("garbage collector: %d informers not synced yet; starting anyway", len(pending))
        await asyncio.gather(*pending, return_exceptions=True)

    # -- the reconciliation ----------------------------------------------------------------

    def _cached(self, key: ObjectKey) -> Obj | None:
        informer = self.informers.get((key.ref.group, key.ref.resource))
        return informer.get(key.cache_key) if informer is not None else None

    async def sync(self, key: ObjectKey) -> None:
        """Do what the object at ``key`` needs now, judging from the cache (level-triggered)."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: ObjectKey) -> None:
        obj = self._cached(key)
        if obj is None:
            return
        # Every kind passes here: only the metadata the collector reads is checked.
        malformed.check(obj, _OBJECT)
        finalizers = _finalizers(obj)
        if _meta(obj).get("deletionTimestamp"):
            if ORPHAN in finalizers:
                await self._orphan_dependents(key, obj)
            elif FOREGROUND in finalizers:
                await self._delete_dependents_first(key, obj)
            return
        if _owner_refs(obj):
            await self._collect_if_orphaned(key, obj)

    async def _collect_if_orphaned(self, key: ObjectKey, obj: Obj) -> None:
        states: dict[str, OwnerState] = {}
        for owner_ref in _owner_refs(obj):
            states[str(owner_ref["uid"])] = await self._owner_state(key, owner_ref)
        solid = [uid for uid, s in states.items() if s is OwnerState.SOLID]
        waiting = [uid for uid, s in states.items() if s is OwnerState.WAITING]
        if solid:
            gone = set(states) - set(solid)
            if gone:
                logger.info("garbage collector: %s keeps owners %s, drops references %s", key, solid, sorted(gone))
                await self._remove_owner_references(key, obj, gone)
            return
        if waiting:
            logger.info("garbage collector: deleting %s in the foreground (owners %s wait for it)", key, waiting)
            await self._delete(key, obj, "Foreground")
            return
        finalizers = _finalizers(obj)
        policy: PropagationPolicy = (
            "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
        )
        logger.info("garbage collector: deleting %s: every owner is gone", key)
        await self._delete(key, obj, policy)

    async def _owner_state(self, key: ObjectKey, owner_ref: dict[str, Any]) -> OwnerState:
        uid = str(owner_ref["uid"])
        found = self._cached_by_uid(uid)
        owner: Obj | None = found[1] if found is not None else None
        if owner is None:
            owner = await self._get_owner_live(key, owner_ref)
            if owner is None:
                return OwnerState.DANGLING
        if _meta(owner).get("deletionTimestamp") and FOREGROUND in _finalizers(owner):
            return OwnerState.WAITING
        return OwnerState.SOLID

    async def _get_owner_live(self, key: ObjectKey, owner_ref: dict[str, Any]) -> Obj | None:
        """Confirm with the server: the owner, or None when it is really gone."""
        group = _group_of(str(owner_ref.get("apiVersion", "")))
        ref = self._kinds.get((group, str(owner_ref.get("kind", ""))))
        if ref is None:
            # Unknown kind (not served, or discovery lags): never delete on a guess; retry later.
            raise LookupError(f"{key}: owner kind {owner_ref.get('apiVersion')}/{owner_ref.get('kind')} not served")
        if ref.namespaced and key.namespace is None:
            return None  # a cluster-scoped dependent cannot have a namespaced owner
        try:
            owner = await self.client.get(ref, str(owner_ref.get("name", "")), namespace=key.namespace)
        except NotFoundError:
            return None
        return owner if str(_meta(owner).get("uid")) == str(owner_ref["uid"]) else None

    async def _delete(self, key: ObjectKey, obj: Obj, policy: PropagationPolicy) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.delete(
                key.ref,
                key.name,
                namespace=key.namespace,
                propagation_policy=policy,
                preconditions={"uid": str(_meta(obj).get("uid", ""))},
            )

    async def _remove_owner_references(self, key: ObjectKey, obj: Obj, uids: set[str]) -> None:
        meta = _meta(obj)
        kept = [copy.deepcopy(r) for r in meta.get("ownerReferences") or [] if str(r.get("uid")) not in uids]
        patch = {"metadata": {"ownerReferences": kept or None, "resourceVersion": meta.get("resourceVersion")}}
        with contextlib.suppress(NotFoundError):
            await self.client.patch(key.ref, key.name, patch, namespace=key.namespace, patch_type="merge")

    async def _remove_finalizer(self, key: ObjectKey, obj: Obj, finalizer: str) -> None:
        meta = _meta(obj)
        kept = [f for f in _finalizers(obj) if f != finalizer]
        patch = {"metadata": {"finalizers": kept or None, "resourceVersion": meta.get("resourceVersion")}}
        with contextlib.suppress(NotFoundError):
            await self.client.patch(key.ref, key.name, patch, namespace=key.namespace, patch_type="merge")

    async def _orphan_dependents(self, key: ObjectKey, owner: Obj) -> None:
        uid = str(_meta(owner).get("uid", ""))
        for dep_ref, dep in self._dependents(uid, key.ref, owner):
            await self._remove_owner_references(ObjectKey.of(dep_ref, dep), dep, {uid})
        logger.info("garbage collector: orphaned the dependents of %s", key)
        await self._remove_finalizer(key, owner, ORPHAN)

    async def _delete_dependents_first(self, key: ObjectKey, owner: Obj) -> None:
        uid = str(_meta(owner).get("uid", ""))
        blocking = 0
        for dep_ref, dep in self._dependents(uid, key.ref, owner):
            if any(str(r["uid"]) == uid and r.get("blockOwnerDeletion") for r in _owner_refs(dep)):
                blocking += 1
            if not _meta(dep).get("deletionTimestamp"):
                await self._collect_if_orphaned(ObjectKey.of(dep_ref, dep), dep)
        if blocking:
            # Their DELETED events (or updates dropping the reference) queue this owner again.
            return
        logger.info("garbage collector: %s has no blocking dependents left", key)
        await self._remove_finalizer(key, owner, FOREGROUND)

    # -- cache queries ---------------------------------------------------------------------

    def _cached_by_uid(self, uid: str) -> tuple[ResourceRef, Obj] | None:
        for informer in self.informers.values():
            found = informer.by_index(UID_INDEX, uid)
            if found:
                return informer.ref, found[0]
        return None

    def _dependents(self, uid: str, owner_ref: ResourceRef, owner: Obj) -> list[tuple[ResourceRef, Obj]]:
        namespace = _meta(owner).get("namespace") if owner_ref.namespaced else None
        deps = []
        for informer in self.informers.values():
            for dep in informer.by_index(OWNER_INDEX, uid):
                if namespace is None or _meta(dep).get("namespace") == namespace:
                    deps.append((informer.ref, dep))
        return deps
