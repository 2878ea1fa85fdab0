"""Probe state machines through the agent: readiness gating, liveness restarts, startup gating liveness."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_node_support import pod, running


def probed(**probes: Any) -> dict[str, Any]:
    return pod(containers=[{"name": "app", "image": "python:3", "command": ["serve"], **probes}])


def exec_probe(command: str, **fields: Any) -> dict[str, Any]:
    return {"exec": {"command": [command]}, "periodSeconds": 5, **fields}


def probe_calls(h: Any, command: str) -> int:
    return sum(1 for c in h.runtime.calls if c.method == "exec_sync" and c.args[1] == [command])


async def test_readiness_gates_ready(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.runtime.set_exec_result(["ready?"], exit_code=1, output=b"not yet\n")
        h.add_pod(probed(readinessProbe=exec_probe("ready?", failureThreshold=2)))
        await h.settle()
        cs = h.container()
        assert "running" in cs["state"] and cs["ready"] is False and cs["started"] is True
        assert h.condition("Ready")["status"] == "False"
        assert h.condition("ContainersReady")["reason"] == "ContainersNotReady"
        assert ("Warning", "Unhealthy", "Readiness probe failed: not yet") in h.events()
        h.runtime.set_exec_result(["ready?"], exit_code=0)
        await h.advance(5)
        assert h.container()["ready"] is True
        assert h.condition("Ready")["status"] == "True"
        h.runtime.set_exec_result(["ready?"], exit_code=1)
        await h.advance(5)
        assert h.container()["ready"] is True  # one failure is below the threshold
        await h.advance(5)
        assert h.container()["ready"] is False
        assert h.container()["restartCount"] == 0  # readiness never restarts


async def test_initial_delay_and_period(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(probed(readinessProbe=exec_probe("ready?", initialDelaySeconds=20, periodSeconds=10)))
        await h.settle()
        assert probe_calls(h, "ready?") == 0 and h.container()["ready"] is False
        await h.advance(19)
        assert probe_calls(h, "ready?") == 0
        await h.advance(1)
        assert probe_calls(h, "ready?") == 1 and h.container()["ready"] is True
        await h.advance(30, step=5)
        assert probe_calls(h, "ready?") == 4


async def test_liveness_failure_kills_and_restarts(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.runtime.set_exec_result(["alive?"], exit_code=0)
        h.add_pod(probed(livenessProbe=exec_probe("alive?", periodSeconds=10, failureThreshold=2)))
        await h.settle()
        first = h.running_id()
        h.runtime.set_exec_result(["alive?"], exit_code=1, output=b"boom")
        await h.advance(10)
        assert h.running_id() == first
        await h.advance(10)
        cs = h.container()
        assert cs["restartCount"] == 1 and "running" in cs["state"]
        assert cs["lastState"]["terminated"]["exitCode"] == 143  # SIGTERM
        events = h.events()
        assert ("Warning", "Unhealthy", "Liveness probe failed: boom") in events
        assert ("Normal", "Killing", "Container app failed liveness probe, will be restarted") in events
        stop = next(c for c in h.runtime.calls if c.method == "stop_container")
        assert stop.args[0] == first and stop.args[1] == 30  # the pod's grace period
        # the new instance is probed afresh
        h.runtime.set_exec_result(["alive?"], exit_code=0)
        await h.advance(30, step=10)
        assert h.container()["restartCount"] == 1


async def test_liveness_kill_under_never_does_not_restart(tmp_path: Path) -> None:
    body = probed(livenessProbe=exec_probe("alive?", failureThreshold=1))
    body["spec"]["restartPolicy"] = "Never"
    async with running(tmp_path) as h:
        h.runtime.set_exec_result(["alive?"], exit_code=1)
        h.add_pod(body)
        await h.settle()
        assert h.status()["phase"] == "Failed"
        assert h.container()["restartCount"] == 0


async def test_startup_probe_gates_liveness_and_readiness(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.runtime.set_exec_result(["started?"], exit_code=1)
        h.runtime.set_exec_result(["alive?"], exit_code=1)
        h.add_pod(
            probed(
                startupProbe=exec_probe("started?", failureThreshold=10),
                livenessProbe=exec_probe("alive?", failureThreshold=1),
                readinessProbe=exec_probe("ready?"),
            )
        )
        await h.settle()
        await h.advance(20)
        cs = h.container()
        assert cs["started"] is False and cs["ready"] is False and cs["restartCount"] == 0
        assert probe_calls(h, "alive?") == 0 and probe_calls(h, "ready?") == 0
        assert probe_calls(h, "started?") == 5
        h.runtime.set_exec_result(["started?"], exit_code=0)
        h.runtime.set_exec_result(["alive?"], exit_code=0)
        await h.advance(5)
        cs = h.container()
        assert cs["started"] is True and cs["ready"] is True
        assert probe_calls(h, "alive?") >= 1 and probe_calls(h, "ready?") >= 1
        calls = probe_calls(h, "started?")
        await h.advance(20, step=5)
        assert probe_calls(h, "started?") == calls  # a startup probe stops once it succeeded


async def test_startup_probe_failure_restarts(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.runtime.set_exec_result(["started?"], exit_code=1)
        h.add_pod(probed(startupProbe=exec_probe("started?", failureThreshold=3)))
        await h.settle()
        await h.advance(10, step=5)
        assert h.container()["restartCount"] == 1
        assert ("Normal", "Killing", "Container app failed startup probe, will be restarted") in h.events()


@pytest.mark.parametrize("kind", ["httpGet", "tcpSocket"])
async def test_a_probe_worker_always_ends_when_cancelled(kind: str) -> None:
    """A pod's termination cancels its probe workers and waits for them: one that ignores its cancel
    leaves the pod Terminating forever. Python 3.11's ``asyncio.wait_for`` swallows a cancel that lands
    just after the request finished (cpython#86296); cancel at many points in a real probe's cycle.
    """
    import random

    from kuberya.client import LoopClock
    from kuberya.client.tasks import cancel_and_wait
    from kuberya.node.probes import ProbeTarget, ProbeWorker

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    handler = {"httpGet": {"path": "/", "port": port}} if kind == "httpGet" else {"tcpSocket": {"port": port}}
    target = ProbeTarget(host="127.0.0.1", container_id="c", runtime=None, ports={})  # type: ignore[arg-type]
    chance = random.Random(86296)
    ignored = 0
    try:
        for _ in range(150):
            worker = ProbeWorker("readiness", {**handler, "periodSeconds": 0.001}, target, clock=LoopClock(),
                                 started_at=0.0, on_failure=lambda *_: None, on_result=lambda *_: None)  # fmt: skip
            task = asyncio.create_task(worker.run())
            await asyncio.sleep(chance.uniform(0, 0.005))
            try:
                async with asyncio.timeout(1.0):
                    await cancel_and_wait(task)
            except TimeoutError:
                ignored += 1
                while not task.done():  # cancel until it listens, so no task is left behind
                    task.cancel()
                    await asyncio.sleep(0.001)
    finally:
        server.close()
        await server.wait_closed()
    assert ignored == 0, f"{ignored} of 150 probe workers ignored their cancel"


async def test_a_probe_worker_deaf_to_its_cancel_does_not_keep_the_pod_terminating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kuberya.client.resources import PODS
    from kuberya.node import probing
    from kuberya.node.probes import ProbeWorker

    ended: list[bool] = []

    async def deaf(self: ProbeWorker) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.0)  # goes on for a while as if never told
        ended.append(True)

    monkeypatch.setattr(ProbeWorker, "run", deaf)
    monkeypatch.setattr(probing, "PROBE_STOP_SECONDS", 0.2)
    async with running(tmp_path) as h:
        h.add_pod(probed(readinessProbe=exec_probe("ready?")))
        await h.settle()
        body = h.get_pod()
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:07Z"
        body["metadata"]["deletionGracePeriodSeconds"] = 7
        h.client.add(PODS, body)
        async with asyncio.timeout(5):
            while h.client.stored(PODS, "web", namespace="default") is not None:
                await h.settle()
                await asyncio.sleep(0.05)
        assert not ended  # the pod went while its probe worker still ran
        assert "did not stop within" in caplog.text
        await asyncio.sleep(1.0)  # let the deaf worker end, so no task outlives the test
