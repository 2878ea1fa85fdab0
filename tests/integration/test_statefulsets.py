"""StatefulSets in a real server (process runtime), driven by real kubectl 1.32 and 1.37.

Pods run ``sleep`` on the host. The ordered start is gated by an exec readiness probe on a marker
file the test creates: while ``web-0`` is not ready, ``web-1`` must not exist.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster
from tests.integration.test_pod_dns import any_cluster, bridged, cluster_dns_is_ours, rootless_cluster
from tests.waiting import eventually

__all__ = ["any_cluster", "rootless_cluster"]  # fixtures reused from the pod DNS tests


def headless_service(name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]},
    }


def statefulset(
    name: str = "web",
    *,
    replicas: int = 3,
    command: str = "sleep 3600",
    readiness: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": "busybox:1", "command": ["sh", "-c", command]}
    if readiness:
        container["readinessProbe"] = {"exec": {"command": readiness}, "periodSeconds": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
            **spec,
        },
    }


def apply(cluster: Cluster, ns: str, *objects: dict[str, Any], binary: Path | None = None) -> None:
    body = yaml.safe_dump_all(objects)
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=body, binary=binary)


def get(cluster: Cluster, ns: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", ns, "-o", "json").stdout)


def live_pods(cluster: Cluster, ns: str) -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"]: p
        for p in get(cluster, ns, "pods")["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def test_ordered_start_identity_table_describe_and_reverse_scale_down(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    ns, k = namespace, cluster.kubectl
    marker = Path(tempfile.mkdtemp(prefix="kuberya-sts-")) / "ready"
    try:
        sts = statefulset(readiness=["test", "-e", str(marker)])
        apply(cluster, ns, headless_service(), sts, binary=kubectl_binary)
        eventually(lambda: live_pods(cluster, ns)["web-0"]["status"]["phase"] == "Running", what="web-0 running")
        time.sleep(3)  # web-0 is running but not ready: nothing else may be created meanwhile
        assert sorted(live_pods(cluster, ns)) == ["web-0"]
        marker.touch()

        def all_ready() -> dict[str, dict[str, Any]]:
            pods = live_pods(cluster, ns)
            assert sorted(pods) == ["web-0", "web-1", "web-2"] and all(ready(p) for p in pods.values())
            return pods

        pods = eventually(all_ready, timeout=60, what="three ready pods")
        for index in range(3):
            pod = pods[f"web-{index}"]
            labels = pod["metadata"]["labels"]
            assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{index}"
            assert labels["apps.kubernetes.io/pod-index"] == str(index)
            assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (f"web-{index}", "web")
        for earlier, later in (("web-0", "web-1"), ("web-1", "web-2")):
            became_ready = next(c for c in pods[earlier]["status"]["conditions"] if c["type"] == "Ready")
            assert became_ready["lastTransitionTime"] <= pods[later]["metadata"]["creationTimestamp"]

        table = k("get", "sts", "web", "-n", ns, "-o", "wide", binary=kubectl_binary).stdout.splitlines()
        assert table[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
        assert table[1].split()[:2] == ["web", "3/3"] and table[1].split()[3:] == ["web", "busybox:1"]
        assert "statefulset.apps/web" in k("get", "all", "-n", ns, binary=kubectl_binary).stdout
        revisions = k("get", "controllerrevisions", "-n", ns, binary=kubectl_binary).stdout.splitlines()
        assert revisions[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
        assert revisions[1].split()[1:3] == ["statefulset.apps/web", "1"]

        described = k("describe", "sts", "web", "-n", ns, binary=kubectl_binary).stdout
        assert "Pods Status:" in described and "3 Running" in described
        assert "create Pod web-2 in StatefulSet web successful" in described

        k("scale", "sts", "web", "--replicas=1", "-n", ns, binary=kubectl_binary)
        seen: list[list[str]] = []

        def scaled_down() -> bool:
            names = sorted(live_pods(cluster, ns))
            if not seen or seen[-1] != names:
                seen.append(names)
            assert names == ["web-0"]
            return True

        eventually(scaled_down, timeout=60, what="scaled down to web-0")
        assert ["web-0", "web-1"] in seen or seen[0] == ["web-0"], f"web-2 goes before web-1: {seen}"
        assert ["web-0", "web-2"] not in seen, seen
        events = k("get", "events", "-n", ns, "-o", "json", binary=kubectl_binary).stdout
        assert "delete Pod web-2 in StatefulSet web successful" in events
    finally:
        shutil.rmtree(marker.parent, ignore_errors=True)


def rollout(cluster: Cluster, ns: str, *args: str, binary: Path) -> str:
    return cluster.kubectl("rollout", *args, "-n", ns, binary=binary, timeout=120).stdout


def test_partitioned_rollout_status_history_undo_and_restart(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    ns, k = namespace, cluster.kubectl
    apply(cluster, ns, headless_service(), statefulset(replicas=2), binary=kubectl_binary)
    # The defaulted rollingUpdate (partition 0) makes kubectl report a partitioned roll out, as upstream.
    assert "partitioned roll out complete: 2 new pods have been updated" in rollout(
        cluster, ns, "status", "sts/web", "--timeout=90s", binary=kubectl_binary
    )

    def revision_of(pod: str) -> str:
        return str(live_pods(cluster, ns)[pod]["metadata"]["labels"]["controller-revision-hash"])

    first = revision_of("web-0")
    # A partition of 1: only web-1 moves to the new template.
    k("patch", "sts", "web", "-n", ns, "-p", '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}')
    k("set", "image", "sts/web", "web=busybox:2", "-n", ns, binary=kubectl_binary)
    out = rollout(cluster, ns, "status", "sts/web", "--timeout=90s", binary=kubectl_binary)
    assert "partitioned roll out complete: 1 new pods have been updated" in out

    def partitioned() -> bool:
        pods = live_pods(cluster, ns)
        assert pods["web-1"]["spec"]["containers"][0]["image"] == "busybox:2" and ready(pods["web-1"])
        assert pods["web-0"]["spec"]["containers"][0]["image"] == "busybox:1"
        return True

    eventually(partitioned, timeout=60, what="web-1 updated, web-0 not")
    sts = get(cluster, ns, "sts", "web")
    assert sts["status"]["currentRevision"] == first != sts["status"]["updateRevision"]
    assert (sts["status"]["updatedReplicas"], sts["status"]["currentReplicas"]) == (1, 1)

    history = rollout(cluster, ns, "history", "sts/web", binary=kubectl_binary)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert "busybox:2" in rollout(cluster, ns, "history", "sts/web", "--revision=2", binary=kubectl_binary)

    # Undo: back to revision 1's template, which becomes revision 3.
    k("patch", "sts", "web", "-n", ns, "-p", '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
    assert "rolled back" in rollout(cluster, ns, "undo", "sts/web", binary=kubectl_binary)
    rollout(cluster, ns, "status", "sts/web", "--timeout=90s", binary=kubectl_binary)

    def undone() -> bool:
        pods = live_pods(cluster, ns)
        assert sorted(pods) == ["web-0", "web-1"] and all(ready(p) for p in pods.values())
        assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"busybox:1"}
        assert {revision_of(name) for name in pods} == {first}
        return True

    eventually(undone, timeout=60, what="both pods back on the first template")
    history = rollout(cluster, ns, "history", "sts/web", binary=kubectl_binary)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]

    # Restart: a new template annotation, every pod replaced.
    uids = {p["metadata"]["uid"] for p in live_pods(cluster, ns).values()}
    assert "restarted" in rollout(cluster, ns, "restart", "sts/web", binary=kubectl_binary)
    rollout(cluster, ns, "status", "sts/web", "--timeout=90s", binary=kubectl_binary)

    def restarted() -> bool:
        pods = live_pods(cluster, ns)
        assert len(pods) == 2 and all(ready(p) for p in pods.values())
        assert not uids & {p["metadata"]["uid"] for p in pods.values()}
        return True

    eventually(restarted, timeout=60, what="both pods replaced")


def test_claims_from_templates_stay_pending_and_go_with_the_set(cluster: Cluster, namespace: str) -> None:
    ns, k = namespace, cluster.kubectl
    sts = statefulset("db", replicas=1, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"})
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    sts["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            # A class that does not exist: nothing can provision the claim, so it stays Pending.
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "nope",
            },
        }
    ]
    apply(cluster, ns, sts)

    def claim_made_pod_waits() -> dict[str, Any]:
        pod = live_pods(cluster, ns)["db-0"]
        scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
        assert scheduled["status"] == "False", scheduled
        return scheduled

    scheduled = eventually(claim_made_pod_waits, what="db-0 unschedulable")
    assert scheduled["message"] == (
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    pod = live_pods(cluster, ns)["db-0"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in pod["spec"]["volumes"]
    table = k("get", "pvc", "-n", ns).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS",
        "MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ]
    assert table[1].split()[:2] == ["data-db-0", "Pending"]
    claim = get(cluster, ns, "pvc", "data-db-0")
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["metadata"]["labels"] == {"app": "db"}
    assert [r["kind"] for r in claim["metadata"]["ownerReferences"]] == ["StatefulSet"]

    k("delete", "sts", "db", "-n", ns)
    eventually(lambda: get(cluster, ns, "pvc")["items"] == [], timeout=30, what="the claim deleted with its set")


def test_invalid_statefulsets_are_refused_with_upstreams_messages(cluster: Cluster, namespace: str) -> None:
    ns, k = namespace, cluster.kubectl
    bad = statefulset()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    out = k("apply", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0 and "`selector` does not match template `labels`" in out.stderr
    apply(cluster, ns, statefulset(replicas=0))
    changed = k("patch", "sts", "web", "-n", ns, "-p", '{"spec":{"serviceName":"other"}}', check=False)
    assert changed.returncode != 0
    assert (
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy', 'revisionHistoryLimit' and 'minReadySeconds' are forbidden"
    ) in changed.stderr
    explained = k("explain", "statefulset.spec.podManagementPolicy").stdout
    assert "OrderedReady" in explained


def test_pods_resolve_each_other_by_their_stable_names(any_cluster: Cluster) -> None:
    k = any_cluster.kubectl
    ns = f"sts-dns-{uuid.uuid4().hex[:8]}"
    k("create", "namespace", ns)
    try:
        apply(any_cluster, ns, headless_service(), statefulset(replicas=2))
        eventually(
            lambda: sum(ready(p) for p in live_pods(any_cluster, ns).values()) == 2, timeout=60, what="2 ready pods"
        )
        ips = {name: p["status"]["podIP"] for name, p in live_pods(any_cluster, ns).items()}
        # The kubelet's hosts file names a pod under its subdomain by its FQDN (no DNS needed).
        hosts = k("exec", "web-1", "-n", ns, "--", "cat", "/etc/hosts").stdout.splitlines()
        assert f"{ips['web-1']}\tweb-1.web.{ns}.svc.cluster.local\tweb-1" in hosts, hosts
        if bridged(any_cluster) and not cluster_dns_is_ours(any_cluster):
            pytest.skip("another kuberya on this machine answers on 10.96.0.10:53")
        lookup = "import socket; print(socket.gethostbyname('web-1.web'), sorted(socket.gethostbyname_ex('web')[2]))"

        def resolved() -> str:
            out = k("exec", "web-0", "-n", ns, "--", "python3", "-c", lookup, check=False)
            assert out.returncode == 0, out.stderr
            return out.stdout.strip()

        answer = eventually(resolved, timeout=30, what="web-1.web resolved from web-0")
        assert answer == f"{ips['web-1']} {sorted(ips.values())}"
    finally:
        k("delete", "namespace", ns, "--wait=false", check=False)
