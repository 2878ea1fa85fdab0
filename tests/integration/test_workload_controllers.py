"""Deployments, ReplicaSets and the scheduler in a real server, driven by real kubectl.

No node agent runs here, so pods stay Pending and never become ready: the tests check what the
controllers do on their own — ReplicaSets and revisions, pods owned and bound to the node,
observedGeneration after every change, cascading deletion — not a rollout completing.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from tests.conftest import Cluster
from tests.waiting import eventually

T = TypeVar("T")
REVISION = "deployment.kubernetes.io/revision"


def get(cluster: Cluster, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def live(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if not i["metadata"].get("deletionTimestamp")]


def observed(cluster: Cluster, namespace: str) -> dict[str, Any]:
    d = get(cluster, namespace, "deployment", "web")
    assert d["status"].get("observedGeneration") == d["metadata"]["generation"], "generation not observed yet"
    return d


def replica_sets(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return sorted(
        live(get(cluster, namespace, "replicasets")["items"]),
        key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")),
    )


def test_deployment_lifecycle(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    cluster.kubectl("create", "deployment", "web", "--image=x", "--replicas=3", "-n", ns)

    def one_rs_with_three_bound_pods() -> bool:
        (rs,) = replica_sets(cluster, ns)
        pods = live(get(cluster, ns, "pods")["items"])
        assert len(pods) == 3
        for pod in pods:
            (owner,) = pod["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"], owner["uid"]) == (
                "ReplicaSet",
                rs["metadata"]["name"],
                rs["metadata"]["uid"],
            )
            assert owner["controller"] and owner["blockOwnerDeletion"]
            assert pod["spec"].get("nodeName"), "bound by the scheduler"
            assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
        return True

    eventually(one_rs_with_three_bound_pods, what="3 pods of one ReplicaSet, bound")
    d = eventually(lambda: observed(cluster, ns), what="observedGeneration")
    (rs,) = replica_sets(cluster, ns)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert d["metadata"]["annotations"][REVISION] == "1"
    pod = live(get(cluster, ns, "pods")["items"])[0]
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["status"] == "True"

    for replicas in (5, 1):
        cluster.kubectl("scale", "deployment", "web", f"--replicas={replicas}", "-n", ns)

        def scaled(replicas: int = replicas) -> bool:
            observed(cluster, ns)
            (rs,) = replica_sets(cluster, ns)
            assert rs["spec"]["replicas"] == replicas
            assert len(live(get(cluster, ns, "pods")["items"])) == replicas
            return True

        eventually(scaled, what=f"scaled to {replicas}")

    cluster.kubectl("set", "image", "deployment/web", "x=y", "-n", ns)
    cluster.kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=image y", "-n", ns)

    def two_revisions() -> list[dict[str, Any]]:
        observed(cluster, ns)
        rss = replica_sets(cluster, ns)
        assert [rs["metadata"]["annotations"][REVISION] for rs in rss] == ["1", "2"]
        assert rss[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "y"
        assert rss[1]["metadata"]["annotations"].get("kubernetes.io/change-cause") == "image y"
        return rss

    v1, _ = eventually(two_revisions, what="a second ReplicaSet as revision 2")
    assert get(cluster, ns, "deployment", "web")["metadata"]["annotations"][REVISION] == "2"
    history = cluster.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()] == [
        ["1", "<none>"],
        ["2", "image y"],
    ]

    cluster.kubectl("rollout", "undo", "deployment/web", "-n", ns)

    def rolled_back() -> bool:
        d = observed(cluster, ns)
        assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "x"
        rss = {rs["metadata"]["name"]: rs for rs in replica_sets(cluster, ns)}
        assert len(rss) == 2, "the old ReplicaSet is reused, not copied"
        assert rss[v1["metadata"]["name"]]["metadata"]["annotations"][REVISION] == "3"
        assert d["metadata"]["annotations"][REVISION] == "3"
        return True

    eventually(rolled_back, what="revision 1's template back as revision 3")
    history = cluster.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert [line.split(None, 1)[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]

    cluster.kubectl("delete", "deployment", "web", "-n", ns)

    def collected() -> bool:
        assert get(cluster, ns, "replicasets")["items"] == []
        assert live(get(cluster, ns, "pods")["items"]) == [], "every pod deleted (or terminating)"
        return True

    eventually(collected, what="ReplicaSets and pods collected")


def test_unschedulable_pod_gets_condition_and_event(cluster: Cluster, namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "huge", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "100000"}}}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def reported() -> bool:
        pod = get(cluster, namespace, "pod", "huge")
        cond = next(c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled")
        assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
        # More than the whole node: preemption could not help either, and upstream's message says so.
        message = (
            "0/1 nodes are available: 1 Insufficient cpu."
            " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        )
        assert cond["message"] == message
        events = get(cluster, namespace, "events")["items"]
        # (A cluster just started may first have said "no nodes available" or "not-ready".)
        (event,) = [e for e in events if e["reason"] == "FailedScheduling" and e["message"] == message]
        assert event["type"] == "Warning" and event["source"]["component"] == "default-scheduler"
        return True

    eventually(reported, what="FailedScheduling")
    assert not get(cluster, namespace, "pod", "huge")["spec"].get("nodeName")
