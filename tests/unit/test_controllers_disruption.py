"""The disruption controller, sample-controller style: seed the caches, sync a budget, read its status."""

import datetime
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DEPLOYMENTS, PODDISRUPTIONBUDGETS, PODS, REPLICASETS, STATEFULSETS
from kuberya.controllers.disruption import DisruptionController, scaled_value
from tests.builders import controller_ref
from tests.fake_api import recorded_events, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def budget(
    name: str = "web", *, generation: int = 1, status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": generation},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        "status": status or {},
    }


def pod(
    name: str,
    *,
    ready: bool = True,
    owner: tuple[str, str, str] | None = ("apps/v1", "ReplicaSet", "web-rs"),
    deleting: bool = False,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    meta["labels"] = labels if labels is not None else {"app": "web"}
    if owner is not None:
        api_version, kind, owner_name = owner
        meta["ownerReferences"] = [
            {
                "apiVersion": api_version,
                "kind": kind,
                "name": owner_name,
                "uid": f"uid-{owner_name}",
                "controller": True,
            }
        ]
    if deleting:
        meta["deletionTimestamp"] = stamp(0)
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": "kuberya", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "conditions": conditions},
    }


def replicaset(name: str = "web-rs", *, replicas: int, deployment: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if deployment:
        meta["ownerReferences"] = [controller_ref("apps/v1", "Deployment", deployment)]
    return {"metadata": meta, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}}}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.dc = DisruptionController(self.client, clock=self.clock, now=lambda: NOW)

    def seed(self, ref: Any, obj: dict[str, Any]) -> dict[str, Any]:
        stored = self.client.add(ref, obj)
        informer = {
            PODDISRUPTIONBUDGETS: self.dc.budgets,
            PODS: self.dc.pods,
            REPLICASETS: self.dc.replicasets,
            DEPLOYMENTS: self.dc.deployments,
        }.get(ref)
        if informer is not None:
            informer.store.add(stored)
        return stored

    async def sync(self, key: str = "default/web") -> list[Action]:
        return await writes_of_sync(self.client, self.dc, key)

    def status(self, name: str = "web") -> dict[str, Any]:
        stored = self.client.stored(PODDISRUPTIONBUDGETS, name, namespace="default")
        assert stored is not None
        return dict(stored["status"])

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


def condition(status: dict[str, Any]) -> tuple[str, str]:
    (cond,) = [c for c in status["conditions"] if c["type"] == "DisruptionAllowed"]
    return cond["status"], cond["reason"]


async def test_min_available_count_allows_the_surplus_of_healthy_pods() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(minAvailable=2))
    w.seed(REPLICASETS, replicaset(replicas=3))
    for i in range(3):
        w.seed(PODS, pod(f"web-{i}"))
    w.seed(PODS, pod("other", labels={"app": "other"}))
    actions = await w.sync()
    assert [(a.verb, a.subresource) for a in actions] == [("update", "status")]
    status = w.status()
    assert {k: status[k] for k in ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed")} == {
        "currentHealthy": 3,
        "desiredHealthy": 2,
        "expectedPods": 3,
        "disruptionsAllowed": 1,
    }
    assert status["observedGeneration"] == 1
    assert condition(status) == ("True", "SufficientPods")
    # Nothing changed: nothing is written again.
    w.dc.budgets.store.add(w.client.stored(PODDISRUPTIONBUDGETS, "web", namespace="default") or {})
    assert await w.sync() == []


async def test_unready_and_terminating_pods_are_not_healthy() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(minAvailable=2))
    w.seed(PODS, pod("web-0"))
    w.seed(PODS, pod("web-1", ready=False))
    w.seed(PODS, pod("web-2", deleting=True))
    await w.sync()
    status = w.status()
    assert (status["currentHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == (1, 3, 0)
    assert condition(status) == ("False", "InsufficientPods")


async def test_percentages_and_max_unavailable_count_the_controllers_scale() -> None:
    w = World()
    # The ReplicaSet belongs to a Deployment: the Deployment's replicas are what is expected.
    w.seed(
        DEPLOYMENTS, {"metadata": {"name": "web", "namespace": "default", "uid": "uid-web"}, "spec": {"replicas": 4}}
    )
    w.seed(REPLICASETS, replicaset(replicas=4, deployment="web"))
    for i in range(3):  # one pod is still missing
        w.seed(PODS, pod(f"web-{i}"))
    w.seed(PODDISRUPTIONBUDGETS, budget(minAvailable="50%"))
    await w.sync()
    status = w.status()
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (4, 2, 1)

    w.seed(PODDISRUPTIONBUDGETS, budget("max", maxUnavailable="30%"))  # ceil(1.2) = 2 may be down
    await w.sync("default/max")
    status = w.status("max")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (4, 2, 1)


async def test_a_statefulset_is_counted_through_its_scale_subresource() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(maxUnavailable=1))
    for i in range(2):
        w.seed(PODS, pod(f"db-{i}", owner=("apps/v1", "StatefulSet", "db")))
    scale = {
        "kind": "Scale",
        "metadata": {"name": "db", "namespace": "default", "uid": "uid-db"},
        "spec": {"replicas": 3},
    }
    w.client.reactors.append(
        lambda a: scale if (a.verb, a.resource, a.subresource) == ("get", "statefulsets.apps", "scale") else None
    )
    await w.sync()
    assert STATEFULSETS.resource == "statefulsets"
    status = w.status()
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 0)


async def test_a_pod_without_its_controller_fails_safe() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(minAvailable="50%", status={"disruptionsAllowed": 3}))
    w.seed(PODS, pod("web-0", owner=("apps/v1", "ReplicaSet", "gone")))
    await w.sync()
    status = w.status()
    assert status["disruptionsAllowed"] == 0
    assert condition(status) == ("False", "SyncFailed")
    (cond,) = status["conditions"]
    assert cond["message"] == 'found no controllers for pod "web-0"'
    assert ("Warning", "CalculateExpectedPodCountFailed") in [e[:2] for e in w.events()]


async def test_unmanaged_pods_with_a_percentage_are_reported() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(minAvailable="100%"))
    w.seed(PODS, pod("bare", owner=None))
    await w.sync()
    assert [e[1] for e in w.events()] == ["UnmanagedPods"]
    assert "selector: app=web" in w.events()[0][2]


async def test_disrupted_pods_are_not_healthy_until_their_entry_expires() -> None:
    w = World()
    recent, stale = stamp(30), stamp(200)
    w.seed(
        PODDISRUPTIONBUDGETS,
        budget(minAvailable=1, status={"disruptedPods": {"web-0": recent, "web-1": stale, "gone": recent}}),
    )
    for i in range(3):
        w.seed(PODS, pod(f"web-{i}"))
    await w.sync()
    status = w.status()
    # web-0 was approved 30 s ago: not healthy; web-1's entry is older than 2 minutes: dropped.
    assert status["disruptedPods"] == {"web-0": recent}
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 1)
    assert [e[:2] for e in w.events()] == [("Warning", "NotDeleted")]
    # Looked at again when web-0's entry expires, 90 s from now.
    assert len(w.dc.queue) == 0
    w.clock.advance(89)
    assert len(w.dc.queue) == 0
    w.clock.advance(1)
    assert len(w.dc.queue) == 1


async def test_no_expected_pods_allow_no_disruption() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget(maxUnavailable=5))
    await w.sync()
    status = w.status()
    assert (status["expectedPods"], status["disruptionsAllowed"]) == (0, 0)
    assert [e[1] for e in w.events()] == ["NoPods"]


async def test_a_pod_event_enqueues_the_budgets_that_select_it() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget())
    w.seed(PODDISRUPTIONBUDGETS, budget("db", selector={"matchLabels": {"app": "db"}}))
    w.dc._enqueue_budgets_of(pod("web-0"))
    assert len(w.dc.queue) == 1


@pytest.mark.parametrize(
    ("value", "total", "expected"), [(2, 10, 2), ("50%", 3, 2), ("30%", 4, 2), ("0%", 5, 0), ("100%", 7, 7)]
)
def test_scaled_values_round_up(value: Any, total: int, expected: int) -> None:
    assert scaled_value(value, total) == expected


def disrupted(name: str, *, reason: str, seconds_ago: float, **extra: Any) -> dict[str, Any]:
    p = pod(name, **extra)
    p["status"]["conditions"].append(
        {"type": "DisruptionTarget", "status": "True", "reason": reason, "lastTransitionTime": stamp(seconds_ago)}
    )
    return p


async def test_a_stale_disruption_target_is_reset() -> None:
    w = World()
    w.seed(PODS, disrupted("web-0", reason="PreemptionByScheduler", seconds_ago=130))
    w.client.clear()
    await w.dc.sync_stale_pod("default/web-0")
    (update,) = w.client.mutations()
    assert (update.verb, update.subresource) == ("update", "status")
    (target,) = [c for c in update.body["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target == {
        "type": "DisruptionTarget",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": stamp(0),
    }


async def test_a_fresh_disruption_target_is_looked_at_when_it_turns_stale() -> None:
    w = World()
    fresh = w.seed(PODS, disrupted("web-0", reason="EvictionByEvictionAPI", seconds_ago=30))
    w.dc._on_pod_add(fresh)
    w.client.clear()
    await w.dc.sync_stale_pod("default/web-0")
    assert w.client.mutations() == []
    w.clock.advance(89)
    assert len(w.dc.stale_queue) == 0
    w.clock.advance(1)
    assert len(w.dc.stale_queue) == 1


@pytest.mark.parametrize(
    "pod_",
    [
        disrupted("kubelet", reason="TerminationByKubelet", seconds_ago=500),
        disrupted("going", reason="EvictionByEvictionAPI", seconds_ago=500, deleting=True),
    ],
    ids=["set-by-the-kubelet", "terminating"],
)
async def test_conditions_that_are_never_stale(pod_: dict[str, Any]) -> None:
    w = World()
    w.seed(PODS, pod_)
    w.client.clear()
    await w.dc.sync_stale_pod(f"default/{pod_['metadata']['name']}")
    assert w.client.mutations() == []
