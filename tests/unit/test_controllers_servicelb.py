"""The service load-balancer controller, sample-controller style: seed the cache, sync, compare the actions."""

from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import SERVICES
from kuberya.client.watch import WatchEvent
from kuberya.controllers.servicelb import LOAD_BALANCER_CLASS, ServiceLBController
from tests.builders import service, with_uid
from tests.fake_api import seed

Obj = dict[str, Any]


def controller(client: FakeApiClient, *services: Obj) -> ServiceLBController:
    lb = ServiceLBController(client, node_ip="10.0.0.5", clock=FakeClock())
    for svc in services:
        seed(client, lb.services, svc)
    return lb


def status_patches(client: FakeApiClient) -> list[Any]:
    return [a.body for a in client.actions if a.verb == "patch" and a.subresource == "status"]


async def test_a_load_balancer_service_gets_the_node_address_once() -> None:
    client = FakeApiClient()
    lb = controller(client, service("web", type="LoadBalancer"))
    await lb.sync("default/web")
    assert status_patches(client) == [{"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}}]
    # The stored status now says so: a second sync writes nothing.
    stored = client.stored(SERVICES, "web", namespace="default")
    assert stored is not None
    lb.services.store.add(stored)
    await lb.sync("default/web")
    assert len(status_patches(client)) == 1


async def test_a_service_that_stops_being_a_load_balancer_is_cleared() -> None:
    client = FakeApiClient()
    was_lb = service("web", type="ClusterIP")
    was_lb["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}
    lb = controller(client, was_lb, service("plain"))
    await lb.sync("default/web")
    await lb.sync("default/plain")
    assert status_patches(client) == [{"status": {"loadBalancer": {"ingress": None}}}]


async def test_only_our_class_or_none_is_answered_for() -> None:
    client = FakeApiClient()
    ours = service("ours", type="LoadBalancer", loadBalancerClass=LOAD_BALANCER_CLASS)
    foreign = service("foreign", type="LoadBalancer", loadBalancerClass="example.com/metallb")
    lb = controller(client, ours, foreign)
    await lb.sync("default/ours")
    await lb.sync("default/foreign")
    assert [a.name for a in client.actions if a.verb == "patch"] == ["ours"]


async def test_adds_and_updates_enqueue_the_service_and_deletes_do_not() -> None:
    lb = controller(FakeApiClient())
    svc = with_uid(service("web", type="LoadBalancer"))
    lb.services.apply(WatchEvent("ADDED", svc))
    assert len(lb.queue) == 1
    assert await lb.queue.get() == "default/web"
    lb.queue.done("default/web")
    lb.services.apply(WatchEvent("MODIFIED", {**svc, "spec": {**svc["spec"], "type": "ClusterIP"}}))
    assert len(lb.queue) == 1
    assert await lb.queue.get() == "default/web"
    lb.queue.done("default/web")
    lb.services.apply(WatchEvent("DELETED", svc))
    assert len(lb.queue) == 0, "a deleted Service has no status left to clear"
    lb.queue.shutdown()


async def test_a_service_gone_from_the_cache_is_not_written() -> None:
    client = FakeApiClient()
    lb = controller(client)
    await lb.sync("default/gone")
    assert not client.actions


async def test_a_service_deleted_before_its_status_is_written_is_no_error() -> None:
    client = FakeApiClient()
    lb = controller(client)
    lb.services.store.add(with_uid(service("web", type="LoadBalancer")))  # cached, already gone from the API
    await lb.sync("default/web")
    assert [(a.verb, a.name) for a in client.actions] == [("patch", "web")]
    assert lb.queue.retries("default/web") == 0
