"""The Endpoints controller, sample-controller style: seed the caches, sync, compare the actions."""

import asyncio
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import ENDPOINTS, PODS, SERVICES
from kuberya.client.watch import WatchEvent
from kuberya.controllers.endpoints import EndpointsController, desired_subsets, find_port

Obj = dict[str, Any]


def service(name: str = "web", *, ns: str = "default", **spec: Any) -> Obj:
    spec.setdefault("selector", {"app": name})
    spec.setdefault("clusterIP", "10.96.0.20")
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-svc-{name}", "labels": {"team": "a"}},
        "spec": spec,
    }


def pod(
    name: str,
    ip: str | None,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    phase: str = "Running",
    deleting: bool = False,
    ns: str = "default",
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": ports or []}], **spec},
        "status": status,
    }


def address(name: str, ip: str) -> Obj:
    return {
        "ip": ip,
        "nodeName": "node1",
        "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"},
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.controller = EndpointsController(self.client, clock=FakeClock())

    def seed(self, *objs: Obj) -> None:
        for obj in objs:
            informer = {"Service": self.controller.services, "Pod": self.controller.pods}[obj["kind"]]
            informer.store.add(obj)

    async def sync(self, key: str = "default/web") -> list[Any]:
        self.client.clear()
        await self.controller.sync(key)
        return self.client.mutations()


async def test_ready_and_not_ready_pods_split_into_addresses_and_not_ready_addresses() -> None:
    w = World()
    w.seed(
        service(),
        pod("a", "10.88.0.2"),
        pod("b", "10.88.0.3", ready=False),
        pod("c", None),  # no IP yet
        pod("d", "10.88.0.5", phase="Succeeded"),  # terminal
        pod("e", "10.88.0.6", deleting=True),  # terminating
        pod("other", "10.88.0.7", labels={"app": "other"}),
    )
    [create] = await w.sync()
    assert (create.verb, create.resource, create.name, create.namespace) == ("create", "endpoints", "web", "default")
    assert create.body["metadata"]["labels"] == {"team": "a"}
    assert create.body["subsets"] == [
        {
            "addresses": [address("a", "10.88.0.2")],
            "notReadyAddresses": [address("b", "10.88.0.3")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]


async def test_nothing_is_written_when_the_endpoints_are_current_and_updated_when_not() -> None:
    w = World()
    w.seed(service(), pod("a", "10.88.0.2"))
    await w.sync()
    w.controller.endpoints.store.add(w.client.stored(ENDPOINTS, "web", namespace="default") or {})
    assert await w.sync() == []
    w.seed(pod("a", "10.88.0.2", ready=False))
    [update] = await w.sync()
    assert update.verb == "update"
    assert update.body["subsets"][0] == {
        "notReadyAddresses": [address("a", "10.88.0.2")],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


async def test_named_target_ports_resolve_per_pod_into_separate_subsets() -> None:
    w = World()
    w.seed(
        service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]),
        pod("a", "10.88.0.2", ports=[{"name": "web", "containerPort": 8080}]),
        pod("b", "10.88.0.3", ports=[{"name": "web", "containerPort": 9090}]),
        pod("c", "10.88.0.4", ports=[{"name": "other", "containerPort": 7070}]),  # lacks the port
    )
    [create] = await w.sync()
    assert create.body["subsets"] == [
        {"addresses": [address("a", "10.88.0.2")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        {"addresses": [address("b", "10.88.0.3")], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]},
    ]


async def test_multiple_ports_are_packed_into_one_subset() -> None:
    w = World()
    ports = [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"},
    ]
    w.seed(service(ports=ports), pod("a", "10.88.0.2"), pod("b", "10.88.0.3"))
    [create] = await w.sync()
    assert create.body["subsets"] == [
        {
            "addresses": [address("a", "10.88.0.2"), address("b", "10.88.0.3")],
            "ports": [
                {"name": "dns", "port": 5353, "protocol": "UDP"},
                {"name": "http", "port": 8080, "protocol": "TCP"},
            ],
        }
    ]


async def test_publish_not_ready_addresses_lists_unready_and_terminating_pods_as_ready() -> None:
    w = World()
    w.seed(
        service(publishNotReadyAddresses=True),
        pod("a", "10.88.0.2", ready=False),
        pod("b", "10.88.0.3", deleting=True),
    )
    [create] = await w.sync()
    assert create.body["subsets"][0]["addresses"] == [address("a", "10.88.0.2"), address("b", "10.88.0.3")]
    assert "notReadyAddresses" not in create.body["subsets"][0]


async def test_headless_service_without_ports_lists_pods_and_is_labelled_headless() -> None:
    w = World()
    w.seed(
        service(clusterIP="None", ports=[]),
        pod("a", "10.88.0.2", hostname="a", subdomain="web"),
    )
    [create] = await w.sync()
    assert create.body["metadata"]["labels"] == {"team": "a", "service.kubernetes.io/headless": ""}
    assert create.body["subsets"] == [{"addresses": [{**address("a", "10.88.0.2"), "hostname": "a"}]}]


async def test_services_without_selector_and_external_names_are_left_alone() -> None:
    w = World()
    w.seed(service("manual", selector=None), service("ext", type="ExternalName", externalName="example.com"))
    assert await w.sync("default/manual") == []
    assert await w.sync("default/ext") == []


async def test_a_deleted_service_takes_its_endpoints_with_it() -> None:
    w = World()
    w.client.add(ENDPOINTS, {"metadata": {"name": "web", "namespace": "default"}, "subsets": []})
    w.controller.endpoints.store.add(w.client.stored(ENDPOINTS, "web", namespace="default") or {})
    [delete] = await w.sync()
    assert (delete.verb, delete.name) == ("delete", "web")


def test_find_port_numbers_names_and_protocols() -> None:
    p = pod(
        "a",
        "1.2.3.4",
        ports=[{"name": "web", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}],
    )
    assert find_port(p, {"port": 80, "targetPort": 9000}) == 9000
    assert find_port(p, {"port": 80}) == 80
    assert find_port(p, {"port": 80, "targetPort": "web"}) == 8080
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    with pytest.raises(LookupError):
        find_port(p, {"port": 53, "targetPort": "dns", "protocol": "TCP"})


def test_desired_subsets_are_empty_without_pods() -> None:
    assert desired_subsets(service(), []) == []


async def test_pod_events_enqueue_the_services_that_select_them() -> None:
    client = FakeApiClient(watch_events=True)
    controller = EndpointsController(client, clock=FakeClock())
    controller.services.store.add(service())
    controller.services.store.add(service("api", selector={"app": "api"}))
    controller.pods.apply(WatchEvent("ADDED", pod("a", "10.88.0.2")))
    assert len(controller.queue) == 1
    assert await controller.queue.get() == "default/web"
    # A label change tells both the old and the new Service.
    controller.pods.apply(WatchEvent("MODIFIED", pod("a", "10.88.0.2", labels={"app": "api"})))
    assert len(controller.queue) == 1, "web is still being processed: it is queued again after done()"
    controller.queue.done("default/web")
    assert sorted([await controller.queue.get(), await controller.queue.get()]) == ["default/api", "default/web"]
    controller.queue.shutdown()


async def test_the_controller_runs_against_the_fake_api() -> None:
    client = FakeApiClient(watch_events=True)
    client.add(SERVICES, service())
    client.add(PODS, pod("a", "10.88.0.2"))
    controller = EndpointsController(client)
    task = asyncio.create_task(controller.run())
    try:
        for _ in range(200):
            ep = client.stored(ENDPOINTS, "web", namespace="default")
            if ep is not None:
                break
            await asyncio.sleep(0.01)
        assert ep is not None and ep["subsets"][0]["addresses"][0]["ip"] == "10.88.0.2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
