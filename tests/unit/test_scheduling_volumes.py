"""The scheduler's VolumeBinding stand-in: a pod whose claims are missing or unbound is not placed."""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import NODES, PERSISTENTVOLUMECLAIMS, PODS
from kuberya.controllers import scheduling
from kuberya.controllers.scheduler import Scheduler

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
NODE = {
    "metadata": {"name": "kuberya"},
    "status": {
        "allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def pod_with_claim(claim: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-web-0"},
        "spec": {
            "containers": [{"name": "c", "image": "x"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
        "status": {"phase": "Pending"},
    }


def claim(name: str, *, volume: str = "", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"volumeName": volume} if volume else {}, "status": {"phase": "Pending"}}


def lookup(*claims: dict[str, Any]) -> Any:
    found = {f"default/{c['metadata']['name']}": c for c in claims}
    return found.get


def test_claims_decide_before_any_node() -> None:
    pod = pod_with_claim("data-web-0")
    assert scheduling.unbound_claim(pod, lookup()) == 'persistentvolumeclaim "data-web-0" not found'
    assert scheduling.unbound_claim(pod, lookup(claim("data-web-0", deleting=True))) == (
        'persistentvolumeclaim "data-web-0" is being deleted'
    )
    assert scheduling.unbound_claim(pod, lookup(claim("data-web-0"))) == scheduling.UNBOUND_IMMEDIATE_CLAIMS
    assert scheduling.unbound_claim(pod, lookup(claim("data-web-0", volume="pv-1"))) == ""
    assert (
        scheduling.unbound_claim({"metadata": {}, "spec": {"volumes": [{"name": "x", "emptyDir": {}}]}}, lookup()) == ""
    )


async def test_the_scheduler_leaves_a_pod_with_an_unbound_claim_pending() -> None:
    client = FakeApiClient()
    sched = Scheduler(client, node_name="kuberya", clock=FakeClock(), now=lambda: NOW)
    sched.nodes.store.add(client.add(NODES, NODE))
    sched.pods.store.add(client.add(PODS, pod_with_claim("data-web-0")))
    sched.claims.store.add(client.add(PERSISTENTVOLUMECLAIMS, claim("data-web-0")))
    await sched.sync("default/web-0")
    stored = client.stored(PODS, "web-0", namespace="default")
    assert stored is not None
    assert not stored["spec"].get("nodeName")
    (cond,) = stored["status"]["conditions"]
    message = (
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    assert (cond["reason"], cond["message"]) == ("Unschedulable", message)
    events = [a.body["message"] for a in client.actions if a.resource == "events" and a.verb == "create"]
    assert events == [message]
