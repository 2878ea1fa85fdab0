"""The resource quota controller, sample-controller style: seed the caches, sync a key, check the writes."""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import CONFIGMAPS, DEPLOYMENTS, PODS, SERVICES
from kuberya.controllers.resourcequota import ResourceQuotaController
from tests.fake_api import seed

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def quota(hard: dict[str, str], *, name: str = "q", status: dict[str, Any] | None = None, **spec: Any) -> Any:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"hard": hard, **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


def pod(name: str, *, cpu: str = "", phase: str = "Running", namespace: str = "ns", **spec: Any) -> Any:
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"containers": [container], **spec},
        "status": {"phase": phase},
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.rqc = ResourceQuotaController(self.client, clock=FakeClock(), now=lambda: NOW)

    def seed_quota(self, obj: Any) -> Any:
        return seed(self.client, self.rqc.quotas, obj)

    def seed(self, ref: Any, obj: Any) -> Any:
        stored = self.client.add(ref, obj)
        informer = self.rqc.watched.get((ref.group, ref.resource))
        if informer is not None:
            informer.store.add(stored)
        return stored

    def status_writes(self) -> list[Any]:
        return [a.body["status"] for a in self.client.mutations() if a.subresource == "status"]


async def test_used_is_computed_from_the_pods_and_terminal_pods_do_not_count() -> None:
    w = World()
    w.seed_quota(quota({"pods": "5", "requests.cpu": "2", "limits.cpu": "4"}))
    w.seed(PODS, pod("a", cpu="500m"))
    w.seed(PODS, pod("b", cpu="250m"))
    w.seed(PODS, pod("done", cpu="1", phase="Succeeded"))
    w.seed(PODS, pod("elsewhere", cpu="1", namespace="other"))
    await w.rqc.sync("ns/q")
    assert w.status_writes() == [
        {
            "hard": {"limits.cpu": "4", "pods": "5", "requests.cpu": "2"},
            "used": {"limits.cpu": "750m", "pods": "2", "requests.cpu": "750m"},
        }
    ]


async def test_nothing_is_written_when_the_status_is_current() -> None:
    w = World()
    status = {"hard": {"pods": "2"}, "used": {"pods": "1"}}
    w.seed_quota(quota({"pods": "2"}, status=status))
    w.seed(PODS, pod("a"))
    await w.rqc.sync("ns/q")
    assert w.client.mutations() == []


async def test_an_unused_resource_is_reported_as_zero_and_hard_is_canonical() -> None:
    w = World()
    w.seed_quota(quota({"services": "2", "services.nodeports": "1", "requests.memory": "1024Mi"}))
    w.seed(SERVICES, {"metadata": {"name": "s", "namespace": "ns"}, "spec": {"type": "ClusterIP"}})
    await w.rqc.sync("ns/q")
    assert w.status_writes() == [
        {
            "hard": {"requests.memory": "1Gi", "services": "2", "services.nodeports": "1"},
            "used": {"requests.memory": "0", "services": "1", "services.nodeports": "0"},
        }
    ]


async def test_scopes_limit_what_is_counted() -> None:
    w = World()
    w.seed_quota(quota({"pods": "10"}, scopes=["BestEffort"]))
    w.seed(PODS, pod("best-effort"))
    w.seed(PODS, pod("burstable", cpu="1"))
    await w.rqc.sync("ns/q")
    assert w.status_writes()[0]["used"] == {"pods": "1"}


async def test_object_counts_of_other_kinds_are_listed() -> None:
    w = World()
    w.seed_quota(quota({"count/deployments.apps": "3", "configmaps": "4"}))
    w.client.add(DEPLOYMENTS, {"metadata": {"name": "d", "namespace": "ns"}, "spec": {}})
    w.client.add(DEPLOYMENTS, {"metadata": {"name": "d2", "namespace": "other"}, "spec": {}})
    w.seed(CONFIGMAPS, {"metadata": {"name": "c1", "namespace": "ns"}})
    w.seed(CONFIGMAPS, {"metadata": {"name": "c2", "namespace": "ns"}})
    await w.rqc.sync("ns/q")
    assert w.status_writes()[0]["used"] == {"configmaps": "2", "count/deployments.apps": "1"}


async def test_a_deleted_quota_is_left_alone() -> None:
    w = World()
    await w.rqc.sync("ns/gone")
    assert w.client.mutations() == []


async def test_a_change_to_a_pod_enqueues_the_quotas_of_its_namespace() -> None:
    w = World()
    w.seed_quota(quota({"pods": "1"}, name="q1"))
    w.seed_quota(quota({"pods": "1"}, name="q2"))
    w.rqc._enqueue_namespace_of(pod("a"))
    w.rqc._enqueue_namespace_of(pod("b", namespace="other"))
    assert len(w.rqc.queue) == 2
    assert {await w.rqc.queue.get(), await w.rqc.queue.get()} == {"ns/q1", "ns/q2"}
