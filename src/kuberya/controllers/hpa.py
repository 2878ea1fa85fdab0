"""The horizontal pod autoscaler: upstream's ``HorizontalController`` for resource metrics.

Every ``sync_period`` (15 s, upstream's ``--horizontal-pod-autoscaler-sync-period``) each
``autoscaling/v2`` HorizontalPodAutoscaler is reconciled:

1. the target's ``/scale`` subresource (Deployments, ReplicaSets) gives the current replica count
   and the pods' selector;
2. each ``Resource`` (or ``ContainerResource``) metric proposes a replica count from the pods and
   their samples in ``metrics.k8s.io`` (:mod:`kuberya.apiserver.metrics`), computed as upstream's
   ``ReplicaCalculator`` does (:mod:`kuberya.controllers.hpa_replicas`); the largest proposal wins;
3. the proposal is stabilised, rate-limited and kept within min/max
   (:class:`~kuberya.controllers.hpa_replicas.Normalizer`);
4. a change is written to ``/scale`` and recorded as an Event (``SuccessfulRescale``: "New size: 4;
   reason: cpu resource utilization (percentage of request) above target"); the status gets
   ``currentReplicas``, ``desiredReplicas``, ``currentMetrics``, ``lastScaleTime`` and upstream's
   conditions ``AbleToScale``, ``ScalingActive`` and ``ScalingLimited`` with its reasons — which
   is what ``kubectl get hpa`` (``cpu: 12%/50%``) and ``kubectl describe hpa`` show.

A metric that cannot be read is a ``FailedGetResourceMetric`` warning and ``ScalingActive=False``;
when every metric fails (or some fail and the rest would scale down) nothing is scaled. Other
metric types (Pods, Object, External) need a custom or external metrics API that kuberya does not
serve: they fail the same way, loudly. Errors never shorten the period: like upstream's fixed-interval
queue, an HPA is retried at its next round, so a missing metric is one event per round, not a storm.

The recommendation history used for stabilisation lives in memory, as upstream's does; a restart
starts it again from the current replica count.
"""

from __future__ import annotations

import copy
import datetime
import logging
from dataclasses import dataclass, field
from typing import Any, Unpack

from kuberya.client import (
    ApiError,
    KubeClient,
    NotFoundError,
    ResourceRef,
    malformed,
    object_key,
)
from kuberya.client.resources import DEPLOYMENTS, HPA, PODS, REPLICASETS, REPLICATIONCONTROLLERS, split_key
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.events import EventType
from kuberya.controllers.hpa_replicas import (
    HPASettings,
    MetricError,
    Normalizer,
    ResourceSamples,
    milli,
    milli_quantity,
    raw_resource_replicas,
    resource_replicas,
)
from kuberya.controllers.wallclock import format_time
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


COMPONENT = "horizontal-pod-autoscaler"
POD_METRICS = ResourceRef("metrics.k8s.io", "v1beta1", "pods", True, "PodMetrics")
SCALE_TARGETS = {
    ("apps", "Deployment"): DEPLOYMENTS,
    ("apps", "ReplicaSet"): REPLICASETS,
    ("", "ReplicationController"): REPLICATIONCONTROLLERS,
}
"""Kinds whose ``/scale`` this controller knows (by API group and kind)."""


def set_condition(status: Obj, ctype: str, value: str, reason: str, message: str, now: datetime.datetime) -> None:
    """Upstream's ``setCondition``: the transition time moves only when the status changes."""
    conditions: list[Obj] = status.setdefault("conditions", [])
    existing = next((c for c in conditions if c.get("type") == ctype), None)
    if existing is None:
        existing = {"type": ctype}
        conditions.append(existing)
    if existing.get("status") != value or "lastTransitionTime" not in existing:
        existing["lastTransitionTime"] = format_time(now)
    existing.update(status=value, reason=reason, message=message)


# ---- the controller ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Round:
    """What one reconciliation of one HPA decided, before it is written."""

    hpa: Obj
    status: Obj
    now: datetime.datetime
    events: list[tuple[EventType, str, str]] = field(default_factory=list)

    def condition(self, ctype: str, value: str, reason: str, message: str) -> None:
        set_condition(self.status, ctype, value, reason, message, self.now)

    def event(self, etype: EventType, reason: str, message: str) -> None:
        self.events.append((etype, reason, message))


class HorizontalPodAutoscalerController(QueueController):
    """Scales Deployments and ReplicaSets on their pods' CPU and memory; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        *,
        settings: HPASettings | None = None,
        sync_period: float | None = None,
        downscale_stabilization: float | None = None,
        workers: int = 2,
        **wiring: Unpack[Wiring],
    ) -> None:
        settings = settings or HPASettings()
        if sync_period is not None:
            settings = HPASettings(**{**_fields(settings), "sync_period": sync_period})
        if downscale_stabilization is not None:
            settings = HPASettings(**{**_fields(settings), "downscale_stabilization": downscale_stabilization})
        super().__init__(client, name="hpa", component=COMPONENT, workers=workers, **wiring)
        self.settings = settings
        self.normalizer = Normalizer(settings)
        # Each HPA comes back every sync period on its own (see sync): no delete or status-only
        # update needs a sync of its own.
        self.hpas = self.primary(HPA, enqueue_changes=False)
        self.hpas.add_handlers(
            on_add=self.enqueue,
            on_update=self._on_update,
            on_delete=lambda hpa: self.normalizer.forget(object_key(hpa)),
        )

    def _on_update(self, old: Obj, new: Obj) -> None:
        # Our own status writes come back as updates: only a changed spec is worth an early sync.
        if old.get("spec") != new.get("spec"):
            self.enqueue(new)

    async def sync(self, key: str) -> None:
        """Reconcile HPA ``key`` once, then schedule its next round (errors included: upstream's fixed resync)."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.normalizer.forget(key)
            return
        # Before the round, not in it: an HPA nobody can read backs off instead of coming back
        # every sync period.
        malformed.check(hpa, malformed.HORIZONTAL_POD_AUTOSCALER)
        try:
            await self.reconcile(copy.deepcopy(hpa))
        except ApiError as exc:
            logger.warning("hpa %s: %s", key, exc)
        finally:
            self.queue.add_after(key, self.settings.sync_period)

    async def reconcile(self, hpa: Obj) -> None:
        key = object_key(hpa)
        namespace, _ = split_key(key)
        spec = hpa.get("spec") or {}
        original = copy.deepcopy(hpa.get("status") or {})
        work = _Round(hpa, copy.deepcopy(original), self._now())
        try:
            await self._reconcile(work, key, namespace or "default", spec)
        finally:
            await self._finish(work, original)

    async def _reconcile(self, work: _Round, key: str, namespace: str, spec: Obj) -> None:
        target = spec.get("scaleTargetRef") or {}
        reference = f"{target.get('kind')}/{target.get('name')}"
        group = str(target.get("apiVersion") or "").rpartition("/")[0]
        ref = SCALE_TARGETS.get((group, str(target.get("kind"))))
        try:
            if ref is None:
                raise MetricError(f"no scale subresource known for {target.get('apiVersion')} {target.get('kind')}")
            scale = await self.client.get(ref, str(target.get("name")), namespace=namespace, subresource="scale")
        except (ApiError, MetricError) as exc:
            work.condition(
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {exc}",
            )
            work.event("Warning", "FailedGetScale", str(exc))
            return
        work.condition(
            "AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale"
        )
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        self.normalizer.seed(key, current, work.now)
        minimum = int(spec["minReplicas"]) if spec.get("minReplicas") is not None else 1
        maximum = int(spec.get("maxReplicas") or 0)
        behavior = spec.get("behavior") if isinstance(spec.get("behavior"), dict) else None
        statuses: list[Obj] = []
        if current == 0 and minimum != 0:
            desired, reason = 0, ""
            work.condition(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            proposed, metric_name, statuses = await self._replicas_for_metrics(work, namespace, scale, spec, current)
            if proposed < 0:
                work.status["currentReplicas"] = current
                work.status["currentMetrics"] = statuses or None
                return
            reason = f"{metric_name} above target" if proposed > current else "All metrics below target"
            if behavior is None:
                desired, conditions = self.normalizer.normalize(
                    key, current=current, desired=proposed, minimum=minimum, maximum=maximum, now=work.now
                )
            else:
                desired, conditions = self.normalizer.normalize_with_behavior(
                    key,
                    behavior=behavior,
                    current=current,
                    desired=proposed,
                    minimum=minimum,
                    maximum=maximum,
                    now=work.now,
                )
            for condition_args in conditions:
                work.condition(*condition_args)
        if desired != current:
            body = copy.deepcopy(scale)
            body.setdefault("spec", {})["replicas"] = desired
            try:
                await self.client.update(ref, body, namespace=namespace, subresource="scale")
            except ApiError as exc:
                work.condition(
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {exc}",
                )
                work.event("Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc}")
                work.status["currentReplicas"] = current
                work.status["currentMetrics"] = statuses or None
                return
            work.condition(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
            work.event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            self.normalizer.scaled(key, behavior, current=current, new=desired, now=work.now)
            work.status["lastScaleTime"] = format_time(work.now)
            logger.info("hpa %s: %s scaled from %d to %d (%s)", key, reference, current, desired, reason)
        else:
            desired = current
        work.status["currentReplicas"] = current
        work.status["desiredReplicas"] = desired
        work.status["currentMetrics"] = statuses or None

    async def _replicas_for_metrics(
        self, work: _Round, namespace: str, scale: Obj, spec: Obj, current: int
    ) -> tuple[int, str, list[Obj]]:
        """Upstream's ``computeReplicasForMetrics``: the largest proposal, or -1 when it must not scale."""
        selector = str((scale.get("status") or {}).get("selector") or "")
        if not selector:
            message = "the HPA target's scale is missing a selector"
            work.condition("ScalingActive", "False", "InvalidSelector", message)
            work.event("Warning", "SelectorRequired", "selector is required")
            return -1, "", []
        specs = [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
        statuses: list[Obj] = []
        replicas, metric_name = 0, ""
        invalid = 0
        first_error: tuple[str, str] | None = None
        pods: list[Obj] | None = None
        for metric in specs:
            try:
                if pods is None:
                    listing = await self.client.list(PODS, namespace=namespace, label_selector=selector)
                    pods = list(listing.get("items") or [])
                proposal, name, metric_status = await self._replicas_for_metric(
                    namespace, selector, metric, current, pods, work.now
                )
            except (MetricError, ApiError) as exc:
                reason, message = _failure(metric, exc)
                work.event("Warning", reason, message)
                first_error = first_error or (reason, message)
                invalid += 1
                statuses.append({"type": ""})
                continue
            statuses.append(metric_status)
            if replicas == 0 or proposal > replicas:
                replicas, metric_name = proposal, name
        if first_error is not None and (invalid >= len(specs) or replicas < current):
            reason, message = first_error
            work.condition(
                "ScalingActive", "False", reason, f"the HPA was unable to compute the replica count: {message}"
            )
            work.event(
                "Warning",
                "FailedComputeMetricsReplicas",
                f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: {message}",
            )
            return -1, "", statuses
        work.condition(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {metric_name}",
        )
        return replicas, metric_name, statuses

    async def _replicas_for_metric(
        self, namespace: str, selector: str, metric: Obj, current: int, pods: list[Obj], now: datetime.datetime
    ) -> tuple[int, str, Obj]:
        kind = metric.get("type")
        if kind not in ("Resource", "ContainerResource"):
            raise MetricError(
                f"{kind} metrics need a custom or external metrics API, which kuberya does not serve; "
                "use Resource (cpu, memory) metrics"
            )
        source = metric.get("resource" if kind == "Resource" else "containerResource") or {}
        resource = str(source.get("name") or "")
        container = source.get("container") if kind == "ContainerResource" else None
        target = source.get("target") or {}
        listing = await self.client.list(POD_METRICS, namespace=namespace, label_selector=selector)
        samples = ResourceSamples(
            current=current,
            resource=resource,
            pods=pods,
            metric_items=list(listing.get("items") or []),
            now=now,
            settings=self.settings,
            container=container,
        )
        scope = "container resource" if container else "resource"
        if target.get("averageValue") is not None:
            try:
                proposal = raw_resource_replicas(samples, target_average=milli(target["averageValue"]))
            except MetricError as exc:
                raise MetricError(f"failed to get {resource} usage: {exc}") from exc
            name = f"{resource} {scope}"
            current_value: Obj = {"averageValue": milli_quantity(proposal.average)}
        elif target.get("averageUtilization") is not None:
            try:
                proposal = resource_replicas(samples, target_utilization=int(target["averageUtilization"]))
            except MetricError as exc:
                raise MetricError(f"failed to get {resource} utilization: {exc}") from exc
            name = f"{resource} {scope} utilization (percentage of request)"
            current_value = {
                "averageUtilization": proposal.utilization,
                "averageValue": milli_quantity(proposal.average),
            }
        else:
            raise MetricError(
                "invalid resource metric source: "
                "neither an average utilization target nor an average value (usage) target was set"
            )
        status_source: Obj = {"name": resource, "current": current_value}
        if container:
            status_source["container"] = container
        field_name = "resource" if kind == "Resource" else "containerResource"
        return proposal.replicas, name, {"type": kind, field_name: status_source}

    async def _finish(self, work: _Round, original: Obj) -> None:
        for etype, reason, message in work.events:
            await self.events.record(work.hpa, type=etype, reason=reason, message=message)
        status = {k: v for k, v in work.status.items() if v is not None}
        status.setdefault("currentReplicas", original.get("currentReplicas", 0))
        status.setdefault("desiredReplicas", original.get("desiredReplicas", 0))
        generation = (work.hpa.get("metadata") or {}).get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        if status == original:
            return
        body = copy.deepcopy(work.hpa)
        body["status"] = status
        try:
            await self.client.update_status(HPA, body, namespace=(work.hpa.get("metadata") or {}).get("namespace"))
        except NotFoundError:
            return


def _fields(settings: HPASettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in HPASettings.__dataclass_fields__}


def _failure(metric: Obj, exc: Exception) -> tuple[str, str]:
    """The event reason and message of a metric that failed, as upstream names them per source type."""
    kind = str(metric.get("type") or "")
    reason = {
        "Resource": "FailedGetResourceMetric",
        "ContainerResource": "FailedGetContainerResourceMetric",
        "Pods": "FailedGetPodsMetric",
        "Object": "FailedGetObjectMetric",
        "External": "FailedGetExternalMetric",
    }.get(kind, "InvalidMetricSourceType")
    return reason, str(exc)
