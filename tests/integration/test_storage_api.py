"""The storage API as kubectl (1.32 and 1.37) and the official Python client see it.

``kubectl get pv,pvc,sc`` prints upstream's columns (``printPersistentVolume``,
``printPersistentVolumeClaim``, ``printStorageClass``…), ``describe`` shows what kubectl's
describers read (Used By, Finalizers, Events…), ``explain`` knows the schema, bad claims, volumes
and classes are refused with upstream's field paths and messages, and every object the server
returns decodes into the official client's models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.conftest import Cluster
from tests.waiting import eventually


def apply(cluster: Cluster, manifest: dict[str, Any], *args: str, binary: Path | None = None) -> None:
    cluster.kubectl("apply", *args, "-f", "-", input=json.dumps(manifest), binary=binary)


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def claim(name: str, **spec: Any) -> dict[str, Any]:
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}, **spec}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": body}


def host_path_pv(name: str, path: Path, **spec: Any) -> dict[str, Any]:
    body = {
        "capacity": {"storage": "32Mi"},
        "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
        **spec,
    }
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": body}


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def described_fields(text: str) -> dict[str, str]:
    """``kubectl describe``'s ``Key:  value`` lines (the first of each key)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    return fields


def force_delete(cluster: Cluster, *args: str) -> None:
    cluster.kubectl("patch", *args, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    cluster.kubectl("delete", *args, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def static_pv(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A Retain hostPath PV of no class, for claims that ask for ``storageClassName: ""``."""
    name = f"static-{uuid.uuid4().hex[:6]}"
    apply(cluster, host_path_pv(name, tmp_path / "vol", storageClassName=""))
    yield name
    force_delete(cluster, "pv", name)


@pytest.fixture
def client(cluster: Cluster) -> Iterator[kubernetes.client.ApiClient]:
    api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


def test_get_columns_are_upstreams(cluster: Cluster, namespace: str, static_pv: str, kubectl_binary: Path) -> None:
    apply(cluster, claim("plain"), "-n", namespace)
    apply(cluster, claim("static", storageClassName="", volumeName=static_pv), "-n", namespace)
    eventually(
        lambda: get_json(cluster, "pvc", "static", "-n", namespace)["status"].get("phase") == "Bound",
        timeout=30,
        what="the static claim to bind",
    )
    try:
        pvcs = rows(cluster.kubectl("get", "pvc", "-n", namespace, binary=kubectl_binary).stdout)
        assert pvcs[0] == [
            *("NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS"),
            *("VOLUMEATTRIBUTESCLASS", "AGE"),
        ]
        by_name = {row[0]: row for row in pvcs[1:]}
        # A WaitForFirstConsumer claim nobody uses stays Pending, in the default class.
        assert by_name["plain"][1:3] == ["Pending", "local-path"]
        assert by_name["plain"][3] == "<unset>"
        # A bound claim shows the capacity and modes of what it got (the PV's), not what it asked.
        assert by_name["static"][1:7] == ["Bound", static_pv, "32Mi", "RWO", "<unset>", by_name["static"][6]]

        wide = rows(cluster.kubectl("get", "pvc", "static", "-n", namespace, "-owide", binary=kubectl_binary).stdout)
        assert wide[0][-2:] == ["AGE", "VOLUMEMODE"] and wide[1][-1] == "Filesystem"

        pvs = rows(cluster.kubectl("get", "pv", static_pv, binary=kubectl_binary).stdout)
        assert pvs[0] == [
            "NAME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "RECLAIM",
            "POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE",
        ]
        # No class and no reason print as empty cells: the row has two fewer words than the header.
        assert pvs[1][:6] == [static_pv, "32Mi", "RWO", "Retain", "Bound", f"{namespace}/static"]
        assert pvs[1][6] == "<unset>"
        pv_wide = rows(cluster.kubectl("get", "pv", static_pv, "-o", "wide", binary=kubectl_binary).stdout)
        assert pv_wide[0][-1] == "VOLUMEMODE" and pv_wide[1][-1] == "Filesystem"

        classes = rows(cluster.kubectl("get", "sc", binary=kubectl_binary).stdout)
        assert classes[0] == [
            *("NAME", "PROVISIONER", "RECLAIMPOLICY"),
            *("VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"),
        ]
        by_class = {row[0]: row for row in classes[1:]}
        assert by_class["local-path"][:6] == [
            "local-path",
            "(default)",
            "kuberya.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "true",
        ]
        assert by_class["local-path-immediate"][:5] == [
            "local-path-immediate",
            "kuberya.io/local-path",
            "Delete",
            "Immediate",
            "true",
        ]

        together = cluster.kubectl("get", "pv,pvc,sc", "-n", namespace, binary=kubectl_binary).stdout
        for header in (
            f"persistentvolume/{static_pv}",
            "persistentvolumeclaim/plain",
            "storageclass.storage.k8s.io/local-path (default)",
        ):
            assert header in together
    finally:
        force_delete(cluster, "pvc", "plain", "-n", namespace)
        force_delete(cluster, "pvc", "static", "-n", namespace)


def test_csi_kinds_list_with_upstreams_columns(cluster: Cluster, kubectl_binary: Path) -> None:
    driver = f"d{uuid.uuid4().hex[:6]}.example.com"
    apply(
        cluster,
        {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": driver}, "spec": {}},
        binary=kubectl_binary,
    )
    try:
        drivers = rows(cluster.kubectl("get", "csidriver", driver, binary=kubectl_binary).stdout)
        assert drivers[0] == [
            "NAME",
            "ATTACHREQUIRED",
            "PODINFOONMOUNT",
            "STORAGECAPACITY",
            "TOKENREQUESTS",
            "REQUIRESREPUBLISH",
            "MODES",
            "AGE",
        ]
        assert drivers[1][:7] == [driver, "true", "false", "false", "<unset>", "false", "Persistent"]
    finally:
        cluster.kubectl("delete", "csidriver", driver, "--wait=false", check=False)
    for resource, header in (
        ("csinodes", ["NAME", "DRIVERS", "AGE"]),
        ("volumeattachments", ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]),
    ):
        listed = cluster.kubectl("get", resource, binary=kubectl_binary)
        first = listed.stdout.splitlines()[:1]
        assert first in ([], [" ".join(header)]) or rows(listed.stdout)[0] == header, listed
        assert "error" not in listed.stderr.lower()


def test_describe_claim_volume_and_class(
    cluster: Cluster, namespace: str, static_pv: str, kubectl_binary: Path
) -> None:
    apply(cluster, claim("static", storageClassName="", volumeName=static_pv), "-n", namespace)
    user = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "user"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "static"}}],
        },
    }
    apply(cluster, user, "-n", namespace)
    try:
        eventually(
            lambda: get_json(cluster, "pvc", "static", "-n", namespace)["status"].get("phase") == "Bound",
            timeout=30,
            what="the claim to bind",
        )
        described = cluster.kubectl("describe", "pvc", "static", "-n", namespace, binary=kubectl_binary).stdout
        fields = described_fields(described)
        assert fields["Name"] == "static" and fields["Namespace"] == namespace
        assert fields["Status"] == "Bound" and fields["Volume"] == static_pv
        assert fields["Finalizers"] == "[kubernetes.io/pvc-protection]"
        assert fields["Capacity"] == "32Mi" and fields["Access Modes"] == "RWO"
        assert fields["VolumeMode"] == "Filesystem"
        assert fields["Used By"] == "user"
        assert "Events:" in described

        pv_text = cluster.kubectl("describe", "pv", static_pv, binary=kubectl_binary).stdout
        pv_fields = described_fields(pv_text)
        assert pv_fields["Finalizers"] == "[kubernetes.io/pv-protection]"
        assert pv_fields["Status"] == "Bound" and pv_fields["Claim"] == f"{namespace}/static"
        assert pv_fields["Reclaim Policy"] == "Retain" and pv_fields["Capacity"] == "32Mi"
        assert "HostPath (bare host directory volume)" in pv_text
        assert "Events:" in pv_text

        sc_text = cluster.kubectl("describe", "sc", "local-path", binary=kubectl_binary).stdout
        sc_fields = described_fields(sc_text)
        assert sc_fields["IsDefaultClass"] == "Yes"
        assert sc_fields["Provisioner"] == "kuberya.io/local-path"
        assert sc_fields["AllowVolumeExpansion"] == "True"
        assert sc_fields["ReclaimPolicy"] == "Delete"
        assert sc_fields["VolumeBindingMode"] == "WaitForFirstConsumer"
    finally:
        cluster.kubectl("delete", "pod", "user", "-n", namespace, "--grace-period=0", "--force", check=False)
        force_delete(cluster, "pvc", "static", "-n", namespace)


def test_describe_names_the_class_a_claim_waits_for(cluster: Cluster, namespace: str) -> None:
    apply(cluster, claim("lost", storageClassName="no-such-class"), "-n", namespace)
    try:

        def described_with_event() -> str | None:
            out = cluster.kubectl("describe", "pvc", "lost", "-n", namespace).stdout
            return out if "no-such-class" in out.split("Events:", 1)[-1] else None

        described = eventually(described_with_event, timeout=30, what="an event naming the missing class")
        assert described_fields(described)["Used By"] == "<none>"
        assert described_fields(described)["Status"] == "Pending"
    finally:
        force_delete(cluster, "pvc", "lost", "-n", namespace)


def test_explain_claim_resources(cluster: Cluster, kubectl_binary: Path) -> None:
    explained = cluster.kubectl("explain", "pvc.spec.resources", binary=kubectl_binary).stdout
    assert "KIND:       PersistentVolumeClaim" in explained
    assert "VolumeResourceRequirements" in explained
    assert "requests" in explained and "limits" in explained


def refused(cluster: Cluster, manifest: dict[str, Any], *args: str, binary: Path | None = None) -> str:
    result = cluster.kubectl("create", *args, "-f", "-", input=json.dumps(manifest), check=False, binary=binary)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_bad_claims_volumes_and_classes_are_refused(
    cluster: Cluster, namespace: str, tmp_path: Path, kubectl_binary: Path
) -> None:
    no_modes = claim("no-modes", accessModes=[])
    err = refused(cluster, no_modes, "-n", namespace, binary=kubectl_binary)
    assert "is invalid" in err
    assert "spec.accessModes: Required value: at least 1 access mode is required" in err

    zero = claim("zero", resources={"requests": {"storage": "0"}})
    err = refused(cluster, zero, "-n", namespace, binary=kubectl_binary)
    assert 'spec.resources[storage]: Invalid value: "0": must be greater than zero' in err

    no_request = claim("no-request", resources={})
    err = refused(cluster, no_request, "-n", namespace, binary=kubectl_binary)
    assert "spec.resources[storage]: Required value" in err

    # A quantity that does not parse fails in decoding, before validation: 400, as upstream.
    garbled = claim("garbled", resources={"requests": {"storage": "1Gx"}})
    err = refused(cluster, garbled, "-n", namespace, "--validate=false", binary=kubectl_binary)
    assert "quantities must match the regular expression" in err

    bad_mode = claim("bad-mode", accessModes=["ReadWriteSometimes"])
    err = refused(cluster, bad_mode, "-n", namespace, binary=kubectl_binary)
    assert 'spec.accessModes: Unsupported value: "ReadWriteSometimes"' in err

    pv = host_path_pv(f"bad-{uuid.uuid4().hex[:6]}", tmp_path, capacity={})
    err = refused(cluster, pv, binary=kubectl_binary)
    assert "spec.capacity: Required value" in err

    nfs = host_path_pv(f"nfs-{uuid.uuid4().hex[:6]}", tmp_path)
    del nfs["spec"]["hostPath"]
    nfs["spec"]["nfs"] = {"server": "10.0.0.1", "path": "/export"}
    err = refused(cluster, nfs, binary=kubectl_binary)
    assert "spec.nfs: Forbidden: kuberya cannot mount nfs volumes" in err

    no_provisioner = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "np"}}
    err = refused(cluster, no_provisioner, "--validate=false", binary=kubectl_binary)
    assert "provisioner: Required value" in err


def test_immutable_fields_are_refused_on_update(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    apply(cluster, claim("fixed"), "-n", namespace)
    class_name = f"sc-{uuid.uuid4().hex[:6]}"
    sc = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": class_name},
        "provisioner": "kuberya.io/local-path",
        "parameters": {"a": "b"},
    }
    apply(cluster, sc)
    try:
        patched = cluster.kubectl(
            "patch", "pvc", "fixed", "-n", namespace, "-p", '{"spec":{"accessModes":["ReadWriteMany"]}}',
            check=False, binary=kubectl_binary,
        )  # fmt: skip
        assert patched.returncode != 0
        assert (
            "spec: Forbidden: spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims"
        ) in patched.stderr

        params = cluster.kubectl(
            "patch", "sc", class_name, "-p", '{"parameters":{"a":"c"}}', check=False, binary=kubectl_binary
        )
        assert params.returncode != 0 and "parameters: Forbidden: updates to parameters are forbidden." in params.stderr
        moved = cluster.kubectl(
            "patch", "sc", class_name, "-p", '{"provisioner":"example.com/other"}', check=False, binary=kubectl_binary
        )
        assert moved.returncode != 0
        assert "provisioner: Forbidden: updates to provisioner are forbidden." in moved.stderr
    finally:
        force_delete(cluster, "pvc", "fixed", "-n", namespace)
        cluster.kubectl("delete", "sc", class_name, "--wait=false", check=False)


def test_official_client_decodes_every_storage_object(
    client: kubernetes.client.ApiClient, cluster: Cluster, namespace: str, static_pv: str
) -> None:
    core = kubernetes.client.CoreV1Api(client)
    storage = kubernetes.client.StorageV1Api(client)
    body = kubernetes.client.V1PersistentVolumeClaim(
        metadata=kubernetes.client.V1ObjectMeta(name="typed"),
        spec=kubernetes.client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=kubernetes.client.V1VolumeResourceRequirements(requests={"storage": "8Mi"}),
        ),
    )
    created = core.create_namespaced_persistent_volume_claim(namespace, body)
    try:
        assert isinstance(created, kubernetes.client.V1PersistentVolumeClaim)
        assert created.spec.storage_class_name == "local-path"  # the default class, by admission
        assert created.spec.volume_mode == "Filesystem"
        assert created.metadata.finalizers == ["kubernetes.io/pvc-protection"]
        assert created.status.phase == "Pending"
        read = core.read_namespaced_persistent_volume_claim("typed", namespace)
        assert read.spec.resources.requests == {"storage": "8Mi"}

        everywhere = core.list_persistent_volume_claim_for_all_namespaces()
        assert ("typed", namespace) in {(c.metadata.name, c.metadata.namespace) for c in everywhere.items}
        classes = storage.list_storage_class()
        by_name = {c.metadata.name: c for c in classes.items}
        assert by_name["local-path"].volume_binding_mode == "WaitForFirstConsumer"
        assert by_name["local-path"].allow_volume_expansion is True
        volumes = core.list_persistent_volume()
        assert static_pv in {v.metadata.name for v in volumes.items}
        # The other storage kinds decode too (the models' required fields are all present).
        assert_csi_kinds_decode(storage, static_pv)

        with pytest.raises(ApiException) as refused_update:
            core.patch_namespaced_persistent_volume_claim(
                "typed", namespace, {"spec": {"accessModes": ["ReadOnlyMany"]}}
            )
        assert refused_update.value.status == 422
        reason = json.loads(refused_update.value.body)
        assert reason["reason"] == "Invalid" and reason["details"]["causes"][0]["field"] == "spec"
    finally:
        core.delete_namespaced_persistent_volume_claim("typed", namespace)
        force_delete(cluster, "pvc", "typed", "-n", namespace)


def test_describe_shows_a_provisioned_claims_events_and_volume(cluster: Cluster, namespace: str) -> None:
    apply(cluster, claim("fast", storageClassName="local-path-immediate"), "-n", namespace)
    try:
        bound = eventually(
            lambda: (c := get_json(cluster, "pvc", "fast", "-n", namespace))["status"].get("phase") == "Bound" and c,
            timeout=30,
            what="the Immediate claim to be provisioned and bound",
        )
        described = cluster.kubectl("describe", "pvc", "fast", "-n", namespace).stdout
        events = described.split("Events:", 1)[1]
        assert "ProvisioningSucceeded" in events and "kuberya.io/local-path" in events
        volume = cluster.kubectl("describe", "pv", bound["spec"]["volumeName"]).stdout
        assert described_fields(volume)["Annotations"] == "pv.kubernetes.io/provisioned-by: kuberya.io/local-path"
        assert "Term 0:        kubernetes.io/hostname in [" in volume
        assert described_fields(volume)["HostPathType"] == "DirectoryOrCreate"
    finally:
        cluster.kubectl("delete", "pvc", "fast", "-n", namespace, "--wait=false", check=False)


def kuberya_ask(cluster: Cluster, namespace: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kuberya ask`` as a user runs it, its kubeconfig's context in ``namespace``."""
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in doc["contexts"]:
        entry["context"]["namespace"] = namespace
    (tmp / "kubeconfig").write_text(yaml.safe_dump(doc))
    (tmp / "home").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERYA_", "KUBECONFIG"))}
    env |= {"HOME": str(tmp / "home"), "KUBECONFIG": str(tmp / "kubeconfig"), "KUBERYA_DATA_DIR": str(cluster.data_dir)}
    return subprocess.run(
        [sys.executable, "-c", "from kuberya.cli.main import main; main()", "ask", *args],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_ask_lists_volumes_with_kubectls_columns(
    cluster: Cluster, namespace: str, static_pv: str, tmp_path: Path
) -> None:
    apply(cluster, claim("static", storageClassName="", volumeName=static_pv), "-n", namespace)
    try:
        eventually(
            lambda: get_json(cluster, "pvc", "static", "-n", namespace)["status"].get("phase") == "Bound",
            timeout=30,
            what="the static claim to bind",
        )
        for utterance in ("볼륨 보여줘", "show my volumes"):
            result = kuberya_ask(cluster, namespace, tmp_path, utterance)
            assert result.returncode == 0, result.stderr + result.stdout
            assert "$ kubectl get pvc" in result.stdout and "$ kubectl get pv" in result.stdout
            lines = result.stdout.splitlines()
            kubectl_pvc = cluster.kubectl("get", "pvc", "-n", namespace).stdout.splitlines()
            kubectl_pv = cluster.kubectl("get", "pv", static_pv).stdout.splitlines()
            # The same header and the same cells as kubectl (AGE may tick between the two).
            for expected in (kubectl_pvc, kubectl_pv):
                assert expected[0] in lines
                row = next(line for line in lines if line.split()[:1] == expected[1].split()[:1])
                assert row.split()[:-1] == expected[1].split()[:-1]

        classes = kuberya_ask(cluster, namespace, tmp_path, "스토리지클래스 보여줘")
        assert classes.returncode == 0, classes.stderr + classes.stdout
        assert "→ 스토리지클래스 목록 보기" in classes.stdout
        assert any(
            line.split()[:3] == ["local-path", "(default)", "kuberya.io/local-path"]
            for line in classes.stdout.splitlines()
        )
    finally:
        force_delete(cluster, "pvc", "static", "-n", namespace)


def test_a_claim_grows_only_when_its_class_allows_it(cluster: Cluster, namespace: str, static_pv: str) -> None:
    apply(cluster, claim("static", storageClassName="", volumeName=static_pv), "-n", namespace)
    apply(cluster, claim("growing", storageClassName="local-path-immediate"), "-n", namespace)
    try:
        for name in ("static", "growing"):
            eventually(
                lambda name=name: get_json(cluster, "pvc", name, "-n", namespace)["status"].get("phase") == "Bound",
                timeout=30,
                what=f"claim {name} to bind",
            )
        grow = '{"spec":{"resources":{"requests":{"storage":"64Mi"}}}}'
        refused_grow = cluster.kubectl("patch", "pvc", "static", "-n", namespace, "-p", grow, check=False)
        assert refused_grow.returncode != 0
        assert (
            'persistentvolumeclaims "static" is forbidden: only dynamically provisioned pvc can be resized and '
            "the storageclass that provisions the pvc must support resize"
        ) in refused_grow.stderr

        cluster.kubectl("patch", "pvc", "growing", "-n", namespace, "-p", grow)
        eventually(
            lambda: (
                get_json(cluster, "pvc", "growing", "-n", namespace)["status"].get("capacity") == {"storage": "64Mi"}
            ),
            timeout=30,
            what="the claim's capacity to follow its request",
        )
        row = rows(cluster.kubectl("get", "pvc", "growing", "-n", namespace).stdout)[1]
        assert row[1] == "Bound" and row[3] == "64Mi"
        shrink = '{"spec":{"resources":{"requests":{"storage":"16Mi"}}}}'
        refused_shrink = cluster.kubectl("patch", "pvc", "growing", "-n", namespace, "-p", shrink, check=False)
        assert refused_shrink.returncode != 0
        assert "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity" in (
            refused_shrink.stderr
        )
    finally:
        force_delete(cluster, "pvc", "static", "-n", namespace)
        cluster.kubectl("delete", "pvc", "growing", "-n", namespace, "--wait=false", check=False)


def assert_csi_kinds_decode(storage: kubernetes.client.StorageV1Api, pv_name: str) -> None:
    """A CSIDriver, a CSINode and a VolumeAttachment made and read back as the client's models."""
    suffix = uuid.uuid4().hex[:6]
    driver, node, attachment = f"d{suffix}.example.com", f"node-{suffix}", f"csi-{suffix}"
    storage.create_csi_driver(
        kubernetes.client.V1CSIDriver(
            metadata=kubernetes.client.V1ObjectMeta(name=driver),
            spec=kubernetes.client.V1CSIDriverSpec(attach_required=False),
        )
    )
    storage.create_csi_node(
        kubernetes.client.V1CSINode(
            metadata=kubernetes.client.V1ObjectMeta(name=node),
            spec=kubernetes.client.V1CSINodeSpec(
                drivers=[kubernetes.client.V1CSINodeDriver(name=driver, node_id=node, topology_keys=[])]
            ),
        )
    )
    storage.create_volume_attachment(
        kubernetes.client.V1VolumeAttachment(
            metadata=kubernetes.client.V1ObjectMeta(name=attachment),
            spec=kubernetes.client.V1VolumeAttachmentSpec(
                attacher=driver,
                node_name=node,
                source=kubernetes.client.V1VolumeAttachmentSource(persistent_volume_name=pv_name),
            ),
        )
    )
    try:
        drivers = {d.metadata.name: d for d in storage.list_csi_driver().items}
        assert drivers[driver].spec.attach_required is False
        assert drivers[driver].spec.volume_lifecycle_modes == ["Persistent"]  # upstream's default
        nodes = {n.metadata.name: n for n in storage.list_csi_node().items}
        assert nodes[node].spec.drivers[0].node_id == node
        attachments = {a.metadata.name: a for a in storage.list_volume_attachment().items}
        assert attachments[attachment].spec.source.persistent_volume_name == pv_name
        assert attachments[attachment].status.attached is False
    finally:
        storage.delete_volume_attachment(attachment)
        storage.delete_csi_node(node)
        storage.delete_csi_driver(driver)


def test_ask_runs_an_app_with_its_own_bound_volume(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    result = kuberya_ask(cluster, namespace, tmp_path, "--yes", "--no-wait", "redis를 데이터 1Gi로 띄워줘")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "$ kubectl" in result.stdout and "volumeClaimTemplates" in result.stdout, result.stdout
    try:
        statefulset = get_json(cluster, "statefulset", "redis", "-n", namespace)
        template = statefulset["spec"]["volumeClaimTemplates"][0]
        assert template["spec"]["resources"]["requests"]["storage"] == "1Gi"
        claim_name = f"{template['metadata']['name']}-redis-0"
        bound = eventually(
            lambda: get_json(cluster, "pvc", claim_name, "-n", namespace)["status"].get("phase") == "Bound",
            timeout=60,
            what=f"claim {claim_name} of the StatefulSet's first pod to bind",
        )
        assert bound
        listed = kuberya_ask(cluster, namespace, tmp_path, "show my volumes")
        row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(claim_name))
        assert row[1] == "Bound" and row[3:6] == ["1Gi", "RWO", "local-path"]
    finally:
        cluster.kubectl("delete", "statefulset", "redis", "-n", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force", check=False)
