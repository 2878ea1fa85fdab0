"""Every pod volume type a single node serves, judged as a user judges it: through real kubectl.

The session's cluster runs the ``process`` runtime, so a pod's command runs on the host in a mount
namespace of its own, with each volume bound at its ``mountPath``. Every pod of this module is
created at once (one ``kubectl apply``) and shared between the assertions about it, so the module
costs one pod start, not thirty. Mount paths live under the module's temporary directory, never
under ``/``.

What the tests pin, each as upstream's kubelet does it:

- hostPath ``type`` checks and their ``FailedMount`` messages (``pkg/volume/hostpath``);
- downwardAPI items, ``resourceFieldRef`` with a divisor, file modes, and an edit of the pod's
  labels reaching the file; the agent syncs a pod on every change of its metadata or of a
  ConfigMap/Secret it uses, so the "sync period" is an informer event (well under a second
  here; the kubelet's is about a minute), asserted below to be within :data:`SYNC_SECONDS`;
- configMap/secret/projected volumes updated in place (``..data`` swap), a ``subPath`` mount of
  one not updated;
- subPath/subPathExpr and the kubelet's refusals of what an expansion yields;
- emptyDir ``medium: Memory`` (a tmpfs) and ``sizeLimit`` eviction;
- fsGroup with ``fsGroupChangePolicy: OnRootMismatch``, and a read-only claim.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs and fsGroup ownership need a root node agent")

SYNC_SECONDS = 10.0
"""How soon an edit of a source must show in a mounted file (the kubelet's period is ~60 s)."""
FS_GROUP = 4321
HOLD = "trap 'exit 0' TERM; while :; do sleep 1; done"
"""The tail of every long-running pod's script: ends at once when the pod is deleted."""


@dataclass
class Volumes:
    cluster: Cluster
    namespace: str
    root: Path
    """The module's host directory: hostPath sources and every mountPath live under it."""

    def mnt(self, name: str) -> str:
        return str(self.root / "mnt" / name)

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check).stdout

    def pod(self, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", "pod", name, "-o", "json"))  # type: ignore[no-any-return]

    def logs(self, name: str) -> list[str]:
        return self.kubectl("logs", name).splitlines()

    def exec(self, pod: str, script: str) -> str:
        return self.kubectl("exec", pod, "--", "sh", "-c", script)

    def events(self, pod: str) -> list[tuple[str, str, str]]:
        items = json.loads(self.kubectl("get", "events", "-o", "json"))["items"]
        return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"].get("name") == pod]

    def logged(self, pod: str, last: str = "done") -> list[str]:
        """The pod's log once its script printed ``last``."""

        def check() -> list[str]:
            lines = self.logs(pod)
            assert last in lines
            return lines

        return eventually(check, timeout=30, what=f"pod {pod} to log {last!r}")

    def event(self, pod: str, reason: str, contains: str) -> str:
        def check() -> str:
            return next(m for _, r, m in self.events(pod) if r == reason and contains in m)

        return eventually(check, timeout=30, what=f"a {reason} event of {pod} saying {contains!r}")


def pod(name: str, script: str, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], **extra: Any) -> Any:
    container: dict[str, Any] = {"name": "c", "image": "sh:v1", "command": ["sh", "-c", script]}
    container["volumeMounts"] = mounts
    container.update(extra.pop("container", {}))
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 1, "containers": [container], "volumes": volumes}
    spec.update(extra.pop("spec", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **extra}, "spec": spec}


def manifests(v: Volumes, node: str) -> list[Any]:
    h = v.root
    m = v.mnt
    hostpaths = pod(
        "hostpaths",
        f"echo made > {m('doc')}/x && echo doc-ok; "
        f"echo one > {m('foc')} && echo foc-ok; "
        f"cat {m('file')}; if echo no 2>/dev/null > {m('file')}; then echo file-writable; else echo file-ro; fi; "
        f"test -S {m('sock')} && echo socket-ok; test -c {m('null')} && echo null-ok; echo done; {HOLD}",
        [
            {"name": "doc", "hostPath": {"path": f"{h}/made/dir", "type": "DirectoryOrCreate"}},
            {"name": "foc", "hostPath": {"path": f"{h}/made.txt", "type": "FileOrCreate"}},
            {"name": "file", "hostPath": {"path": f"{h}/existing.txt", "type": "File"}},
            {"name": "sock", "hostPath": {"path": f"{h}/app.sock", "type": "Socket"}},
            {"name": "null", "hostPath": {"path": "/dev/null", "type": "CharDevice"}},
        ],
        [
            {"name": "doc", "mountPath": m("doc")},
            {"name": "foc", "mountPath": m("foc")},
            {"name": "file", "mountPath": m("file"), "readOnly": True},
            {"name": "sock", "mountPath": m("sock")},
            {"name": "null", "mountPath": m("null")},
        ],
    )
    refused_host = [
        pod(
            name,
            HOLD,
            [{"name": "hp", "hostPath": {"path": path, "type": kind}}],
            [{"name": "hp", "mountPath": m(name)}],
        )
        for name, path, kind in [
            ("hp-missing", f"{h}/missing", "Directory"),
            ("hp-not-dir", f"{h}/existing.txt", "Directory"),
            ("hp-block", "/dev/null", "BlockDevice"),
        ]
    ]
    downward = pod(
        "downward",
        HOLD,
        [
            {
                "name": "info",
                "downwardAPI": {
                    "defaultMode": 0o600,
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
                        {"path": "ns/namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
                        {
                            "path": "cpu_limit",
                            "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"},
                        },
                    ],
                },
            }
        ],
        [{"name": "info", "mountPath": m("info")}],
        labels={"app": "downward", "tier": "one"},
        annotations={"note": "hi"},
        container={"resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}},
    )
    config = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"s": "first"}},
    ]
    sources = pod(
        "sources",
        HOLD,
        [
            {"name": "cm", "configMap": {"name": "cfg"}},
            {
                "name": "items",
                "configMap": {"name": "cfg", "items": [{"key": "a", "path": "dir/renamed", "mode": 0o640}]},
            },
            {"name": "opt", "configMap": {"name": "nope", "optional": True}},
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {
                "name": "proj",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "cm-a"}]}},
                        {"secret": {"name": "sec", "items": [{"key": "s", "path": "sec-s"}]}},
                        {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    ]
                },
            },
        ],
        [
            {"name": "cm", "mountPath": m("cm")},
            {"name": "cm", "mountPath": m("sub-a"), "subPath": "a"},
            {"name": "items", "mountPath": m("items")},
            {"name": "opt", "mountPath": m("opt")},
            {"name": "sec", "mountPath": m("sec")},
            {"name": "proj", "mountPath": m("proj")},
        ],
        labels={"app": "sources"},
    )
    token = pod(
        "token",
        HOLD,
        [{"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
        [{"name": "tok", "mountPath": m("tok")}],
    )
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    subpaths = pod(
        "subpaths",
        f"echo mine > {m('mine')}/f; echo fixed > {m('fixed')}/g; echo done; {HOLD}",
        [{"name": "work", "emptyDir": {}}],
        [
            {"name": "work", "mountPath": m("all")},
            {"name": "work", "mountPath": m("fixed"), "subPath": "fixed/dir"},
            {"name": "work", "mountPath": m("mine"), "subPathExpr": "$(POD_NAME)"},
        ],
        container={"env": env},
    )
    refused_sub = [
        pod(
            name,
            HOLD,
            [{"name": "work", "emptyDir": {}}],
            [{"name": "work", "mountPath": m(name), "subPathExpr": "$(DIR)"}],
            container={"env": [{"name": "DIR", "value": value}]},
        )
        for name, value in [("sub-abs", "/etc"), ("sub-up", "../up")]
    ]
    memory = pod(
        "memory",
        f"stat -f -c %T {m('mem')}; grep -c ' {m('mem')} .* - tmpfs ' /proc/self/mountinfo; echo done; {HOLD}",
        [{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}],
        [{"name": "mem", "mountPath": m("mem")}],
    )
    filler = pod(
        "filler",
        f"dd if=/dev/zero of={m('x')}/big bs=1024 count=2048 2>/dev/null; echo filled; {HOLD}",
        [{"name": "x", "emptyDir": {"sizeLimit": "1Mi"}}],
        [{"name": "x", "mountPath": m("x")}],
    )
    claims = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{v.namespace}-local"},
            "spec": {
                "capacity": {"storage": "1Mi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "local": {"path": f"{h}/local"},
                "claimRef": {"namespace": v.namespace, "name": "local"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                ]
                            }
                        ]
                    }
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "local"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": f"{v.namespace}-local",
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
    ]
    fs_group = {"securityContext": {"fsGroup": FS_GROUP, "fsGroupChangePolicy": "OnRootMismatch"}}
    owned = pod(
        "owned",
        f"touch {m('scratch')}/new {m('claim')}/new; echo done; {HOLD}",
        [{"name": "scratch", "emptyDir": {}}, {"name": "claim", "persistentVolumeClaim": {"claimName": "local"}}],
        [{"name": "scratch", "mountPath": m("scratch")}, {"name": "claim", "mountPath": m("claim")}],
        spec=fs_group,
    )
    read_only = pod(
        "claim-ro",
        f"ls {m('ro')}; if touch {m('ro')}/f 2>/dev/null; then echo writable; else echo refused; fi; echo done; {HOLD}",
        [{"name": "ro", "persistentVolumeClaim": {"claimName": "local", "readOnly": True}}],
        [{"name": "ro", "mountPath": m("ro")}],
    )
    return [
        *config,
        *claims,
        hostpaths,
        *refused_host,
        downward,
        sources,
        token,
        subpaths,
        *refused_sub,
        memory,
        filler,
        owned,
        read_only,
    ]


@pytest.fixture(scope="module")
def volumes(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Volumes]:
    root = tmp_path_factory.mktemp("volumes")
    v = Volumes(cluster, f"t-{uuid.uuid4().hex[:8]}", root)
    (root / "existing.txt").write_text("host file\n")
    # The claim's directory already has the fsGroup at its root, a file inside does not:
    # OnRootMismatch must leave that file alone.
    local = root / "local"
    local.mkdir()
    (local / "old").write_text("old\n")  # before the setgid bit, which new files would inherit
    os.chown(local, -1, FS_GROUP)
    os.chmod(local, 0o2775)
    nodes = lambda: json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]  # noqa: E731
    node = str(eventually(nodes, what="the node registered")[0]["metadata"]["name"])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(root / "app.sock"))
    try:
        cluster.kubectl("create", "namespace", v.namespace)
        # one document each (a v1 List has no OpenAPI schema for kubectl's client-side validation)
        documents = "\n---\n".join(json.dumps(item) for item in manifests(v, node))
        cluster.kubectl("apply", "-n", v.namespace, "-f", "-", input=documents)
        yield v
    finally:
        cluster.kubectl("delete", "namespace", v.namespace, "--wait=false", check=False)
        # Wait for the pods to go: the node then unmounts their volumes (a tmpfs would outlive the server).
        eventually(lambda: not v.kubectl("get", "pods", "-o", "name", check=False).strip(), timeout=60, what="no pods")
        cluster.kubectl("delete", "pv", f"{v.namespace}-local", "--wait=false", check=False)
        listener.close()


def test_host_path_types_make_check_and_mount(volumes: Volumes) -> None:
    v = volumes
    lines = v.logged("hostpaths")
    assert lines == ["doc-ok", "foc-ok", "host file", "file-ro", "socket-ok", "null-ok", "done"]
    # DirectoryOrCreate and FileOrCreate made them on the host (0755 and 0644), and the writes landed there.
    assert (v.root / "made/dir/x").read_text() == "made\n"
    assert (v.root / "made/dir").stat().st_mode & 0o777 == 0o755
    assert (v.root / "made.txt").read_text() == "one\n"
    assert (v.root / "existing.txt").read_text() == "host file\n"  # readOnly refused the write


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("hp-missing", "hostPath {root}/missing doesn't exist"),
        ("hp-not-dir", "hostPath type check failed: {root}/existing.txt is not a directory, it's a File"),
        ("hp-block", "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"),
    ],
)
def test_a_host_path_of_the_wrong_type_keeps_the_pod_from_starting(volumes: Volumes, name: str, message: str) -> None:
    v = volumes
    expected = f'MountVolume.SetUp failed for volume "hp" : {message.format(root=v.root)}'
    assert v.event(name, "FailedMount", expected) == expected
    status = v.pod(name)["status"]
    assert status["phase"] == "Pending"
    assert not any("running" in (c.get("state") or {}) for c in status.get("containerStatuses") or [])
    assert not (v.root / "missing").exists()  # Directory never creates


def test_downward_api_volume_items_modes_and_a_label_edit(volumes: Volumes) -> None:
    v = volumes
    mnt = v.mnt("info")
    script = (
        f"cat {mnt}/labels; echo; cat {mnt}/annotations; echo; cat {mnt}/name; echo; cat {mnt}/ns/namespace; echo; "
        f"cat {mnt}/cpu_limit; echo; stat -L -c %a {mnt}/labels {mnt}/name"
    )
    out = eventually(lambda: v.exec("downward", script), timeout=30, what="the downward pod to run")
    note = [line for line in out.splitlines() if line.startswith("note=")]
    assert out.splitlines()[:2] == ['app="downward"', 'tier="one"']
    assert note == ['note="hi"']
    assert out.splitlines()[-5:] == ["downward", v.namespace, "250", "600", "400"]

    started = time.monotonic()
    v.kubectl("label", "pod", "downward", "tier=two", "--overwrite")

    def edited() -> list[str]:
        lines = v.exec("downward", f"cat {mnt}/labels").splitlines()
        assert 'tier="two"' in lines
        return lines

    labels = eventually(edited, timeout=SYNC_SECONDS, what="the label edit in the downwardAPI file")
    assert labels == ['app="downward"', 'tier="two"']
    assert time.monotonic() - started < SYNC_SECONDS


def test_config_map_secret_and_projected_volumes_update_in_place_but_a_sub_path_does_not(volumes: Volumes) -> None:
    v = volumes
    m = v.mnt
    show = (
        f"cat {m('cm')}/a {m('sub-a')} {m('items')}/dir/renamed {m('sec')}/s {m('proj')}/cm-a {m('proj')}/sec-s; echo; "
        f"ls -A {m('cm')} | tr '\\n' ' '; echo; ls {m('opt')} | wc -l; "
        f"stat -L -c %a {m('items')}/dir/renamed {m('sec')}/s; readlink {m('cm')}/..data"
    )
    out = eventually(lambda: v.exec("sources", show), timeout=30, what="the sources pod to run").splitlines()
    assert out[0] == "111first1first"  # cm/a, the subPath, the item, the secret, the projected two
    assert set(out[1].split()) >= {"a", "b", "..data"}  # the keys, through the ..data link
    assert out[2] == "0"  # an optional configMap that does not exist: a volume with no files
    assert out[3:5] == ["640", "400"]
    first_data = out[5]
    assert first_data.startswith("..2")

    v.kubectl("patch", "configmap", "cfg", "-p", '{"data": {"a": "changed"}}')
    v.kubectl("patch", "secret", "sec", "-p", '{"stringData": {"s": "second"}}')
    files = f"{m('cm')}/a {m('items')}/dir/renamed {m('proj')}/cm-a {m('sec')}/s {m('proj')}/sec-s"

    def updated() -> list[str]:
        lines = v.exec("sources", f"for f in {files}; do cat $f; echo; done").splitlines()
        assert lines == ["changed", "changed", "changed", "second", "second"]
        return lines

    eventually(updated, timeout=SYNC_SECONDS, what="the edits in every mounted file")
    assert v.exec("sources", f"cat {m('sub-a')}") == "1"  # a subPath mount keeps the file it was given
    assert v.exec("sources", f"readlink {m('cm')}/..data").strip() != first_data  # swapped, not rewritten


def test_a_service_account_token_projection_is_refused_with_an_event(volumes: Volumes) -> None:
    message = volumes.event("token", "FailedMount", "serviceAccountToken projections are not served yet")
    assert message.startswith('MountVolume.SetUp failed for volume "tok" : ')
    assert volumes.pod("token")["status"]["phase"] == "Pending"


def test_sub_path_and_sub_path_expr(volumes: Volumes) -> None:
    v = volumes
    assert v.logged("subpaths") == ["done"]
    out = v.exec("subpaths", f"cat {v.mnt('all')}/subpaths/f {v.mnt('all')}/fixed/dir/g")
    assert out.splitlines() == ["mine", "fixed"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sub-abs", "Error: error SubPath `/etc` must not be an absolute path"),
        ("sub-up", "Error: unable to provision SubPath `../up`: must not contain '..'"),
    ],
)
def test_a_sub_path_expr_that_leaves_the_volume_is_refused(volumes: Volumes, name: str, message: str) -> None:
    assert volumes.event(name, "Failed", message) == message
    waiting = volumes.pod(name)["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"


def test_a_memory_empty_dir_is_a_tmpfs_unmounted_with_its_pod(volumes: Volumes) -> None:
    v = volumes
    assert v.logged("memory") == ["tmpfs", "1", "done"]
    uid = str(v.pod("memory")["metadata"]["uid"])

    def host_mounts() -> list[str]:
        return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if uid in line]

    assert any(" - tmpfs " in line and "size=8192k" in line for line in host_mounts())  # the sizeLimit: 8Mi
    v.kubectl("delete", "pod", "memory", "--wait=false")
    eventually(lambda: not host_mounts(), timeout=30, what="the pod's tmpfs unmounted")


def test_writing_past_size_limit_evicts_the_pod(volumes: Volumes) -> None:
    v = volumes
    message = 'Usage of EmptyDir volume "x" exceeds the limit "1Mi". '

    def evicted() -> dict[str, Any]:
        status = v.pod("filler")["status"]
        assert status["phase"] == "Failed"
        return status  # type: ignore[no-any-return]

    status = eventually(evicted, timeout=30, what="the filler pod evicted")
    assert (status["reason"], status["message"]) == ("Evicted", message)
    assert ("Warning", "Evicted", message) in v.events("filler")


def test_fs_group_owns_new_files_and_on_root_mismatch_leaves_a_matching_volume_alone(volumes: Volumes) -> None:
    v = volumes
    assert v.logged("owned") == ["done"]
    scratch, claim = v.mnt("scratch"), v.mnt("claim")
    out = v.exec("owned", f"stat -c '%g %A' {scratch} {scratch}/new {claim} {claim}/new {claim}/old").splitlines()
    group = str(FS_GROUP)
    assert out[0].split()[0] == group and out[0].split()[1][6] == "s"  # setgid: new files inherit the group
    assert out[1].split()[0] == group
    assert out[2].split()[0] == group and out[3].split()[0] == group
    assert out[4].split()[0] == "0"  # the root already matched: OnRootMismatch did not walk the volume


def test_a_read_only_claim_refuses_writes(volumes: Volumes) -> None:
    lines = volumes.logged("claim-ro")
    assert lines[-2:] == ["refused", "done"]
    assert not (volumes.root / "local" / "f").exists()
