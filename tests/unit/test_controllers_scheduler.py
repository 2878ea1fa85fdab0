import datetime
from fractions import Fraction
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import EVENTS, PODS
from kuberya.client.watch import WatchEvent
from kuberya.controllers import scheduling
from kuberya.controllers.scheduler import Scheduler
from tests.fake_api import seed

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def node(
    name: str = "kuberya",
    *,
    cpu: str = "1",
    memory: str = "1Gi",
    ready: bool = True,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name: str, *, cpu: str = "100m", node_name: str = "", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}],
            **({"nodeName": node_name} if node_name else {}),
            **spec,
        },
        "status": {"phase": "Pending"},
    }


class World:
    def __init__(self, *, node_name: str | None = "kuberya") -> None:
        self.client = FakeApiClient()
        self.sched = Scheduler(self.client, node_name=node_name, clock=FakeClock(), now=lambda: NOW)

    def seed_node(self, n: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.sched.nodes, n)

    def seed_pod(self, p: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.sched.pods, p)

    async def sync(self, name: str) -> list[Action]:
        self.client.clear()
        await self.sched.sync(f"default/{name}")
        return self.client.mutations()


async def test_a_pod_that_fits_is_bound_and_reported() -> None:
    w = World()
    w.seed_node(node())
    w.seed_pod(pod("p"))
    actions = await w.sync("p")
    assert [(a.verb, a.resource, a.subresource) for a in actions] == [
        ("patch", "pods", None),
        ("patch", "pods", "status"),
        ("create", "events", None),
    ]
    assert actions[0].body == {"spec": {"nodeName": "kuberya"}}
    assert actions[1].body["status"]["conditions"][0] | {"lastTransitionTime": "-"} == {
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": "-",
    }
    event = actions[2].body
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal",
        "Scheduled",
        "Successfully assigned default/p to kuberya",
    )
    assert event["source"] == {"component": "default-scheduler"}
    assert event["reportingComponent"] == "default-scheduler"
    assert event["involvedObject"]["kind"] == "Pod" and event["involvedObject"]["name"] == "p"
    assert w.client.stored(PODS, "p", namespace="default")["spec"]["nodeName"] == "kuberya"  # type: ignore[index]


async def test_insufficient_cpu_keeps_the_pod_pending_with_one_event_counted_up() -> None:
    w = World()
    w.seed_node(node(cpu="1"))
    w.seed_pod(pod("running", cpu="800m", node_name="kuberya"))
    w.seed_pod(pod("big", cpu="500m"))
    actions = await w.sync("big")
    # No pod of lower priority to preempt: upstream's PostFilter says so after the filter reasons.
    message = (
        "0/1 nodes are available: 1 Insufficient cpu."
        " preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    status_patch, event_create = actions
    assert status_patch.subresource == "status"
    (cond,) = status_patch.body["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
        message,
    )
    event = event_create.body
    assert (event["type"], event["reason"], event["message"], event["count"]) == (
        "Warning",
        "FailedScheduling",
        message,
        1,
    )
    assert event["metadata"]["namespace"] == "default"
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-01-01T12:00:00Z"
    # Trying again: the condition is already there; the event is counted, not repeated.
    w.sched.pods.store.add(w.client.stored(PODS, "big", namespace="default"))  # type: ignore[arg-type]
    actions = await w.sync("big")
    assert [(a.verb, a.resource) for a in actions] == [("patch", "events")]
    assert actions[0].body["count"] == 2
    assert len((await w.client.list(EVENTS, namespace="default"))["items"]) == 1


async def test_a_bound_pod_counts_before_the_cache_shows_it() -> None:
    w = World()
    w.seed_node(node(cpu="1"))
    w.seed_pod(pod("a", cpu="600m"))
    w.seed_pod(pod("b", cpu="600m"))
    await w.sync("a")
    actions = await w.sync("b")
    assert actions[0].body["status"]["conditions"][0]["reason"] == "Unschedulable"
    # The informer shows "a" bound: it is no longer assumed, and still counted once.
    bound = w.client.stored(PODS, "a", namespace="default")
    assert bound is not None
    w.sched.pods.apply(WatchEvent("MODIFIED", bound))
    assert w.sched.assumed == {}
    assert w.sched.node_usage(exclude="")["kuberya"] == ({"cpu": 600}, 1)


@pytest.mark.parametrize(
    ("n", "extra", "reason"),
    [
        (node(ready=False), {}, "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
        (node(labels={"disk": "hdd"}), {"nodeSelector": {"disk": "ssd"}},
         "1 node(s) didn't match Pod's node affinity/selector"),
        (
            node(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
            {},
            "1 node(s) had untolerated taint {dedicated: db}",
        ),
        (
            node(labels={"zone": "a"}),
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b", "c"]}]}]}}}},
            "1 node(s) didn't match Pod's node affinity/selector",
        ),
    ],
)  # fmt: skip
async def test_filters_explain_why_a_node_does_not_fit(n: dict[str, Any], extra: dict[str, Any], reason: str) -> None:
    w = World()
    w.seed_node(n)
    w.seed_pod(pod("p", **extra))
    actions = await w.sync("p")
    # Removing pods cures no taint, selector or affinity: preemption is not even tried.
    assert actions[0].body["status"]["conditions"][0]["message"] == (
        f"0/1 nodes are available: {reason}."
        " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )


async def test_tolerations_and_matching_affinity_allow_binding() -> None:
    w = World()
    w.seed_node(node(labels={"zone": "a"}, taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    w.seed_pod(
        pod(
            "p",
            tolerations=[{"key": "dedicated", "operator": "Exists"}],
            affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]},
                                      {"key": "gpu", "operator": "DoesNotExist"}]}]}}},
        )
    )  # fmt: skip
    actions = await w.sync("p")
    assert actions[0].body == {"spec": {"nodeName": "kuberya"}}


async def test_binding_subresource_is_used_when_the_server_has_it() -> None:
    w = World()
    w.client.raw_responses[("GET", "/api/v1")] = {"resources": [{"name": "pods"}, {"name": "pods/binding"}]}
    w.client.raw_responses[("POST", "/api/v1/namespaces/default/pods/p/binding")] = {"kind": "Status"}
    w.seed_node(node())
    w.seed_pod(pod("p"))
    await w.sync("p")
    (post,) = [a for a in w.client.actions if a.verb == "raw" and a.options["method"] == "POST"]
    assert post.body["target"] == {"apiVersion": "v1", "kind": "Node", "name": "kuberya"}
    assert not [a for a in w.client.actions if a.resource == "pods"], "no patch: the server bound it"


async def test_node_changes_that_matter_requeue_pending_pods() -> None:
    w = World()
    old = w.seed_node(node(cpu="1"))
    w.seed_pod(pod("pending", cpu="2"))
    w.seed_pod(pod("bound", node_name="kuberya"))
    heartbeat = {**old, "metadata": {**old["metadata"], "resourceVersion": "99"}}
    w.sched._on_node_update(old, heartbeat)
    assert len(w.sched.queue) == 0
    bigger = {**old, "status": {**old["status"], "allocatable": {"cpu": "4", "memory": "1Gi", "pods": "110"}}}
    w.sched._on_node_update(old, bigger)
    assert await w.sched.queue.get() == "default/pending"
    assert len(w.sched.queue) == 0


def test_quantities_and_pod_requests() -> None:
    assert scheduling.parse_quantity("250m") == Fraction(1, 4)
    assert scheduling.parse_quantity("1.5Gi") == 3 * 2**29
    assert scheduling.parse_quantity("1e3") == 1000
    assert scheduling.parse_quantity("2E") == 2 * 10**18
    assert scheduling.to_units("cpu", "0.1") == 100
    p = {
        "spec": {
            "initContainers": [
                {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}},
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "250m"}}},
            ],
            "overhead": {"cpu": "10m"},
        }
    }
    # cpu: max(500+250+100 sidecar, 2000 init) + 10 overhead; memory: max(128Mi, 64Mi).
    assert scheduling.pod_requests(p) == {"cpu": 2010, "memory": 128 * 2**20}


def test_fit_error_sorts_and_counts_reasons() -> None:
    assert (
        scheduling.fit_error(3, [["Insufficient cpu", "Insufficient memory"], ["Insufficient cpu"], ["Too many pods"]])
        == "0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, 2 Insufficient cpu."
    )
