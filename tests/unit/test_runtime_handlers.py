"""Several runtime handlers behind one runtime (HandlerRuntime), and the node agent running pods on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from kuberya import runtime as runtimes
from kuberya.client.resources import NODES, RUNTIMECLASSES
from kuberya.node.handlerstatus import runtime_handlers
from kuberya.runtime.base import ContainerConfig, ContainerEvent, ContainerState, NotFoundError, SandboxConfig
from kuberya.runtime.base import RuntimeError_ as RuntimeFailure
from kuberya.runtime.fake import FakeRuntime
from kuberya.runtime.handlers import HandlerRuntime, runtime_name_of
from tests.unit.test_node_support import NODE, Harness, pod


def two_fakes() -> tuple[FakeRuntime, FakeRuntime]:
    # The fake's ids are a counter: start the second one elsewhere, as real runtimes' random ids differ.
    return FakeRuntime(name="runc"), FakeRuntime(name="process", _next_id=100)


def sandbox(uid: str, handler: str = "") -> SandboxConfig:
    return SandboxConfig(pod_uid=uid, name=uid, namespace="default", hostname=uid, runtime_handler=handler)


def container(tmp_path: Path, name: str = "app") -> ContainerConfig:
    return ContainerConfig(name=name, image="busybox", command=("sleep", "1"), env=(), log_path=tmp_path / name)


async def started(runc: FakeRuntime, process: FakeRuntime, **kwargs: Any) -> HandlerRuntime:
    runtime = HandlerRuntime({"runc": runc, "process": process}, default="runc", **kwargs)
    await runtime.start()
    return runtime


async def test_each_sandbox_runs_with_its_handler_and_calls_follow_it(tmp_path: Path) -> None:
    runc, process = two_fakes()
    runtime = await started(runc, process)
    assert runtime.name == "runc" and runtime.handlers == {"runc", "process"}
    default = await runtime.run_pod_sandbox(sandbox("a"))
    other = await runtime.run_pod_sandbox(sandbox("b", "process"))
    assert (default.runtime_handler, other.runtime_handler) == ("runc", "process")
    assert [s.id for s in await runc.list_pod_sandboxes()] == [default.id]
    assert [s.id for s in await process.list_pod_sandboxes()] == [other.id]
    assert (runtime_name_of(runtime, default), runtime_name_of(runtime, other)) == ("runc", "process")

    cid = await runtime.create_container(other.id, container(tmp_path))
    await runtime.start_container(cid)
    assert cid in process.container_ids() and runc.container_ids() == []
    assert (await runtime.container_status(cid)).state is ContainerState.RUNNING
    process.set_exec_result(["date"], output=b"now", container_id=cid)
    assert await runtime.exec_sync(cid, ["date"], timeout=1) == (0, b"now")
    assert [c.id for c in await runtime.list_containers(other.id)] == [cid]
    assert [c.id for c in await runtime.list_containers()] == [cid]
    await runtime.stop_container(cid, timeout=1)
    assert (await process.container_status(cid)).exit_code == 143

    await runtime.stop_pod_sandbox(other.id)
    await runtime.remove_pod_sandbox(other.id)
    assert await process.list_pod_sandboxes() == []
    assert runtime_name_of(runtime, other) == "process"  # a removed pod's last status keeps its scheme
    with pytest.raises(NotFoundError):
        await runtime.container_status(cid)
    await runtime.remove_pod_sandbox(other.id)  # idempotent
    assert [s.id for s in await runtime.list_pod_sandboxes()] == [default.id]
    await runtime.close()
    assert runc.closed and process.closed


async def test_an_unknown_handler_is_refused_with_the_reason_it_is_missing() -> None:
    runc, process = two_fakes()
    runtime = await started(runc, process, unavailable={"kata": "kata needs a VM"})
    with pytest.raises(RuntimeFailure, match=r'no runtime for "kata" is configured \(kata needs a VM\)'):
        await runtime.run_pod_sandbox(sandbox("a", "kata"))
    with pytest.raises(RuntimeFailure, match=r'no runtime for "gvisor" is configured$'):
        await runtime.run_pod_sandbox(sandbox("a", "gvisor"))
    with pytest.raises(NotFoundError):
        await runtime.container_status("nobody")
    assert runc.calls == [c for c in runc.calls if c.method != "run_pod_sandbox"]
    await runtime.close()


async def test_events_of_every_handler_come_out_of_one_stream(tmp_path: Path) -> None:
    runc, process = two_fakes()
    runtime = await started(runc, process)
    events = runtime.events()
    box = await runtime.run_pod_sandbox(sandbox("b", "process"))
    cid = await runtime.create_container(box.id, container(tmp_path))
    await runtime.start_container(cid)
    process.exit_container(cid, 3)
    seen: list[ContainerEvent] = []
    async with asyncio.timeout(2):
        async for event in events:
            seen.append(event)
            if event.state is ContainerState.EXITED:
                break
    assert [e.state for e in seen] == [ContainerState.CREATED, ContainerState.RUNNING, ContainerState.EXITED]
    assert {(e.container_id, e.sandbox_id) for e in seen} == {(cid, box.id)}
    await runtime.close()


async def test_a_restarted_node_finds_the_sandboxes_of_both_handlers(tmp_path: Path) -> None:
    runc, process = two_fakes()
    first = await started(runc, process)
    a = await first.run_pod_sandbox(sandbox("a"))
    b = await first.run_pod_sandbox(sandbox("b", "process"))
    cid = await first.create_container(b.id, container(tmp_path))
    # A new HandlerRuntime over the same runtimes: what an agent restart sees.
    again = await started(runc, process)
    assert {(s.id, s.runtime_handler) for s in await again.list_pod_sandboxes()} == {
        (a.id, "runc"),
        (b.id, "process"),
    }
    assert again.handler_of_sandbox(b.id) == "process"
    assert (await again.container_status(cid)).sandbox_id == b.id
    await again.remove_container(cid)
    assert process.container_ids() == []
    await first.close()
    await again.close()


async def test_a_handler_that_cannot_start_is_unavailable_not_fatal() -> None:
    runc, process = two_fakes()
    process.fail("start", RuntimeFailure("no cgroups here"))
    runtime = await started(runc, process)
    assert runtime.handlers == {"runc"}
    assert runtime.unavailable == {"process": "it failed to start: no cgroups here"}
    await runtime.close()
    runc.fail("start", RuntimeFailure("broken"))
    with pytest.raises(RuntimeFailure, match="broken"):
        await HandlerRuntime({"runc": runc}, default="runc").start()


def test_the_default_must_be_one_of_the_handlers() -> None:
    with pytest.raises(RuntimeFailure, match="default runtime handler 'process'"):
        HandlerRuntime({"runc": FakeRuntime(name="runc")}, default="process")


def test_why_a_handler_is_unavailable_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: None)
    assert runtimes.handler_unavailable("runc") == "runc not found on PATH"
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(runtimes.os, "geteuid", lambda: 1000)
    assert runtimes.handler_unavailable("runc") == "runc needs root, running as uid 1000"
    monkeypatch.setattr(runtimes.os, "geteuid", lambda: 0)
    assert runtimes.handler_unavailable("runc") is None
    assert runtimes.handler_unavailable("process") is None
    assert runtimes.handler_unavailable("kata") == "unknown runtime 'kata'"


def test_node_status_names_the_default_then_each_handler() -> None:
    features = {"recursiveReadOnlyMounts": False, "userNamespaces": False}
    assert runtime_handlers({"runc", "process"}) == [
        {"name": "", "features": features},
        {"name": "process", "features": features},
        {"name": "runc", "features": features},
    ]


# ---- the node agent over two handlers ---------------------------------------------------------


def runtime_class(name: str, handler: str) -> dict[str, Any]:
    return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": handler}


@asynccontextmanager
async def agent_over(tmp_path: Path, runtime: HandlerRuntime) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    h.agent.runtime = runtime
    h.client.add(RUNTIMECLASSES, runtime_class("host", "process"))
    h.client.add(RUNTIMECLASSES, runtime_class("vm", "kata"))
    h.client.add(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}, "status": {}})
    task = asyncio.create_task(h.agent.run())
    await h.agent.ready.wait()
    await h.settle()
    try:
        yield h
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()  # the agent closes only a runtime it opened itself


async def test_a_pod_runs_with_its_class_handler_next_to_a_default_pod(tmp_path: Path) -> None:
    runc, process = two_fakes()
    runtime = HandlerRuntime({"runc": runc, "process": process}, default="runc")
    async with agent_over(tmp_path, runtime) as h:
        h.add_pod(pod("web"))
        h.add_pod(pod("host", runtimeClassName="host"))
        await h.settle()
        default_id = h.container(pod_name="web")["containerID"]
        host_id = h.container(pod_name="host")["containerID"]
        assert default_id == f"runc://{runc.container_ids()[0]}"
        assert host_id == f"process://{process.container_ids()[0]}"
        assert h.status("host")["phase"] == "Running"
        handlers = [c.args[0].runtime_handler for c in process.calls if c.method == "run_pod_sandbox"]
        assert handlers == ["process"]
        # Its exit (an event of the second handler) is seen and the container restarted there.
        process.exit_container(host_id.split("://")[1], 1)
        await h.settle()
        assert h.container(pod_name="host")["restartCount"] == 1
        assert len(process.container_ids()) == 2 and len(runc.container_ids()) == 1
        node = h.client.stored(NODES, NODE)
        assert node is not None
        assert [r["name"] for r in node["status"]["runtimeHandlers"]] == ["", "process", "runc"]


async def test_a_handler_this_machine_lacks_is_a_warning_with_the_reason(tmp_path: Path) -> None:
    runc, process = two_fakes()
    runtime = HandlerRuntime({"runc": runc, "process": process}, default="runc", unavailable={"kata": "no VMs"})
    async with agent_over(tmp_path, runtime) as h:
        h.add_pod(pod("web", runtimeClassName="vm"))
        await h.settle()
        assert h.status()["phase"] == "Pending"
        assert (
            "Warning",
            "FailedCreatePodSandBox",
            'Failed to create pod sandbox: failed to get sandbox runtime: no runtime for "kata" is configured (no VMs)',
        ) in h.events()
        assert [c for c in [*runc.calls, *process.calls] if c.method == "run_pod_sandbox"] == []
