"""How many replicas an HPA wants: upstream's ``ReplicaCalculator`` and its normalisation, without I/O.

:func:`resource_replicas` (a ``Utilization`` target: usage as a percentage of the pods' requests)
and :func:`raw_resource_replicas` (an ``AverageValue`` target) take the pods and their
``metrics.k8s.io`` samples (:class:`ResourceSamples`) and return ``ceil(ready pods × usage / target)``
— unchanged when the ratio is within the tolerance (10 %) — with upstream's conservative handling
of the pods whose samples it cannot trust (:func:`group_pods`): a pod without a sample counts as
100 % of its request on a scale-down and 0 % on a scale-up; an unready pod (and, for CPU, one
still in its initialisation period whose sample predates its readiness) as 0 % on a scale-up and
not at all otherwise; and a recomputation that would reverse the direction of the change changes nothing.

:class:`Normalizer` then turns the proposal into the count to set: without ``spec.behavior`` the
highest recommendation of the last ``downscale_stabilization`` seconds, at most
``max(2 × current, 4)`` and within min/max (``convertDesiredReplicasWithRules``); with it, its
stabilisation windows and Pods/Percent rate policies (``normalizeDesiredReplicasWithBehaviors``).
It returns the ``AbleToScale``/``ScalingLimited`` conditions it implies, with upstream's reasons.
Everything here is a pure function of its arguments and ``now``, so it is tested table-driven.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberya.controllers.pods import condition
from kuberya.controllers.wallclock import parse_time
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj

Condition = tuple[str, str, str, str]
"""(type, status, reason, message) of an HPA condition."""

SYNC_PERIOD_SECONDS = 15.0
DOWNSCALE_STABILIZATION_SECONDS = 300.0
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD_SECONDS = 300.0
DELAY_OF_INITIAL_READINESS_STATUS_SECONDS = 30.0
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0


class MetricError(Exception):
    """A metric gave no usable proposal; the message is upstream's error text."""


@dataclass(frozen=True, slots=True)
class HPASettings:
    """The controller's knobs, upstream's ``kube-controller-manager`` flags of the same names."""

    sync_period: float = SYNC_PERIOD_SECONDS
    """``--horizontal-pod-autoscaler-sync-period``."""
    downscale_stabilization: float = DOWNSCALE_STABILIZATION_SECONDS
    """``--horizontal-pod-autoscaler-downscale-stabilization``: also the default of a
    ``behavior.scaleDown`` that names no ``stabilizationWindowSeconds``."""
    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD_SECONDS
    delay_of_initial_readiness_status: float = DELAY_OF_INITIAL_READINESS_STATUS_SECONDS


# ---- samples and requests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodMetric:
    """One pod's usage of one resource (milli-units, as upstream's ``MilliValue``)."""

    value: int
    timestamp: datetime.datetime
    window: float


def milli(value: Any) -> int:
    """A quantity in thousandths, rounded up like ``Quantity.MilliValue``."""
    return math.ceil(parse_quantity(value) * 1000)


def milli_quantity(value: int) -> str:
    """``resource.NewMilliQuantity(value, DecimalSI)`` printed: ``250m``, ``2``, ``64M``."""
    if value == 0:
        return "0"
    for exponent, suffix in ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, "")):
        if value % 10 ** (exponent + 3) == 0:
            return f"{value // 10 ** (exponent + 3)}{suffix}"
    return f"{value}m"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ms|us|µs|ns|h|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: Any) -> float:
    """A Go duration (``metav1.Duration``: ``"5.002s"``, ``"1m30s"``) in seconds; 0 if unreadable."""
    parts = _DURATION_PART.findall(str(text or ""))
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def pod_metrics(items: Iterable[Obj], resource: str, container: str | None = None) -> dict[str, PodMetric]:
    """Upstream's ``getPodMetrics``: a pod counts only if every (or the named) container has the resource."""
    found: dict[str, PodMetric] = {}
    for item in items:
        containers = [c for c in item.get("containers") or [] if container is None or c.get("name") == container]
        usages = [(c.get("usage") or {}).get(resource) for c in containers]
        if not usages or any(u is None for u in usages):
            continue
        timestamp = parse_time(item.get("timestamp")) or datetime.datetime.fromtimestamp(0, datetime.UTC)
        name = str((item.get("metadata") or {}).get("name"))
        found[name] = PodMetric(sum(milli(u) for u in usages), timestamp, parse_duration(item.get("window")))
    return found


def pod_requests(pods: Iterable[Obj], resource: str, container: str | None = None) -> dict[str, int]:
    """Upstream's ``calculatePodRequests``: every container must request the resource."""
    requests: dict[str, int] = {}
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container is not None and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise MetricError(f"missing request for {resource} in container {c.get('name')} of Pod {name}")
            total += milli(request)
        requests[name] = total
    return requests


# ---- the replica calculation (upstream's ReplicaCalculator) --------------------------------------


@dataclass(slots=True)
class PodGroups:
    ready: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def group_pods(
    pods: Iterable[Obj],
    metrics: Mapping[str, PodMetric],
    resource: str,
    *,
    now: datetime.datetime,
    settings: HPASettings,
) -> PodGroups:
    """Upstream's ``groupPods``: which pods' samples can be trusted."""
    groups = PodGroups()
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = str(meta.get("name"))
        if meta.get("deletionTimestamp") or status.get("phase") == "Failed":
            groups.ignored.add(name)
            continue
        if status.get("phase") == "Pending":
            groups.unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            groups.missing.add(name)
            continue
        if resource == "cpu" and _cpu_sample_unready(pod, metric, now=now, settings=settings):
            groups.unready.add(name)
            continue
        groups.ready += 1
    return groups


def _cpu_sample_unready(pod: Obj, metric: PodMetric, *, now: datetime.datetime, settings: HPASettings) -> bool:
    # A starting process burns CPU it will not burn once warm: within the initialisation period a
    # sample counts only if a whole window of it was taken after the pod became ready.
    ready = condition(pod, "Ready")
    started = parse_time((pod.get("status") or {}).get("startTime"))
    if ready is None or started is None:
        return True
    transition = parse_time(ready.get("lastTransitionTime")) or started
    if started + datetime.timedelta(seconds=settings.cpu_initialization_period) > now:
        window_after_ready = transition + datetime.timedelta(seconds=metric.window)
        return bool(ready.get("status") == "False" or metric.timestamp < window_after_ready)
    delay = datetime.timedelta(seconds=settings.delay_of_initial_readiness_status)
    return bool(ready.get("status") == "False" and started + delay > transition)


def _within(ratio: float, tolerance: float) -> bool:
    return abs(1.0 - ratio) <= tolerance


def utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """Upstream's ``GetResourceUtilizationRatio``: (ratio, utilization %, average raw usage)."""
    total_usage = total_requests = entries = 0
    for name, metric in metrics.items():
        if name in requests:
            total_usage += metric.value
            total_requests += requests[name]
            entries += 1
    if total_requests == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = total_usage * 100 // total_requests
    return utilization / target, utilization, total_usage // entries


def _usage_ratio(metrics: Mapping[str, PodMetric], target: int) -> tuple[float, int]:
    """Upstream's ``GetMetricUsageRatio``: (ratio, average usage)."""
    average = sum(m.value for m in metrics.values()) // len(metrics)
    return average / target, average


@dataclass(frozen=True, slots=True)
class Proposal:
    replicas: int
    utilization: int | None
    """Percent of request (Utilization targets); None for AverageValue."""
    average: int
    """Average usage per pod, milli-units."""
    timestamp: datetime.datetime


@dataclass(frozen=True, slots=True)
class ResourceSamples:
    """What both resource calculations start from: the target's pods and their samples of one resource."""

    current: int
    """The target's replica count now."""
    resource: str
    """``cpu`` or ``memory``."""
    pods: list[Obj]
    """The pods the target's selector picks."""
    metric_items: list[Obj]
    """Their ``metrics.k8s.io`` PodMetrics."""
    now: datetime.datetime
    settings: HPASettings
    container: str | None = None
    """For a ``ContainerResource`` metric: the one container counted."""

    def fetched(self) -> tuple[dict[str, PodMetric], datetime.datetime]:
        """The pods' samples and the time of the oldest; a MetricError when there is nothing to go on."""
        metrics = _fetched(self.metric_items, self.resource, self.container)
        if not self.pods:
            raise MetricError("no pods returned by selector while calculating replica count")
        return metrics, min(m.timestamp for m in metrics.values())


def _replicas_from(
    samples: ResourceSamples, metrics: dict[str, PodMetric], *, ratio_of: Any, fallback: Any
) -> tuple[int, dict[str, PodMetric]]:
    """The part both calculations share: drop untrusted samples, then fill the gaps conservatively.

    ``ratio_of(metrics)`` is the usage ratio of a set of samples; ``fallback(name)`` what a pod
    without a sample is assumed to use on a scale-down. Returns the replicas and the trusted samples
    (those the reported usage is computed from).
    """
    current, now, settings = samples.current, samples.now, samples.settings
    groups = group_pods(samples.pods, metrics, samples.resource, now=now, settings=settings)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    trusted = dict(metrics)
    ratio = float(ratio_of(metrics))
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if _within(ratio, settings.tolerance):
            return current, trusted
        return math.ceil(ratio * groups.ready), trusted
    if groups.missing:
        for name in groups.missing:
            value = fallback(name) if ratio < 1.0 else 0
            if ratio != 1.0:
                metrics[name] = PodMetric(value, now, 0.0)
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = PodMetric(0, now, 0.0)
    new_ratio = float(ratio_of(metrics))
    if _within(new_ratio, settings.tolerance) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, trusted
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, trusted
    return replicas, trusted


def resource_replicas(samples: ResourceSamples, *, target_utilization: int) -> Proposal:
    """Upstream's ``GetResourceReplicas`` (a ``Utilization`` target, percent of the pods' requests)."""
    metrics, timestamp = samples.fetched()
    requests = pod_requests(samples.pods, samples.resource, samples.container)
    fallback_percent = max(100, target_utilization)
    replicas, trusted = _replicas_from(
        samples,
        metrics,
        ratio_of=lambda ms: utilization_ratio(ms, requests, target_utilization)[0],
        fallback=lambda name: requests.get(name, 0) * fallback_percent // 100,
    )
    _, utilization, average = utilization_ratio(trusted, requests, target_utilization)
    return Proposal(replicas, utilization, average, timestamp)


def raw_resource_replicas(samples: ResourceSamples, *, target_average: int) -> Proposal:
    """Upstream's ``GetRawResourceReplicas`` (an ``AverageValue`` target, milli-units per pod)."""
    metrics, timestamp = samples.fetched()
    replicas, trusted = _replicas_from(
        samples,
        metrics,
        ratio_of=lambda ms: _usage_ratio(ms, target_average)[0],
        fallback=lambda _name: target_average,
    )
    _, average = _usage_ratio(trusted, target_average)
    return Proposal(replicas, None, average, timestamp)


def _fetched(items: list[Obj], resource: str, container: str | None) -> dict[str, PodMetric]:
    if not items:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        )
    metrics = pod_metrics(items, resource, container)
    if not metrics:
        raise MetricError(f"unable to get metrics for resource {resource}: no metrics for the resource")
    return metrics


# ---- normalisation: stabilisation, rate limits, min/max ------------------------------------------


@dataclass(slots=True)
class _History:
    """Per HPA: past recommendations and scale events (upstream keeps both in memory)."""

    recommendations: list[tuple[int, datetime.datetime]] = field(default_factory=list)
    scale_ups: list[tuple[int, datetime.datetime]] = field(default_factory=list)
    scale_downs: list[tuple[int, datetime.datetime]] = field(default_factory=list)


def convert_with_rules(current: int, desired: int, minimum: int, maximum: int) -> tuple[int, str, str]:
    """Upstream's ``convertDesiredReplicasWithRules`` (no ``behavior``): (replicas, reason, message)."""
    scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if maximum > scale_up_limit:
        allowed_max = scale_up_limit
        reason, message = "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
    else:
        allowed_max = maximum
        reason, message = "TooManyReplicas", "the desired replica count is more than the maximum replica count"
    if desired < minimum:
        return minimum, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    if desired > allowed_max:
        return allowed_max, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def _changed_in_period(events: list[tuple[int, datetime.datetime]], period: float, now: datetime.datetime) -> int:
    cutoff = now - datetime.timedelta(seconds=period)
    return sum(change for change, when in events if when > cutoff)


def _policy_limit(current: int, history: _History, rules: Obj, *, up: bool, now: datetime.datetime) -> int:
    """Upstream's ``calculateScaleUpLimitWithScalingRules`` / ``calculateScaleDownLimitWithBehaviors``."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        period = float(policy.get("periodSeconds") or 0)
        added = _changed_in_period(history.scale_ups, period, now)
        deleted = _changed_in_period(history.scale_downs, period, now)
        start = current - added + deleted
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start + value if up else start - value)
        elif up:
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(int(start * (1 - value / 100)))
    if not proposals:
        return current
    # "Max" allows the biggest change: the highest limit up, the lowest limit down.
    biggest_change = (select == "Max") == up
    return max(proposals) if biggest_change else min(proposals)


class Normalizer:
    """Turns a metric proposal into the replica count to set, remembering what it decided."""

    def __init__(self, settings: HPASettings) -> None:
        self.settings = settings
        self._history: dict[str, _History] = {}

    def forget(self, key: str) -> None:
        self._history.pop(key, None)

    def seed(self, key: str, current: int, now: datetime.datetime) -> None:
        """Upstream's ``recordInitialRecommendation``: a new HPA starts from the current count."""
        history = self._history.setdefault(key, _History())
        if not history.recommendations:
            history.recommendations.append((current, now))

    def _record(self, history: _History, desired: int, now: datetime.datetime, window: float) -> None:
        cutoff = now - datetime.timedelta(seconds=window)
        history.recommendations = [(r, t) for r, t in history.recommendations if t >= cutoff]
        history.recommendations.append((desired, now))

    def normalize(
        self, key: str, *, current: int, desired: int, minimum: int, maximum: int, now: datetime.datetime
    ) -> tuple[int, list[Condition]]:
        """Without ``behavior``: (replicas, conditions to set as (type, status, reason, message))."""
        history = self._history.setdefault(key, _History())
        cutoff = now - datetime.timedelta(seconds=self.settings.downscale_stabilization)
        stabilized = max([desired] + [r for r, t in history.recommendations if t >= cutoff])
        self._record(history, desired, now, self.settings.downscale_stabilization)
        conditions = [
            (
                ("AbleToScale", "True", "ScaleDownStabilized", _DOWN_STABILIZED)
                if stabilized != desired
                else ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
            )
        ]
        replicas, reason, message = convert_with_rules(current, stabilized, minimum, maximum)
        conditions.append(("ScalingLimited", "False" if replicas == stabilized else "True", reason, message))
        return replicas, conditions

    def normalize_with_behavior(
        self,
        key: str,
        *,
        behavior: Obj,
        current: int,
        desired: int,
        minimum: int,
        maximum: int,
        now: datetime.datetime,
    ) -> tuple[int, list[Condition]]:
        """Upstream's ``normalizeDesiredReplicasWithBehaviors``."""
        history = self._history.setdefault(key, _History())
        up_rules = behavior.get("scaleUp") or {}
        down_rules = behavior.get("scaleDown") or {}
        up_window = float(up_rules.get("stabilizationWindowSeconds") or 0)
        down_window_set = down_rules.get("stabilizationWindowSeconds")
        down_window = self.settings.downscale_stabilization if down_window_set is None else float(down_window_set)
        up_cutoff = now - datetime.timedelta(seconds=up_window)
        down_cutoff = now - datetime.timedelta(seconds=down_window)
        up_recommendation = min([desired] + [r for r, t in history.recommendations if t > up_cutoff])
        down_recommendation = max([desired] + [r for r, t in history.recommendations if t > down_cutoff])
        stabilized = min(max(current, up_recommendation), down_recommendation)
        self._record(history, desired, now, max(up_window, down_window))
        conditions = []
        if stabilized != desired:
            if desired >= current:
                conditions.append(("AbleToScale", "True", "ScaleUpStabilized", _UP_STABILIZED))
            else:
                conditions.append(("AbleToScale", "True", "ScaleDownStabilized", _DOWN_STABILIZED))
        else:
            conditions.append(("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"))
        replicas, reason, message = self._rate_limited(
            history, up_rules, down_rules, current, stabilized, minimum, maximum, now
        )
        conditions.append(("ScalingLimited", "False" if replicas == stabilized else "True", reason, message))
        return replicas, conditions

    @staticmethod
    def _rate_limited(
        history: _History,
        up_rules: Obj,
        down_rules: Obj,
        current: int,
        desired: int,
        minimum: int,
        maximum: int,
        now: datetime.datetime,
    ) -> tuple[int, str, str]:
        """Upstream's ``convertDesiredReplicasWithBehaviorRate``."""
        if desired > current:
            limit = max(_policy_limit(current, history, up_rules, up=True, now=now), current)
            if maximum > limit:
                allowed, reason = limit, "ScaleUpLimit"
                message = "the desired replica count is increasing faster than the maximum scale rate"
            else:
                allowed, reason = maximum, "TooManyReplicas"
                message = "the desired replica count is more than the maximum replica count"
            if desired > allowed:
                return allowed, reason, message
        elif desired < current:
            limit = min(_policy_limit(current, history, down_rules, up=False, now=now), current)
            if minimum < limit:
                allowed, reason = limit, "ScaleDownLimit"
                message = "the desired replica count is decreasing faster than the maximum scale rate"
            else:
                allowed, reason = minimum, "TooFewReplicas"
                message = "the desired replica count is less than the minimum replica count"
            if desired < allowed:
                return allowed, reason, message
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"

    def scaled(self, key: str, behavior: Obj | None, *, current: int, new: int, now: datetime.datetime) -> None:
        """Upstream's ``storeScaleEvent``: the rate policies count what changed in their period."""
        if behavior is None:
            return
        history = self._history.setdefault(key, _History())
        longest = max(
            [
                float(p.get("periodSeconds") or 0)
                for rules in behavior.values()
                if isinstance(rules, dict)
                for p in rules.get("policies") or []
            ]
            or [0.0]
        )
        cutoff = now - datetime.timedelta(seconds=longest)
        history.scale_ups = [(c, t) for c, t in history.scale_ups if t > cutoff]
        history.scale_downs = [(c, t) for c, t in history.scale_downs if t > cutoff]
        if new > current:
            history.scale_ups.append((new - current, now))
        elif new < current:
            history.scale_downs.append((current - new, now))


_UP_STABILIZED = "recent recommendations were lower than current one, applying the lowest recent recommendation"
_DOWN_STABILIZED = "recent recommendations were higher than current one, applying the highest recent recommendation"
