"""The process runtime with real processes: shims, CRI logs, exit codes, exec, re-adoption.

As root, pods also get their own network namespace on a bridge private to the test (a unique
name, so a kuberya running on this machine is never touched) and their own cgroups. Traffic only
ever goes to pod IPs these tests created. Every fixture removes its sandboxes, namespaces, links
and cgroups even when the test fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    Resources,
    RuntimeError_,
    SandboxConfig,
)
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.crilog import parse_cri_line
from kuberya.runtime.network import NETNS_DIR, NETNS_PREFIX, PodNetwork
from kuberya.runtime.process import ProcessRuntime

ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not ROOT or not PodNetwork.available(), reason="pod networks and cgroups need root")


def sandbox_config(name: str = "web") -> SandboxConfig:
    return SandboxConfig(pod_uid=f"{name}-{secrets.token_hex(4)}", name=name, namespace="default", hostname=name)


def container_config(tmp_path: Path, *command: str, name: str = "app", **extra: object) -> ContainerConfig:
    return ContainerConfig(
        name=name,
        image="payment:v1",
        command=command,
        env=(("GREETING", "hello"),),
        log_path=tmp_path / "logs" / f"{name}-{secrets.token_hex(3)}.log",
        **extra,  # type: ignore[arg-type]
    )


async def cleanup(runtime: ProcessRuntime) -> None:
    for sandbox in await runtime.list_pod_sandboxes():
        await runtime.remove_pod_sandbox(sandbox.id)
    await runtime.close()
    for pid in list(runtime._spawned):  # shims are our children: reap them
        with_timeout_reap(pid)


def with_timeout_reap(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    """Host network, no cgroups: what a non-root user gets."""
    runtime = ProcessRuntime(state_dir=tmp_path / "state", network=None)
    await runtime.start()
    try:
        yield runtime
    finally:
        await cleanup(runtime)


@pytest.fixture
async def pod_runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    """As root: a pod network on a bridge of the test's own, and pod cgroups."""
    bridge = f"kyt{secrets.token_hex(4)}"
    cgroups = CgroupManager.detect()
    network = PodNetwork(state_dir=tmp_path / "network", bridge=bridge)
    runtime = ProcessRuntime(state_dir=tmp_path / "state", network=network, cgroups=cgroups)
    await runtime.start()
    try:
        yield runtime
    finally:
        await cleanup(runtime)
        if cgroups is not None:
            cgroups.remove_parent()
        subprocess.run(["ip", "link", "delete", bridge], stderr=subprocess.DEVNULL, check=False)


async def started(runtime: ProcessRuntime, sandbox_id: str, config: ContainerConfig) -> str:
    container_id = await runtime.create_container(sandbox_id, config)
    await runtime.start_container(container_id)
    return container_id


async def wait_exited(runtime: ProcessRuntime, container_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (await runtime.container_status(container_id)).state is not ContainerState.EXITED:
        assert time.monotonic() < deadline, f"container {container_id} still running"
        await asyncio.sleep(0.02)


async def next_event(events: AsyncIterator[ContainerEvent], match: Callable[[ContainerEvent], bool]) -> ContainerEvent:
    async def find() -> ContainerEvent:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(find(), 10)


def log_records(path: Path) -> list[tuple[str, bool, bytes]]:
    return [(r.stream, r.partial, r.text) for r in map(parse_cri_line, path.read_bytes().splitlines())]


async def test_logs_exit_codes_and_events(runtime: ProcessRuntime, tmp_path: Path) -> None:
    events = runtime.events()
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    assert (sandbox.ip, sandbox.netns_path) == ("127.0.0.1", None)
    config = container_config(tmp_path, "sh", "-c", 'echo "$GREETING"; echo oops >&2; printf tail; exit 3')
    failing = await started(runtime, sandbox.id, config)
    exited = await next_event(events, lambda e: e.container_id == failing and e.state is ContainerState.EXITED)
    assert exited.sandbox_id == sandbox.id
    status = await runtime.container_status(failing)
    assert (status.exit_code, status.reason, status.image_id) == (3, "Error", "process://payment:v1")
    assert status.started_at is not None and status.finished_at is not None
    assert status.finished_at >= status.started_at
    records = log_records(config.log_path)
    assert sorted(records) == sorted(
        [("stdout", False, b"hello"), ("stderr", False, b"oops"), ("stdout", False, b"tail")]
    )
    stamp = config.log_path.read_bytes().split(b" ", 1)[0]
    assert len(stamp) == len(b"2026-01-02T03:04:05.123456789Z") and stamp.endswith(b"Z")

    ok = await started(runtime, sandbox.id, container_config(tmp_path, "true"))
    await wait_exited(runtime, ok)
    assert ((await runtime.container_status(ok)).exit_code, (await runtime.container_status(ok)).reason) == (
        0,
        "Completed",
    )
    killed = await started(runtime, sandbox.id, container_config(tmp_path, "sh", "-c", "kill -9 $$"))
    await wait_exited(runtime, killed)
    assert (await runtime.container_status(killed)).exit_code == 137
    assert {c.id for c in await runtime.list_containers(sandbox.id)} == {failing, ok, killed}


async def test_long_lines_are_split_into_partial_records(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    script = "import sys; sys.stdout.write('x' * 40000 + '\\nshort\\n')"
    config = container_config(tmp_path, sys.executable, "-c", script)
    container_id = await started(runtime, sandbox.id, config)
    await wait_exited(runtime, container_id)
    records = log_records(config.log_path)
    assert [(stream, partial, len(text)) for stream, partial, text in records] == [
        ("stdout", True, 16384),
        ("stdout", True, 16384),
        ("stdout", False, 40000 - 2 * 16384),
        ("stdout", False, 5),
    ]


async def test_start_failure_is_reported(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    container_id = await runtime.create_container(sandbox.id, container_config(tmp_path, "no-such-command-kuberya"))
    with pytest.raises(RuntimeError_, match="no-such-command-kuberya"):
        await runtime.start_container(container_id)
    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "ContainerCannotRun")
    assert "not found" in status.message


async def test_stop_with_grace_then_sigkill(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    polite = await started(
        runtime, sandbox.id, container_config(tmp_path, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")
    )
    stubborn = await started(
        runtime, sandbox.id, container_config(tmp_path, "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done")
    )
    await asyncio.sleep(0.1)  # let the shells install their traps
    begin = time.monotonic()
    await runtime.stop_container(polite, timeout=5)
    assert time.monotonic() - begin < 2
    assert (await runtime.container_status(polite)).exit_code == 0
    begin = time.monotonic()
    await runtime.stop_container(stubborn, timeout=0.5)
    assert time.monotonic() - begin >= 0.5
    status = await runtime.container_status(stubborn)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 137, "Error")
    await runtime.stop_container(stubborn, timeout=1)  # already exited: returns at once


async def test_exec_sync(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    workdir = tmp_path / "work"
    workdir.mkdir()
    container_id = await started(
        runtime, sandbox.id, container_config(tmp_path, "sleep", "30", working_dir=str(workdir))
    )
    code, output = await runtime.exec_sync(container_id, ["sh", "-c", 'echo "$GREETING $PWD"; exit 5'], timeout=5)
    assert (code, output) == (5, f"hello {workdir}\n".encode())
    begin = time.monotonic()
    code, _ = await runtime.exec_sync(container_id, ["sleep", "10"], timeout=0.3)
    assert code == -1 and time.monotonic() - begin < 3
    assert (await runtime.exec_sync(container_id, ["no-such-command-kuberya"], timeout=5))[0] == 127


async def test_exec_with_tty(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    container_id = await started(runtime, sandbox.id, container_config(tmp_path, "sleep", "30"))
    session = await runtime.exec(container_id, ["sh"], tty=True, stdin=True)
    try:
        await session.resize(width=100, height=40)
        await session.write_stdin(b"tty; stty size; exit 7\n")
        output = b""
        stdout = session.stdout()
        while b"40 100" not in output:
            output += await asyncio.wait_for(anext(stdout), 5)
        assert b"/dev/pts/" in output
        assert await asyncio.wait_for(session.wait(), 5) == 7
    finally:
        await session.kill()
        session.close()  # type: ignore[attr-defined]

    piped = await runtime.exec(container_id, ["sh", "-c", "cat; echo done >&2"], tty=False, stdin=True)
    await piped.write_stdin(b"ping\n")
    await piped.close_stdin()
    assert b"".join([c async for c in piped.stdout()]) == b"ping\n"
    assert b"".join([c async for c in piped.stderr()]) == b"done\n"
    assert await piped.wait() == 0


async def test_log_reopened_after_rotation(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    go = tmp_path / "go"
    script = f"echo before; while [ ! -e {go} ]; do sleep 0.02; done; echo after"
    config = container_config(tmp_path, "sh", "-c", script)
    container_id = await started(runtime, sandbox.id, config)
    deadline = time.monotonic() + 5
    while not config.log_path.exists() or b"before" not in config.log_path.read_bytes():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    rotated = config.log_path.with_suffix(".log.1")
    config.log_path.rename(rotated)
    started_record = (runtime.state_dir / "containers" / container_id / "started.json").read_text()
    shim_pid = int(started_record.split('"shim_pid": ')[1].split(",")[0])
    os.kill(shim_pid, signal.SIGHUP)
    await asyncio.sleep(0.05)
    go.touch()
    await wait_exited(runtime, container_id)
    assert log_records(rotated) == [("stdout", False, b"before")]
    assert log_records(config.log_path) == [("stdout", False, b"after")]


async def test_a_new_runtime_adopts_running_containers(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    go = tmp_path / "go"
    first = ProcessRuntime(state_dir=state_dir, network=None)
    await first.start()
    second = ProcessRuntime(state_dir=state_dir, network=None)
    try:
        sandbox = await first.run_pod_sandbox(sandbox_config())
        script = f"while [ ! -e {go} ]; do sleep 0.02; done; exit 4"
        container_id = await started(first, sandbox.id, container_config(tmp_path, "sh", "-c", script))
        await first.close()  # the agent goes away; the container does not

        await second.start()
        assert [s.id for s in await second.list_pod_sandboxes()] == [sandbox.id]
        status = await second.container_status(container_id)
        assert status.state is ContainerState.RUNNING and status.pid is not None
        events = second.events()
        go.touch()
        await next_event(events, lambda e: e.container_id == container_id and e.state is ContainerState.EXITED)
        status = await second.container_status(container_id)
        assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 4, "Error")
    finally:
        go.touch()
        await cleanup(second)
        for pid in list(first._spawned):
            with_timeout_reap(pid)


async def test_http_server_on_the_host_network_and_usage(runtime: ProcessRuntime, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "index.html").write_text("hello from the pod")
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    command = ("python3", "-m", "http.server", str(port), "--bind", "127.0.0.1")
    await started(runtime, sandbox.id, container_config(tmp_path, *command, working_dir=str(tmp_path)))
    assert await fetch(f"http://127.0.0.1:{port}/index.html") == "hello from the pod"
    usage = await runtime.sandbox_usage(sandbox.id)
    assert usage is not None and usage.memory_working_set_bytes > 1 << 20 and usage.cpu_usage_seconds > 0


async def fetch(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@root_only
async def test_pods_get_their_own_ips_and_are_cleaned_up(pod_runtime: ProcessRuntime, tmp_path: Path) -> None:
    network = pod_runtime.network
    assert network is not None
    sandboxes = []
    for name in ("alpha", "beta"):
        root = tmp_path / name
        root.mkdir()
        (root / "index.html").write_text(f"I am {name}")
        sandbox = await pod_runtime.run_pod_sandbox(sandbox_config(name))
        command = ("python3", "-m", "http.server", "8080")
        await started(pod_runtime, sandbox.id, container_config(tmp_path, *command, working_dir=str(root)))
        sandboxes.append(sandbox)
    ips = [s.ip for s in sandboxes]
    assert len(set(ips)) == 2
    import ipaddress

    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(network.subnet) for ip in ips if ip)
    if network.subnet == "10.88.0.0/16":
        assert all(ip and ip.startswith("10.88.") for ip in ips)
    for name, sandbox in zip(("alpha", "beta"), sandboxes, strict=True):
        assert await fetch(f"http://{sandbox.ip}:8080/index.html") == f"I am {name}"
        assert sandbox.netns_path is not None and Path(sandbox.netns_path).exists()
    veths = subprocess.run(
        ["ip", "-o", "link", "show", "master", network.bridge], capture_output=True, text=True, check=True
    ).stdout
    assert veths.count("veth") == 2
    usage = await pod_runtime.sandbox_usage(sandboxes[0].id)
    assert usage is not None and usage.memory_working_set_bytes > 0

    cgroup_dirs = [Path(p) for s in sandboxes for p in pod_runtime._sandboxes[s.id].cgroup["paths"].values()]  # type: ignore[index]
    assert all(d.is_dir() for d in cgroup_dirs)
    for sandbox in sandboxes:
        await pod_runtime.remove_pod_sandbox(sandbox.id)
    assert not [
        p for p in NETNS_DIR.glob(NETNS_PREFIX + "*") if p.name[len(NETNS_PREFIX) :] in {s.id for s in sandboxes}
    ]
    veths = subprocess.run(
        ["ip", "-o", "link", "show", "master", network.bridge], capture_output=True, text=True
    ).stdout
    assert "veth" not in veths
    assert not any(d.exists() for d in cgroup_dirs)


@root_only
async def test_cgroup_limits_and_oom(pod_runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await pod_runtime.run_pod_sandbox(sandbox_config("oom"))
    limits = Resources(cpu_request_millis=250, cpu_limit_millis=500, memory_limit_bytes=64 << 20)
    hog = "b = bytearray(512 << 20); b[::4096] = b'x' * len(b[::4096])"
    config = container_config(tmp_path, sys.executable, "-c", f"import time; time.sleep(0.3); {hog}", resources=limits)
    container_id = await started(pod_runtime, sandbox.id, config)
    cgroup = pod_runtime._sandboxes[sandbox.id].pod_cgroup
    assert cgroup is not None
    if cgroup.version == 1:
        assert Path(cgroup.paths["cpu"], "cpu.shares").read_text().strip() == "256"
        assert Path(cgroup.paths["cpu"], "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert Path(cgroup.paths["memory"], "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    await wait_exited(pod_runtime, container_id, timeout=20)
    status = await pod_runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


@root_only
async def test_run_as_user_and_group(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config())
    (tmp_path / "logs").mkdir(mode=0o755, exist_ok=True)
    config = container_config(
        tmp_path, "sh", "-c", "echo $(id -u):$(id -g):$(id -G)", run_as_user=65534, run_as_group=65534
    )
    container_id = await started(runtime, sandbox.id, config)
    await wait_exited(runtime, container_id)
    assert log_records(config.log_path) == [("stdout", False, b"65534:65534:65534")]


# ---- the pod's /etc/hosts, /etc/resolv.conf and hostname ------------------------------------------

POD_FILES_SCRIPT = "hostname; cat /etc/hostname /etc/resolv.conf /etc/hosts; pwd"


@root_only
async def test_a_pod_with_its_own_network_sees_its_own_files_and_hostname(
    pod_runtime: ProcessRuntime, tmp_path: Path
) -> None:
    host_files = {path: Path(path).read_bytes() for path in ("/etc/hosts", "/etc/resolv.conf")}
    config = SandboxConfig(
        pod_uid=f"dns-{secrets.token_hex(4)}", name="payment-7d9f", namespace="shop", hostname="payment-7d9f",
        dns_nameservers=("10.96.0.10",), dns_searches=("shop.svc.cluster.local", "svc.cluster.local"),
        dns_options=("ndots:5",),
    )  # fmt: skip
    sandbox = await pod_runtime.run_pod_sandbox(config)
    assert sandbox.ip is not None
    work = tmp_path / "work"
    work.mkdir()
    command = ("sh", "-c", POD_FILES_SCRIPT + "; sleep 60")
    container = container_config(tmp_path, *command, working_dir=str(work))
    log_path = container.log_path
    container_id = await started(pod_runtime, sandbox.id, container)
    expected = [
        "payment-7d9f",
        "payment-7d9f",
        "nameserver 10.96.0.10",
        "search shop.svc.cluster.local svc.cluster.local",
        "options ndots:5",
    ]
    deadline = time.monotonic() + 10
    # The script's last line is its working directory: wait for it, not for a count of lines.
    while time.monotonic() < deadline:
        lines = [text.decode() for _, _, text in log_records(log_path)] if log_path.exists() else []
        if lines and lines[-1] == str(work):
            break
        await asyncio.sleep(0.02)
    assert lines[:5] == expected
    assert f"{sandbox.ip}\tpayment-7d9f" in lines and lines[-1] == str(work)

    # exec (and so exec probes) joins the container's namespaces: the same files, hostname and cwd.
    code, output = await pod_runtime.exec_sync(container_id, ["sh", "-c", POD_FILES_SCRIPT], timeout=10)
    assert code == 0 and output.decode().splitlines() == lines

    # Only the container sees them: the host's files are untouched.
    assert {path: Path(path).read_bytes() for path in host_files} == host_files
    assert socket.gethostname() != "payment-7d9f"


async def test_a_host_network_pod_keeps_the_hosts_files(runtime: ProcessRuntime, tmp_path: Path) -> None:
    config = SandboxConfig(
        pod_uid=f"hostnet-{secrets.token_hex(4)}", name="agent", namespace="default", hostname="agent",
        dns_nameservers=("10.96.0.10",), host_network=True,
    )  # fmt: skip
    sandbox = await runtime.run_pod_sandbox(config)
    container_id = await started(runtime, sandbox.id, container_config(tmp_path, "sleep", "60"))
    code, output = await runtime.exec_sync(container_id, ["cat", "/etc/resolv.conf"], timeout=10)
    assert (code, output) == (0, Path("/etc/resolv.conf").read_bytes())


@root_only
async def test_a_containers_mounts_let_go_of_what_the_host_unmounts(
    pod_runtime: ProcessRuntime, tmp_path: Path
) -> None:
    """The container's mount table is a slave of the host's: another pod's netns entry does not outlive that pod."""
    other = await pod_runtime.run_pod_sandbox(sandbox_config("other"))
    assert other.netns_path is not None
    sandbox = await pod_runtime.run_pod_sandbox(sandbox_config("web"))
    container_id = await started(pod_runtime, sandbox.id, container_config(tmp_path, "sleep", "60"))
    pid = (await pod_runtime.container_status(container_id)).pid
    mountinfo = Path(f"/proc/{pid}/mountinfo")
    entry = f"/netns/{Path(other.netns_path).name} "  # /var/run is /run: match the name
    assert entry in mountinfo.read_text()  # a copy of the host's table, made at its start
    await pod_runtime.remove_pod_sandbox(other.id)
    assert not Path(other.netns_path).exists()
    assert entry not in mountinfo.read_text()


def run_shim(directory: Path, spec: Mapping[str, object]) -> dict[str, object]:
    """Run the real shim on ``spec`` to the end; its started.json."""
    import json
    import marshal

    from kuberya.runtime.supervised import SHIM_LAUNCHER

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "shim.spec").write_bytes(marshal.dumps(dict(spec)))
    subprocess.run([sys.executable, "-I", "-S", "-c", SHIM_LAUNCHER, str(directory)], check=True, timeout=30)
    started: dict[str, object] = json.loads((directory / "started.json").read_text())
    return started


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root (or a user namespace of the pod's)")
def test_the_shim_binds_over_a_symlinked_file_and_survives_what_it_cannot_bind(tmp_path: Path) -> None:
    """As over systemd-resolved's /etc/resolv.conf: the bind lands on the link's target, for the container only."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "stub-resolv.conf").write_text("nameserver 127.0.0.53\n")
    (etc / "resolv.conf").symlink_to("stub-resolv.conf")
    (etc / "gone").symlink_to("nowhere")
    pod = tmp_path / "pod-resolv.conf"
    pod.write_text("nameserver 10.96.0.10\n")
    log = tmp_path / "container.log"
    spec = {
        "argv": ["cat", str(etc / "resolv.conf"), str(etc / "stub-resolv.conf")],
        "env": {"PATH": "/usr/bin:/bin"},
        "cwd": "/",
        "log_path": str(log),
        "pod_files": [[str(pod), str(etc / "resolv.conf")], [str(pod), str(etc / "gone")]],
        "hostname": "pod",
    }
    started = run_shim(tmp_path / "shim", spec)
    assert [text for _, _, text in log_records(log)] == [b"nameserver 10.96.0.10"] * 2
    assert (etc / "resolv.conf").read_text() == "nameserver 127.0.0.53\n"  # the host's, as it was
    assert started["own_mounts"] is True
    assert str(etc / "gone") in str(started["mount_warning"])  # a dangling link: kept, and said
