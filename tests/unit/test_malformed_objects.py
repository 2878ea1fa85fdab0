"""Components meeting objects stored malformed (by an older kuberya): one Warning, a backoff, no crash.

Sample-controller style: the informer caches and the fake client are seeded with the malformed
object and a valid one, ``sync(key)`` is called directly, and the actions are checked.
"""

import asyncio
import copy
import logging
from typing import Any

import pytest

from kuberya.client import FakeClock, WorkQueue, malformed, run_workers
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.informer import Store
from kuberya.client.resources import DEPLOYMENTS, HPA, NAMESPACES, PODS, REPLICASETS, SERVICES
from kuberya.client.workqueue import ControllerRateLimiter
from kuberya.controllers.deployment import DeploymentController
from kuberya.controllers.endpoints import EndpointsController
from kuberya.controllers.endpointslices import EndpointSliceController
from kuberya.controllers.garbage_collector import GarbageCollector, ObjectKey
from kuberya.controllers.hpa import HorizontalPodAutoscalerController
from kuberya.controllers.namespace import NamespaceController
from kuberya.controllers.replicaset import ReplicaSetController
from kuberya.controllers.scheduler import Scheduler
from kuberya.controllers.servicelb import ServiceLBController
from kuberya.proxy.table import build_table
from tests import builders
from tests.builders import pod, replica_set, with_uid


def warnings(client: FakeApiClient) -> list[Action]:
    return [a for a in client.actions if a.resource == "events" and a.verb == "create" and a.body["type"] == "Warning"]


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "web", "image": "web:v1"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            **spec,
        },
        "status": {},
    }


def with_limits(d: dict[str, Any], cpu: Any) -> dict[str, Any]:
    d = copy.deepcopy(d)
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": cpu}}
    return d


def with_containers(d: dict[str, Any], containers: Any) -> dict[str, Any]:
    d = copy.deepcopy(d)
    d["spec"]["template"]["spec"]["containers"] = containers
    return d


# -- the work queue ------------------------------------------------------------------------------


def test_the_rate_limiter_is_client_gos_default() -> None:
    clock = FakeClock()
    limiter: ControllerRateLimiter[str] = ControllerRateLimiter(clock=clock)
    assert [limiter.when("k") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert [limiter.when("k") for _ in range(30)][-1] == 1000.0, "capped at 1000 s"
    limiter.forget("k")
    assert limiter.when("k") == 0.005
    # The overall bucket: 100 retries at once (35 taken above), then 10 a second, whatever the keys.
    fresh = [limiter.when(f"key-{n}") for n in range(65)]
    assert fresh == [0.005] * 65
    assert limiter.when("one-more") == pytest.approx(0.1)
    clock.advance(1.0)
    assert limiter.when("later") == 0.005, "the bucket refills at 10 a second"


async def test_a_sync_that_requeues_itself_keeps_its_backoff() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    calls = 0

    async def sync(key: str) -> None:
        nonlocal calls
        calls += 1
        queue.add_rate_limited(key)  # as a controller does on an object it cannot act on

    runner = asyncio.create_task(run_workers(queue, sync, workers=1))
    queue.add("k")
    for delay in (0.005, 0.01, 0.02):
        for _ in range(10):
            await asyncio.sleep(0)
        clock.advance(delay)
    for _ in range(10):
        await asyncio.sleep(0)
    assert calls == 4
    assert queue.retries("k") == 4, "not forgotten: the backoff doubles instead of restarting at 5 ms"
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_a_failing_key_is_logged_once_not_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)

    async def sync(key: str) -> None:
        raise RuntimeError("the same failure")

    runner = asyncio.create_task(run_workers(queue, sync, workers=1, name="test"))
    with caplog.at_level(logging.DEBUG, logger="kuberya.client.workqueue"):
        queue.add("k")
        for _ in range(8):
            for _ in range(10):
                await asyncio.sleep(0)
            clock.advance(2.0)
        for _ in range(10):
            await asyncio.sleep(0)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    records = [r for r in caplog.records if "sync 'k' failed" in r.getMessage()]
    assert len(records) >= 8
    assert [r.levelno for r in records if r.levelno >= logging.WARNING] == [logging.WARNING]


def test_an_index_function_that_raises_does_not_stop_the_store(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.add_index("owner", lambda obj: [str(r["uid"]) for r in obj["metadata"].get("ownerReferences") or []])
    bad = {"metadata": {"name": "bad", "namespace": "default", "ownerReferences": 5}}
    good = {"metadata": {"name": "good", "namespace": "default", "ownerReferences": [{"uid": "u1"}]}}
    store.add(bad)
    store.add(good)
    assert store.get("default/bad") is bad
    assert store.by_index("owner", "u1") == [good]
    store.delete("default/bad")
    store.delete("default/good")
    assert store.by_index("owner", "u1") == []


# -- the shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (deployment("x", replicas="three"), "spec.replicas"),
        (with_limits(deployment("x"), "lots"), "spec.template.spec.containers[0].resources.limits.cpu"),
        (with_containers(deployment("x"), "x"), "spec.template.spec.containers"),
        (with_containers(deployment("x"), [{"name": 1}]), "spec.template.spec.containers[0].name"),
        (deployment("x", strategy={"rollingUpdate": {"maxSurge": "lots"}}), "spec.strategy.rollingUpdate.maxSurge"),
    ],
)
def test_the_shape_check_names_the_wrong_field(obj: dict[str, Any], field: str) -> None:
    with pytest.raises(malformed.MalformedObjectError) as caught:
        malformed.check(obj, malformed.DEPLOYMENT)
    assert caught.value.field == field


def test_valid_objects_pass_their_shapes() -> None:
    malformed.check(
        with_limits(deployment("x", strategy={"rollingUpdate": {"maxSurge": "25%"}}), "250m"), malformed.DEPLOYMENT
    )
    malformed.check(
        {"metadata": {"name": "s"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": "http"}]}},
        malformed.SERVICE,
    )


# -- the controllers -------------------------------------------------------------------------------


class DeploymentWorld:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.dc = DeploymentController(self.client, clock=self.clock)
        for d in objs:
            self.dc.deployments.store.add(self.client.add(DEPLOYMENTS, d))


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (deployment("bad", replicas="three"), "spec.replicas"),
        (with_limits(deployment("bad"), "lots"), "resources.limits.cpu"),
        (with_containers(deployment("bad"), "x"), "spec.template.spec.containers"),
    ],
)
async def test_deployment_warns_once_and_backs_off_while_others_roll_out(bad: dict[str, Any], field: str) -> None:
    w = DeploymentWorld(bad, deployment("good"))
    for _ in range(3):
        await w.dc.sync("default/bad")  # nothing escapes
    events = warnings(w.client)
    assert len(events) == 1, "one Warning, not one per retry"
    event = events[0].body
    assert event["reason"] == "FailedSync"
    assert event["involvedObject"]["name"] == "bad"
    assert field in event["message"]
    assert "kubectl edit deployment bad -n default" in event["message"]
    assert w.dc.queue.retries("default/bad") == 3, "each retry backs off further"
    assert not [a for a in w.client.mutations() if a.resource == "replicasets.apps"], "nothing done for it"
    await w.dc.sync("default/good")
    created = [a for a in w.client.mutations() if a.resource == "replicasets.apps" and a.verb == "create"]
    assert [a.body["spec"]["replicas"] for a in created] == [2]


async def test_a_fixed_deployment_syncs_and_is_warned_about_again_if_broken_again() -> None:
    bad = deployment("bad", replicas="three")
    w = DeploymentWorld(bad)
    await w.dc.sync("default/bad")
    fixed = w.client.add(DEPLOYMENTS, deployment("bad"))
    w.dc.deployments.store.add(fixed)
    await w.dc.sync("default/bad")
    assert [a.verb for a in w.client.mutations() if a.resource == "replicasets.apps"] == ["create"]
    w.dc.deployments.store.add(w.client.add(DEPLOYMENTS, bad))
    await w.dc.sync("default/bad")
    assert len(warnings(w.client)) == 1, "the same Warning again is the same Event..."
    bumps = [a for a in w.client.actions if a.resource == "events" and a.verb == "patch"]
    assert [a.body["count"] for a in bumps] == [2], "...counted twice (x2 in kubectl describe)"


async def test_deployment_worker_loop_survives_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    w = DeploymentWorld(deployment("bad", replicas="three"))
    runner = asyncio.create_task(run_workers(w.dc.queue, w.dc.sync, workers=1, name="deployment"))
    with caplog.at_level(logging.WARNING):
        w.dc.queue.add("default/bad")
        for _ in range(6):
            for _ in range(20):
                await asyncio.sleep(0)
            w.clock.advance(0.5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert w.dc.queue.retries("default/bad") >= 5
    assert len(warnings(w.client)) == 1
    lines = [r for r in caplog.records if "default/bad" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert not lines[0].exc_info, "a field named is enough: no traceback"


async def test_replicaset_controller() -> None:
    client = FakeApiClient()
    rsc = ReplicaSetController(client, clock=FakeClock())
    for rs in (with_uid(replica_set("bad", replicas="three")), with_uid(replica_set("good", replicas=1))):
        rsc.replicasets.store.add(client.add(REPLICASETS, rs))
    await rsc.sync("default/bad")
    await rsc.sync("default/bad")
    assert [e.body["involvedObject"]["name"] for e in warnings(client)] == ["bad"]
    assert "spec.replicas" in warnings(client)[0].body["message"]
    assert rsc.queue.retries("default/bad") == 2
    await rsc.sync("default/good")
    assert [a.verb for a in client.mutations() if a.resource == "pods"] == ["create"]


async def test_scheduler() -> None:
    client = FakeApiClient()
    scheduler = Scheduler(client, clock=FakeClock())
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "uid": "uid-n1"},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    scheduler.nodes.store.add(node)
    limits = {"name": "c", "image": "i", "resources": {"limits": {"cpu": "lots"}}}
    for p in (
        with_uid(pod("bad", containers=[{"name": 1}])),
        with_uid(pod("bound-bad", containers=[limits], node="n1")),  # bound before: its requests cannot be summed
        with_uid(pod("good", containers=[{"name": "c", "image": "i"}])),
    ):
        scheduler.pods.store.add(client.add(PODS, p))
    client.raw_responses[("GET", "/api/v1")] = {"resources": []}
    await scheduler.sync("default/bad")
    assert [e.body["involvedObject"]["name"] for e in warnings(client)] == ["bad"]
    assert "spec.containers[0].name" in warnings(client)[0].body["message"]
    await scheduler.sync("default/good")
    bound = [a for a in client.mutations() if a.resource == "pods" and a.verb == "patch" and a.subresource is None]
    assert [(a.name, a.body) for a in bound] == [("good", {"spec": {"nodeName": "n1"}})]


def service(name: str, **spec: Any) -> dict[str, Any]:
    return with_uid(builders.service(name, **{"clusterIP": "10.0.0.9", **spec}))


@pytest.mark.parametrize("bad", [service("bad", selector="a"), service("bad", ports=[{"port": "x"}])])
@pytest.mark.parametrize("controller", [EndpointsController, EndpointSliceController])
async def test_endpoints_controllers(controller: Any, bad: dict[str, Any]) -> None:
    client = FakeApiClient()
    c = controller(client, clock=FakeClock())
    for s in (bad, service("good")):
        c.services.store.add(client.add(SERVICES, s))
    ready = with_uid(pod("good-1", containers=[{"name": "c"}], node="n1"))
    ready["metadata"]["labels"] = {"app": "good"}
    ready["status"] = {"phase": "Running", "podIP": "10.88.0.5", "conditions": [{"type": "Ready", "status": "True"}]}
    broken = with_uid(pod("good-2", containers=[{"name": 1}], node="n1"))
    broken["metadata"]["labels"] = {"app": "good"}
    for p in (ready, broken):
        c.pods.store.add(client.add(PODS, p))
    await c.sync("default/bad")
    await c.sync("default/bad")
    assert [e.body["involvedObject"]["name"] for e in warnings(client)] == ["bad"]
    assert c.queue.retries("default/bad") == 2
    await c.sync("default/good")
    written = [a for a in client.mutations() if a.resource in ("endpoints", "endpointslices.discovery.k8s.io")]
    assert len(written) == 1 and written[0].verb == "create"
    assert "10.88.0.5" in str(written[0].body), "the valid pod is served; the malformed one is left out"
    assert "good-2" not in str(written[0].body)


def hpa(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            **spec,
        },
    }


async def test_hpa_controller_backs_off_instead_of_resyncing() -> None:
    client = FakeApiClient()
    clock = FakeClock()
    c = HorizontalPodAutoscalerController(client, clock=clock)
    c.hpas.store.add(client.add(HPA, hpa("bad", maxReplicas="ten")))
    for _ in range(3):
        await c.sync("default/bad")
    assert len(warnings(client)) == 1
    assert "spec.maxReplicas" in warnings(client)[0].body["message"]
    assert c.queue.retries("default/bad") == 3
    assert not [a for a in client.actions if a.verb == "get"], "no round was attempted"


async def test_namespace_servicelb_and_gc() -> None:
    client = FakeApiClient()
    namespaces = NamespaceController(client, clock=FakeClock())
    namespaces.namespaces.store.add(
        client.add(NAMESPACES, {"metadata": {"name": "bad", "uid": "uid-ns"}, "spec": {"finalizers": "kubernetes"}})
    )
    await namespaces.sync("bad")
    lb = ServiceLBController(client, clock=FakeClock())
    lb.services.store.add(client.add(SERVICES, service("lb", type=["LoadBalancer"])))
    await lb.sync("default/lb")
    gc = GarbageCollector(client, clock=FakeClock())
    (informer,) = gc.set_resources([DEPLOYMENTS])
    owned = deployment("owned")
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": 7}]
    informer.store.add(client.add(DEPLOYMENTS, owned))
    await gc.sync(ObjectKey.of(DEPLOYMENTS, owned))
    assert [(e.body["involvedObject"]["name"], e.body["source"]["component"]) for e in warnings(client)] == [
        ("bad", "namespace-controller"),
        ("lb", "service-lb-controller"),
        ("owned", "garbage-collector-controller"),
    ]
    assert "ownerReferences[0].uid" in warnings(client)[2].body["message"]


# -- the proxy ---------------------------------------------------------------------------------------


def test_proxy_table_skips_what_cannot_be_read() -> None:
    services = [service("bad", ports=[{"port": "x"}]), service("good")]
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "good-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "good"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": ["10.88.0.5", "garbage"]}],
    }
    garbage = {"kind": "EndpointSlice", "metadata": {"name": "g", "namespace": "default"}, "endpoints": "x"}
    readable, refused = malformed.partition(services, malformed.SERVICE)
    slices, refused_slices = malformed.partition([slice_, garbage], malformed.ENDPOINT_SLICE)
    assert [o["metadata"]["name"] for o, _ in [*refused, *refused_slices]] == ["bad", "g"]
    table = build_table(readable, slices)
    assert list(table) == ["default/good:http/TCP"]
    assert [e.ip for e in table["default/good:http/TCP"].endpoints] == ["10.88.0.5"]


def test_dns_gives_a_malformed_service_no_records(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    import dns.rcode
    import dns.rdatatype

    from kuberya.proxy.dns import ClusterDNS

    conf = tmp_path / "resolv.conf"
    conf.write_text("")
    server = ClusterDNS(
        FakeApiClient(), listen=[("127.0.0.1", 0)], upstream_resolv_conf=conf, manage_service=False, clock=FakeClock()
    )
    server.services.store.add(service("bad", clusterIP=["10.0.0.1"]))
    server.services.store.add(service("good"))
    with caplog.at_level(logging.WARNING, logger="kuberya.proxy.dns"):
        for _ in range(5):
            rcode, answers = server.resolve("bad.default.svc.cluster.local", dns.rdatatype.A)
            assert rcode == dns.rcode.NXDOMAIN and answers == []
    assert len([r for r in caplog.records if "bad" in r.getMessage()]) == 1, "logged once, not once per query"
    rcode, answers = server.resolve("good.default.svc.cluster.local", dns.rdatatype.A)
    assert rcode == dns.rcode.NOERROR and [str(r) for r in answers[0]] == ["10.0.0.9"]


def test_a_malformed_service_gives_no_link_variables_and_keeps_the_others() -> None:
    from kuberya.client.servicelinks import pod_service_env

    env = dict(pod_service_env([service("bad", ports=[{"port": "x"}]), service("good")], namespace="default"))
    assert env["GOOD_SERVICE_HOST"] == "10.0.0.9"
    assert not [name for name in env if name.startswith("BAD_")]


async def test_a_pod_worker_logs_a_repeated_failure_once(caplog: pytest.LogCaptureFixture) -> None:
    from kuberya.node.state import PodState
    from kuberya.node.workers import PodWorker

    clock = FakeClock()
    calls = 0

    async def sync(state: PodState) -> bool:
        nonlocal calls
        calls += 1
        raise malformed.MalformedObjectError("spec.containers[0].name", "expected a string, got 1 (int)")

    worker = PodWorker(PodState(uid="u", namespace="default", name="p", pod={}), sync, clock)
    with caplog.at_level(logging.DEBUG, logger="kuberya.node.workers"):
        task = asyncio.create_task(worker.run())
        for _ in range(6):
            for _ in range(10):
                await asyncio.sleep(0)
            clock.advance(30.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert calls >= 5
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and not loud[0].exc_info
