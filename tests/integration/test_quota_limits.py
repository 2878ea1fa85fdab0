"""ResourceQuota and LimitRange enforced: through real kubectl (1.32 and 1.37) and the in-process API.

``kubectl create quota`` then pods until the quota is full: the next is refused with upstream's
403 message and ``kubectl describe quota`` shows Used/Hard as the quota controller keeps them.
A LimitRange's defaults appear on a created pod and its bounds refuse one outside them. In
process: creates racing for the last unit of a quota, and updates that change what a Service
costs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kuberya.client import ApiError, ForbiddenError
from kuberya.client.resources import CONFIGMAPS, LIMITRANGES, PERSISTENTVOLUMECLAIMS, PODS, RESOURCEQUOTAS, SERVICES
from tests.conftest import Cluster
from tests.integration.conftest import ServedAPI
from tests.waiting import eventually

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "sleep 30"]
    resources:
      requests: {{cpu: "{cpu}"}}
      limits: {{cpu: "{cpu}"}}
"""


def used(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    status = json.loads(cluster.kubectl("get", "quota", name, "-n", namespace, "-o", "json").stdout).get("status", {})
    return dict(status.get("used") or {})


def test_the_third_pod_is_refused_and_describe_shows_used(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    created = cluster.kubectl(
        "create", "quota", "q", "--hard=pods=2,requests.cpu=1", "-n", namespace, binary=kubectl_binary
    )
    assert "resourcequota/q created" in created.stdout
    for name in ("p1", "p2"):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=POD.format(name=name, cpu="100m"))
    third = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=POD.format(name="p3", cpu="100m"), check=False, binary=kubectl_binary
    )
    assert third.returncode != 0
    assert 'pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2' in third.stderr

    eventually(lambda: used(cluster, namespace, "q") == {"pods": "2", "requests.cpu": "200m"}, what="status.used")
    described = cluster.kubectl("describe", "quota", "q", "-n", namespace, binary=kubectl_binary).stdout
    rows = {
        line.split()[0]: line.split()[1:] for line in described.splitlines() if line.startswith(("pods", "requests"))
    }
    assert rows == {"pods": ["2", "2"], "requests.cpu": ["200m", "1"]}, described  # Resource, Used, Hard

    # A pod that finishes gives its share back.
    cluster.kubectl("delete", "pod", "p1", "-n", namespace, "--grace-period=0", "--force", check=False)
    eventually(lambda: used(cluster, namespace, "q").get("pods") == "1", what="the deleted pod's share back")


def test_a_replica_set_beyond_the_quota_reports_failed_create(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "quota", "one", "--hard=pods=1", "-n", namespace)
    eventually(lambda: used(cluster, namespace, "one") == {"pods": "0"}, what="the quota's first status")
    cluster.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2", "-n", namespace)

    def failed_create() -> str:
        events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        return next(e["message"] for e in events if e["reason"] == "FailedCreate")

    message = eventually(failed_create, what="a FailedCreate event")
    assert message.startswith('Error creating: pods "web-')
    assert "is forbidden: exceeded quota: one, requested: pods=1, used: pods=1, limited: pods=1" in message
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(pods) == 1


def test_a_pod_without_the_limited_resource_is_refused(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "quota", "compute", "--hard=limits.cpu=2", "-n", namespace)
    bare = cluster.kubectl(
        "run", "bare", "--image=busybox", "-n", namespace, "--command", "--", "sh", "-c", "exit 0", check=False
    )
    assert bare.returncode != 0
    assert 'pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: bare' in bare.stderr


def test_a_limit_range_default_appears_on_a_created_pod(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    limits = """
apiVersion: v1
kind: LimitRange
metadata:
  name: lr
spec:
  limits:
  - type: Container
    max: {cpu: 500m}
    default: {memory: 64Mi}
    defaultRequest: {memory: 32Mi}
"""
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=limits)
    cluster.kubectl(
        "run",
        "web",
        "--image=busybox",
        "-n",
        namespace,
        "--command",
        "--",
        "sh",
        "-c",
        "sleep 30",
        binary=kubectl_binary,
    )
    pod = json.loads(cluster.kubectl("get", "pod", "web", "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "64Mi"},
        "requests": {"cpu": "500m", "memory": "32Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web"
    )
    big = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=POD.format(name="big", cpu="1"), check=False, binary=kubectl_binary
    )
    assert big.returncode != 0
    assert 'pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 1' in big.stderr


# -- in process --------------------------------------------------------------------------------


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }


def quota(name: str, hard: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard}}


async def test_creates_racing_for_the_last_unit_cannot_both_pass(api_server: ServedAPI) -> None:
    client = api_server.client
    await client.create(RESOURCEQUOTAS, quota("q", {"pods": "1", "configmaps": "2"}), namespace="default")
    results = await asyncio.gather(
        *(client.create(PODS, pod(f"p{i}"), namespace="default") for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, ForbiddenError) and "exceeded quota: q" in r.message for r in refused), refused
    configmaps = await asyncio.gather(
        *(
            client.create(
                CONFIGMAPS,
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}},
                namespace="default",
            )
            for i in range(4)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in configmaps) == 2


async def test_an_update_that_adds_node_ports_is_charged(api_server: ServedAPI) -> None:
    client = api_server.client
    await client.create(RESOURCEQUOTAS, quota("ports", {"services.nodeports": "1"}), namespace="default")
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]},
    }
    created = await client.create(SERVICES, svc, namespace="default")
    created["spec"]["ports"].append({"name": "b", "port": 81})
    created["spec"]["ports"][0]["name"] = "a"
    with pytest.raises(ForbiddenError) as refused:
        await client.update(SERVICES, created, namespace="default")
    assert refused.value.message == (
        'services "s" is forbidden: exceeded quota: ports, requested: services.nodeports=1, '
        "used: services.nodeports=1, limited: services.nodeports=1"
    )


async def test_limit_range_bounds_pod_totals(api_server: ServedAPI) -> None:
    client = api_server.client
    lr = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "pod-max"},
        "spec": {"limits": [{"type": "Pod", "max": {"memory": "100Mi"}}]},
    }
    await client.create(LIMITRANGES, lr, namespace="default")
    big = pod("big")
    big["spec"]["containers"] = [
        {"name": n, "image": "x", "resources": {"limits": {"memory": "60Mi"}}} for n in ("a", "b")
    ]
    with pytest.raises(ApiError) as refused:
        await client.create(PODS, big, namespace="default")
    assert refused.value.status == 403
    assert refused.value.message == 'pods "big" is forbidden: maximum memory usage per Pod is 100Mi, but limit is 120Mi'


async def test_claims_are_charged_their_storage(api_server: ServedAPI) -> None:
    client = api_server.client
    await client.create(RESOURCEQUOTAS, quota("storage", {"requests.storage": "3Gi"}), namespace="default")

    def claim(name: str, size: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        }

    await client.create(PERSISTENTVOLUMECLAIMS, claim("a", "2Gi"), namespace="default")
    with pytest.raises(ForbiddenError) as refused:
        await client.create(PERSISTENTVOLUMECLAIMS, claim("b", "2Gi"), namespace="default")
    assert refused.value.message == (
        'persistentvolumeclaims "b" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, '
        "used: requests.storage=2Gi, limited: requests.storage=3Gi"
    )


def test_an_invalid_quota_is_refused(cluster: Cluster, namespace: str) -> None:
    refused = cluster.kubectl("create", "quota", "bad", "--hard=pods=-1", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert 'spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0' in refused.stderr
