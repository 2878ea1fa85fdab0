"""Step 1 of ``kuberya demo``: a running cluster, and which runtime the apps will run on — and why.

It is ``kuberya up``'s own code (:mod:`kuberya.cli.cluster`): probe the data dir, reuse a running
server, else launch one and wait for its ready file. What the demo adds is the choice of runtime:

* ``runc`` — real containers from built images — needs root, runc and buildah; the server's own
  default already picks runc as root where runc is installed, so the demo only has to step in
  when buildah is missing (no images could be built) or ``--fast`` asks to skip the builds;
* otherwise ``process``: the apps run from source as host processes. Without root there are no
  pod network namespaces, so every pod would share the host's ports and three ``payment``
  replicas could not all listen on 8080: the demo says so and stops rather than half-work.

A cluster that is already running keeps its runtime; the demo adapts to it.
"""

from __future__ import annotations

import os
import shutil
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
        raise DemoClusterError(
            "the demo needs root: without it pods share the host's network, so three payment replicas "
            "cannot all listen on port 8080 (and runc cannot run)",
            "run it as root: `sudo .venv/bin/kuberya demo` (or `sudo bash scripts/demo`)",
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
