import asyncio
import os
import shutil
from pathlib import Path

import pytest

from kuberya.runtime import RUNTIMES, UnknownRuntimeError, default_runtime_name, open_runtime
from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    NotFoundError,
    RuntimeError_,
    SandboxConfig,
)
from kuberya.runtime.crilog import parse_cri_line
from kuberya.runtime.fake import FakeRuntime
from kuberya.runtime.runc import RuncRuntime


def sandbox_config(name: str = "web", *, host_network: bool = False) -> SandboxConfig:
    return SandboxConfig(
        pod_uid=f"uid-{name}", name=name, namespace="default", hostname=name, host_network=host_network
    )


def container_config(tmp_path: Path, name: str = "app") -> ContainerConfig:
    return ContainerConfig(
        name=name,
        image="payment:v1",
        command=("python3", "-m", "http.server"),
        env=(),
        log_path=tmp_path / f"{name}.log",
    )


async def running(fake: FakeRuntime, tmp_path: Path) -> tuple[str, str]:
    sandbox = await fake.run_pod_sandbox(sandbox_config())
    cid = await fake.create_container(sandbox.id, container_config(tmp_path))
    await fake.start_container(cid)
    return sandbox.id, cid


async def test_lifecycle_records_calls_and_emits_events(tmp_path: Path) -> None:
    fake = FakeRuntime(clock=lambda: 1000.0)
    events = fake.events()  # subscribed now: nothing emitted before the first read is lost
    await fake.start()
    sid, cid = await running(fake, tmp_path)
    status = await fake.container_status(cid)
    assert (status.state, status.started_at, status.image_id) == (ContainerState.RUNNING, 1000.0, "fake://payment:v1")
    fake.exit_container(cid, 3)
    status = await fake.container_status(cid)
    assert (status.state, status.exit_code, status.reason, status.pid) == (ContainerState.EXITED, 3, "Error", None)
    assert [await anext(events) for _ in range(3)] == [
        ContainerEvent(cid, sid, ContainerState.CREATED),
        ContainerEvent(cid, sid, ContainerState.RUNNING),
        ContainerEvent(cid, sid, ContainerState.EXITED),
    ]
    assert fake.call_names() == [
        "start",
        "run_pod_sandbox",
        "create_container",
        "start_container",
        "container_status",
        "container_status",
    ]
    await fake.close()
    with pytest.raises(StopAsyncIteration):
        await anext(events)


async def test_sandbox_addresses(tmp_path: Path) -> None:
    fake = FakeRuntime()
    a = await fake.run_pod_sandbox(sandbox_config("a"))
    b = await fake.run_pod_sandbox(sandbox_config("b"))
    host = await fake.run_pod_sandbox(sandbox_config("h", host_network=True))
    assert a.ip != b.ip and a.ip is not None and a.ip.startswith("10.88.")
    assert (host.ip, host.netns_path) == ("127.0.0.1", None)
    assert {s.id for s in await fake.list_pod_sandboxes()} == {a.id, b.id, host.id}


async def test_exit_reasons(tmp_path: Path) -> None:
    fake = FakeRuntime()
    _, cid = await running(fake, tmp_path)
    fake.exit_container(cid, 0)
    assert (await fake.container_status(cid)).reason == "Completed"
    with pytest.raises(RuntimeError_):
        fake.exit_container(cid, 1)
    _, oom = await running(fake, tmp_path)
    fake.exit_container(oom, 137, "OOMKilled")
    assert (await fake.container_status(oom)).reason == "OOMKilled"


async def test_stop_container_semantics(tmp_path: Path) -> None:
    fake = FakeRuntime()
    _, polite = await running(fake, tmp_path)
    await fake.stop_container(polite, timeout=30)
    assert (await fake.container_status(polite)).exit_code == 143
    _, stubborn = await running(fake, tmp_path)
    fake.set_stop_result(stubborn, ignore_signal=True)
    await fake.stop_container(stubborn, timeout=1)
    assert (await fake.container_status(stubborn)).exit_code == 137
    _, graceful = await running(fake, tmp_path)
    fake.set_stop_result(graceful, exit_code=0)
    await fake.stop_container(graceful, timeout=1)
    assert (await fake.container_status(graceful)).reason == "Completed"
    await fake.stop_container(graceful, timeout=1)  # already exited: no-op


async def test_stop_and_remove_sandbox(tmp_path: Path) -> None:
    fake = FakeRuntime()
    sid, cid = await running(fake, tmp_path)
    await fake.stop_pod_sandbox(sid)
    assert (await fake.container_status(cid)).exit_code == 137
    assert not (await fake.list_pod_sandboxes())[0].ready
    with pytest.raises(RuntimeError_, match="stopped"):
        await fake.create_container(sid, container_config(tmp_path))
    await fake.remove_pod_sandbox(sid)
    await fake.remove_pod_sandbox(sid)  # idempotent
    await fake.remove_container(cid)
    assert await fake.list_containers() == []
    with pytest.raises(NotFoundError):
        await fake.container_status(cid)


async def test_remove_running_container_kills_it(tmp_path: Path) -> None:
    fake = FakeRuntime()
    _, cid = await running(fake, tmp_path)
    events = fake.events()
    await fake.remove_container(cid)
    assert (await anext(events)).state is ContainerState.EXITED
    assert fake.container_ids() == []


async def test_start_failure(tmp_path: Path) -> None:
    fake = FakeRuntime()
    sandbox = await fake.run_pod_sandbox(sandbox_config())
    cid = await fake.create_container(sandbox.id, container_config(tmp_path))
    fake.fail_start("app", "exec: no such file")
    with pytest.raises(RuntimeError_, match="no such file"):
        await fake.start_container(cid)
    status = await fake.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.EXITED, "ContainerCannotRun", 128)


async def test_injected_failure(tmp_path: Path) -> None:
    fake = FakeRuntime()
    fake.fail("run_pod_sandbox", RuntimeError_("no IPs left"))
    with pytest.raises(RuntimeError_, match="no IPs"):
        await fake.run_pod_sandbox(sandbox_config())
    await fake.run_pod_sandbox(sandbox_config())


async def test_exec_sync(tmp_path: Path) -> None:
    fake = FakeRuntime()
    _, cid = await running(fake, tmp_path)
    assert await fake.exec_sync(cid, ["true"], timeout=1) == (0, b"")
    fake.set_exec_result(["cat", "/ready"], exit_code=1, output=b"no")
    fake.set_exec_result(["slow"], timed_out=True, container_id=cid)
    assert await fake.exec_sync(cid, ["cat", "/ready"], timeout=1) == (1, b"no")
    assert (await fake.exec_sync(cid, ["slow"], timeout=1))[0] == -1
    fake.exit_container(cid, 0)
    with pytest.raises(RuntimeError_, match="running"):
        await fake.exec_sync(cid, ["true"], timeout=1)


async def test_exec_session(tmp_path: Path) -> None:
    fake = FakeRuntime()
    _, cid = await running(fake, tmp_path)
    fake.script_exec(["ls"], stdout=[b"a\n", b"b\n"], stderr=[b"warn\n"], exit_code=2)
    session = await fake.exec(cid, ["ls"], tty=False, stdin=False)
    assert [c async for c in session.stdout()] == [b"a\n", b"b\n"]
    assert [c async for c in session.stderr()] == [b"warn\n"]
    assert await session.wait() == 2

    fake.script_exec(["sh"], exit_code=None, echo_stdin=True)
    shell = await fake.exec(cid, ["sh"], tty=True, stdin=True)
    await shell.write_stdin(b"echo hi\n")
    await shell.resize(width=80, height=24)
    out = shell.stdout()
    assert await anext(out) == b"echo hi\n"
    waiter = asyncio.ensure_future(shell.wait())
    fake.exec_sessions[-1].finish(0)
    assert await waiter == 0
    assert fake.exec_sessions[-1].stdin == b"echo hi\n" and fake.exec_sessions[-1].resizes == [(80, 24)]


async def test_usage_and_logs(tmp_path: Path) -> None:
    fake = FakeRuntime(clock=lambda: 1767323045.5)
    sid, cid = await running(fake, tmp_path)
    assert await fake.sandbox_usage(sid) is None
    fake.set_usage(sid, cpu_seconds=1.5, memory_bytes=10 << 20)
    usage = await fake.sandbox_usage(sid)
    assert usage is not None and usage.memory_working_set_bytes == 10 << 20
    fake.write_log(cid, "hello\nworld\n", stream="stderr")
    lines = (tmp_path / "app.log").read_bytes().splitlines()
    assert lines[0] == b"2026-01-02T03:04:05.500000000Z stderr F hello"
    assert parse_cri_line(lines[1]).text == b"world"


def test_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "runc" if shutil.which("runc") and os.geteuid() == 0 else "process"
    assert default_runtime_name() == expected
    assert "fake" not in RUNTIMES, "the production registry holds no test double"
    monkeypatch.setitem(RUNTIMES, "fake", "kuberya.runtime.fake:FakeRuntime")
    assert isinstance(open_runtime("fake", state_dir=tmp_path), FakeRuntime)
    if shutil.which("runc"):
        assert isinstance(open_runtime("runc", state_dir=tmp_path), RuncRuntime)
    with pytest.raises(UnknownRuntimeError, match="expected one of"):
        open_runtime("docker", state_dir=tmp_path)
