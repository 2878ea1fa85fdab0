"""Protection finalizers and claim resize against a real server, through real kubectl.

* a claim in use by a pod stays ``Terminating`` (``kubernetes.io/pvc-protection`` shown) until the
  pod is deleted, then goes; its Retain volume is Released and, deleted, goes too
  (``kubernetes.io/pv-protection`` comes off once it is not Bound);
* growing a static claim (no class) is Forbidden with upstream's message; growing a claim of an
  expandable local-path class is allowed and ``status.capacity`` follows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually

PROVISIONER = "kuberya.io/local-path"
RESIZE_REFUSED = (
    "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
)


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def apply(cluster: Cluster, manifest: dict[str, Any], *args: str) -> None:
    cluster.kubectl("apply", *args, "-f", "-", input=json.dumps(manifest))


def gone(cluster: Cluster, *args: str) -> bool:
    return not cluster.kubectl("get", *args, "-o", "name", "--ignore-not-found").stdout.strip()


def force_delete(cluster: Cluster, *args: str) -> None:
    cluster.kubectl("patch", *args, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    cluster.kubectl("delete", *args, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def static_volume(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A hostPath PV of no class, Retain, for one claim named ``data``."""
    name = f"static-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "64Mi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(tmp_path / "volume"), "type": "DirectoryOrCreate"},
            },
        },
    )
    yield name
    force_delete(cluster, "pv", name)


def static_claim(cluster: Cluster, namespace: str, volume: str) -> None:
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "64Mi"}},
                "storageClassName": "",
                "volumeName": volume,
            },
        },
        "-n",
        namespace,
    )
    eventually(
        lambda: get_json(cluster, "pvc", "data", "-n", namespace)["status"].get("phase") == "Bound",
        timeout=30,
        what="the static claim to be Bound",
    )


def test_a_claim_in_use_stays_terminating_until_its_pod_is_deleted(
    cluster: Cluster, namespace: str, static_volume: str
) -> None:
    assert get_json(cluster, "pv", static_volume)["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    static_claim(cluster, namespace, static_volume)
    try:
        assert get_json(cluster, "pvc", "data", "-n", namespace)["metadata"]["finalizers"] == [
            "kubernetes.io/pvc-protection"
        ]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "user"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            },
        }
        apply(cluster, pod, "-n", namespace)
        eventually(
            lambda: get_json(cluster, "pod", "user", "-n", namespace)["spec"].get("nodeName"),
            timeout=30,
            what="the pod to be scheduled",
        )
        cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=false")
        # In use: the claim stays, Terminating, with its finalizer (a few resyncs' worth of waiting).
        with pytest.raises(AssertionError):
            eventually(lambda: gone(cluster, "pvc", "data", "-n", namespace), timeout=3, what="nothing")
        claim = get_json(cluster, "pvc", "data", "-n", namespace)
        assert claim["metadata"]["deletionTimestamp"]
        assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        listed = cluster.kubectl("get", "pvc", "data", "-n", namespace).stdout
        assert "Terminating" in listed.splitlines()[1]
        described = cluster.kubectl("describe", "pvc", "data", "-n", namespace).stdout
        assert "kubernetes.io/pvc-protection" in described

        cluster.kubectl("delete", "pod", "user", "-n", namespace, "--wait=false")
        eventually(lambda: gone(cluster, "pvc", "data", "-n", namespace), timeout=60, what="the claim to go")

        # Its Retain volume is Released; deleted, it goes (not Bound: pv-protection lets it).
        eventually(
            lambda: get_json(cluster, "pv", static_volume)["status"]["phase"] == "Released",
            timeout=30,
            what="the volume to be Released",
        )
        cluster.kubectl("delete", "pv", static_volume, "--wait=false")
        eventually(lambda: gone(cluster, "pv", static_volume), timeout=30, what="the volume to go")
    finally:
        force_delete(cluster, "pod", "user", "-n", namespace)
        force_delete(cluster, "pvc", "data", "-n", namespace)


def test_a_bound_volume_being_deleted_waits_for_its_claim(cluster: Cluster, namespace: str, static_volume: str) -> None:
    static_claim(cluster, namespace, static_volume)
    try:
        cluster.kubectl("delete", "pv", static_volume, "--wait=false")
        with pytest.raises(AssertionError):
            eventually(lambda: gone(cluster, "pv", static_volume), timeout=2, what="nothing")
        assert get_json(cluster, "pv", static_volume)["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
        cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=false")
        eventually(lambda: gone(cluster, "pv", static_volume), timeout=60, what="the volume to go with its claim")
    finally:
        force_delete(cluster, "pvc", "data", "-n", namespace)


def test_a_static_claim_cannot_grow(cluster: Cluster, namespace: str, static_volume: str) -> None:
    static_claim(cluster, namespace, static_volume)
    try:
        grow = '{"spec":{"resources":{"requests":{"storage":"128Mi"}}}}'
        result = cluster.kubectl("patch", "pvc", "data", "-n", namespace, "--type=merge", "-p", grow, check=False)
        assert result.returncode != 0
        assert f'persistentvolumeclaims "data" is forbidden: {RESIZE_REFUSED}' in result.stderr
        requests = get_json(cluster, "pvc", "data", "-n", namespace)["spec"]["resources"]["requests"]
        assert requests == {"storage": "64Mi"}
    finally:
        force_delete(cluster, "pvc", "data", "-n", namespace)


@pytest.fixture
def expandable_class(cluster: Cluster) -> Iterator[str]:
    name = f"lp-grow-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        },
    )
    yield name
    cluster.kubectl("delete", "storageclass", name, "--wait=false", check=False)


def test_a_local_path_claim_grows_and_its_capacity_follows(
    cluster: Cluster, namespace: str, expandable_class: str
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "grow"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "64Mi"}},
            "storageClassName": expandable_class,
        },
    }
    apply(cluster, claim, "-n", namespace)
    try:
        eventually(
            lambda: get_json(cluster, "pvc", "grow", "-n", namespace)["status"].get("phase") == "Bound",
            timeout=30,
            what="the local-path claim to be Bound",
        )
        grow = '{"spec":{"resources":{"requests":{"storage":"128Mi"}}}}'
        cluster.kubectl("patch", "pvc", "grow", "-n", namespace, "--type=merge", "-p", grow)
        eventually(
            lambda: get_json(cluster, "pvc", "grow", "-n", namespace)["status"]["capacity"] == {"storage": "128Mi"},
            timeout=30,
            what="status.capacity to follow the request",
        )
        volume = get_json(cluster, "pvc", "grow", "-n", namespace)["spec"]["volumeName"]
        assert get_json(cluster, "pv", volume)["spec"]["capacity"] == {"storage": "128Mi"}
        # Shrinking below the capacity is refused by validation, as upstream.
        shrink = '{"spec":{"resources":{"requests":{"storage":"64Mi"}}}}'
        result = cluster.kubectl("patch", "pvc", "grow", "-n", namespace, "--type=merge", "-p", shrink, check=False)
        assert result.returncode != 0
        assert "field can not be less than status.capacity" in result.stderr
        # Deleted with no pod using it, the claim goes and its provisioned volume with it.
        cluster.kubectl("delete", "pvc", "grow", "-n", namespace, "--wait=false")
        eventually(lambda: gone(cluster, "pvc", "grow", "-n", namespace), timeout=30, what="the claim to go")
        eventually(lambda: gone(cluster, "pv", volume), timeout=30, what="its volume to be deleted")
    finally:
        force_delete(cluster, "pvc", "grow", "-n", namespace)


def sleeper(name: str, volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
            "volumes": [volume],
        },
    }


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_an_ephemeral_claim_goes_with_its_pod(
    cluster: Cluster, namespace: str, expandable_class: str, cascade: str
) -> None:
    # Foreground: the pod waits for its claim, which waits for the pod to be shut down (upstream's
    # podIsShutDown breaks that cycle once the node is done with the pod).
    template = {
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "16Mi"}},
            "storageClassName": expandable_class,
        }
    }
    apply(cluster, sleeper("web", {"name": "scratch", "ephemeral": {"volumeClaimTemplate": template}}), "-n", namespace)
    try:
        claim = eventually(
            lambda: get_json(cluster, "pvc", "web-scratch", "-n", namespace),
            timeout=30,
            what="the ephemeral claim",
        )
        assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        assert claim["metadata"]["ownerReferences"][0]["name"] == "web"
        eventually(
            lambda: get_json(cluster, "pod", "web", "-n", namespace)["spec"].get("nodeName"),
            timeout=30,
            what="the pod to be scheduled",
        )
        cluster.kubectl("delete", "pod", "web", "-n", namespace, f"--cascade={cascade}", "--wait=false")
        eventually(lambda: gone(cluster, "pvc", "web-scratch", "-n", namespace), timeout=60, what="the claim to go")
        eventually(lambda: gone(cluster, "pod", "web", "-n", namespace), timeout=60, what="the pod to go")
    finally:
        force_delete(cluster, "pod", "web", "-n", namespace)
        force_delete(cluster, "pvc", "web-scratch", "-n", namespace)


def test_a_namespace_with_a_claim_in_use_is_deleted_whole(cluster: Cluster, expandable_class: str) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "16Mi"}},
                "storageClassName": expandable_class,
            },
        }
        apply(cluster, claim, "-n", namespace)
        apply(cluster, sleeper("user", {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}), "-n", namespace)
        eventually(
            lambda: get_json(cluster, "pod", "user", "-n", namespace)["spec"].get("nodeName"),
            timeout=30,
            what="the pod to be scheduled",
        )
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        eventually(lambda: gone(cluster, "namespace", namespace), timeout=90, what="the namespace to go")
    finally:
        force_delete(cluster, "pod", "user", "-n", namespace)
        force_delete(cluster, "pvc", "data", "-n", namespace)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
