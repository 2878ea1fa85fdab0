"""The replication manager: the ReplicaSet controller over ReplicationControllers, in the sample-controller style."""

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import PODS, REPLICATIONCONTROLLERS
from kuberya.controllers.replication import ReplicationManager, rc_as_replica_set
from tests.builders import controller_ref
from tests.fake_api import seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
STAMP = "2026-01-01T11:58:00Z"


def rc(name: str = "web", *, replicas: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"app": "web"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:v1"}]},
            },
        },
        "status": status,
    }


def pod(name: str, *, owner: str | None = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": {"app": "web"} if labels is None else labels,
        "creationTimestamp": STAMP,
    }
    if owner:
        meta["ownerReferences"] = [controller_ref("v1", "ReplicationController", owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}, "status": {"phase": "Running"}}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.manager = ReplicationManager(self.client, clock=FakeClock(), now=lambda: NOW)

    def seed_rc(self, obj: dict[str, Any]) -> None:
        seed(self.client, self.manager.replicasets, obj)

    def seed_pod(self, obj: dict[str, Any]) -> None:
        seed(self.client, self.manager.pods, obj)

    async def sync(self, key: str = "default/web") -> list[Action]:
        return await writes_of_sync(self.client, self.manager, key)


def test_an_rc_reads_as_a_replica_set_with_match_labels() -> None:
    original = rc()
    converted = rc_as_replica_set(original)
    assert converted["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert converted["kind"] == "ReplicationController"  # its Events and owner references name the RC
    assert original["spec"]["selector"] == {"app": "web"}  # a copy: the cached object is untouched


async def test_creates_pods_owned_by_the_rc() -> None:
    w = World()
    w.seed_rc(rc(replicas=2))
    actions = await w.sync()
    creates = [a for a in actions if a.verb == "create"]
    assert [a.resource for a in creates] == ["pods", "pods"]
    assert creates[0].body["metadata"]["generateName"] == "web-"
    assert creates[0].body["metadata"]["ownerReferences"] == [
        controller_ref("v1", "ReplicationController", "web", block=True)
    ]
    events = [a.body for a in w.client.actions if a.resource == "events" and a.verb == "create"]
    assert {(e["reason"], e["involvedObject"]["kind"], e["source"]["component"]) for e in events} == {
        ("SuccessfulCreate", "ReplicationController", "replication-controller")
    }


async def test_writes_the_rc_status_through_its_subresource() -> None:
    w = World()
    w.seed_rc(rc(replicas=1))
    w.seed_pod(pod("web-a"))
    actions = await w.sync()
    assert [(a.verb, a.resource, a.subresource) for a in actions] == [("patch", "replicationcontrollers", "status")]
    assert actions[0].body["status"]["replicas"] == 1


async def test_deletes_the_surplus_and_adopts_matching_orphans() -> None:
    w = World()
    w.seed_rc(rc(replicas=1))
    w.seed_pod(pod("web-a"))
    w.seed_pod(pod("web-b", owner=None))
    w.seed_pod(pod("other", owner=None, labels={"app": "other"}))
    actions = await w.sync()
    adopted = [a for a in actions if a.verb == "patch" and a.resource == "pods"]
    assert [a.name for a in adopted] == ["web-b"]  # the one that does not match stays an orphan
    deletes = [a for a in actions if a.verb == "delete"]
    assert len(deletes) == 1 and deletes[0].name in ("web-a", "web-b")


async def test_a_pod_owned_by_a_replica_set_of_the_same_name_is_not_the_rcs() -> None:
    w = World()
    w.seed_rc(rc(replicas=1))
    foreign = pod("web-x", owner=None)
    foreign["metadata"]["ownerReferences"] = [controller_ref("apps/v1", "ReplicaSet", "web", uid="uid-rs")]
    w.seed_pod(foreign)
    actions = await w.sync()
    assert len([a for a in actions if a.verb == "create"]) == 1


async def test_an_hpa_scales_an_rc_through_its_scale_subresource() -> None:
    from kuberya.client.resources import HPA
    from kuberya.controllers.hpa import POD_METRICS, HorizontalPodAutoscalerController

    client = FakeApiClient()
    client.add(REPLICATIONCONTROLLERS, rc(replicas=1))
    scales: list[Action] = []

    def scale(action: Action) -> Any:
        if action.subresource != "scale":
            return None
        scales.append(action)
        replicas = action.body["spec"]["replicas"] if action.verb == "update" else 1
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web", "namespace": "default"},
                "spec": {"replicas": replicas}, "status": {"replicas": 1, "selector": "app=web"}}  # fmt: skip

    client.reactors.append(scale)
    running = pod("web-a") | {"status": {"phase": "Running", "startTime": "2026-01-01T11:00:00Z", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T11:00:00Z"}]}}  # fmt: skip
    running["spec"] = {"containers": [{"name": "web", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]}
    client.add(PODS, running)
    client.add(POD_METRICS, {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web-a", "namespace": "default", "labels": {"app": "web"}},
        "timestamp": "2026-01-01T12:00:00Z", "window": "15s", "containers": [{"name": "web", "usage": {"cpu": "100m"}}],
    })  # fmt: skip
    hpa = client.add(HPA, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-hpa", "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "v1", "kind": "ReplicationController", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                              "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    })  # fmt: skip
    controller = HorizontalPodAutoscalerController(client, clock=FakeClock(), now=lambda: NOW)
    controller.hpas.store.add(hpa)
    await controller.sync("default/web")
    assert [(a.verb, a.resource) for a in scales] == [
        ("get", "replicationcontrollers"),
        ("update", "replicationcontrollers"),
    ]
    assert scales[-1].body["spec"]["replicas"] == 2
