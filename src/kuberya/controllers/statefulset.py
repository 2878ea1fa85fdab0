"""The StatefulSet controller: stable, ordered pods with their own claims, rolled out in place.

Level-triggered as upstream's ``StatefulSetController`` (``pkg/controller/statefulset``):
informers on StatefulSets, Pods, PersistentVolumeClaims and ControllerRevisions only enqueue
``namespace/name`` keys, and ``sync(key)``

1. adopts orphan ControllerRevisions the selector matches, and claims pods: the set's own, or
   orphans whose labels match *and* whose name is ``<set>-<ordinal>``;
2. finds the *update revision* — the revision of the current template, created (or an equal older
   one renumbered, a rollback) through :class:`~kuberya.controllers.history.History` — and the
   *current revision*, the one ``status.currentRevision`` names;
3. walks the ordinals ``start … start+replicas-1`` (:mod:`.statefulset_pods` says what each pod
   must look like): a failed or succeeded pod is deleted (it is recreated on the next sync); a
   missing one is created, claims first (``<template>-<set>-<ordinal>``), from the current
   revision below the partition and the update revision from it; a pod whose identity, storage or
   claim ownership (:mod:`.statefulset_claims`) drifted is repaired. With ``OrderedReady`` the
   walk stops at the first pod created, terminating, or not Running+Ready+available: ``web-1``
   is created only once ``web-0`` is ready. ``Parallel`` does every ordinal at once;
4. deletes the pods beyond the range, highest ordinal first, one at a time (``OrderedReady``, and
   only while the others are healthy) or all at once (``Parallel``);
5. rolls out: with ``RollingUpdate`` it deletes, from the highest ordinal down to ``partition``,
   up to ``maxUnavailable`` healthy pods not at the update revision (step 3 recreates them at the
   update revision); ``OnDelete`` only recreates pods the user deletes;
6. writes ``status`` through the status subresource when it changed (a rollout whose pods are all
   updated and ready makes the update revision current) and deletes the oldest revisions no pod
   and no status field uses, beyond ``revisionHistoryLimit``.

Events are upstream's: ``SuccessfulCreate`` "create Pod web-0 in StatefulSet web successful",
``SuccessfulDelete``, ``FailedCreate`` …, and for claims "create Claim data-web-0 Pod web-0 in
StatefulSet web success".
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Unpack

from kuberya.client import AlreadyExistsError, ApiError, KubeClient, NotFoundError, malformed, object_key
from kuberya.client.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from kuberya.controllers import history as hist
from kuberya.controllers import statefulset_claims as claims
from kuberya.controllers import statefulset_pods as sp
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.events import EventType
from kuberya.controllers.ownership import NAMESPACE_INDEX, ControllerRefManager, controller_ref, meta, namespace_index
from kuberya.controllers.pods import phase
from kuberya.controllers.replicaset import slow_start_batch  # the same doubling batches (Parallel)
from kuberya.controllers.statefulset_status import complete_rolling_update, replica_counts, status_patch
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "statefulset-controller"


def _event_text(verb: str, pod: Obj, sts: Obj, error: BaseException | None) -> tuple[EventType, str, str]:
    """``recordPodEvent``: ``SuccessfulCreate`` / ``FailedCreate`` and upstream's sentences."""
    what = f"{verb} Pod {meta(pod).get('name')} in StatefulSet {meta(sts).get('name')}"
    if error is None:
        return "Normal", f"Successful{verb.title()}", f"{what} successful"
    message = error.message if isinstance(error, ApiError) else str(error)
    return "Warning", f"Failed{verb.title()}", f"{what} failed error: {message}"


class StatefulSetController(QueueController):
    """Keeps every StatefulSet's ordinals populated, in order, at the right revision."""

    def __init__(self, client: KubeClient, *, workers: int = 4, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="statefulset", component=COMPONENT, workers=workers, **wiring)
        self.sets = self.primary(STATEFULSETS)
        self.pods = self.informer(PODS)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.revisions = self.informer(CONTROLLERREVISIONS)
        self.history = hist.History(client, self.revisions)
        self.sets.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_handlers(on_add=self._on_pod, on_update=self._on_pod_update, on_delete=self._on_pod)
        self.revisions.add_handlers(on_add=self._on_owned, on_delete=self._on_owned)

    # -- event handlers: they only enqueue keys ---------------------------------------------

    def _owning_set(self, obj: Obj) -> Obj | None:
        return self.controller_of(obj, "StatefulSet", self.sets)

    def _on_owned(self, obj: Obj) -> None:
        sts = self._owning_set(obj)
        if sts is not None:
            self.enqueue(sts)
        elif controller_ref(obj) is None:
            self.enqueue_selecting(obj, self.sets)  # an orphan: every set that selects it may adopt it

    def _on_pod(self, pod: Obj) -> None:
        self._on_owned(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        old_set = self._owning_set(old)
        if old_set is not None and controller_ref(new) != controller_ref(old):
            self.enqueue(old_set)
        self._on_owned(new)
        sts = self._owning_set(new)
        if sts is not None and sp.min_ready_seconds(sts) > 0 and sp.is_running_and_ready(new):
            # It becomes available minReadySeconds after it became ready: look again then.
            self.queue.add_after(object_key(sts), float(sp.min_ready_seconds(sts)))

    # -- the reconciliation -------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring StatefulSet ``key`` (as cached) to its desired pods and revision, then post its status."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        cached = self.sets.get(key)
        if cached is None:
            return
        malformed.check(cached, malformed.REPLICA_SET)
        sts = copy.deepcopy(cached)
        selector = sp.spec(sts).get("selector")
        try:
            selectors.matches(selector, {})
        except selectors.SelectorError as exc:
            logger.warning("statefulset %s: invalid selector: %s", key, exc)
            return
        await self._adopt_orphan_revisions(sts, selector)
        pods = await self._claim_pods(sts, selector)
        status = await self._update_stateful_set(sts, pods)
        min_ready = sp.min_ready_seconds(sts)
        if min_ready > 0 and int(status.get("availableReplicas") or 0) != sp.replicas(sts):
            self.queue.add_after(key, float(min_ready))

    async def _fetch_live(self, sts: Obj) -> Obj | None:
        try:
            return await self.client.get(STATEFULSETS, str(meta(sts).get("name")), namespace=meta(sts).get("namespace"))
        except NotFoundError:
            return None

    async def _adopt_orphan_revisions(self, sts: Obj, selector: Any) -> None:
        orphans = [r for r in self.history.list(sts, selector) if controller_ref(r) is None]
        if not orphans or meta(sts).get("deletionTimestamp"):
            return
        fresh = await self._fetch_live(sts)
        if fresh is None or meta(fresh).get("uid") != meta(sts).get("uid") or meta(fresh).get("deletionTimestamp"):
            return  # upstream's canAdopt: a set gone or going adopts nothing
        for revision in orphans:
            await self.history.adopt(sts, STATEFULSETS, revision)

    async def _claim_pods(self, sts: Obj, selector: Any) -> list[Obj]:
        def match(pod: Obj) -> bool:
            return sp.is_member_of(sts, pod) and selectors.matches(selector, meta(pod).get("labels"))

        candidates = self.pods.by_index(NAMESPACE_INDEX, str(meta(sts).get("namespace") or ""))
        manager = ControllerRefManager(self.client, owner=sts, owner_ref=STATEFULSETS, child_ref=PODS, match=match)
        return await manager.claim(candidates)

    # -- revisions --------------------------------------------------------------------------

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """``getStatefulSetRevisions``: (current, update, collision count)."""
        collision_count = int(sp.status(sts).get("collisionCount") or 0)
        template_labels = ((sp.spec(sts).get("template") or {}).get("metadata") or {}).get("labels") or {}
        wanted = hist.new_revision(
            sts,
            parent_ref=STATEFULSETS,
            template_labels=template_labels,
            data=sp.revision_data(sts),
            revision=hist.next_revision(revisions),
            collision_count=collision_count,
        )
        if meta(sts).get("annotations"):
            wanted["metadata"]["annotations"] = dict(meta(sts)["annotations"])  # change-cause for rollout history
        equal = hist.find_equal_revisions(revisions, wanted)
        if equal and hist.equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]  # the template has not changed
        elif equal:
            # An older template again (a rollback): that revision becomes the newest.
            update = await self.history.update_revision(equal[-1], hist.revision_number(wanted))
        else:
            update, collision_count = await self.history.create(sts, wanted, collision_count)
        current_name = sp.status(sts).get("currentRevision")
        current = next((r for r in revisions if meta(r).get("name") == current_name), update)
        return current, update, collision_count

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], live: set[str]) -> None:
        live |= {sp.pod_revision(p) for p in pods}
        limit = sp.spec(sts).get("revisionHistoryLimit")
        if limit is None or int(limit) < 0:
            return
        for revision in hist.revisions_to_truncate(revisions, live=live, limit=int(limit)):
            await self.history.delete(revision)

    # -- the update -------------------------------------------------------------------------

    async def _update_stateful_set(self, sts: Obj, pods: list[Obj]) -> dict[str, Any]:
        """``UpdateStatefulSet``: reconcile, post the status (even after an error), trim history."""
        revisions = hist.sort_revisions(self.history.list(sts, sp.spec(sts).get("selector")))
        current, update, collision_count = await self._revisions(sts, revisions)
        status: dict[str, Any] = {
            "observedGeneration": int(meta(sts).get("generation") or 0),
            "currentRevision": meta(current).get("name"),
            "updateRevision": meta(update).get("name"),
            "collisionCount": collision_count,
        }
        status.update(replica_counts(pods, sp.min_ready_seconds(sts), self._now(), current, update))
        error: Exception | None = None
        try:
            await self._reconcile(sts, current, update, pods, status)
        except ApiError as exc:
            error = exc
        complete_rolling_update(sts, status)
        patch = status_patch(sts, status)
        if patch is not None and await self.patch_status(STATEFULSETS, sts, patch) is None:
            logger.debug("statefulset %s: gone before its status was written", object_key(sts))
        await self._truncate_history(
            sts, pods, revisions, {str(meta(current).get("name")), str(meta(update).get("name"))}
        )
        if error is not None:
            raise error
        return status

    async def _reconcile(self, sts: Obj, current: Obj, update: Obj, pods: list[Obj], status: dict[str, Any]) -> None:
        """``updateStatefulSet``: fill the ordinals, drop the condemned, roll out; ``status`` is kept current."""
        now = self._now()
        min_ready = sp.min_ready_seconds(sts)
        current_set, update_set = sp.apply_revision(sts, current), sp.apply_revision(sts, update)
        start, count = sp.start_ordinal(sts), sp.replicas(sts)
        replicas: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in pods:
            if sp.in_ordinal_range(pod, sts):
                replicas[sp.ordinal(pod) - start] = pod
            elif sp.ordinal(pod) >= 0:
                condemned.append(pod)
        for index in range(count):
            if replicas[index] is None:
                replicas[index] = sp.new_versioned_pod(
                    current_set,
                    update_set,
                    current_revision=str(meta(current).get("name")),
                    update_revision=str(meta(update).get("name")),
                    index=start + index,
                )
        members: list[Obj] = [p for p in replicas if p is not None]
        condemned.sort(key=sp.ordinal, reverse=True)
        unhealthy = [p for p in members + condemned[::-1] if sp.is_unavailable(p, min_ready, now)]
        first_unhealthy = unhealthy[0] if unhealthy else None

        def recount() -> None:
            status.update(replica_counts(members + condemned, min_ready, now, current, update))

        if meta(sts).get("deletionTimestamp"):
            return
        monotonic = not sp.allows_burst(sts)
        try:
            if await self._run_for_all(members, lambda pod: self._process_replica(sts, update_set, pod), monotonic):
                return
            if await self._run_for_all(condemned, lambda pod: self._fix_claims(update_set, pod), monotonic):
                return

            async def condemn(pod: Obj) -> bool:
                return await self._process_condemned(sts, pod, first_unhealthy, monotonic)

            if await self._run_for_all(condemned, condemn, monotonic):
                return
        finally:
            recount()
        if sp.strategy_type(sts) != "RollingUpdate":
            return  # OnDelete: pods are updated when the user deletes them
        await self._roll_out(sts, members, update, status)

    @staticmethod
    async def _run_for_all(pods: list[Obj], fn: Callable[[Obj], Awaitable[bool]], monotonic: bool) -> bool:
        """``runForAll``: one by one until one says stop (monotonic), else all in slow-start batches."""
        if monotonic:
            for pod in pods:
                if await fn(pod):
                    return True
            return False
        queue = list(pods)

        async def next_one() -> None:
            await fn(queue.pop(0))

        try:
            await slow_start_batch(len(queue), next_one)
        except Exception as exc:  # the first error of the first failing batch
            error = getattr(exc, "error", exc)
            raise error from None
        return False

    async def _process_replica(self, sts: Obj, update_set: Obj, pod: Obj) -> bool:
        """``processReplica``: True when the walk must stop here (monotonic) or after an error."""
        monotonic = not sp.allows_burst(sts)
        min_ready = sp.min_ready_seconds(sts)
        if phase(pod) in ("Failed", "Succeeded"):
            if not sp.is_terminating(pod):
                await self._delete_pod(sts, pod)
            return True  # recreated on the next sync, once it is gone
        if not sp.is_created(pod):
            if await self._claim_is_stale(sts, pod):
                return True  # an old pod's claim waits for the garbage collector
            await self._create_pod(sts, pod)
            return monotonic
        if phase(pod) == "Pending":
            await self._create_claims(sts, pod)
        if monotonic and (
            sp.is_terminating(pod)
            or not sp.is_running_and_ready(pod)
            or not sp.is_running_and_available(pod, min_ready, self._now())
        ):
            return True
        claims_ok = self._claims_match(update_set, pod)
        if sp.identity_matches(sts, pod) and sp.storage_matches(sts, pod) and claims_ok:
            return False
        await self._repair_pod(update_set, copy.deepcopy(pod))
        return False

    async def _process_condemned(self, sts: Obj, pod: Obj, first_unhealthy: Obj | None, monotonic: bool) -> bool:
        """``processCondemned``: delete one pod beyond the range, if the rest allow it."""
        if sp.is_terminating(pod):
            return monotonic
        now, min_ready = self._now(), sp.min_ready_seconds(sts)
        healthy = sp.is_running_and_ready(pod) and sp.is_running_and_available(pod, min_ready, now)
        if monotonic and not healthy and pod is not first_unhealthy:
            return True
        await self._delete_pod(sts, pod)
        return True

    async def _roll_out(self, sts: Obj, members: list[Obj], update: Obj, status: dict[str, Any]) -> None:
        """``updateStatefulSetAfterInvariantEstablished``: replace old pods, highest ordinal first."""
        now, min_ready = self._now(), sp.min_ready_seconds(sts)
        budget = sp.max_unavailable(sts) - sum(1 for p in members if sp.is_unavailable(p, min_ready, now))
        if budget <= 0:
            return
        update_name = meta(update).get("name")
        for index in range(len(members) - 1, sp.partition(sts) - 1, -1):
            if budget <= 0:
                return
            pod = members[index]
            if sp.pod_revision(pod) != update_name and not sp.is_terminating(pod):
                with contextlib.suppress(NotFoundError):
                    await self._delete_pod(sts, pod)
                budget -= 1
                status["currentReplicas"] = int(status.get("currentReplicas") or 0) - 1

    # -- pods and claims (upstream's StatefulPodControl) -------------------------------------

    async def _record(self, sts: Obj, verb: str, pod: Obj, error: BaseException | None) -> None:
        type_, reason, message = _event_text(verb, pod, sts, error)
        await self.events.record(sts, type=type_, reason=reason, message=message)

    async def _create_pod(self, sts: Obj, pod: Obj) -> None:
        """``CreateStatefulPod``: its claims first, then the pod, then the claims' owners."""
        try:
            await self._create_claims(sts, pod)
        except ApiError as exc:
            await self._record(sts, "create", pod, exc)
            raise
        try:
            created = await self.client.create(PODS, pod, namespace=meta(sts).get("namespace"), field_manager=COMPONENT)
        except AlreadyExistsError:
            raise  # the cache has not seen it yet: retried, no event (as upstream)
        except ApiError as exc:
            await self._record(sts, "create", pod, exc)
            raise
        await self._record(sts, "create", created, None)
        await self._set_claim_owners(sts, created)

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        try:
            await self.client.delete(PODS, str(meta(pod).get("name")), namespace=meta(pod).get("namespace"))
        except ApiError as exc:
            await self._record(sts, "delete", pod, exc)
            raise
        await self._record(sts, "delete", pod, None)

    async def _repair_pod(self, update_set: Obj, pod: Obj) -> None:
        """``UpdateStatefulPod``: identity and storage back to what the ordinal says."""
        changed = False
        if not sp.identity_matches(update_set, pod):
            sp.update_identity(update_set, pod)
            changed = True
        if not sp.storage_matches(update_set, pod):
            sp.update_storage(update_set, pod)
            await self._create_claims(update_set, pod)
            changed = True
        if not self._claims_match(update_set, pod):
            await self._set_claim_owners(update_set, pod)
        if not changed:
            return
        try:
            await self.client.update(PODS, pod, namespace=meta(pod).get("namespace"), field_manager=COMPONENT)
        except ApiError as exc:
            await self._record(update_set, "update", pod, exc)
            raise
        await self._record(update_set, "update", pod, None)

    def _cached_claim(self, claim: Obj) -> Obj | None:
        return self.claims.get(f"{meta(claim).get('namespace')}/{meta(claim).get('name')}")

    async def _create_claims(self, sts: Obj, pod: Obj) -> None:
        """``createPersistentVolumeClaims``: every missing claim of the pod's ordinal."""
        for claim in sp.claims_for(sts, sp.ordinal(pod)).values():
            existing = self._cached_claim(claim)
            if existing is not None:
                if meta(existing).get("deletionTimestamp"):
                    raise _claim_error(f"pvc {meta(claim).get('name')} is being deleted")
                continue
            what = (
                f"create Claim {meta(claim).get('name')} Pod {meta(pod).get('name')} "
                f"in StatefulSet {meta(sts).get('name')}"
            )
            try:
                await self.client.create(
                    PERSISTENTVOLUMECLAIMS, claim, namespace=meta(sts).get("namespace"), field_manager=COMPONENT
                )
            except AlreadyExistsError:
                continue
            except ApiError as exc:
                await self.events.record(
                    sts, type="Warning", reason="FailedCreate", message=f"{what} failed error: {exc.message}"
                )
                raise
            await self.events.record(sts, type="Normal", reason="SuccessfulCreate", message=f"{what} success")

    async def _claim_is_stale(self, sts: Obj, pod: Obj) -> bool:
        """``PodClaimIsStale``: a claim still owned by an earlier pod of this name (Delete on scale)."""
        if sp.retention_policy(sts) == ("Retain", "Retain"):
            return False
        for claim in sp.claims_for(sts, sp.ordinal(pod)).values():
            existing = self._cached_claim(claim)
            if existing is not None and claims.has_stale_owner_ref(existing, pod):
                return True
        return False

    def _claims_match(self, sts: Obj, pod: Obj) -> bool:
        for claim in sp.claims_for(sts, sp.ordinal(pod)).values():
            existing = self._cached_claim(claim)
            if existing is not None and not claims.claim_owners_match(existing, sts, pod):
                return False
        return True

    async def _fix_claims(self, update_set: Obj, pod: Obj) -> bool:
        if not self._claims_match(update_set, pod):
            await self._set_claim_owners(update_set, pod)
        return False

    async def _set_claim_owners(self, sts: Obj, pod: Obj) -> None:
        """``UpdatePodClaimForRetentionPolicy``: each existing claim's owners as the policy wants."""
        for claim in sp.claims_for(sts, sp.ordinal(pod)).values():
            existing = self._cached_claim(claim)
            if existing is None or claims.claim_owners_match(existing, sts, pod):
                continue
            refs = claims.owner_refs_for(existing, sts, pod)
            try:
                await self.client.patch(
                    PERSISTENTVOLUMECLAIMS,
                    str(meta(existing).get("name")),
                    {"metadata": {"ownerReferences": refs or None}},
                    namespace=meta(existing).get("namespace"),
                    patch_type="merge",
                )
            except NotFoundError:
                continue


def _claim_error(message: str) -> ApiError:
    return ApiError(409, "Conflict", message, {"message": message})
