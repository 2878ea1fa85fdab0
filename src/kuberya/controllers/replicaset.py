"""The ReplicaSet controller: keeps ``spec.replicas`` active pods for every ReplicaSet.

Level-triggered as upstream's ``ReplicaSetController``: informers on ReplicaSets and Pods only
enqueue ``namespace/name`` keys; ``sync(key)`` reads the caches and

1. *claims* pods (:mod:`kuberya.controllers.ownership`): of the namespace's active pods, keeps
   those it controls and still selects, releases those it no longer selects, adopts matching
   orphans;
2. when its :class:`~kuberya.controllers.expectations.Expectations` are satisfied — i.e. the
   cache already shows the effect of its last creations and deletions, so counting it does not
   double-create — creates the missing pods (from the template, ``generateName: <rs>-``, owned by
   the ReplicaSet) in slow-start batches of 1, 2, 4… (a failing create, say a quota, stops after
   one attempt instead of hundreds), or deletes the surplus in upstream's order
   (:func:`~kuberya.controllers.pods.deletion_order_key`);
3. writes ``status`` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration, and the ``ReplicaFailure`` condition while creates or deletes fail)
   through the status subresource, only when it changed.

Pods that are terminating or finished (Succeeded/Failed) do not count, as upstream's
``FilterActivePods``.

The same controller runs ReplicationControllers (:mod:`kuberya.controllers.replication`), as
upstream's does: a :class:`Replicated` names the resource it watches and how one of its objects
reads as a ReplicaSet.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Unpack

from kuberya.client import ApiError, KubeClient, NotFoundError, malformed, object_key, split_key
from kuberya.client.resources import PODS, REPLICASETS, ResourceRef
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.expectations import Expectations
from kuberya.controllers.failures import namespace_terminating
from kuberya.controllers.ownership import (
    CONTROLLER_INDEX,
    NAMESPACE_INDEX,
    ControllerRefManager,
    controller_ref,
    controller_uid_index,
    meta,
    namespace_index,
    owner_reference,
    replicas,
)
from kuberya.controllers.pods import deletion_order_key, is_active, is_available, is_ready
from kuberya.controllers.wallclock import format_time
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500
"""At most this many pods are created or deleted in one sync (upstream's ``BurstReplicas``)."""


def _same(obj: Obj) -> Obj:
    return obj


@dataclass(frozen=True, slots=True)
class Replicated:
    """The kind of object the controller keeps replicas of, and how it reads as a ReplicaSet."""

    ref: ResourceRef
    """What it watches, owns pods as, and writes the status of."""
    name: str
    """Its work queue's and log lines' name."""
    component: str
    """The ``source.component`` of the Events it records."""
    as_replica_set: Callable[[Obj], Obj] = _same
    """A copy of one object in a ReplicaSet's shape (a LabelSelector); its kind and metadata stay."""


REPLICA_SETS = Replicated(REPLICASETS, "replicaset", COMPONENT)


class ManageReplicasError(Exception):
    """Creating or deleting pods failed; ``scaling_up`` tells which (for the condition's reason)."""

    def __init__(self, message: str, *, scaling_up: bool) -> None:
        super().__init__(message)
        self.scaling_up = scaling_up


async def slow_start_batch(count: int, create: Callable[[], Awaitable[None]], *, initial: int = 1) -> int:
    """Call ``create`` ``count`` times in batches of ``initial``, doubling while all succeed.

    Returns how many succeeded; raises the first error of the first batch that had one (the
    batches after it are skipped), as upstream's ``slowStartBatch``.
    """
    remaining = count
    successes = 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(create() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if isinstance(error, asyncio.CancelledError):
                raise error
        successes += batch - len(errors)
        if errors:
            raise _PartialSuccess(successes, errors[0])
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes


class _PartialSuccess(Exception):
    def __init__(self, successes: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.successes = successes
        self.error = error


def pod_from_template(rs: Obj, *, owner: ResourceRef = REPLICASETS) -> Obj:
    """The pod a ReplicaSet creates: its template's labels, annotations, finalizers and spec."""
    template = (rs.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    labels = copy.deepcopy(tmeta.get("labels") or {})
    if not labels:
        raise ManageReplicasError("unable to create pods, no labels", scaling_up=True)
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta(rs).get('name')}-",
        "namespace": meta(rs).get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(rs, api_version=owner.api_version, kind=owner.kind)],
    }
    for key in ("annotations", "finalizers"):
        if tmeta.get(key):
            pod_meta[key] = copy.deepcopy(tmeta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": copy.deepcopy(template.get("spec") or {})}


class ReplicaSetController(QueueController):
    """Creates and deletes pods so that each ReplicaSet has ``spec.replicas`` of them."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 4,
        burst_replicas: int = BURST_REPLICAS,
        replicated: Replicated = REPLICA_SETS,
        **wiring: Unpack[Wiring],
    ) -> None:
        super().__init__(client, name=replicated.name, component=replicated.component, workers=workers, **wiring)
        self.replicated = replicated
        self.burst_replicas = burst_replicas
        self.expectations = Expectations(self._clock)
        self.replicasets = self.primary(replicated.ref, enqueue_changes=False)
        self.pods = self.informer(PODS)
        self.replicasets.add_index(NAMESPACE_INDEX, namespace_index)
        self.replicasets.add_index(CONTROLLER_INDEX, controller_uid_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(CONTROLLER_INDEX, controller_uid_index)
        self.replicasets.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new, on_delete=self._on_rs_delete)
        self.pods.add_handlers(on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._on_pod_delete)

    # -- event handlers: they only enqueue keys (and lower expectations) ---------------------

    def _on_rs_delete(self, rs: Obj) -> None:
        key = object_key(rs)
        self.expectations.forget(key)
        self.queue.add(key)

    def _owning_rs(self, pod: Obj) -> Obj | None:
        return self.controller_of(pod, self.replicated.ref.kind, self.replicasets)

    def _enqueue_selecting(self, pod: Obj) -> None:
        # An orphan: every ReplicaSet that selects it may want to adopt it.
        self.enqueue_selecting(pod, self.replicasets, selector_of=self._selector_of)

    def _selector_of(self, rs: Obj) -> Any:
        return (self.replicated.as_replica_set(rs).get("spec") or {}).get("selector")

    def _on_pod_add(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            # Seen for the first time already terminating (a relist): it counts as deleted.
            self._on_pod_delete(pod)
            return
        rs = self._owning_rs(pod)
        if rs is not None:
            self.expectations.creation_observed(object_key(rs))
            self.enqueue(rs)
        elif controller_ref(pod) is None:
            self._enqueue_selecting(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return  # a resync: nothing changed
        if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            self._on_pod_delete(new)
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            old_rs = self._owning_rs(old)
            if old_rs is not None:
                self.enqueue(old_rs)
        rs = self._owning_rs(new)
        if rs is not None:
            self.enqueue(rs)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0 and is_ready(new) and not is_ready(old):
                # Becomes available minReadySeconds from now: look again then.
                self.queue.add_after(object_key(rs), float(min_ready))
        elif new_ref is None and (meta(old).get("labels") != meta(new).get("labels") or old_ref is not None):
            self._enqueue_selecting(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        rs = self._owning_rs(pod)
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # -- the reconciliation -------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring ReplicaSet ``key`` (as cached) to its desired number of pods, then post its status."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        cached = self.replicasets.get(key)
        if cached is None:
            self.expectations.forget(key)
            return
        rs = self.replicated.as_replica_set(cached)
        malformed.check(rs, malformed.REPLICA_SET)
        needs_sync = self.expectations.satisfied(key)
        selector = (rs.get("spec") or {}).get("selector")

        def match(pod: Obj) -> bool:
            return selectors.matches(selector, meta(pod).get("labels"))

        try:
            match({"metadata": {}})
        except selectors.SelectorError as exc:
            logger.warning("%s %s: invalid selector: %s", self.replicated.name, key, exc)
            return
        candidates = [p for p in self.pods.by_index(NAMESPACE_INDEX, namespace or "") if is_active(p)]
        manager = ControllerRefManager(
            self.client, owner=rs, owner_ref=self.replicated.ref, child_ref=PODS, match=match
        )
        pods = await manager.claim(candidates)
        error: ManageReplicasError | None = None
        if needs_sync and not meta(rs).get("deletionTimestamp"):
            try:
                await self._manage_replicas(key, rs, pods)
            except ManageReplicasError as exc:
                error = exc
        status = self.calculate_status(rs, pods, error)
        await self._post_status(key, rs, status)
        spec_replicas = replicas(rs)
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if (
            error is None
            and min_ready > 0
            and status["readyReplicas"] == spec_replicas
            and status["availableReplicas"] != spec_replicas
        ):
            self.queue.add_after(key, float(min_ready))
        if error is not None:
            raise error

    async def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        diff = len(pods) - replicas(rs)
        if diff < 0:
            await self._create_pods(key, rs, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete_pods(key, rs, pods, min(diff, self.burst_replicas))

    async def _create_pods(self, key: str, rs: Obj, count: int) -> None:
        body = pod_from_template(rs, owner=self.replicated.ref)
        namespace = str(meta(rs).get("namespace"))
        logger.info("replicaset %s: too few replicas, creating %d", key, count)
        # Expect them all before the first create: its watch event may arrive before we return.
        self.expectations.expect_creations(key, count)

        async def create() -> None:
            try:
                pod = await self.client.create(PODS, copy.deepcopy(body), namespace=namespace, field_manager=COMPONENT)
            except ApiError as exc:
                await self.events.record(
                    rs, type="Warning", reason="FailedCreate", message=f"Error creating: {exc.message}"
                )
                if namespace_terminating(exc):
                    return  # the namespace is going away: nothing to fix, nothing to report
                raise
            await self.events.record(
                rs, type="Normal", reason="SuccessfulCreate", message=f"Created pod: {meta(pod).get('name')}"
            )

        try:
            successes = await slow_start_batch(count, create)
        except _PartialSuccess as partial:
            # The pods never created will never be observed: stop expecting them.
            for _ in range(count - partial.successes):
                self.expectations.creation_observed(key)
            error = partial.error
            message = error.message if isinstance(error, ApiError) else str(error)
            raise ManageReplicasError(message, scaling_up=True) from error
        for _ in range(count - successes):
            self.expectations.creation_observed(key)

    async def _delete_pods(self, key: str, rs: Obj, pods: list[Obj], count: int) -> None:
        victims = self.pods_to_delete(rs, pods, count)
        logger.info("replicaset %s: too many replicas, deleting %d", key, count)
        self.expectations.expect_deletions(key, {object_key(p) for p in victims})

        async def delete(pod: Obj) -> BaseException | None:
            name = str(meta(pod).get("name"))
            try:
                await self.client.delete(PODS, name, namespace=meta(pod).get("namespace"))
            except NotFoundError:
                self.expectations.deletion_observed(key, object_key(pod))
                return None
            except ApiError as exc:
                self.expectations.deletion_observed(key, object_key(pod))
                await self.events.record(
                    rs, type="Warning", reason="FailedDelete", message=f"Error deleting: {exc.message}"
                )
                return exc
            await self.events.record(rs, type="Normal", reason="SuccessfulDelete", message=f"Deleted pod: {name}")
            return None

        results = await asyncio.gather(*(delete(p) for p in victims))
        errors = [r for r in results if r is not None]
        if errors:
            raise ManageReplicasError(str(errors[0]), scaling_up=False) from errors[0]

    def pods_to_delete(self, rs: Obj, pods: list[Obj], count: int) -> list[Obj]:
        """The ``count`` pods to give up first, ranked by colocation with the owner family's pods."""
        if count >= len(pods):
            return list(pods)
        on_node: dict[str, int] = {}
        for pod in self._related_pods(rs):
            if is_active(pod):
                node = str((pod.get("spec") or {}).get("nodeName") or "")
                on_node[node] = on_node.get(node, 0) + 1
        ranked = sorted(
            pods, key=lambda p: deletion_order_key(p, on_node.get(str((p.get("spec") or {}).get("nodeName") or ""), 0))
        )
        return ranked[:count]

    def _related_pods(self, rs: Obj) -> list[Obj]:
        # Pods of every ReplicaSet with the same controller (the Deployment's old and new ones).
        family = [rs]
        owner = controller_ref(rs)
        if owner is not None and owner.get("uid"):
            family = self.replicasets.by_index(CONTROLLER_INDEX, str(owner["uid"])) or [rs]
        related: list[Obj] = []
        for member in family:
            related.extend(self.pods.by_index(CONTROLLER_INDEX, str(meta(member).get("uid"))))
        return related

    def calculate_status(self, rs: Obj, pods: list[Obj], error: ManageReplicasError | None) -> dict[str, Any]:
        """The status ``rs`` should report for ``pods`` (its claimed active pods)."""
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self._now()
        fully_labeled = ready = available = 0
        for pod in pods:
            labels = meta(pod).get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if is_ready(pod):
                ready += 1
                if is_available(pod, min_ready, now):
                    available += 1
        old = rs.get("status") or {}
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        failure = next((c for c in old.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
        if error is not None:
            if failure is None:
                failure = {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": format_time(now),
                    "reason": "FailedCreate" if error.scaling_up else "FailedDelete",
                    "message": str(error),
                }
            conditions.append(failure)
        status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": int(meta(rs).get("generation") or 0),
        }
        if conditions:
            status["conditions"] = conditions
        return status

    async def _post_status(self, key: str, rs: Obj, status: dict[str, Any]) -> None:
        old = rs.get("status") or {}
        fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")
        if all(int(old.get(f) or 0) == status[f] for f in fields) and (old.get("conditions") or []) == (
            status.get("conditions") or []
        ):
            return
        patch = dict(status)
        patch.setdefault("conditions", None)  # a merge patch removes a key only when told to
        if await self.patch_status(self.replicated.ref, rs, patch) is None:
            logger.debug("replicaset %s: gone before its status was written", key)
