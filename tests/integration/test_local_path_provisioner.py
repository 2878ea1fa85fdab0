"""The built-in ``kuberya.io/local-path`` provisioner against a real server, through real kubectl.

The claims carry the annotations the PV controller would set (``storage-provisioner`` and the
scheduler's ``selected-node``) by hand, so the provisioner is driven end to end whether or not
the PV controller runs: a directory under ``DATA_DIR/volumes`` and a pre-bound PV appear; what
only the PV controller does (the bind, ``Released``) is asserted when it is registered, or done
by hand where the provisioner's own half needs it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kuberya.server.components import COMPONENTS, load_symbol
from tests.conftest import Cluster
from tests.waiting import eventually

PROVISIONER = "kuberya.io/local-path"


def _served(cluster: Cluster, path: str) -> bool:
    return cluster.kubectl("get", "--raw", path, check=False).returncode == 0


@pytest.fixture
def storage_api(cluster: Cluster) -> None:
    for path in ("/api/v1/persistentvolumes", "/apis/storage.k8s.io/v1/storageclasses"):
        if not _served(cluster, path):
            pytest.skip(f"{path} is not served yet (the PersistentVolume/StorageClass kinds of #14 have not landed)")


def pv_controller_registered() -> bool:
    """Whether this build runs a PV controller (binding, Released): a component named after volumes."""
    return any(
        ("persistentvolume" in spec.name or spec.name.startswith("pv-") or "volume-binder" in spec.name)
        and "protection" not in spec.name
        and load_symbol(spec.factory) is not None
        for spec in COMPONENTS
    )


def node_name(cluster: Cluster) -> str:
    # The session's server may be newer than its node: the agent registers it just after start.
    nodes = lambda: json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]  # noqa: E731
    return str(eventually(nodes, what="the node registered")[0]["metadata"]["name"])


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture
def storage_class(cluster: Cluster, storage_api: None) -> Iterator[str]:
    """A class of our own (the built-in ones may be changed by other tests), Delete, WaitForFirstConsumer."""
    name = f"lp-{uuid.uuid4().hex[:6]}"
    manifest = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    yield name
    cluster.kubectl("delete", "storageclass", name, "--wait=false", check=False)


def create_claim(cluster: Cluster, namespace: str, name: str, class_name: str, **spec: Any) -> dict[str, Any]:
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "annotations": {
                "volume.kubernetes.io/storage-provisioner": PROVISIONER,
                "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
                "volume.kubernetes.io/selected-node": node_name(cluster),
            },
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "64Mi"}},
            "storageClassName": class_name,
            **spec,
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    return get_json(cluster, "pvc", name, "-n", namespace)  # type: ignore[no-any-return]


def events_of(cluster: Cluster, namespace: str, name: str) -> list[tuple[str, str, str]]:
    listed = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return [(e["type"], e["reason"], e["message"]) for e in listed["items"]]


def force_delete(cluster: Cluster, *args: str) -> None:
    """Delete without waiting on finalizers whose controllers may not be in this build."""
    cluster.kubectl("patch", *args, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    cluster.kubectl("delete", *args, "--wait=false", "--ignore-not-found", check=False)


def test_a_claim_gets_a_directory_and_a_prebound_volume_which_delete_removes(
    cluster: Cluster, namespace: str, storage_class: str
) -> None:
    claim = create_claim(cluster, namespace, "data", storage_class)
    pv_name = f"pvc-{claim['metadata']['uid']}"
    try:
        volume = eventually(
            lambda: get_json(cluster, "pv", pv_name), timeout=30, what=f"the provisioner to create {pv_name}"
        )
        directory = Path(volume["spec"]["hostPath"]["path"])
        assert directory == cluster.data_dir / "volumes" / pv_name
        assert directory.is_dir()
        assert volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
        spec = volume["spec"]
        assert spec["capacity"] == {"storage": "64Mi"}
        assert spec["storageClassName"] == storage_class
        assert spec["persistentVolumeReclaimPolicy"] == "Delete"
        assert spec["claimRef"]["uid"] == claim["metadata"]["uid"]
        assert spec["claimRef"]["name"] == "data" and spec["claimRef"]["namespace"] == namespace
        terms = spec["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [node_name(cluster)]

        reasons = eventually(
            lambda: [r for _, r, _ in events_of(cluster, namespace, "data") if r.startswith("Provisioning")],
            what="the provisioning events",
        )
        assert reasons[:2] == ["Provisioning", "ProvisioningSucceeded"]

        (directory / "payload").write_text("kept until the claim goes")
        if pv_controller_registered():
            eventually(
                lambda: get_json(cluster, "pvc", "data", "-n", namespace)["status"]["phase"] == "Bound",
                timeout=30,
                what="the PV controller to bind the claim",
            )
            cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=false")
        else:
            # No PV controller in this build: make the PV Released by hand, as it would once the claim is gone.
            cluster.kubectl(
                "patch", "pv", pv_name, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Released"}}'
            )
        eventually(lambda: not directory.exists(), timeout=30, what=f"{directory} to be removed")

        def volume_gone_or_going() -> bool:
            found = cluster.kubectl("get", "pv", pv_name, "-o", "json", "--ignore-not-found").stdout.strip()
            return not found or bool(json.loads(found)["metadata"].get("deletionTimestamp"))

        eventually(volume_gone_or_going, timeout=30, what=f"{pv_name} to be deleted")
    finally:
        force_delete(cluster, "pvc", "data", "-n", namespace)
        force_delete(cluster, "pv", pv_name)


def test_a_retained_volume_keeps_its_directory(cluster: Cluster, namespace: str, storage_api: None) -> None:
    name = f"lp-retain-{uuid.uuid4().hex[:6]}"
    manifest = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    claim = create_claim(cluster, namespace, "kept", name)
    pv_name = f"pvc-{claim['metadata']['uid']}"
    try:
        volume = eventually(lambda: get_json(cluster, "pv", pv_name), timeout=30, what=f"{pv_name}")
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        directory = Path(volume["spec"]["hostPath"]["path"])
        cluster.kubectl(
            "patch", "pv", pv_name, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Released"}}'
        )
        # Give the provisioner the time it takes to act on a Released PV (the other test: well under a second).
        with pytest.raises(AssertionError):
            eventually(lambda: not directory.exists(), timeout=3, what="nothing")
        assert directory.is_dir()
        assert get_json(cluster, "pv", pv_name)["metadata"].get("deletionTimestamp") is None
    finally:
        force_delete(cluster, "pvc", "kept", "-n", namespace)
        force_delete(cluster, "pv", pv_name)
        cluster.kubectl("delete", "storageclass", name, "--wait=false", check=False)
        retained = cluster.data_dir / "volumes" / pv_name
        if retained.is_dir():
            retained.rmdir()  # the test's own leftover: Retain means nobody else removes it


def test_a_claim_it_cannot_serve_fails_with_an_event_and_leaves_nothing(
    cluster: Cluster, namespace: str, storage_class: str
) -> None:
    claim = create_claim(cluster, namespace, "shared", storage_class, accessModes=["ReadWriteMany"])
    pv_name = f"pvc-{claim['metadata']['uid']}"
    try:
        failed = eventually(
            lambda: [m for _, r, m in events_of(cluster, namespace, "shared") if r == "ProvisioningFailed"],
            timeout=30,
            what="a ProvisioningFailed event",
        )
        assert failed[0] == (
            f"{PROVISIONER} only supports ReadWriteOnce and ReadWriteOncePod access modes "
            "(a directory on one node), not ReadWriteMany"
        )
        assert cluster.kubectl("get", "pv", pv_name, "--ignore-not-found").stdout.strip() == ""
        assert not (cluster.data_dir / "volumes" / pv_name).exists()
    finally:
        force_delete(cluster, "pvc", "shared", "-n", namespace)
