"""The API server through the official Python clients: ``kubernetes`` (sync) and ``kubernetes_asyncio``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes import watch as sync_watch
from kubernetes.client.rest import ApiException

from tests.conftest import Cluster


@pytest.fixture
def api(cluster: Cluster) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield client
    client.close()


def deployment(name: str, replicas: int = 1) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "payment:v1"}]},
            },
        },
    }


def test_crud_with_typed_models(api: kubernetes.client.ApiClient, namespace: str) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    created = apps.create_namespaced_deployment(namespace, deployment("pay", 2))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    listed = apps.list_namespaced_deployment(namespace, label_selector="app=pay")
    assert [d.metadata.name for d in listed.items] == ["pay"]
    # A dict body is sent as a strategic merge patch: the container list merges by name.
    apps.patch_namespaced_deployment(
        "pay", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "payment:v2"}]}}}}
    )
    # A list body is a JSON patch.
    apps.patch_namespaced_deployment("pay", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    got = apps.read_namespaced_deployment("pay", namespace)
    assert got.spec.replicas == 4 and got.spec.template.spec.containers[0].image == "payment:v2"
    assert got.metadata.generation == 3
    scale = apps.read_namespaced_deployment_scale("pay", namespace)
    assert scale.spec.replicas == 4 and scale.status.selector == "app=pay"
    apps.patch_namespaced_deployment_scale("pay", namespace, {"spec": {"replicas": 1}})
    assert apps.read_namespaced_deployment("pay", namespace).spec.replicas == 1

    cm = core.create_namespaced_config_map(
        namespace, kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="c"), data={"a": "1"})
    )
    cm.data["a"] = "2"
    core.replace_namespaced_config_map("c", namespace, cm)
    cm.data["a"] = "3"  # cm still carries the old resourceVersion
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("c", namespace, cm)
    assert conflict.value.status == 409
    secret = core.create_namespaced_secret(
        namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert secret.data == {"k": "dg=="}
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", namespace)
    assert missing.value.status == 404 and json.loads(missing.value.body)["reason"] == "NotFound"
    dyn = kubernetes.dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(ApiException) as invalid:
        deployments.create(body={**deployment("bad"), "spec": {"replicas": 1}}, namespace=namespace)
    assert invalid.value.status == 422
    causes = json.loads(invalid.value.body)["details"]["causes"]
    assert any(c["field"] == "spec.selector" for c in causes)
    apps.delete_namespaced_deployment("pay", namespace)
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("pay", namespace)


def test_dynamic_client_and_discovery(api: kubernetes.client.ApiClient, namespace: str) -> None:
    dyn = kubernetes.dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=deployment("dyn"), namespace=namespace)
    assert deployments.get(name="dyn", namespace=namespace).spec.replicas == 1
    hpa = dyn.resources.get(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler")
    assert hpa.namespaced


def test_watch_stream_resume_and_expired(api: kubernetes.client.ApiClient, namespace: str) -> None:
    core = kubernetes.client.CoreV1Api(api)
    start_rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"w{i}"}, "data": {"i": str(i)}})
    core.delete_namespaced_config_map("w0", namespace)
    w = sync_watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=start_rv, timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 4:
            w.stop()
    assert seen == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w0")]


def test_asyncio_client_and_watch(cluster: Cluster, namespace: str) -> None:
    async def main() -> list[tuple[str, str]]:
        await kubernetes_asyncio.config.load_kube_config(config_file=str(cluster.kubeconfig))
        async with kubernetes_asyncio.client.ApiClient() as client:
            apps = kubernetes_asyncio.client.AppsV1Api(client)
            await apps.create_namespaced_deployment(namespace, deployment("aio"))
            events: list[tuple[str, str]] = []
            w = kubernetes_asyncio.watch.Watch()

            async def change() -> None:
                await asyncio.sleep(0.3)
                await apps.patch_namespaced_deployment("aio", namespace, {"spec": {"replicas": 3}})
                await apps.delete_namespaced_deployment("aio", namespace)

            task = asyncio.create_task(change())
            async for event in w.stream(apps.list_namespaced_deployment, namespace, timeout_seconds=5):
                events.append((event["type"], event["object"].metadata.name))
                if event["type"] == "DELETED":
                    w.stop()
            await task
            return events

    events = asyncio.run(main())
    kinds = [t for t, _ in events]
    assert kinds[0] == "ADDED" and "MODIFIED" in kinds and kinds[-1] == "DELETED"


def test_concurrent_updates_exactly_one_wins_per_revision(api: kubernetes.client.ApiClient, namespace: str) -> None:
    core = kubernetes.client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "race"}, "data": {"n": "0"}})
    base = core.read_namespaced_config_map("race", namespace)
    barrier = threading.Barrier(8)

    def writer(i: int) -> int:
        body = kubernetes.client.V1ConfigMap(
            metadata=kubernetes.client.V1ObjectMeta(name="race", resource_version=base.metadata.resource_version),
            data={"n": str(i + 1)},  # each a real change: one equal to the stored data is a no-op that wins too
        )
        barrier.wait()
        try:
            core.replace_namespaced_config_map("race", namespace, body)
            return 200
        except ApiException as e:
            return int(e.status)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(writer, range(8)))
    assert codes.count(200) == 1, codes
    assert codes.count(409) == 7, codes


def test_server_side_apply_via_python(api: kubernetes.client.ApiClient, namespace: str) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    body = deployment("applied", 2)
    apps.patch_namespaced_deployment(
        "applied", namespace, body, field_manager="python-ssa", _content_type="application/apply-patch+yaml"
    )
    got = apps.read_namespaced_deployment("applied", namespace)
    assert got.spec.replicas == 2
    assert any(m.manager == "python-ssa" and m.operation == "Apply" for m in got.metadata.managed_fields)
    time.sleep(0)
