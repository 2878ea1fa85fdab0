"""The HPA: upstream's replica calculation and normalisation (table-driven), then the controller's sync.

The calculation is pure: pods and ``metrics.k8s.io`` samples in, a replica count out. The
controller runs over :class:`FakeApiClient`, whose Deployment answers ``/scale`` through a reactor,
with a pinned wall clock, and is judged by what it writes: the scale, the status, the events.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DEPLOYMENTS, HPA, PODS
from kuberya.controllers.hpa import POD_METRICS, HorizontalPodAutoscalerController
from kuberya.controllers.hpa_replicas import (
    HPASettings,
    MetricError,
    Normalizer,
    ResourceSamples,
    convert_with_rules,
    milli_quantity,
    parse_duration,
    raw_resource_replicas,
    resource_replicas,
)
from tests.fake_api import recorded_events

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
SETTINGS = HPASettings()


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    *,
    cpu: str | None = "100m",
    memory: str | None = "100Mi",
    phase: str = "Running",
    ready: bool | None = True,
    started_ago: float = 3600,
    ready_ago: float = 3600,
    deleting: bool = False,
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    status: dict[str, Any] = {"phase": phase, "startTime": stamp(started_ago)}
    if ready is not None:
        status["conditions"] = [
            {"type": "Ready", "status": str(ready), "lastTransitionTime": stamp(ready_ago)},
        ]
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web"}, "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = stamp(1)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "web", "resources": {"requests": requests}}]},
        "status": status,
    }


def sample(name: str, cpu: str = "50m", memory: str = "50Mi", *, age: float = 0, window: str = "15s") -> dict[str, Any]:
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "timestamp": stamp(age),
        "window": window,
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }


def utilization(current: int, pods: list[dict[str, Any]], samples: list[dict[str, Any]], *, target: int = 50) -> int:
    return resource_replicas(
        ResourceSamples(current=current, resource="cpu", pods=pods, metric_items=samples, now=NOW, settings=SETTINGS),
        target_utilization=target,
    ).replicas


# ---- the replica calculation --------------------------------------------------------------------

CPU_CASES = [
    pytest.param(3, [pod("a"), pod("b"), pod("c")], [sample(n, "52m") for n in "abc"], 3, id="within-tolerance-stays"),
    pytest.param(3, [pod("a"), pod("b"), pod("c")], [sample(n, "100m") for n in "abc"], 6, id="twice-the-target"),
    pytest.param(
        4, [pod(n) for n in "abcd"], [sample(n, "10m") for n in "abcd"], 1, id="a-fifth-of-the-target-scales-down"
    ),
    pytest.param(
        3, [pod("a"), pod("b"), pod("c")], [sample("a", "100m"), sample("b", "100m")], 4, id="missing-counts-0-up"
    ),
    pytest.param(
        3,
        [pod("a"), pod("b"), pod("c")],
        [sample("a", "60m"), sample("b", "60m")],
        3,
        id="missing-would-reverse-direction",
    ),
    pytest.param(
        4, [pod(n) for n in "abcd"], [sample(n, "10m") for n in "abc"], 3, id="missing-counts-100-percent-down"
    ),
    pytest.param(
        3,
        [pod("a"), pod("b"), pod("c", ready=False)],
        [sample(n, "100m") for n in "abc"],
        4,
        id="unready-counts-0-up",
    ),
    pytest.param(
        2, [pod("a"), pod("b", ready=False)], [sample("a", "10m"), sample("b", "100m")], 1, id="unready-ignored-down"
    ),
    pytest.param(
        2, [pod("a"), pod("b", phase="Pending")], [sample("a", "100m")], 2, id="pending-is-unready-no-scale-up-alone"
    ),
    pytest.param(
        2, [pod("a"), pod("b", deleting=True)], [sample("a", "100m"), sample("b", "500m")], 2, id="deleting-ignored"
    ),
    pytest.param(
        2,
        [pod("a"), pod("b", started_ago=60, ready_ago=5)],
        [sample("a", "200m"), sample("b", "900m", window="15s")],
        4,
        id="cpu-sample-before-readiness-is-0-up",
    ),
]


@pytest.mark.parametrize(("current", "pods", "samples", "expected"), CPU_CASES)
def test_cpu_utilization_replicas(
    current: int, pods: list[dict[str, Any]], samples: list[dict[str, Any]], expected: int
) -> None:
    assert utilization(current, pods, samples) == expected


def test_utilization_and_average_come_from_trusted_samples() -> None:
    proposal = resource_replicas(
        ResourceSamples(
            current=2,
            resource="cpu",
            pods=[pod("a"), pod("b", ready=False)],
            metric_items=[sample("a", "30m"), sample("b", "900m")],
            now=NOW,
            settings=SETTINGS,
        ),
        target_utilization=50,
    )
    assert (proposal.utilization, proposal.average) == (30, 30)


def test_memory_ignores_the_cpu_initialisation_period() -> None:
    # The same young pod is unready for CPU but its memory counts: 2 × 200 % of request → 4 at 100 %.
    pods = [pod("a", started_ago=60, ready_ago=5), pod("b", started_ago=60, ready_ago=5)]
    proposal = resource_replicas(
        ResourceSamples(
            current=2,
            resource="memory",
            pods=pods,
            metric_items=[sample(n, memory="200Mi") for n in "ab"],
            now=NOW,
            settings=SETTINGS,
        ),
        target_utilization=100,
    )
    assert (proposal.replicas, proposal.utilization) == (4, 200)


def test_average_value_target() -> None:
    proposal = raw_resource_replicas(
        ResourceSamples(
            current=2,
            resource="memory",
            pods=[pod("a"), pod("b")],
            metric_items=[sample(n, memory="200Mi") for n in "ab"],
            now=NOW,
            settings=SETTINGS,
        ),
        target_average=100 * 2**20 * 1000,
    )
    assert proposal.replicas == 4
    assert milli_quantity(proposal.average) == "209715200"


@pytest.mark.parametrize(
    ("pods", "samples", "message"),
    [
        ([pod("a")], [], "no metrics returned from resource metrics API"),
        ([pod("a", cpu=None)], [sample("a")], "missing request for cpu in container app of Pod a"),
        ([pod("a", ready=False)], [sample("a")], "did not receive metrics for targeted pods"),
        ([], [sample("a")], "no pods returned by selector"),
    ],
)
def test_calculation_errors(pods: list[dict[str, Any]], samples: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(MetricError, match=message):
        utilization(1, pods, samples)


def test_quantities_and_durations() -> None:
    assert [milli_quantity(v) for v in (0, 250, 2000, 64_000_000_000, 1_500)] == ["0", "250m", "2", "64M", "1500m"]
    assert [parse_duration(t) for t in ("5s", "4.75s", "1m30s", "250ms")] == [5.0, 4.75, 90.0, 0.25]


# ---- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "desired", "minimum", "maximum", "expected", "reason"),
    [
        (2, 3, 1, 10, 3, "DesiredWithinRange"),
        (1, 10, 1, 10, 4, "ScaleUpLimit"),
        (4, 20, 1, 10, 8, "ScaleUpLimit"),
        (8, 20, 1, 10, 10, "TooManyReplicas"),
        (3, 0, 2, 10, 2, "TooFewReplicas"),
    ],
)
def test_rules_without_behavior(
    current: int, desired: int, minimum: int, maximum: int, expected: int, reason: str
) -> None:
    assert convert_with_rules(current, desired, minimum, maximum)[:2] == (expected, reason)


def at(seconds: float) -> datetime.datetime:
    return NOW + datetime.timedelta(seconds=seconds)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    normalizer = Normalizer(HPASettings(downscale_stabilization=300))
    normalizer.seed("default/web", 5, at(0))
    kwargs: dict[str, Any] = {"current": 5, "desired": 2, "minimum": 1, "maximum": 10}
    replicas, conditions = normalizer.normalize("default/web", now=at(60), **kwargs)
    assert replicas == 5
    assert conditions[0][:3] == ("AbleToScale", "True", "ScaleDownStabilized")
    assert normalizer.normalize("default/web", now=at(299), **kwargs)[0] == 5  # the 5 of t=0 still counts…
    assert normalizer.normalize("default/web", now=at(301), **kwargs)[0] == 2  # …until it is 300 s old


def test_scale_up_is_never_stabilized_by_default() -> None:
    normalizer = Normalizer(HPASettings())
    normalizer.seed("k", 2, at(0))
    replicas, conditions = normalizer.normalize("k", current=2, desired=3, minimum=1, maximum=10, now=at(1))
    assert replicas == 3
    assert conditions[0][2] == "ReadyForNewScale"


def test_behavior_windows_and_policies() -> None:
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15},
        ]},
        "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 60},
        ]},
    }  # fmt: skip
    normalizer = Normalizer(HPASettings())
    normalizer.seed("k", 1, at(0))
    up, _ = normalizer.normalize_with_behavior("k", behavior=behavior, current=1, desired=20, minimum=1, maximum=30,
                                               now=at(1))  # fmt: skip
    assert up == 5  # max(1 + 4 pods, 1 × 200 %)
    # One pod per minute down: a second step within the minute waits for the first to age out.
    normalizer = Normalizer(HPASettings())
    down_args: dict[str, Any] = {"behavior": behavior, "desired": 1, "minimum": 1, "maximum": 30}
    down, conditions = normalizer.normalize_with_behavior("k", current=5, now=at(1), **down_args)
    assert down == 4
    assert conditions[1][:3] == ("ScalingLimited", "True", "ScaleDownLimit")
    normalizer.scaled("k", behavior, current=5, new=4, now=at(1))
    assert normalizer.normalize_with_behavior("k", current=4, now=at(30), **down_args)[0] == 4
    assert normalizer.normalize_with_behavior("k", current=4, now=at(62), **down_args)[0] == 3


def test_behavior_without_a_scale_down_window_uses_the_controller_default() -> None:
    behavior = {"scaleDown": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    normalizer = Normalizer(HPASettings(downscale_stabilization=30))
    normalizer.seed("k", 4, at(0))
    args: dict[str, Any] = {"behavior": behavior, "current": 4, "desired": 1, "minimum": 1, "maximum": 10}
    assert normalizer.normalize_with_behavior("k", now=at(10), **args)[0] == 4
    assert normalizer.normalize_with_behavior("k", now=at(45), **args)[0] == 1


# ---- the controller -------------------------------------------------------------------------------


def deployment(replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": replicas},
    }


CPU_TARGET = {"type": "Utilization", "averageUtilization": 50}
RESCALED = "New size: 2; reason: cpu resource utilization (percentage of request) above target"


def hpa(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-hpa", "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": CPU_TARGET}}],
            **spec,
        },
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }  # fmt: skip


class World:
    """A FakeApiClient whose Deployment serves ``/scale``, and the controller over it."""

    def __init__(self, *, replicas: int = 1) -> None:
        self.client = FakeApiClient()
        self.client.reactors.append(self._scale)
        self.client.add(DEPLOYMENTS, deployment(replicas))
        self.clock = FakeClock()
        self.hpac = HorizontalPodAutoscalerController(self.client, clock=self.clock, now=lambda: NOW)

    def _scale(self, action: Action) -> Any:
        if action.subresource != "scale":
            return None
        stored = self.client.stored(DEPLOYMENTS, "web", namespace="default")
        assert stored is not None
        if action.verb == "update":
            stored["spec"]["replicas"] = action.body["spec"]["replicas"]
            self.client.add(DEPLOYMENTS, stored)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": stored["spec"]["replicas"]},
            "status": {"replicas": stored["spec"]["replicas"], "selector": "app=web"},
        }

    async def sync(self, obj: dict[str, Any]) -> dict[str, Any]:
        stored = self.client.add(HPA, obj)
        self.hpac.hpas.store.add(copy.deepcopy(stored))
        await self.hpac.sync("default/web")
        result = self.client.stored(HPA, "web", namespace="default")
        assert result is not None
        return result

    def replicas(self) -> int:
        stored = self.client.stored(DEPLOYMENTS, "web", namespace="default")
        assert stored is not None
        return int(stored["spec"]["replicas"])

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"]["conditions"]}


async def test_scales_up_on_cpu_and_reports_it() -> None:
    world = World(replicas=1)
    world.client.add(PODS, pod("web-a"))
    world.client.add(POD_METRICS, sample("web-a", cpu="100m"))  # 100 % of the request against 50 %
    result = await world.sync(hpa())
    assert world.replicas() == 2
    status = result["status"]
    assert (status["currentReplicas"], status["desiredReplicas"], status["lastScaleTime"]) == (1, 2, stamp(0))
    assert status["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 100, "averageValue": "100m"}},
        }
    ]
    assert conditions(result) == {
        "AbleToScale": ("True", "SucceededRescale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("False", "DesiredWithinRange"),
    }
    assert world.events() == [("Normal", "SuccessfulRescale", RESCALED)]


async def test_without_metrics_it_warns_and_does_not_scale() -> None:
    world = World(replicas=2)
    world.client.add(PODS, pod("web-a"))
    result = await world.sync(hpa())
    assert world.replicas() == 2
    assert conditions(result)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    assert ("Warning", "FailedGetResourceMetric") in [e[:2] for e in world.events()]
    assert result["status"]["currentReplicas"] == 2
    assert [a for a in world.client.mutations() if a.subresource == "scale"] == []


async def test_keeps_within_min_and_max_without_metrics() -> None:
    world = World(replicas=12)
    await world.sync(hpa())
    assert world.replicas() == 10
    assert world.events()[0][2] == "New size: 10; reason: Current number of replicas above Spec.MaxReplicas"


async def test_unknown_target_kind_cannot_scale() -> None:
    world = World()
    obj = hpa(scaleTargetRef={"apiVersion": "example.com/v1", "kind": "Widget", "name": "web"})
    result = await world.sync(obj)
    assert conditions(result)["AbleToScale"] == ("False", "FailedGetScale")


async def test_each_sync_schedules_the_next_round() -> None:
    world = World()
    world.client.add(PODS, pod("web-a"))
    world.client.add(POD_METRICS, sample("web-a", cpu="50m"))
    await world.sync(hpa())
    assert len(world.hpac.queue) == 0
    world.clock.advance(14.9)
    assert len(world.hpac.queue) == 0
    world.clock.advance(0.2)
    assert len(world.hpac.queue) == 1
    world.hpac.queue.shutdown()


async def test_an_unchanged_round_writes_no_status() -> None:
    world = World(replicas=1)
    world.client.add(PODS, pod("web-a"))
    world.client.add(POD_METRICS, sample("web-a", cpu="50m"))
    first = await world.sync(hpa())
    world.client.clear()
    world.hpac.hpas.store.add(first)
    await world.hpac.sync("default/web")
    assert world.client.mutations() == []
    world.hpac.queue.shutdown()
