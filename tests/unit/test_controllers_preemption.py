"""Preemption, sample-controller style: a full node, a pending pod of higher priority, one sync."""

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import NODES, PODDISRUPTIONBUDGETS, PODS
from kuberya.controllers import preemption
from kuberya.controllers.scheduler import Scheduler

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(cpu: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": "kuberya", "labels": {"kubernetes.io/hostname": "kuberya"}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str,
    *,
    cpu: str,
    priority: int = 0,
    bound: bool = True,
    started: float = 100,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {}},
        "spec": {
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}],
            "priority": priority,
            **({"nodeName": "kuberya"} if bound else {}),
            **spec,
        },
        "status": {"phase": "Running" if bound else "Pending", "startTime": stamp(started)},
    }


def budget(name: str, app: str, *, allowed: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": app}}, "minAvailable": 1},
        "status": {"disruptionsAllowed": allowed},
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.sched = Scheduler(self.client, node_name="kuberya", clock=FakeClock(), now=lambda: NOW)
        self.seed(NODES, node())

    def seed(self, ref: Any, obj: dict[str, Any]) -> dict[str, Any]:
        stored = self.client.add(ref, obj)
        informer = {NODES: self.sched.nodes, PODS: self.sched.pods, PODDISRUPTIONBUDGETS: self.sched.preemption.budgets}
        informer[ref].store.add(stored)
        return stored

    async def sync(self, name: str) -> list[Action]:
        self.client.clear()
        await self.sched.sync(f"default/{name}")
        return self.client.mutations()


def deleted(actions: list[Action]) -> list[str]:
    return [str(a.name) for a in actions if a.verb == "delete"]


async def test_the_fewest_lower_priority_pods_are_preempted() -> None:
    w = World()
    w.seed(PODS, pod("low-old", cpu="400m", started=300))
    w.seed(PODS, pod("low-new", cpu="400m", started=10))
    w.seed(PODS, pod("peer", cpu="200m", priority=100))  # same priority: never a victim
    w.seed(PODS, pod("high", cpu="400m", priority=100, bound=False))
    actions = await w.sync("high")
    # One 400m pod is enough; the more important (earlier started) one is reprieved first.
    assert deleted(actions) == ["low-new"]
    condition = next(a for a in actions if a.name == "low-new" and a.subresource == "status")
    (cond,) = condition.body["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "DisruptionTarget",
        "True",
        "PreemptionByScheduler",
        "default-scheduler: preempting to accommodate a higher priority pod",
    )
    nominated = [a for a in actions if a.name == "high" and a.subresource == "status"]
    assert nominated[0].body == {"status": {"nominatedNodeName": "kuberya"}}
    events = [
        (a.body["involvedObject"]["name"], a.body["reason"], a.body["message"])
        for a in actions
        if a.resource == "events"
    ]
    assert ("low-new", "Preempted", "Preempted by pod uid-high on node kuberya") in events
    assert ("high", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.") in events


async def test_budgets_are_respected_where_possible() -> None:
    w = World()
    w.seed(PODDISRUPTIONBUDGETS, budget("guarded", "db", allowed=0))
    w.seed(PODS, pod("db", cpu="500m", labels={"app": "db"}, started=10))
    w.seed(PODS, pod("batch", cpu="500m", started=300))
    w.seed(PODS, pod("high", cpu="500m", priority=10, bound=False))
    # "db" is newer, so less important, but evicting it breaks its budget: "batch" goes instead.
    assert deleted(await w.sync("high")) == ["batch"]


def test_budget_violations_come_last_and_are_counted() -> None:
    fits = preemption._fits
    guarded = [budget("guarded", "db", allowed=0)]
    victims = [pod("db", cpu="600m", labels={"app": "db"}), pod("batch", cpu="300m")]
    candidate = preemption.select_victims(
        pod("high", cpu="900m", priority=1, bound=False), node(), victims, guarded, fits=fits
    )
    assert candidate is not None
    assert sorted(p["metadata"]["name"] for p in candidate.victims) == ["batch", "db"]
    assert candidate.pdb_violations == 1


async def test_nothing_is_preempted_when_it_would_not_help() -> None:
    w = World()
    w.seed(PODS, pod("peer", cpu="800m", priority=5))
    w.seed(PODS, pod("low", cpu="100m"))
    w.seed(PODS, pod("high", cpu="500m", priority=5, bound=False))  # even without "low" it does not fit
    actions = await w.sync("high")
    assert deleted(actions) == []
    assert not [
        a for a in actions if a.subresource == "status" and a.name == "high" and "nominatedNodeName" in a.body["status"]
    ]


async def test_a_pod_that_never_preempts_waits() -> None:
    w = World()
    w.seed(PODS, pod("low", cpu="900m"))
    w.seed(PODS, pod("polite", cpu="500m", priority=100, bound=False, preemptionPolicy="Never"))
    assert deleted(await w.sync("polite")) == []


def failed_scheduling(actions: list[Action], name: str) -> list[str]:
    return [
        a.body["message"]
        for a in actions
        if a.resource == "events"
        and a.body["reason"] == "FailedScheduling"
        and a.body["involvedObject"]["name"] == name
    ]


INSUFFICIENT = "0/1 nodes are available: 1 Insufficient cpu."


async def test_failed_scheduling_says_why_preemption_made_no_room() -> None:
    """Upstream's PostFilter message follows the filter reasons, one case per way preemption gives up."""
    w = World()
    w.seed(PODS, pod("peer", cpu="800m", priority=5))
    w.seed(PODS, pod("low", cpu="100m"))
    w.seed(PODS, pod("same", cpu="500m", priority=5, bound=False))  # nothing of lower priority that helps
    w.seed(PODS, pod("equal", cpu="500m", bound=False))  # nothing of lower priority at all
    w.seed(PODS, pod("huge", cpu="2", priority=100, bound=False))  # more than the whole node
    w.seed(PODS, pod("polite", cpu="500m", priority=100, bound=False, preemptionPolicy="Never"))
    assert failed_scheduling(await w.sync("same"), "same") == [
        f"{INSUFFICIENT} preemption: 0/1 nodes are available: 1 Insufficient cpu."
    ]
    assert failed_scheduling(await w.sync("equal"), "equal") == [
        f"{INSUFFICIENT} preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    ]
    assert failed_scheduling(await w.sync("huge"), "huge") == [
        f"{INSUFFICIENT} preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ]
    assert failed_scheduling(await w.sync("polite"), "polite") == [
        f"{INSUFFICIENT} preemption: not eligible due to preemptionPolicy=Never."
    ]


async def test_a_pod_waiting_for_its_victims_says_so() -> None:
    w = World()
    victim = pod("low", cpu="900m")
    victim["metadata"]["deletionTimestamp"] = stamp(0)
    w.seed(PODS, victim)
    waiting = pod("high", cpu="500m", priority=100, bound=False)
    waiting["status"]["nominatedNodeName"] = "kuberya"
    w.seed(PODS, waiting)
    assert failed_scheduling(await w.sync("high"), "high") == [
        f"{INSUFFICIENT} preemption: not eligible due to a terminating pod on the nominated node."
    ]


def test_only_room_that_removing_pods_can_make_is_resolvable() -> None:
    small, big = pod("p", cpu="500m", bound=False), pod("p", cpu="2", bound=False)
    assert preemption.resolvable(small, node(), ["Insufficient cpu", "Too many pods"])
    assert not preemption.resolvable(big, node(), ["Insufficient cpu"])  # larger than the node itself
    assert not preemption.resolvable(small, node(), ["node(s) didn't match Pod's node affinity/selector"])
    assert not preemption.resolvable(small, node(), ["Insufficient example.com/gpu"])  # the node has none


async def test_a_nominated_pod_waits_for_its_victims_and_keeps_its_room() -> None:
    w = World()
    victim = pod("low", cpu="900m")
    victim["metadata"]["deletionTimestamp"] = stamp(0)
    w.seed(PODS, victim)
    waiting = pod("high", cpu="500m", priority=100, bound=False)
    waiting["status"]["nominatedNodeName"] = "kuberya"
    w.seed(PODS, waiting)
    # Its victim is still terminating: no further victims are picked.
    assert deleted(await w.sync("high")) == []
    # Once the victim is gone, a lower-priority newcomer may not take the room made for "high".
    w.sched.pods.store.delete("default/low")
    w.seed(PODS, pod("newcomer", cpu="600m", bound=False))
    actions = await w.sync("newcomer")
    assert not [a for a in actions if a.body == {"spec": {"nodeName": "kuberya"}}]
    assert [a for a in await w.sync("high") if a.body == {"spec": {"nodeName": "kuberya"}}]
