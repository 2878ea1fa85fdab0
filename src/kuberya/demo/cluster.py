"""Step 1 of ``kuberya demo``: a running cluster, and which runtime the apps will run on — and why.

It is ``kuberya up``'s own code (:mod:`kuberya.cli.cluster`): probe the data dir, reuse a running
server, else launch one and wait for its ready file. What the demo adds is the choice of runtime:

* ``runc`` — real containers from built images — needs root, runc and buildah; the server's own
  default already picks runc as root where runc is installed, so the demo only has to step in
  when buildah is missing (no images could be built) or ``--fast`` asks to skip the builds;
* otherwise ``process``: the apps run from source as host processes. Without root each pod gets
  its own user and network namespace and a 127.1.x.y address (the process runtime's rootless pod
  network, :mod:`kuberya.runtime.rootless`), so three ``payment`` replicas can all listen on 8080;
  traffic goes through a NodePort on 127.0.0.1. Only where this user may not make user namespaces
  would pods share the host's ports: then the demo says so and stops rather than half-work.

A cluster that is already running keeps its runtime; the demo adapts to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kuberya.cli.cluster import (
    ClusterError,
    ClusterFiles,
    LaunchOptions,
    ReadyInfo,
    launch,
    probe,
    stop,
    wait_ready,
)

START_TIMEOUT = 30.0
CONTEXT = "kuberya"


class DemoClusterError(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class RuntimeChoice:
    runtime: str
    """``runc`` or ``process``: what to ask the server for."""
    reason_ko: str
    reason_en: str


def choose_runtime(*, fast: bool) -> RuntimeChoice:
    """The runtime the demo wants on this machine; see the module docstring."""
    root = os.geteuid() == 0
    if not root:
        if not user_namespaces_allowed():
            raise DemoClusterError(
                "without root the demo needs user namespaces, and this user may not make them: pods would "
                "share the host's network, so three payment replicas could not all listen on port 8080",
                "run it as root: `sudo .venv/bin/kuberya demo` (or `sudo bash scripts/demo`)",
            )
        return RuntimeChoice(
            "process",
            "root가 아니에요: 앱을 소스에서 호스트 프로세스로 실행하고, 파드마다 자기 user·network "
            "네임스페이스와 127.1.x.y 주소를 줘요 (process 런타임).",
            "not root: the apps run from source as host processes, each pod in its own user and network "
            "namespace, reachable on its own 127.1.x.y address (process runtime).",
        )
    if fast:
        return RuntimeChoice(
            "process",
            "--fast: 이미지를 빌드하지 않고 소스에서 바로 실행해요 (process 런타임).",
            "--fast: no image builds; the apps run from source (process runtime).",
        )
    if shutil.which("runc") is None:
        return RuntimeChoice(
            "process",
            "runc가 없어서 앱을 소스에서 실행해요 (process 런타임).",
            "runc is not installed, so the apps run from source (process runtime).",
        )
    if shutil.which("buildah") is None:
        return RuntimeChoice(
            "process",
            "buildah가 없어 이미지를 빌드할 수 없어요: 앱을 소스에서 실행해요 (process 런타임). "
            "설치: sudo apt-get install buildah",
            "buildah is missing, so no images can be built: the apps run from source (process runtime). "
            "Install it with `sudo apt-get install buildah`.",
        )
    return RuntimeChoice(
        "runc",
        "root이고 runc와 buildah가 있어요: 진짜 컨테이너(runc)로 실행해요.",
        "root, with runc and buildah: real containers (runc).",
    )


def user_namespaces_allowed() -> bool:
    """Whether this user may make a user + network namespace: what the rootless pod network needs.

    The same probe as the runtime's (``RootlessNetwork.available``), run here because the CLI does
    not import the runtime layer.
    """
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("nsenter") is None:
        return False
    try:
        probe = subprocess.run(
            [unshare, "--user", "--map-root-user", "--net", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@dataclass(frozen=True, slots=True)
class Started:
    ready: ReadyInfo
    started_here: bool
    """False when a cluster was already running on the data dir."""
    seconds: float


def ensure_cluster(data_dir: Path, *, runtime: str, port: int) -> Started:
    """A ready cluster on ``data_dir``: the running one, or a new one with ``runtime``."""
    began = time.monotonic()
    files = ClusterFiles(data_dir)
    state = probe(files)
    if state.running:
        pid = state.pid or 0
        ready = state.ready or _wait(files, pid, None)
        return Started(ready, False, time.monotonic() - began)
    options = LaunchOptions(
        data_dir=data_dir, host="127.0.0.1", port=port, runtime=runtime, storage=None, allow_non_loopback=False
    )
    try:
        launched = launch(options, files, foreground=False)
    except ClusterError as e:
        raise DemoClusterError(str(e), "choose another data dir with --data-dir") from e
    process = launched.process
    ready = _wait(files, process.pid, launched.log_offset, alive=lambda: process.poll() is None)
    return Started(ready, True, time.monotonic() - began)


def _wait(files: ClusterFiles, pid: int, log_offset: int | None, *, alive: object = None) -> ReadyInfo:
    from kuberya.cli.cluster import pid_alive

    def is_alive() -> bool:
        return alive() if callable(alive) else pid_alive(pid)

    try:
        return wait_ready(files, pid=pid, alive=is_alive, timeout=START_TIMEOUT, log_offset=log_offset)
    except ClusterError as e:
        raise DemoClusterError(f"kuberya could not start: {e}", f"see {files.log_file}") from e


def restart(data_dir: Path, *, runtime: str, port: int) -> Started:
    """Stop the cluster the demo started and start it again with another runtime (a fallback)."""
    try:
        stop(ClusterFiles(data_dir), timeout=10.0)
    except ClusterError as e:
        raise DemoClusterError(str(e), f"stop it with `kuberya down --data-dir {data_dir}`") from e
    return ensure_cluster(data_dir, runtime=runtime, port=port)


def merge_into_user_kubeconfig(data_dir: Path, home: Path) -> Path | None:
    """Merge the ``kuberya`` context into the user's kubeconfig, as ``kuberya up`` does; None on failure."""
    from kuberya.cli.kubeconfig import KubeconfigMergeError, merge_kubeconfig, user_kubeconfig_path

    target = user_kubeconfig_path(os.environ, home)
    try:
        return merge_kubeconfig(ClusterFiles(data_dir).kubeconfig, target, context=CONTEXT).path
    except KubeconfigMergeError:
        return None
