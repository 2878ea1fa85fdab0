"""The disruption controller: keeps each PodDisruptionBudget's status true to its pods.

As upstream's ``pkg/controller/disruption``: informers on PodDisruptionBudgets and Pods enqueue
budget keys (a pod's change enqueues every budget in its namespace that selects it); ``sync(key)``

1. lists the budget's pods (its selector over the namespace; a missing selector selects none);
2. works out the *expected* pods and the *desired healthy* count: with an integer
   ``minAvailable`` the pods themselves are expected and that many must be healthy; with a
   percentage, or with ``maxUnavailable``, the expected count is the sum of the scales of the
   pods' controllers (a ReplicaSet's or Deployment's ``spec.replicas`` from the informer caches,
   any other controller's — StatefulSet, ReplicationController… — through its ``/scale``), the
   percentage is rounded up, and pods without a controller are reported (``UnmanagedPods``);
3. counts the *currently healthy* pods: Ready, not terminating, and not in
   ``status.disruptedPods`` (evictions the API server approved; an entry older than two minutes
   whose pod still is not going is dropped, with a ``NotDeleted`` warning, and the budget is
   looked at again when the next one expires);
4. writes ``currentHealthy``, ``desiredHealthy``, ``expectedPods``,
   ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)`` (0 while nothing is expected),
   ``disruptedPods``, ``observedGeneration`` and the ``DisruptionAllowed`` condition
   (SufficientPods/InsufficientPods) through ``/status``, only when something changed.

When the sync fails for any reason but a conflict, the budget is written *fail-safe*:
``disruptionsAllowed: 0`` and ``DisruptionAllowed=False`` with reason ``SyncFailed`` and the error,
so that the eviction handler refuses rather than guesses.

A second queue resets *stale* ``DisruptionTarget`` pod conditions: one set by an eviction or a
preemption (not by the kubelet) on a pod that two minutes later is still neither terminating nor
finished is set back to ``False``, as upstream's ``stalePodDisruptionWorker`` does.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import math
from dataclasses import dataclass
from typing import Any, Unpack

from kuberya.client import (
    ApiError,
    ConflictError,
    KubeClient,
    NotFoundError,
    ResourceRef,
    WorkQueue,
    object_key,
    run_workers,
    split_key,
)
from kuberya.client.resources import DEPLOYMENTS, PODDISRUPTIONBUDGETS, PODS, REPLICASETS
from kuberya.client.tasks import start_task
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import NAMESPACE_INDEX, controller_ref, meta, namespace_index, replicas
from kuberya.controllers.ownership import spec as spec_of
from kuberya.controllers.pods import condition, is_ready, phase
from kuberya.controllers.wallclock import format_time, parse_time
from kuberya.meta import conditions
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "controllermanager"
"""Upstream's disruption controller records its events as the controller manager."""
DELETION_TIMEOUT = datetime.timedelta(minutes=2)
"""How long an approved eviction keeps its pod out of the healthy count (upstream's ``DeletionTimeout``)."""
STALE_POD_DISRUPTION_TIMEOUT = datetime.timedelta(minutes=2)
"""How long a ``DisruptionTarget`` condition may wait for its pod's deletion before it is reset."""
DISRUPTION_TARGET = "DisruptionTarget"
TERMINATION_BY_KUBELET = "TerminationByKubelet"


class ExpectedCountError(Exception):
    """The expected number of pods cannot be worked out (a pod's controller is not found)."""


@dataclass(frozen=True, slots=True)
class Counts:
    expected: int
    desired_healthy: int
    unmanaged: tuple[str, ...] = ()


def scaled_value(value: Any, total: int) -> int:
    """``intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    if not text.endswith("%") or not text[:-1].isdigit():
        raise ExpectedCountError(f"invalid value for IntOrString: invalid value {text!r}")
    return math.ceil(int(text[:-1]) * total / 100)


def selects(pdb: Obj, pod: Obj) -> bool:
    """Whether the budget's selector selects the pod (``LabelSelectorAsSelector``: nil selects nothing)."""
    selector = spec_of(pdb).get("selector")
    if selector is None:
        return False
    try:
        return selectors.matches(selector, meta(pod).get("labels"))
    except selectors.SelectorError:
        return False


class DisruptionController(QueueController):
    """Maintains ``status`` of every PodDisruptionBudget (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="disruption", component=COMPONENT, workers=workers, **wiring)
        self.stale_queue: WorkQueue[str] = WorkQueue(name="stale_pod_disruption", clock=self._clock)
        # Not primary(): a budget that cannot be synced is failed safe (no disruptions), not reported.
        self.budgets = self.informer(PODDISRUPTIONBUDGETS)
        self.pods = self.informer(PODS)
        self.replicasets = self.informer(REPLICASETS)
        self.deployments = self.informer(DEPLOYMENTS)
        self.budgets.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self._scalable: dict[tuple[str, str], ResourceRef] | None = None
        self.budgets.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new, on_delete=self.enqueue)
        self.pods.add_handlers(
            on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._enqueue_budgets_of
        )

    # -- event handlers: they only enqueue keys -----------------------------------------------

    def budgets_of(self, pod: Obj) -> list[Obj]:
        namespace = str(meta(pod).get("namespace") or "")
        return [pdb for pdb in self.budgets.by_index(NAMESPACE_INDEX, namespace) if selects(pdb, pod)]

    def _enqueue_budgets_of(self, pod: Obj) -> None:
        for pdb in self.budgets_of(pod):
            self.enqueue(pdb)

    def _on_pod_add(self, pod: Obj) -> None:
        self._enqueue_budgets_of(pod)
        self._enqueue_if_stale(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        # A pod whose labels changed may have left a budget: both sides look again.
        self._enqueue_budgets_of(new)
        if meta(old).get("labels") != meta(new).get("labels"):
            self._enqueue_budgets_of(old)
        self._enqueue_if_stale(new)

    def _enqueue_if_stale(self, pod: Obj) -> None:
        wait = self.stale_condition_wait(pod)
        if wait is not None:
            self.stale_queue.add_after(object_key(pod), wait.total_seconds())

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep budgets' status current, and reset stale pod conditions, until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                start_task(super().run(), name="disruption-controller", group=group)
                await self.pods.has_synced.wait()
                stale = run_workers(self.stale_queue, self.sync_stale_pod, workers=1, name="stale-pod-disruption")
                start_task(stale, name="disruption-stale-pods", group=group)
        finally:
            self.stale_queue.shutdown()

    # -- stale DisruptionTarget conditions ----------------------------------------------------

    def stale_condition_wait(self, pod: Obj) -> datetime.timedelta | None:
        """How long until the pod's ``DisruptionTarget`` is stale (0: it is); None: not one to reset.

        Upstream's ``nonTerminatingPodHasStaleDisruptionCondition``: the kubelet's own condition
        and those of terminating or finished pods are never stale.
        """
        if meta(pod).get("deletionTimestamp") or phase(pod) in ("Succeeded", "Failed"):
            return None
        cond = condition(pod, DISRUPTION_TARGET)
        if cond is None or cond.get("status") != "True" or cond.get("reason") == TERMINATION_BY_KUBELET:
            return None
        since = parse_time(cond.get("lastTransitionTime")) or self._now()
        return max(datetime.timedelta(0), since + STALE_POD_DISRUPTION_TIMEOUT - self._now())

    async def sync_stale_pod(self, key: str) -> None:
        """Set a stale ``DisruptionTarget`` back to False (through the pod's status)."""
        pod = self.pods.get(key)
        if pod is None:
            return
        wait = self.stale_condition_wait(pod)
        if wait is None:
            return
        if wait > datetime.timedelta(0):
            self.stale_queue.add_after(key, wait.total_seconds())
            return
        new = copy.deepcopy(pod)
        conditions_ = [c for c in (new.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
        for i, cond in enumerate(conditions_):
            if cond.get("type") == DISRUPTION_TARGET:
                # UpdatePodCondition replaces the condition whole: no reason or message is left.
                conditions_[i] = {
                    "type": DISRUPTION_TARGET,
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": format_time(self._now()),
                }
        new.setdefault("status", {})["conditions"] = conditions_
        try:
            await self.client.update_status(PODS, new, namespace=meta(pod).get("namespace"), field_manager=COMPONENT)
        except NotFoundError:
            return
        logger.info("disruption: reset the stale DisruptionTarget condition of pod %s", key)

    # -- the reconciliation -------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring budget ``key``'s status up to date; fail safe (no disruptions) when that fails."""
        pdb = self.budgets.get(key)
        if pdb is None:
            return
        try:
            await self._try_sync(key, pdb)
        except ConflictError:
            raise  # the cache is behind: the update event brings the budget back
        except Exception as exc:
            logger.warning("disruption: failed to sync PDB %s: %s", key, exc)
            await self._fail_safe(pdb, str(exc))

    async def _try_sync(self, key: str, pdb: Obj) -> None:
        namespace, _ = split_key(key)
        pods = [p for p in self.pods.by_index(NAMESPACE_INDEX, namespace or "") if selects(pdb, p)]
        if not pods:
            await self.events.record(pdb, type="Normal", reason="NoPods", message="No matching pods found")
        try:
            counts = await self.expected_pod_count(pdb, pods)
        except ExpectedCountError as exc:
            await self.events.record(
                pdb,
                type="Warning",
                reason="CalculateExpectedPodCountFailed",
                message=f"Failed to calculate the number of expected pods: {exc}",
            )
            raise
        if counts.unmanaged:
            await self.events.record(
                pdb,
                type="Warning",
                reason="UnmanagedPods",
                message=(
                    f"Pods selected by this PodDisruptionBudget (selector: {_selector_text(pdb)}) were found "
                    "to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which "
                    'may result in undefined behavior. To account for these pods please set ".spec.minAvailable" '
                    "field of the PDB to an integer value."
                ),
            )
        now = self._now()
        disrupted, recheck = await self.disrupted_pods(pdb, pods, now)
        healthy = count_healthy(pods, disrupted, now)
        await self._update_status(pdb, healthy, counts, disrupted)
        if recheck is not None:
            self.queue.add_after(key, max(0.0, (recheck - now).total_seconds()))

    async def expected_pod_count(self, pdb: Obj, pods: list[Obj]) -> Counts:
        """Upstream's ``getExpectedPodCount``: (expected pods, desired healthy, unmanaged pods)."""
        spec = spec_of(pdb)
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = await self.expected_scale(pods)
            desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected))
            return Counts(expected, desired, unmanaged)
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return Counts(len(pods), min_available)
        if min_available is not None:
            expected, unmanaged = await self.expected_scale(pods)
            return Counts(expected, scaled_value(min_available, expected), unmanaged)
        return Counts(0, 0)

    async def expected_scale(self, pods: list[Obj]) -> tuple[int, tuple[str, ...]]:
        """The sum of the scales of the pods' controllers, and the pods that have none."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(str(meta(pod).get("name")))
                continue
            if str(ref.get("uid")) in scales:
                continue
            found = await self._controller_scale(dict(ref), str(meta(pod).get("namespace") or ""))
            if found is None:
                raise ExpectedCountError(f'found no controllers for pod "{meta(pod).get("name")}"')
            scales[found[0]] = found[1]
        return sum(scales.values()), tuple(unmanaged)

    async def _controller_scale(self, ref: dict[str, Any], namespace: str) -> tuple[str, int] | None:
        """(uid, scale) of the controller ``ref`` names, as upstream's finders look it up."""
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind, uid = ref.get("kind"), str(ref.get("uid"))
        if kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self.replicasets.get(f"{namespace}/{ref.get('name')}")
            if rs is None or str(meta(rs).get("uid")) != uid:
                return None
            owner = controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                deployment = self.deployments.get(f"{namespace}/{owner.get('name')}")
                if deployment is None or str(meta(deployment).get("uid")) != str(owner.get("uid")):
                    return None
                return str(meta(deployment).get("uid")), replicas(deployment)
            return uid, replicas(rs)
        return await self._scale_subresource(ref, namespace, group=group)

    async def _scale_subresource(self, ref: dict[str, Any], namespace: str, *, group: str) -> tuple[str, int] | None:
        """Any other controller (StatefulSet, ReplicationController, a custom resource) by its ``/scale``."""
        resource = await self._scalable_resource(group, str(ref.get("kind")))
        if resource is None:
            raise ExpectedCountError(f"{ref.get('kind')}.{group} does not implement the scale subresource")
        try:
            scale = await self.client.get(resource, str(ref.get("name")), namespace=namespace, subresource="scale")
        except NotFoundError:
            return None
        if str(meta(scale).get("uid")) != str(ref.get("uid")):
            return None
        return str(ref.get("uid")), int(spec_of(scale).get("replicas") or 0)

    async def _scalable_resource(self, group: str, kind: str) -> ResourceRef | None:
        if self._scalable is None or (group, kind) not in self._scalable:
            refs = await self.client.discover()
            self._scalable = {(r.group, r.kind): r for r in refs}
        return self._scalable.get((group, kind))

    async def disrupted_pods(
        self, pdb: Obj, pods: list[Obj], now: datetime.datetime
    ) -> tuple[dict[str, str], datetime.datetime | None]:
        """Upstream's ``buildDisruptedPodMap``: the entries still pending, and when the first expires."""
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        kept: dict[str, str] = {}
        recheck: datetime.datetime | None = None
        for pod in pods:
            name = str(meta(pod).get("name"))
            if meta(pod).get("deletionTimestamp") or name not in recorded:
                continue
            when = parse_time(recorded[name])
            expected_deletion = (when or now) + DELETION_TIMEOUT
            if expected_deletion < now:
                pdb_meta = meta(pdb)
                await self.events.record(
                    pod,
                    type="Warning",
                    reason="NotDeleted",
                    message=(
                        f"Pod was expected by PDB {pdb_meta.get('namespace')}/{pdb_meta.get('name')} to be "
                        "deleted but it wasn't"
                    ),
                )
                continue
            if recheck is None or expected_deletion < recheck:
                recheck = expected_deletion
            kept[name] = str(recorded[name])
        return kept, recheck

    async def _update_status(self, pdb: Obj, healthy: int, counts: Counts, disrupted: dict[str, str]) -> None:
        allowed = healthy - counts.desired_healthy
        if counts.expected <= 0 or allowed <= 0:
            allowed = 0
        old = pdb.get("status") or {}
        generation = int(meta(pdb).get("generation") or 0)
        if (
            int(old.get("currentHealthy") or 0) == healthy
            and int(old.get("desiredHealthy") or 0) == counts.desired_healthy
            and int(old.get("expectedPods") or 0) == counts.expected
            and int(old.get("disruptionsAllowed") or 0) == allowed
            and (old.get("disruptedPods") or {}) == disrupted
            and int(old.get("observedGeneration") or 0) == generation
            and conditions.disruption_condition_current(pdb)
        ):
            return
        new = copy.deepcopy(pdb)
        status: dict[str, Any] = {
            "currentHealthy": healthy,
            "desiredHealthy": counts.desired_healthy,
            "expectedPods": counts.expected,
            "disruptionsAllowed": allowed,
            "observedGeneration": generation,
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        if old.get("conditions"):
            status["conditions"] = copy.deepcopy(old["conditions"])
        new["status"] = status
        conditions.update_disruption_allowed_condition(new, now=self._now())
        await self._write_status(new)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        """Allow no disruption, and say why, when the status cannot be computed."""
        new = copy.deepcopy(pdb)
        status = new.setdefault("status", {})
        status["disruptionsAllowed"] = 0
        conditions.set_status_condition(
            status,
            conditions.DISRUPTION_ALLOWED,
            status_value="False",
            reason=conditions.SYNC_FAILED,
            message=message,
            observed_generation=int(status.get("observedGeneration") or 0),
            now=self._now(),
        )
        await self._write_status(new)

    async def _write_status(self, pdb: Obj) -> None:
        try:
            await self.update_status(PODDISRUPTIONBUDGETS, pdb, field_manager="disruption-controller")
        except ConflictError:
            raise
        except ApiError as exc:
            logger.warning("disruption: cannot write the status of PDB %s: %s", object_key(pdb), exc)
            raise


def count_healthy(pods: list[Obj], disrupted: dict[str, str], now: datetime.datetime) -> int:
    """Upstream's ``countHealthyPods``: Ready, not going, not recently approved for eviction."""
    healthy = 0
    for pod in pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        when = parse_time(disrupted.get(str(meta(pod).get("name"))))
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if is_ready(pod):
            healthy += 1
    return healthy


def _selector_text(pdb: Obj) -> str:
    selector = spec_of(pdb).get("selector")
    try:
        return selectors.selector_to_string(selector) if isinstance(selector, dict) else "nil"
    except selectors.SelectorError:
        return "<invalid>"
