"""Disruption budgets, eviction, drain, priority and preemption through real kubectl.

The session cluster runs the ``process`` runtime: a Deployment's pods run ``sleep`` on the host
and become Ready, so the disruption controller has healthy pods to count. ``kubectl drain`` is
limited to this test's pods with ``--pod-selector`` and the shared node is always uncordoned.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from kuberya.meta.quantity import parse_quantity
from tests.conftest import Cluster
from tests.waiting import eventually

NODE = "kuberya"


def get(cluster: Cluster, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def deployment(name: str, app: str, *, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
                },
            },
        },
    }


def pdb(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec},
    }


def ready_pods(cluster: Cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = get(cluster, namespace, "pods", "-l", f"app={app}")["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
    ]


def budget_status(cluster: Cluster, namespace: str, name: str, **expected: int) -> dict[str, Any]:
    status: dict[str, Any] = get(cluster, namespace, "pdb", name)["status"]
    for key, value in expected.items():
        assert status.get(key, 0) == value, (key, status)
    return status


def evict(cluster: Cluster, namespace: str, pod: str) -> subprocess.CompletedProcess[str]:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction"
    return cluster.kubectl("create", "--raw", path, "-f", "-", input=json.dumps(body), check=False)


def test_kubectl_create_pdb(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    created = cluster.kubectl(
        "create", "pdb", "x", "--selector=app=a", "--min-available=1", "-n", namespace, binary=kubectl_binary
    )
    assert "poddisruptionbudget.policy/x created" in created.stdout
    stored = get(cluster, namespace, "pdb", "x")
    assert stored["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}}}


def test_budget_status_table_and_eviction(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns = namespace
    apply(cluster, ns, deployment("web", "web", replicas=2))
    apply(cluster, ns, pdb("web", "web", minAvailable=2))
    eventually(lambda: len(ready_pods(cluster, ns, "web")) == 2, timeout=60, what="2 ready pods")
    status = eventually(
        lambda: budget_status(cluster, ns, "web", currentHealthy=2, desiredHealthy=2, expectedPods=2),
        what="the budget's status",
    )
    assert status["disruptionsAllowed"] == 0 and status["observedGeneration"] == 1
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")

    table = cluster.kubectl("get", "pdb", "-n", ns, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "N/A", "0"]

    described = cluster.kubectl("describe", "pdb", "web", "-n", ns, binary=kubectl_binary).stdout
    lines = [line.split() for line in described.splitlines()]
    assert ["Min", "available:", "2"] in lines and ["Allowed", "disruptions:", "0"] in lines, described

    victim = ready_pods(cluster, ns, "web")[0]["metadata"]["name"]
    refused = evict(cluster, ns, victim)
    assert refused.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in refused.stderr
    assert "TooManyRequests" in refused.stderr

    cluster.kubectl("patch", "pdb", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
    eventually(lambda: budget_status(cluster, ns, "web", disruptionsAllowed=1, observedGeneration=2), what="1 allowed")
    table = cluster.kubectl("get", "pdb", "web", "-n", ns, binary=kubectl_binary).stdout.splitlines()
    assert table[1].split()[:4] == ["web", "1", "N/A", "1"]
    allowed = evict(cluster, ns, victim)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["status"] == "Success"

    def evicted() -> bool:
        pods = get(cluster, ns, "pods")["items"]
        return all(p["metadata"]["name"] != victim or p["metadata"].get("deletionTimestamp") for p in pods)

    eventually(evicted, what="the evicted pod going")


def test_cordon_drain_waits_for_the_budget(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns = namespace
    app = f"drain-{uuid.uuid4().hex[:6]}"
    apply(cluster, ns, deployment(app, app, replicas=2))
    apply(cluster, ns, pdb(app, app, minAvailable=1))
    eventually(lambda: len(ready_pods(cluster, ns, app)) == 2, timeout=60, what="2 ready pods")
    eventually(lambda: budget_status(cluster, ns, app, disruptionsAllowed=1), what="1 disruption allowed")
    drain: subprocess.Popen[str] | None = None
    try:
        cordoned = cluster.kubectl("cordon", NODE, binary=kubectl_binary)
        assert f"node/{NODE} cordoned" in cordoned.stdout
        node = json.loads(cluster.kubectl("get", "node", NODE, "-o", "json").stdout)
        assert node["spec"]["unschedulable"] is True
        assert "SchedulingDisabled" in cluster.kubectl("get", "node", NODE).stdout

        env = {"KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir / "home"), "PATH": "/usr/bin:/bin"}
        drain = subprocess.Popen(
            [
                str(kubectl_binary),
                "drain",
                NODE,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                f"--pod-selector=app={app}",
                "--timeout=120s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        # One pod may go (the budget allows one); the other is refused while the node is cordoned
        # and no replacement can start, and drain retries it every 5 s.
        eventually(lambda: len(ready_pods(cluster, ns, app)) == 1, timeout=30, what="one pod evicted")
        eventually(lambda: budget_status(cluster, ns, app, disruptionsAllowed=0), what="the budget spent")
        with pytest.raises(subprocess.TimeoutExpired):
            drain.wait(timeout=7)
        # The budget is loosened: drain goes on and finishes.
        cluster.kubectl("patch", "pdb", app, "-n", ns, "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
        out, err = drain.communicate(timeout=60)
        assert drain.returncode == 0, err
        assert "will retry after 5s" in err
        assert "Cannot evict pod as it would violate the pod's disruption budget." in err
        assert f"node/{NODE} drained" in out
        assert ready_pods(cluster, ns, app) == []
        pending = [p for p in get(cluster, ns, "pods", "-l", f"app={app}")["items"] if not p["spec"].get("nodeName")]
        assert pending, "the replacements wait for the cordoned node"
    finally:
        if drain is not None and drain.poll() is None:
            drain.kill()
            drain.communicate()
        cluster.kubectl("uncordon", NODE)
    uncordoned = json.loads(cluster.kubectl("get", "node", NODE, "-o", "json").stdout)
    assert not uncordoned["spec"].get("unschedulable")
    eventually(lambda: len(ready_pods(cluster, ns, app)) == 2, timeout=60, what="the replacements running")


def test_priority_from_a_class(cluster: Cluster, namespace: str) -> None:
    name = f"prio-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "priorityclass", name, "--value=4242", "--preemption-policy=Never")
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "priorityClassName": name,
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
            },
        }
        apply(cluster, namespace, pod)
        spec = get(cluster, namespace, "pod", "p")["spec"]
        assert (spec["priority"], spec["preemptionPolicy"]) == (4242, "Never")
        pod["metadata"]["name"] = "q"
        pod["spec"]["priorityClassName"] = "no-such-class"
        refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod), check=False)
        assert refused.returncode != 0
        assert 'pods "q" is forbidden: no PriorityClass with name no-such-class was found' in refused.stderr
    finally:
        cluster.kubectl("delete", "pod", "p", "-n", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "priorityclass", name)


def test_a_higher_priority_pod_preempts_on_a_full_node(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    node = json.loads(cluster.kubectl("get", "node", NODE, "-o", "json").stdout)
    allocatable_millis = int(parse_quantity(node["status"]["allocatable"]["cpu"]) * 1000)
    # Each asks for 60% of the node: both cannot run at once, whatever else runs there.
    request = f"{allocatable_millis * 6 // 10}m"
    high = f"high-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "priorityclass", high, "--value=1000000")

    def pod(name: str, **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "command": ["sh", "-c", "sleep 3600"],
                        "resources": {"requests": {"cpu": request}},
                    }
                ],
                **spec,
            },
        }

    try:
        apply(cluster, ns, pod("low"))
        eventually(lambda: get(cluster, ns, "pod", "low")["status"]["phase"] == "Running", timeout=60, what="low runs")
        low_uid = get(cluster, ns, "pod", "low")["metadata"]["uid"]
        apply(cluster, ns, pod("important", priorityClassName=high))

        def important_running() -> bool:
            status = get(cluster, ns, "pod", "important")["status"]
            return bool(status["phase"] == "Running")

        eventually(important_running, timeout=60, what="the high-priority pod running")
        important = get(cluster, ns, "pod", "important")
        assert important["spec"]["nodeName"] == NODE
        pods = get(cluster, ns, "pods")["items"]
        assert low_uid not in [p["metadata"]["uid"] for p in pods], "the low-priority pod was preempted"
        events = get(cluster, ns, "events")["items"]
        preempted = [e for e in events if e["reason"] == "Preempted" and e["involvedObject"]["name"] == "low"]
        assert preempted, [(e["reason"], e["involvedObject"]["name"]) for e in events]
        assert preempted[0]["message"] == f"Preempted by pod {important['metadata']['uid']} on node {NODE}"
    finally:
        cluster.kubectl("delete", "pod", "--all", "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "priorityclass", high, check=False)


def test_the_official_python_client_evicts(cluster: Cluster, namespace: str) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    ns = namespace
    apply(cluster, ns, deployment("api", "api", replicas=1))
    apply(cluster, ns, pdb("api", "api", maxUnavailable=0))
    eventually(lambda: len(ready_pods(cluster, ns, "api")) == 1, timeout=60, what="1 ready pod")
    eventually(lambda: budget_status(cluster, ns, "api", expectedPods=1, desiredHealthy=1), what="the budget")
    api_client = kubernetes.config.new_client_from_config(str(cluster.kubeconfig))
    victim = ready_pods(cluster, ns, "api")[0]["metadata"]["name"]
    body = kubernetes.client.V1Eviction(metadata=kubernetes.client.V1ObjectMeta(name=victim, namespace=ns))
    try:
        with pytest.raises(kubernetes.client.ApiException) as refused:
            kubernetes.client.CoreV1Api(api_client).create_namespaced_pod_eviction(victim, ns, body)
    finally:
        api_client.close()
    assert refused.value.status == 429
    assert json.loads(refused.value.body)["details"]["causes"][0]["reason"] == "DisruptionBudget"
