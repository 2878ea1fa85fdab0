"""The EndpointSlice and service load-balancer controllers, sample-controller style."""

from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import ENDPOINTSLICES, SERVICES
from kuberya.controllers.endpointslices import CONTROLLER_NAME, EndpointSliceController
from kuberya.controllers.servicelb import ServiceLBController
from tests.unit.test_endpoints import pod, service

Obj = dict[str, Any]


class World:
    def __init__(self, **options: Any) -> None:
        self.client = FakeApiClient()
        self.controller = EndpointSliceController(self.client, clock=FakeClock(), **options)

    def seed(self, *objs: Obj) -> None:
        for obj in objs:
            informer = {"Service": self.controller.services, "Pod": self.controller.pods}[obj["kind"]]
            informer.store.add(obj)

    async def catch_up(self) -> None:
        """Let the slice cache show everything stored (what the watch would do)."""
        self.controller.slices.replace((await self.client.list(ENDPOINTSLICES))["items"])

    async def sync(self, key: str = "default/web") -> list[Any]:
        self.client.clear()
        await self.controller.sync(key)
        return self.client.mutations()


def endpoint(name: str, ip: str, *, ready: bool, serving: bool, terminating: bool) -> Obj:
    return {
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"},
        "nodeName": "node1",
    }


async def test_a_slice_with_conditions_labels_and_owner() -> None:
    w = World()
    w.seed(
        service(),
        pod("a", "10.88.0.2"),
        pod("b", "10.88.0.3", ready=False),
        pod("c", "10.88.0.4", deleting=True),  # terminating, still ready: serving
        pod("d", "10.88.0.5", deleting=True, ready=False),
        pod("e", None),
        pod("f", "10.88.0.6", phase="Failed"),
    )
    [create] = await w.sync()
    body = create.body
    assert (create.verb, create.resource) == ("create", "endpointslices.discovery.k8s.io")
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == {
        "team": "a",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": CONTROLLER_NAME,
    }
    assert body["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": "uid-svc-web",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert body["addressType"] == "IPv4"
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert body["endpoints"] == [
        endpoint("a", "10.88.0.2", ready=True, serving=True, terminating=False),
        endpoint("b", "10.88.0.3", ready=False, serving=False, terminating=False),
        endpoint("c", "10.88.0.4", ready=False, serving=True, terminating=True),
        endpoint("d", "10.88.0.5", ready=False, serving=False, terminating=True),
    ]


async def test_slices_are_reused_updated_only_on_change_and_waits_for_the_cache() -> None:
    w = World()
    w.seed(service(), pod("a", "10.88.0.2"))
    [create] = await w.sync()
    assert create.verb == "create"
    # The cache has not seen our slice yet: no second create.
    assert await w.sync() == []
    assert len(w.controller.queue) == 0 and w.controller.written.is_stale("default/web", [])
    await w.catch_up()
    assert await w.sync() == []
    w.seed(pod("a", "10.88.0.2", ready=False))
    [update] = await w.sync()
    assert update.verb == "update"
    assert update.body["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}


async def test_different_port_numbers_go_to_different_slices_and_big_groups_are_split() -> None:
    w = World(max_endpoints_per_slice=2)
    w.seed(
        service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]),
        *[pod(f"a{i}", f"10.88.0.{10 + i}", ports=[{"name": "web", "containerPort": 8080}]) for i in range(3)],
        pod("b", "10.88.1.2", ports=[{"name": "web", "containerPort": 9090}]),
    )
    creates = await w.sync()
    shapes = sorted((c.body["ports"][0]["port"], len(c.body["endpoints"])) for c in creates)
    assert shapes == [(8080, 1), (8080, 2), (9090, 1)]


async def test_no_pods_keeps_a_placeholder_and_gone_service_deletes_its_slices() -> None:
    w = World()
    w.seed(service())
    [create] = await w.sync()
    assert create.body["endpoints"] == [] and create.body["ports"] == []
    await w.catch_up()
    w.controller.services.store.delete("default/web")
    [delete] = await w.sync()
    assert delete.verb == "delete" and delete.resource == "endpointslices.discovery.k8s.io"


async def test_slices_of_others_are_not_touched_and_selectorless_services_are_skipped() -> None:
    w = World()
    w.client.add(
        ENDPOINTSLICES,
        {
            "metadata": {
                "name": "manual-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "manual"},
            },
            "addressType": "IPv4",
            "endpoints": [],
        },
    )
    await w.catch_up()
    w.seed(service("manual", selector=None))
    assert await w.sync("default/manual") == []


async def test_headless_and_publish_not_ready() -> None:
    w = World()
    w.seed(service(clusterIP="None", publishNotReadyAddresses=True), pod("a", "10.88.0.2", ready=False))
    [create] = await w.sync()
    assert create.body["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert create.body["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": False}


# -- ServiceLB ------------------------------------------------------------------------------------


async def test_load_balancer_services_get_the_node_as_ingress_and_lose_it_when_changed() -> None:
    client = FakeApiClient()
    lb = ServiceLBController(client, clock=FakeClock())
    svc = client.add(SERVICES, service(type="LoadBalancer"))
    lb.services.store.add(svc)
    client.clear()
    await lb.sync("default/web")
    [patch] = client.mutations()
    assert (patch.verb, patch.subresource, patch.body) == (
        "patch",
        "status",
        {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
    )
    stored = client.stored(SERVICES, "web", namespace="default")
    assert stored is not None and stored["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]
    lb.services.store.add(stored)
    client.clear()
    await lb.sync("default/web")
    assert client.mutations() == [], "already current"
    stored["spec"]["type"] = "ClusterIP"
    lb.services.store.add(stored)
    await lb.sync("default/web")
    assert client.stored(SERVICES, "web", namespace="default")["status"]["loadBalancer"] == {}  # type: ignore[index]


async def test_other_load_balancer_classes_are_not_ours() -> None:
    client = FakeApiClient()
    lb = ServiceLBController(client, clock=FakeClock())
    lb.services.store.add(client.add(SERVICES, service(type="LoadBalancer", loadBalancerClass="example.com/lb")))
    client.clear()
    await lb.sync("default/web")
    assert client.mutations() == []
