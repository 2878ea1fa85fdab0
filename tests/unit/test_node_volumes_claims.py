"""persistentVolumeClaim and generic ephemeral volumes on the node: waiting, upstream's messages, mounting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kuberya.client.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES
from kuberya.runtime.base import Mount
from tests.unit.test_node_support import pod, running


def claim(
    name: str, *, uid: str = "claim-uid", phase: str = "Pending", volume: str = "", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "uid": uid, **meta},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeName": volume},
        "status": {"phase": phase},
    }


def volume(name: str, path: Path, *, claim_uid: str = "claim-uid", provisioned: bool = False) -> dict[str, Any]:
    annotations = {"pv.kubernetes.io/provisioned-by": "kuberya.io/local-path"} if provisioned else {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data", "uid": claim_uid},
        },
    }


def claim_pod(*, read_only: bool = False, mount_read_only: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"claimName": "data"}
    if read_only:
        source["readOnly"] = True
    body = pod(volumes=[{"name": "store", "persistentVolumeClaim": source}])
    body["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "store", "mountPath": "/var/lib/data", "readOnly": mount_read_only}
    ]
    return body


def failed(reason: str) -> str:
    return (
        "Unable to attach or mount volumes: unmounted volumes=[store], unattached volumes=[], "
        f"failed to process volumes=[store]: error processing PVC default/data: {reason}"
    )


async def test_a_pod_waits_for_its_claim_then_mounts_the_pv_directory(tmp_path: Path) -> None:
    data = tmp_path / "volumes" / "pvc-claim-uid"
    async with running(tmp_path / "node") as h:
        h.add_pod(claim_pod())
        await h.settle()
        assert h.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}
        not_found = 'failed to fetch PVC from API server: persistentvolumeclaims "data" not found'
        assert ("Warning", "FailedMount", failed(not_found)) in h.events()
        h.client.add(PERSISTENTVOLUMECLAIMS, claim("data"))
        await h.settle()  # the claim's arrival wakes the pod: no retry timer needed
        assert ("Warning", "FailedMount", failed("PVC is not bound")) in h.events()
        h.client.add(PERSISTENTVOLUMES, volume("pvc-claim-uid", data, provisioned=True))
        h.client.add(PERSISTENTVOLUMECLAIMS, claim("data", phase="Bound", volume="pvc-claim-uid"))
        await h.settle()
        assert "running" in h.container()["state"]
        assert data.is_dir() and data.stat().st_mode & 0o777 == 0o777  # a non-root container may write
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert config.mounts == (Mount(data, "/var/lib/data"),)


async def test_pv_that_points_at_another_claim_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path / "node") as h:
        h.client.add(PERSISTENTVOLUMES, volume("pv1", tmp_path / "d", claim_uid="someone-else"))
        h.client.add(PERSISTENTVOLUMECLAIMS, claim("data", phase="Bound", volume="pv1"))
        h.add_pod(claim_pod())
        await h.settle()
        reason = "found PV object pv1 but its pv.Spec.ClaimRef.UID someone-else does not point to claim.UID claim-uid"
        assert ("Warning", "FailedMount", failed(reason)) in h.events()
        assert h.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}


async def test_a_claim_being_deleted_is_not_mounted(tmp_path: Path) -> None:
    async with running(tmp_path / "node") as h:
        h.client.add(PERSISTENTVOLUMES, volume("pv1", tmp_path / "d"))
        h.client.add(
            PERSISTENTVOLUMECLAIMS,
            claim("data", phase="Bound", volume="pv1", deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["x"]),
        )
        h.add_pod(claim_pod())
        await h.settle()
        assert ("Warning", "FailedMount", failed("PVC is being deleted")) in h.events()


async def test_read_only_on_the_claim_or_the_mount(tmp_path: Path) -> None:
    async with running(tmp_path / "node") as h:
        h.client.add(PERSISTENTVOLUMES, volume("pv1", tmp_path / "d"))
        h.client.add(PERSISTENTVOLUMECLAIMS, claim("data", phase="Bound", volume="pv1"))
        h.add_pod(claim_pod(read_only=True))
        await h.settle()
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert config.mounts == (Mount(tmp_path / "d", "/var/lib/data", True),)
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755  # a static hostPath PV: DirectoryOrCreate's mode


async def test_an_ephemeral_volume_is_the_pods_own_claim(tmp_path: Path) -> None:
    template = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    body = pod(volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": template}}])
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    async with running(tmp_path / "node") as h:
        h.add_pod(body)
        await h.settle()
        uid = h.get_pod()["metadata"]["uid"]
        ref = {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": uid, "controller": True}
        stranger = claim("web-scratch", phase="Bound", volume="pv1")
        h.client.add(PERSISTENTVOLUMES, volume("pv1", tmp_path / "d"))
        h.client.add(PERSISTENTVOLUMECLAIMS, stranger)
        await h.settle()
        message = (
            "Unable to attach or mount volumes: unmounted volumes=[scratch], unattached volumes=[], failed to "
            "process volumes=[scratch]: error processing PVC default/web-scratch: PVC default/web-scratch was not "
            "created for pod default/web (pod is not owner)"
        )
        assert ("Warning", "FailedMount", message) in h.events()
        h.client.add(
            PERSISTENTVOLUMECLAIMS, {**stranger, "metadata": {**stranger["metadata"], "ownerReferences": [ref]}}
        )
        await h.settle()
        assert "running" in h.container()["state"]
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert config.mounts == (Mount(tmp_path / "d", "/scratch"),)


async def test_local_pv_gets_the_pods_fs_group(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        return
    local = tmp_path / "local"
    local.mkdir()
    (local / "old.db").write_text("x")
    pv = volume("pv1", local)
    del pv["spec"]["hostPath"]
    pv["spec"]["local"] = {"path": str(local)}
    body = claim_pod()
    body["spec"]["securityContext"] = {"fsGroup": 2345}
    async with running(tmp_path / "node") as h:
        h.client.add(PERSISTENTVOLUMES, pv)
        h.client.add(PERSISTENTVOLUMECLAIMS, claim("data", phase="Bound", volume="pv1"))
        h.add_pod(body)
        await h.settle()
        assert "running" in h.container()["state"]
        assert local.stat().st_gid == 2345 and local.stat().st_mode & 0o2070 == 0o2070
        assert (local / "old.db").stat().st_gid == 2345
