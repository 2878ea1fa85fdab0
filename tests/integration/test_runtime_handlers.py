"""runc and process side by side: a pod picks its runtime with ``runtimeClassName``.

Each test starts a server of its own (``--runtime process`` or ``--runtime runc``) whose data
directory's image store holds a busybox image (:mod:`kuberya.images.testing`, no registry), makes
a RuntimeClass naming the *other* handler, and runs a pod with it next to a pod of the default
handler: the containerID scheme says which runtime runs each, and ``kubectl logs`` / ``exec``
work for both. The Node lists both handlers in ``status.runtimeHandlers``. Everything is removed
with the server (its pods are stopped on shutdown).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kuberya.images.service import ImageService, ImageSettings
from kuberya.images.testing import busybox_image
from kuberya.runtime.network import PodNetwork
from tests.conftest import Cluster, start_server, stop_server
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runc") is None or not PodNetwork.available(),
    reason="runc next to the process runtime needs root, runc and the CNI plugins",
)

IMAGE = "localhost/busybox:handlers"


def as_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def serve(data_dir: Path, runtime: str) -> Cluster:
    busybox_image(ImageService(ImageSettings(root=data_dir / "images")).store, IMAGE)
    return start_server(data_dir, "--runtime", runtime, "--disable", "service-proxy", timeout=60)


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = serve(tmp_path_factory.mktemp("handlers-process"), "process")
    yield cluster
    stop_server(cluster)


@pytest.fixture(scope="module")
def runc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = serve(tmp_path_factory.mktemp("handlers-runc"), "runc")
    yield cluster
    stop_server(cluster)


def runtime_class(cluster: Cluster, handler: str) -> str:
    name = f"{handler}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": handler}
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    return name


def run_pod(cluster: Cluster, name: str, word: str, runtime_class: str | None = None) -> None:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", f"echo {word}; sleep 3600"],
            }
        ],
        "terminationGracePeriodSeconds": 1,
    }
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))


def container_id(cluster: Cluster, name: str) -> str:
    def running() -> str:
        status = as_json(cluster, "get", "pod", name)["status"]
        statuses = status.get("containerStatuses") or []
        if status.get("phase") == "Running" and statuses and "running" in statuses[0]["state"]:
            return str(statuses[0]["containerID"])
        return ""

    return eventually(running, timeout=60, what=f"pod {name} running")


def logs_and_exec(cluster: Cluster, name: str, word: str) -> tuple[str, str]:
    logs = eventually(lambda: cluster.kubectl("logs", name).stdout.strip(), timeout=30, what=f"{name}'s logs")
    # The hostname is the pod's name with either runtime (each pod has a UTS namespace of its own).
    hostname = cluster.kubectl("exec", name, "--", "sh", "-c", "hostname").stdout.strip()
    assert logs == word
    return logs, hostname


def node_handlers(cluster: Cluster) -> list[str]:
    def listed() -> list[str]:
        nodes = as_json(cluster, "get", "nodes")["items"]
        return [h["name"] for h in (nodes[0]["status"].get("runtimeHandlers") or [])] if nodes else []

    return eventually(listed, timeout=30, what="status.runtimeHandlers")


def test_a_runc_pod_next_to_a_process_pod_on_a_process_server(process_server: Cluster) -> None:
    cluster = process_server
    assert node_handlers(cluster) == ["", "process", "runc"]
    run_pod(cluster, "host", "hi-from-process")
    run_pod(cluster, "boxed", "hi-from-runc", runtime_class(cluster, "runc"))
    assert container_id(cluster, "host").startswith("process://")
    assert container_id(cluster, "boxed").startswith("runc://")
    assert logs_and_exec(cluster, "host", "hi-from-process")[1] == "host"
    assert logs_and_exec(cluster, "boxed", "hi-from-runc")[1] == "boxed"
    # A real container: its own pid namespace, where its command (sh exec'ing its last command) is
    # pid 1; a process pod sees the host's pid 1.
    boxed_init = cluster.kubectl("exec", "boxed", "--", "cat", "/proc/1/cmdline").stdout
    host_init = cluster.kubectl("exec", "host", "--", "cat", "/proc/1/cmdline").stdout
    assert boxed_init == "sleep\x003600\x00" and host_init != boxed_init
    cluster.kubectl("delete", "pod", "host", "boxed", "--wait=true", timeout=90)


def test_a_process_pod_next_to_a_runc_pod_on_a_runc_server(runc_server: Cluster) -> None:
    cluster = runc_server
    assert node_handlers(cluster) == ["", "process", "runc"]
    run_pod(cluster, "boxed", "hi-from-runc")
    run_pod(cluster, "host", "hi-from-process", runtime_class(cluster, "process"))
    assert container_id(cluster, "boxed").startswith("runc://")
    assert container_id(cluster, "host").startswith("process://")
    assert logs_and_exec(cluster, "boxed", "hi-from-runc")[1] == "boxed"
    assert logs_and_exec(cluster, "host", "hi-from-process")[1] == "host"
    cluster.kubectl("delete", "pod", "host", "boxed", "--wait=true", timeout=90)


def test_a_handler_no_runtime_serves_is_a_warning(process_server: Cluster) -> None:
    cluster = process_server
    run_pod(cluster, "stuck", "never", runtime_class(cluster, "kata"))

    def warned() -> dict[str, Any]:
        events = as_json(cluster, "get", "events", "--field-selector", "involvedObject.name=stuck")["items"]
        found = [e for e in events if e["reason"] == "FailedCreatePodSandBox"]
        return dict(found[0]) if found else {}

    event = eventually(warned, timeout=30, what="the FailedCreatePodSandBox event")
    assert event["type"] == "Warning"
    assert 'failed to get sandbox runtime: no runtime for "kata" is configured' in event["message"]
    assert as_json(cluster, "get", "pod", "stuck")["status"]["phase"] == "Pending"
    cluster.kubectl("delete", "pod", "stuck", "--wait=true", timeout=60)


def test_a_restarted_server_adopts_the_pods_of_both_handlers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cluster = serve(data, "process")
    try:
        boxed_class = runtime_class(cluster, "runc")
        run_pod(cluster, "host", "hi-from-process")
        run_pod(cluster, "boxed", "hi-from-runc", boxed_class)
        before = {name: container_id(cluster, name) for name in ("host", "boxed")}
        (data / "keep-pods").write_text("")  # what `kuberya down --keep-pods` writes
    finally:
        stop_server(cluster)
    cluster = serve(data, "process")
    try:
        after = {name: container_id(cluster, name) for name in ("host", "boxed")}
        assert after == before, "both pods are adopted with their own runtimes, not started again"
        assert all(
            s["restartCount"] == 0
            for n in after
            for s in as_json(cluster, "get", "pod", n)["status"]["containerStatuses"]
        )
        assert logs_and_exec(cluster, "boxed", "hi-from-runc")[1] == "boxed"
        assert logs_and_exec(cluster, "host", "hi-from-process")[1] == "host"
        cluster.kubectl("delete", "pod", "host", "boxed", "--wait=true", timeout=90)
    finally:
        stop_server(cluster)
