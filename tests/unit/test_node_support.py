"""A NodeAgent over FakeApiClient + FakeRuntime + FakeClock, for the node agent's unit tests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import EVENTS, PODS
from kuberya.node.agent import NodeAgent
from kuberya.runtime.fake import FakeRuntime

NODE = "node-1"
HOST_IP = "192.168.5.5"


def pod(name: str = "web", *, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "app", "image": "python:3", "command": ["python3", "-m", "http.server"]}],
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }
    body["spec"].update(spec)
    return body


class Harness:
    def __init__(
        self, tmp_path: Path, *, runtime: FakeRuntime | None = None, client: FakeApiClient | None = None, **kwargs: Any
    ) -> None:
        self.client = client or FakeApiClient(watch_events=True)
        self.runtime = runtime or FakeRuntime()
        self.clock = FakeClock()
        self.data_dir = tmp_path
        self.agent = NodeAgent(
            self.client,
            node_name=NODE,
            runtime=self.runtime,
            data_dir=tmp_path,
            clock=self.clock,
            host_ip=HOST_IP,
            serve_streaming=False,
            **kwargs,
        )

    async def settle(self) -> None:
        """Let every worker, probe and event write run to quiescence (no real sleeping)."""
        for _ in range(8):
            for _ in range(30):
                await asyncio.sleep(0)
            await self.agent.workers.wait_idle()
            await self.agent.recorder.flush()

    async def advance(self, seconds: float, *, step: float = 1.0) -> None:
        """Move the fake clock forward in steps, settling after each."""
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            await self.settle()

    def add_pod(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.add(PODS, copy.deepcopy(body))

    def get_pod(self, name: str = "web", namespace: str = "default") -> dict[str, Any]:
        found = self.client.stored(PODS, name, namespace=namespace)
        assert found is not None, f"pod {name} is gone"
        return found

    def status(self, name: str = "web") -> dict[str, Any]:
        return dict(self.get_pod(name).get("status") or {})

    def container(self, name: str = "app", pod_name: str = "web") -> dict[str, Any]:
        st = self.status(pod_name)
        for cs in [*(st.get("containerStatuses") or []), *(st.get("initContainerStatuses") or [])]:
            if cs["name"] == name:
                return dict(cs)
        raise AssertionError(f"no status for container {name}: {st}")

    def condition(self, ctype: str, pod_name: str = "web") -> dict[str, Any]:
        return next(c for c in self.status(pod_name)["conditions"] if c["type"] == ctype)

    def events(self) -> list[tuple[str, str, str]]:
        """(type, reason, message) of every Event, in creation order."""
        out = []
        for action in self.client.actions:
            if action.verb == "create" and action.resource == EVENTS.group_resource:
                out.append((action.body["type"], action.body["reason"], action.body["message"]))
        return out

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events()]

    def running_id(self, container: str = "app") -> str:
        return str(self.container(container)["containerID"]).split("://", 1)[1]


@asynccontextmanager
async def running(tmp_path: Path, **kwargs: Any) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, **kwargs)
    task = asyncio.create_task(h.agent.run())
    await h.agent.ready.wait()
    await h.settle()
    try:
        yield h
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
