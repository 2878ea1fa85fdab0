"""The process runtime binds a container's volumes at their mountPath: real shims, real mount namespaces.

Each test runs with three runtimes: the host network (a mount namespace of the container's own and
nothing else), a pod network on a bridge private to the test (root), and the rootless network
(forced with ``rootless_network=True``: the shim binds from inside the pod's user namespace, as a
user without root does). Mount points are made under ``/kuberya-test-<random>`` on the host and
the tests check that nothing of them is left once the containers are removed. Every fixture
removes its sandboxes, namespaces, links and cgroups even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kuberya.runtime.base import ContainerConfig, ContainerState, Mount, RuntimeError_, SandboxConfig
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.crilog import parse_cri_line
from kuberya.runtime.network import PodNetwork
from kuberya.runtime.process import ProcessRuntime, open_process_runtime
from kuberya.runtime.rootless import RootlessNetwork

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount points under / and mount namespaces need root")

KINDS = ["host-network", "pod-network", "rootless"]


async def cleanup(runtime: ProcessRuntime) -> None:
    for sandbox in await runtime.list_pod_sandboxes():
        await runtime.remove_pod_sandbox(sandbox.id)
    await runtime.close()
    for pid in list(runtime._spawned):  # shims are our children: reap them
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@pytest.fixture(params=KINDS)
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    kind = request.param
    bridge = f"kym{secrets.token_hex(4)}"
    cgroups = None
    if kind == "host-network":
        runtime = ProcessRuntime(state_dir=tmp_path / "state", network=None)
    elif kind == "pod-network":
        if not PodNetwork.available():
            pytest.skip("no pod network on this machine")
        cgroups = CgroupManager.detect()
        network = PodNetwork(state_dir=tmp_path / "network", bridge=bridge)
        runtime = ProcessRuntime(state_dir=tmp_path / "state", network=network, cgroups=cgroups)
    else:
        if not RootlessNetwork.available():
            pytest.skip("needs unshare, nsenter and user namespaces")
        runtime = open_process_runtime(state_dir=tmp_path / "state", rootless_network=True)
    await runtime.start()
    try:
        yield runtime
    finally:
        await cleanup(runtime)
        if cgroups is not None:
            cgroups.remove_parent()
        if kind == "pod-network":
            subprocess.run(["ip", "link", "delete", bridge], stderr=subprocess.DEVNULL, check=False)


@pytest.fixture
def host_root() -> Iterator[Path]:
    """A path under ``/`` that does not exist: where the container's volumes go."""
    root = Path(f"/kuberya-test-{secrets.token_hex(4)}")
    assert not root.exists()
    try:
        yield root
    finally:
        if root.exists():  # a failed test: clean up, then let the assertion in the test speak
            shutil.rmtree(root, ignore_errors=True)


def sandbox_config(name: str) -> SandboxConfig:
    return SandboxConfig(
        pod_uid=f"{name}-{secrets.token_hex(4)}", name=name, namespace="default", hostname=name,
        container_ports=(8080,),
    )  # fmt: skip


def container(tmp_path: Path, script: str, mounts: tuple[Mount, ...], name: str = "app") -> ContainerConfig:
    return ContainerConfig(
        name=name,
        image="payment:v1",
        command=("sh", "-c", script),
        env=(),
        log_path=tmp_path / "logs" / f"{name}-{secrets.token_hex(3)}.log",
        mounts=mounts,
    )


async def log_lines(path: Path, until: str, timeout: float = 10.0) -> list[str]:
    """The container's log lines once one of them is ``until``."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [parse_cri_line(line).text.decode() for line in path.read_bytes().splitlines()]
            if until in lines:
                return lines
        await asyncio.sleep(0.02)
    raise AssertionError(f"{until!r} not logged in {timeout}s: {lines}")


async def test_volumes_are_at_their_mount_paths_read_only_ones_too_and_nothing_is_left(
    runtime: ProcessRuntime, tmp_path: Path, host_root: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "hello").write_text("from the volume\n")
    config_file = tmp_path / "app.conf"
    config_file.write_text("level=debug\n")
    data, conf = f"{host_root}/data", f"{host_root}/etc/app.conf"
    script = (
        f"cat {data}/hello {conf}; echo written > {data}/out; "
        f"if echo x 2>/dev/null > {conf}; then echo ro-writable; else echo ro-refused; fi; echo done; sleep 60"
    )
    mounts = (Mount(volume, data), Mount(config_file, conf, read_only=True))
    sandbox = await runtime.run_pod_sandbox(sandbox_config("mounts"))
    config = container(tmp_path, script, mounts)
    container_id = await runtime.create_container(sandbox.id, config)
    await runtime.start_container(container_id)

    lines = await log_lines(config.log_path, "done")
    assert lines == ["from the volume", "level=debug", "ro-refused", "done"]
    assert (volume / "out").read_text() == "written\n"  # the write went into the volume
    assert config_file.read_text() == "level=debug\n"
    # On the host, the mount points alone: empty, and no bind reached the host's table.
    assert sorted(p.name for p in host_root.iterdir()) == ["data", "etc"]
    assert list(Path(data).iterdir()) == [] and Path(conf).read_bytes() == b""

    # exec joins the container's mount namespace: it sees the same.
    code, output = await runtime.exec_sync(container_id, ["sh", "-c", f"cat {data}/out {conf}"], timeout=10)
    assert (code, output) == (0, b"written\nlevel=debug\n")
    code, _ = await runtime.exec_sync(container_id, ["sh", "-c", f"echo x > {conf}"], timeout=10)
    assert code != 0
    assert config_file.read_text() == "level=debug\n"

    await runtime.remove_pod_sandbox(sandbox.id)
    assert not host_root.exists()  # every mount point the runtime made is gone
    assert (volume / "hello").exists() and config_file.exists()  # the volumes themselves stay


async def test_a_volume_inside_a_volume_and_a_mount_point_two_containers_share(
    runtime: ProcessRuntime, tmp_path: Path, host_root: Path
) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "inner"
    outer.mkdir()
    inner.mkdir()
    (inner / "file").write_text("inner\n")
    data = f"{host_root}/data"
    # The deeper one first, as a pod may list them: parents are bound first all the same.
    mounts = (Mount(inner, f"{data}/logs"), Mount(outer, data))
    sandbox = await runtime.run_pod_sandbox(sandbox_config("nested"))
    first = container(tmp_path, f"cat {data}/logs/file; echo done; sleep 60", mounts, name="first")
    second = container(tmp_path, f"cat {data}/logs/file; echo done; sleep 60", mounts, name="second")
    first_id = await runtime.create_container(sandbox.id, first)
    await runtime.start_container(first_id)
    second_id = await runtime.create_container(sandbox.id, second)
    await runtime.start_container(second_id)
    assert await log_lines(first.log_path, "done") == ["inner", "done"]
    assert await log_lines(second.log_path, "done") == ["inner", "done"]
    # The inner mount point was made inside the outer volume, as runc makes it.
    assert (outer / "logs").is_dir() and list(host_root.iterdir()) == [Path(data)]

    # The first one goes: the mount points stay while the second still uses them.
    await runtime.remove_container(first_id)
    assert Path(data).is_dir() and (outer / "logs").is_dir()
    code, output = await runtime.exec_sync(second_id, ["cat", f"{data}/logs/file"], timeout=10)
    assert (code, output) == (0, b"inner\n")

    await runtime.remove_container(second_id)
    assert not host_root.exists() and list(outer.iterdir()) == []


async def test_a_mount_point_with_data_in_it_is_kept(runtime: ProcessRuntime, tmp_path: Path, host_root: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    sandbox = await runtime.run_pod_sandbox(sandbox_config("keep"))
    config = container(tmp_path, "echo done; sleep 60", (Mount(volume, f"{host_root}/data"),))
    container_id = await runtime.create_container(sandbox.id, config)
    await runtime.start_container(container_id)
    await log_lines(config.log_path, "done")
    (host_root / "mine").write_text("a user's file\n")  # on the host, beside the mount point
    await runtime.remove_container(container_id)
    assert sorted(p.name for p in host_root.iterdir()) == ["mine"]  # the empty mount point went, not this


async def test_a_volume_that_cannot_be_mounted_fails_the_start_and_says_why(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    """As runc fails on a mount: the container must not write its data at the host's path instead."""
    missing = tmp_path / "never-made"
    sandbox = await runtime.run_pod_sandbox(sandbox_config("missing"))
    config = container(tmp_path, "echo ran; sleep 60", (Mount(missing, "/kuberya-test-never/data"),))
    container_id = await runtime.create_container(sandbox.id, config)
    with pytest.raises(RuntimeError_, match=r"the volume for /kuberya-test-never/data is missing on the host"):
        await runtime.start_container(container_id)
    status = await runtime.container_status(container_id)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.EXITED, "ContainerCannotRun", 128)
    assert not config.log_path.exists() or b"ran" not in config.log_path.read_bytes()
    assert not Path("/kuberya-test-never").exists()
