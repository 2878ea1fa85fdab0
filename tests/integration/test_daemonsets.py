"""apps/v1 DaemonSets in a real server (process runtime), driven by real kubectl 1.32 and 1.37.

A DaemonSet runs one pod on the node, bound through the scheduler; ``kubectl get ds`` shows
upstream's columns; a template change rolls out and ``kubectl rollout status|history|undo`` work
from its ControllerRevisions; ``kubectl cordon`` neither evicts the pod nor keeps a replacement
off the node; a nodeSelector that matches no node wants no pod; ``kubectl describe ds`` reports
the counts and the controller's events.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually

HASH_LABEL = "controller-revision-hash"


def manifest(name: str, *, node_selector: dict[str, str] | None = None) -> str:
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "agent", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
            },
        }
    )


def get(cluster: Cluster, namespace: str, *what: str, binary: Path | None = None) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json", binary=binary).stdout)


def live_pods(cluster: Cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    items = get(cluster, namespace, "pods", "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running_pod(cluster: Cluster, namespace: str, app: str) -> dict[str, Any]:
    (pod,) = live_pods(cluster, namespace, app)
    assert pod["status"].get("phase") == "Running", pod["status"]
    return pod


@pytest.fixture
def node_name(cluster: Cluster) -> str:
    def registered() -> str:
        (node,) = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        return str(node["metadata"]["name"])

    return eventually(registered, what="the node registered")


def test_runs_one_pod_on_the_node_and_rolls_out(
    cluster: Cluster, namespace: str, node_name: str, kubectl_binary: Path
) -> None:
    ns, k = namespace, kubectl_binary
    created = cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest("agent"), binary=k)
    assert "daemonset.apps/agent created" in created.stdout
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s", binary=k, timeout=70)

    pod = eventually(lambda: running_pod(cluster, ns, "agent"), what="one running daemon pod")
    assert pod["spec"]["nodeName"] == node_name
    (owner,) = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("DaemonSet", "agent", True)
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    ]
    first_hash = pod["metadata"]["labels"][HASH_LABEL]

    table = cluster.kubectl("get", "ds", "-n", ns, "-o", "wide", binary=k).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE",
        "SELECTOR",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    row = table[1].split()
    assert row[:7] == ["agent", "1", "1", "1", "1", "1", "<none>"]
    assert row[-3:] == ["agent", "busybox", "app=agent"]

    # A template change rolls the pod over to the new revision.
    cluster.kubectl("set", "env", "daemonset/agent", "ROUND=2", "-n", ns, binary=k)
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s", binary=k, timeout=70)
    rolled = eventually(lambda: running_pod(cluster, ns, "agent"), what="the updated pod running")
    assert rolled["metadata"]["labels"][HASH_LABEL] != first_hash
    assert rolled["spec"]["containers"][0]["env"] == [{"name": "ROUND", "value": "2"}]

    history = cluster.kubectl("rollout", "history", "daemonset/agent", "-n", ns, binary=k).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    first = cluster.kubectl("rollout", "history", "daemonset/agent", "-n", ns, "--revision=1", binary=k).stdout
    assert "ROUND" not in first and "sleep 3600" in first

    undone = cluster.kubectl("rollout", "undo", "daemonset/agent", "-n", ns, binary=k)
    assert "daemonset.apps/agent rolled back" in undone.stdout
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s", binary=k, timeout=70)
    back = eventually(lambda: running_pod(cluster, ns, "agent"), what="the rolled-back pod running")
    assert back["metadata"]["labels"][HASH_LABEL] == first_hash
    assert "env" not in back["spec"]["containers"][0]
    history = cluster.kubectl("rollout", "history", "daemonset/agent", "-n", ns, binary=k).stdout
    # The first template came back: its revision is renumbered past the second.
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]

    # `rollout restart` stamps the template: a new pod, a new revision.
    cluster.kubectl("rollout", "restart", "daemonset/agent", "-n", ns, binary=k)
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s", binary=k, timeout=70)
    restarted = eventually(lambda: running_pod(cluster, ns, "agent"), what="the restarted pod running")
    assert restarted["metadata"]["uid"] != back["metadata"]["uid"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted["metadata"]["annotations"]

    described = cluster.kubectl("describe", "ds", "agent", "-n", ns, binary=k).stdout
    assert "Desired Number of Nodes Scheduled: 1" in described
    assert "Number of Nodes Scheduled with Up-to-date Pods: 1" in described
    assert "Pods Status:  1 Running / 0 Waiting / 0 Succeeded / 0 Failed" in described
    assert "SuccessfulCreate" in described and "daemonset-controller" in described

    cluster.kubectl("delete", "ds", "agent", "-n", ns, binary=k)
    eventually(lambda: not live_pods(cluster, ns, "agent"), what="the daemon pod deleted with its DaemonSet")


@contextlib.contextmanager
def cordoned(cluster: Cluster, node_name: str) -> Iterator[None]:
    """The session's one node cordoned inside the block and uncordoned after it, whatever happens."""
    try:
        cluster.kubectl("cordon", node_name)
        yield
    finally:
        cluster.kubectl("uncordon", node_name, check=False)
        node = json.loads(cluster.kubectl("get", "node", node_name, "-o", "json").stdout)
        assert not node["spec"].get("unschedulable"), "the shared node was left cordoned"


def test_cordon_neither_evicts_nor_blocks_the_daemon_pod(cluster: Cluster, namespace: str, node_name: str) -> None:
    ns = namespace
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest("keeper"))
    before = eventually(lambda: running_pod(cluster, ns, "keeper"), what="the daemon pod running")
    with cordoned(cluster, node_name):
        still = running_pod(cluster, ns, "keeper")
        assert still["metadata"]["uid"] == before["metadata"]["uid"]
        # A replacement lands on the cordoned node too: daemon pods tolerate node.kubernetes.io/unschedulable.
        cluster.kubectl("delete", "pod", before["metadata"]["name"], "-n", ns, "--wait=false")

        def replaced() -> dict[str, Any]:
            pod = running_pod(cluster, ns, "keeper")
            assert pod["metadata"]["uid"] != before["metadata"]["uid"]
            return pod

        replacement = eventually(replaced, timeout=30, what="a replacement daemon pod running on the cordoned node")
        assert replacement["spec"]["nodeName"] == node_name
        tolerated = {(t["key"], t.get("effect")) for t in replacement["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
        # Still cordoned and still running a few syncs later: nothing evicts it.
        eventually(lambda: running_pod(cluster, ns, "keeper")["metadata"]["uid"] == replacement["metadata"]["uid"])


def test_a_node_selector_that_matches_nothing_wants_no_pod(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest("picky", node_selector={"disk": "nowhere"}))

    def observed() -> Any:
        ds = get(cluster, ns, "ds", "picky")
        assert ds["status"].get("observedGeneration") == ds["metadata"]["generation"]
        return ds

    ds = eventually(observed, what="the DaemonSet observed")
    assert ds["status"]["desiredNumberScheduled"] == 0
    assert ds["status"]["currentNumberScheduled"] == 0
    assert live_pods(cluster, ns, "picky") == []
    row = cluster.kubectl("get", "ds", "picky", "-n", ns).stdout.splitlines()[1].split()
    assert row[:7] == ["picky", "0", "0", "0", "0", "0", "disk=nowhere"]
    cluster.kubectl("rollout", "status", "daemonset/picky", "-n", ns, "--timeout=20s", timeout=30)


def test_invalid_daemon_sets_are_refused_with_upstreams_messages(cluster: Cluster, namespace: str) -> None:
    explained = cluster.kubectl("explain", "ds.spec.updateStrategy.rollingUpdate").stdout
    assert "GROUP:      apps" in explained and "maxSurge" in explained

    body = json.loads(manifest("bad"))
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert refused.returncode != 0
    assert "`selector` does not match template `labels`" in refused.stderr

    body = json.loads(manifest("bad"))
    body["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert refused.returncode != 0
    assert "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0" in (
        refused.stderr
    )


def test_the_python_client_reads_and_lists_daemon_sets(cluster: Cluster, namespace: str) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        apps = kubernetes.client.AppsV1Api(api_client)
        created = apps.create_namespaced_daemon_set(namespace, json.loads(manifest("py")))
        # The client requires the four status counts upstream always writes.
        assert created.status.desired_number_scheduled == 0
        assert created.spec.update_strategy.rolling_update.max_unavailable == 1

        def available() -> Any:
            ds = apps.read_namespaced_daemon_set_status("py", namespace)
            assert ds.status.number_available == 1 and ds.status.observed_generation == ds.metadata.generation
            return ds

        ds = eventually(available, timeout=30, what="the DaemonSet's pod available")
        assert ds.metadata.annotations["deprecated.daemonset.template.generation"] == "1"
        assert [d.metadata.name for d in apps.list_namespaced_daemon_set(namespace).items] == ["py"]
        (revision,) = apps.list_namespaced_controller_revision(namespace, label_selector="app=py").items
        assert revision.revision == 1 and revision.metadata.owner_references[0].kind == "DaemonSet"
        apps.delete_namespaced_daemon_set("py", namespace, propagation_policy="Background")
        eventually(lambda: not live_pods(cluster, namespace, "py"), timeout=30, what="the daemon pod deleted")
    finally:
        api_client.close()
