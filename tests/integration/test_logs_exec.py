"""``pods/log``, ``pods/exec`` and ``pods/attach`` end to end.

Two tiers in one file:

- in-process: the API server app (plain HTTP on loopback) proxies to a real
  :class:`~kuberya.node.streaming.StreamingServer` on a unix socket in ``tmp_path``, whose
  containers come from the fake runtime; driven by aiohttp, real kubectl binaries and the
  official Python client. No node agent needed.
- cluster: a real ``kuberya`` server with its node agent and the process runtime running
  ``sh``; skipped until ``kuberya.node.agent`` exists.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import subprocess
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from kuberya.apiserver.app import create_app
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.node.registry import ContainerRef, ContainerRegistry
from kuberya.node.streaming import StreamingServer
from kuberya.resources import kinds
from kuberya.runtime.base import ContainerConfig, SandboxConfig
from kuberya.runtime.fake import FakeRuntime
from kuberya.storage import MemoryBackend
from tests.conftest import Cluster, kubectl_binaries

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# ---- in-process: API server + streaming server + fake runtime ---------------------------------------


@dataclass
class Stack:
    base: str
    runtime: FakeRuntime
    registry: ContainerRegistry
    streaming: StreamingServer
    tmp: Path
    session: aiohttp.ClientSession

    async def add_pod(
        self,
        name: str,
        containers: list[str],
        *,
        running: bool = True,
        waiting_reason: str = "",
    ) -> dict[str, str]:
        """A scheduled pod whose containers run in the fake runtime; returns container → id."""
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeName": "kuberya", "containers": [{"name": c, "image": "busybox"} for c in containers]},
        }
        async with self.session.post(self.base + PODS, json=pod) as r:
            assert r.status == 201, await r.text()
        ids: dict[str, str] = {}
        sandbox = await self.runtime.run_pod_sandbox(
            SandboxConfig(pod_uid=name, name=name, namespace=NS, hostname=name)
        )
        statuses = []
        for c in containers:
            log_path = self.tmp / "logs" / name / c / "0.log"
            cid = await self.runtime.create_container(
                sandbox.id, ContainerConfig(name=c, image="busybox", command=("sh",), env=(), log_path=log_path)
            )
            if waiting_reason:
                statuses.append(container_status(c, cid, {"waiting": {"reason": waiting_reason}}))
                continue
            if running:
                await self.runtime.start_container(cid)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.touch()
            self.registry.record(NS, name, c, ContainerRef(cid, log_path, self.runtime, running), pod_uid=name)
            state = {"running": {"startedAt": "2026-01-01T00:00:00Z"}} if running else {"terminated": {"exitCode": 0}}
            statuses.append(container_status(c, cid, state))
            ids[c] = cid
        phase = "Pending" if waiting_reason else "Running" if running else "Succeeded"
        patch = {"status": {"phase": phase, "containerStatuses": statuses}}
        async with self.session.patch(
            f"{self.base}{PODS}/{name}/status",
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as r:
            assert r.status == 200, await r.text()
        return ids

    def kubeconfig(self) -> Path:
        path = self.tmp / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.base}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": NS}}],
            "current-context": "c",
        }
        path.write_text(json.dumps(config))
        return path

    async def kubectl(
        self, binary: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig()), "HOME": str(self.tmp), **(env or {})}
        if not env.get("KUBECTL_REMOTE_COMMAND_WEBSOCKETS"):
            env.pop("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", None)
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            *args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


def container_status(name: str, cid: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "containerID": f"fake://{cid}",
        "image": "busybox",
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "state": state,
    }


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    socket_path = tmp_path / "kubelet.sock"
    registry = ContainerRegistry()
    runtime = FakeRuntime(clock=lambda: T0)
    streaming = StreamingServer(registry, socket_path=socket_path, poll_interval=0.02)
    await streaming.start()
    backend = MemoryBackend(retain=100)
    await backend.start()
    settings = APIServerSettings(auth=AuthSettings(allow_anonymous=True), node_agent_socket=socket_path)
    server = TestServer(create_app(backend=backend, settings=settings), host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Stack(str(server.make_url("")).rstrip("/"), runtime, registry, streaming, tmp_path, session)
    await server.close()
    await streaming.close()
    await backend.close()


async def status_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    assert body["kind"] == "Status", body
    return body


async def test_logs_are_proxied_with_options(stack: Stack) -> None:
    ids = await stack.add_pod("web", ["app"])
    stack.runtime.write_log(ids["app"], "hello")
    stack.runtime.write_log(ids["app"], "err", stream="stderr")
    url = f"{stack.base}{PODS}/web/log"
    async with stack.session.get(url) as r:
        assert r.status == 200 and r.content_type == "text/plain"
        assert await r.text() == "hello\nerr\n"
    async with stack.session.get(url, params={"tailLines": "1", "timestamps": "true", "container": "app"}) as r:
        assert await r.text() == "2026-01-01T00:00:00Z err\n"
    async with stack.session.get(url, params={"limitBytes": "3"}) as r:
        assert await r.text() == "hel"
    async with stack.session.get(url, params={"tailLines": "-1"}) as r:
        assert r.status == 422
        assert "tailLines: Invalid value: -1: must be greater than or equal to 0" in (await status_of(r))["message"]


async def test_follow_streams_each_line_as_written_until_the_container_exits(stack: Stack) -> None:
    ids = await stack.add_pod("web", ["app"])
    stack.runtime.write_log(ids["app"], "first")
    async with stack.session.get(f"{stack.base}{PODS}/web/log", params={"follow": "true"}) as r:
        assert await asyncio.wait_for(r.content.readline(), 5) == b"first\n"
        stack.runtime.write_log(ids["app"], "second")
        assert await asyncio.wait_for(r.content.readline(), 5) == b"second\n"
        stack.runtime.exit_container(ids["app"], 0)
        stack.registry.set_running(NS, "web", "app", ids["app"], False)
        assert await asyncio.wait_for(r.content.read(), 5) == b""


async def test_log_errors_are_upstreams(stack: Stack) -> None:
    await stack.add_pod("two", ["a", "b"])
    await stack.add_pod("pending", ["app"], waiting_reason="ContainerCreating")
    cases = [
        ("two", {}, "a container name must be specified for pod two, choose one of: [a b]"),
        ("two", {"container": "c"}, "container c is not valid for pod two"),
        ("pending", {}, 'container "app" in pod "pending" is waiting to start: ContainerCreating'),
        ("two", {"container": "a", "previous": "true"}, 'previous terminated container "a" in pod "two" not found'),
    ]
    for pod, params, message in cases:
        async with stack.session.get(f"{stack.base}{PODS}/{pod}/log", params=params) as r:
            assert r.status == 400, (pod, params)
            status = await status_of(r)
            assert (status["reason"], status["message"]) == ("BadRequest", message)
    async with stack.session.get(f"{stack.base}{PODS}/missing/log") as r:
        assert r.status == 404
        assert (await status_of(r))["message"] == 'pods "missing" not found'


async def test_previous_logs_come_from_the_previous_instance(stack: Stack) -> None:
    ids = await stack.add_pod("web", ["app"])
    stack.runtime.write_log(ids["app"], "old instance")
    old = stack.registry.lookup(NS, "web", "app")
    assert old is not None
    new_log = stack.tmp / "logs" / "web" / "app" / "1.log"
    new_log.write_bytes(b"")
    stack.registry.record(NS, "web", "app", ContainerRef("container-new", new_log, stack.runtime, True), pod_uid="web")
    last = {"terminated": {"exitCode": 1, "containerID": f"fake://{ids['app']}"}}
    patch = {"status": {"containerStatuses": [{**container_status("app", "new", {"running": {}}), "lastState": last}]}}
    async with stack.session.patch(
        f"{stack.base}{PODS}/web/status",
        data=json.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    ) as r:
        assert r.status == 200
    async with stack.session.get(f"{stack.base}{PODS}/web/log", params={"previous": "true"}) as r:
        assert await r.text() == "old instance\n"


async def test_unscheduled_pods_have_empty_logs_and_no_agent_means_501(tmp_path: Path) -> None:
    backend = MemoryBackend(retain=100)
    await backend.start()
    server = TestServer(
        create_app(backend=backend, settings=APIServerSettings(auth=AuthSettings(allow_anonymous=True))),
        host="127.0.0.1",
    )
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as s:
            for name, node in (("unscheduled", None), ("scheduled", "kuberya")):
                spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
                if node:
                    spec["nodeName"] = node
                body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
                async with s.post(base + PODS, json=body) as r:
                    assert r.status == 201
            async with s.get(f"{base}{PODS}/unscheduled/log") as r:
                assert r.status == 200 and await r.text() == ""
            async with s.get(f"{base}{PODS}/scheduled/log") as r:
                assert r.status == 501
                assert "needs the node agent" in (await status_of(r))["message"]
    finally:
        await server.close()
        await backend.close()


async def exec_frames(ws: aiohttp.ClientWebSocketResponse) -> tuple[bytes, bytes, dict[str, Any]]:
    out, err, status = b"", b"", {}
    async for message in ws:
        assert message.type == aiohttp.WSMsgType.BINARY, message
        channel, payload = message.data[0], message.data[1:]
        if channel == 1:
            out += payload
        elif channel == 2:
            err += payload
        elif channel == 3:
            status = json.loads(payload)
    assert ws.close_code == 1000
    return out, err, status


def exec_url(stack: Stack, pod: str, *command: str, **flags: str) -> str:
    query = "&".join([*(f"command={c}" for c in command), *(f"{k}={v}" for k, v in flags.items())])
    return f"{stack.base}{PODS}/{pod}/exec?{query}"


async def test_exec_over_v5_relays_output_and_the_exit_status(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    stack.runtime.script_exec(["sh", "-c", "x"], stdout=[b"out\n"], stderr=[b"oops\n"], exit_code=3)
    url = exec_url(stack, "web", "sh", "-c", "x", stdout="true", stderr="true")
    async with stack.session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        out, err, status = await exec_frames(ws)
    assert (out, err) == (b"out\n", b"oops\n")
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]

    stack.runtime.script_exec(["true"], exit_code=0)
    async with stack.session.ws_connect(
        exec_url(stack, "web", "true", stdout="true"), protocols=("v4.channel.k8s.io",)
    ) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        assert (await exec_frames(ws))[2] == {"metadata": {}, "status": "Success"}


async def test_exec_stdin_close_and_resize(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    stack.runtime.script_exec(["cat"], echo_stdin=True, exit_code=None)
    url = exec_url(stack, "web", "cat", stdin="true", stdout="true", tty="true")
    async with stack.session.ws_connect(url, protocols=("v4.channel.k8s.io", "v5.channel.k8s.io")) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        await ws.send_bytes(b'\x04{"Width":100,"Height":30}')
        await ws.send_bytes(b"\x00hello\n")
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.data == b"\x01hello\n"
        await ws.send_bytes(bytes([255, 0]))
        session = stack.runtime.exec_sessions[-1]
        for _ in range(100):
            if session.stdin_closed:
                break
            await asyncio.sleep(0.01)
        assert session.stdin_closed and session.resizes == [(100, 30)]
        session.finish(0)
        assert (await exec_frames(ws))[2]["status"] == "Success"


async def test_a_client_that_leaves_kills_the_command(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    stack.runtime.script_exec(["sleep"], exit_code=None)
    async with stack.session.ws_connect(
        exec_url(stack, "web", "sleep", stdout="true"), protocols=("v5.channel.k8s.io",)
    ):
        for _ in range(100):
            if stack.runtime.exec_sessions:
                break
            await asyncio.sleep(0.01)
    session = stack.runtime.exec_sessions[-1]
    for _ in range(200):
        if session.killed:
            break
        await asyncio.sleep(0.01)
    assert session.killed


async def test_exec_refusals_are_status_errors_before_the_upgrade(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    await stack.add_pod("pending", ["app"], waiting_reason="ContainerCreating")
    await stack.add_pod("done", ["app"], running=False)
    cases = [
        (exec_url(stack, "web", "ls", stdout="true", container="nope"), 400, "container nope is not valid for pod web"),
        (exec_url(stack, "web", stdout="true"), 400, "you must specify at least 1 command"),
        (exec_url(stack, "pending", "ls", stdout="true"), 400, "is waiting to start: ContainerCreating"),
        (exec_url(stack, "done", "ls", stdout="true"), 400, "cannot exec into a container in a completed pod"),
        (exec_url(stack, "missing", "ls", stdout="true"), 404, 'pods "missing" not found'),
    ]
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    headers |= {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}
    for url, code, message in cases:
        async with stack.session.get(url, headers=headers) as r:
            assert r.status == code, url
            assert message in (await status_of(r))["message"]


async def test_spdy_is_refused_with_directions(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
    async with stack.session.post(exec_url(stack, "web", "ls", stdout="true"), headers=headers) as r:
        assert r.status == 400
        message = (await status_of(r))["message"]
    assert "WebSocket (v5.channel.k8s.io)" in message and "KUBECTL_REMOTE_COMMAND_WEBSOCKETS" in message


async def test_a_vanished_container_is_refused_by_the_agent(stack: Stack) -> None:
    await stack.add_pod("web", ["app"])
    stack.registry.forget_pod(NS, "web", pod_uid="web")
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await stack.session.ws_connect(exec_url(stack, "web", "ls", stdout="true"), protocols=("v5.channel.k8s.io",))
    assert caught.value.status == 404


@pytest.mark.skipif(
    kinds.lookup("", "v1", "pods") is None or kinds.lookup("", "v1", "pods").subresource("attach") is None,  # type: ignore[union-attr]
    reason="pods/attach is not registered in kuberya.resources.kinds yet (the API server answers 404)",
)
async def test_attach_streams_the_containers_output(stack: Stack) -> None:
    ids = await stack.add_pod("web", ["app"])
    stack.runtime.write_log(ids["app"], "before attach")
    url = f"{stack.base}{PODS}/web/attach?stdout=true&stderr=true"
    async with stack.session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
        await asyncio.sleep(0.1)
        stack.runtime.write_log(ids["app"], "out")
        stack.runtime.write_log(ids["app"], "err", stream="stderr")
        frames = [await asyncio.wait_for(ws.receive(), 5) for _ in range(2)]
        assert sorted(f.data for f in frames) == [b"\x01out\n", b"\x02err\n"]
        stack.runtime.exit_container(ids["app"], 0)
        stack.registry.set_running(NS, "web", "app", ids["app"], False)
        assert (await exec_frames(ws))[2]["status"] == "Success"


@pytest.mark.parametrize(
    "binary", kubectl_binaries(), ids=lambda p: "kubectl-" + ("venv" if ".venv" in str(p) else "system")
)
async def test_real_kubectl_logs_and_exec_in_process(stack: Stack, binary: Path) -> None:
    ids = await stack.add_pod("web", ["app"])
    stack.runtime.write_log(ids["app"], "hello")
    stack.runtime.write_log(ids["app"], "err", stream="stderr")
    code, out, err = await stack.kubectl(binary, "logs", "web")
    assert (code, out) == (0, "hello\nerr\n"), err
    code, out, err = await stack.kubectl(binary, "logs", "web", "--tail=1", "--timestamps")
    assert (code, out) == (0, "2026-01-01T00:00:00Z err\n"), err

    stack.runtime.script_exec(["sh", "-c", "echo out; exit 3"], stdout=[b"out\n"], exit_code=3)
    code, out, err = await stack.kubectl(binary, "exec", "web", "--", "sh", "-c", "echo out; exit 3")
    assert (code, out) == (3, "out\n"), err
    assert "command terminated with exit code 3" in err

    # A refusal reaches kubectl as the Status it is (1.31+ reads it from the failed upgrade; older
    # ones retry over SPDY, which is refused after the same checks, so the message is the same).
    code, out, err = await stack.kubectl(binary, "exec", "web", "-c", "nope", "--", "true")
    assert code == 1 and "container nope is not valid for pod web" in err, err
    spdy = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    code, out, err = await stack.kubectl(binary, "exec", "web", "--", "true", env=spdy)
    assert code == 1 and "kuberya serves pods/exec over WebSocket" in err, err

    stack.runtime.script_exec(["cat"], echo_stdin=True, exit_code=None)
    task = asyncio.create_task(stack.kubectl(binary, "exec", "-i", "web", "--", "cat", stdin=b"piped\n"))
    for _ in range(500):
        session = next((s for s in stack.runtime.exec_sessions if s.command == ["cat"] and not s.killed), None)
        if session is not None and session.stdin_closed:
            break
        await asyncio.sleep(0.01)
    assert session is not None and session.stdin_closed, "kubectl never closed stdin"
    session.finish(0)
    code, out, err = await task
    assert (code, out) == (0, "piped\n"), err


def test_python_client_exec_and_logs_in_process(tmp_path: Path) -> None:
    """The official (sync) client, with its v5/v4 WebSocket offer, against the in-process stack."""
    pytest.importorskip("kubernetes")
    ready: dict[str, Any] = {}

    async def serve(stop: asyncio.Event) -> None:
        socket_path = tmp_path / "kubelet.sock"
        registry = ContainerRegistry()
        runtime = FakeRuntime(clock=lambda: T0)
        streaming = StreamingServer(registry, socket_path=socket_path, poll_interval=0.02)
        await streaming.start()
        backend = MemoryBackend(retain=100)
        await backend.start()
        settings = APIServerSettings(auth=AuthSettings(allow_anonymous=True), node_agent_socket=socket_path)
        server = TestServer(create_app(backend=backend, settings=settings), host="127.0.0.1")
        await server.start_server()
        async with aiohttp.ClientSession() as session:
            st = Stack(str(server.make_url("")).rstrip("/"), runtime, registry, streaming, tmp_path, session)
            ids = await st.add_pod("web", ["app"])
            runtime.write_log(ids["app"], "hello\nworld")
            runtime.script_exec(["sh", "-c", "echo out; exit 3"], stdout=[b"out\n"], exit_code=3)
            runtime.script_exec(["echo", "hi"], stdout=[b"hi\n"], exit_code=0)
            ready["base"] = st.base
            await stop.wait()
        await server.close()
        await streaming.close()
        await backend.close()

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(serve(stop)), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "base" not in ready and time.monotonic() < deadline:
            time.sleep(0.02)
        with warnings.catch_warnings():
            # kubernetes 37 leaves sockets to the garbage collector (a preloaded exec's WebSocket,
            # urllib3's pool after ApiClient.close()); that is the client's business, not ours.
            warnings.simplefilter("ignore", ResourceWarning)
            exercise_python_client(ready["base"])
            gc.collect()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def exercise_python_client(base: str) -> None:
    from kubernetes import client as k8s
    from kubernetes.stream import stream

    config = k8s.Configuration()
    config.host = base
    api_client = k8s.ApiClient(config)
    api = k8s.CoreV1Api(api_client)
    assert api.read_namespaced_pod_log("web", NS) == "hello\nworld\n"
    assert api.read_namespaced_pod_log("web", NS, tail_lines=1) == "world\n"
    out = stream(api.connect_get_namespaced_pod_exec, "web", NS, command=["echo", "hi"], stdout=True, stderr=True)
    assert out == "hi\n"
    resp = stream(
        api.connect_get_namespaced_pod_exec,
        "web",
        NS,
        command=["sh", "-c", "echo out; exit 3"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=10)
    assert resp.read_stdout() == "out\n"
    assert resp.returncode == 3
    resp.close()
    api_client.close()


# ---- cluster: the real node agent and the process runtime -----------------------------------------


def _agent_in_server() -> bool:
    if importlib.util.find_spec("kuberya.node.agent") is None:
        return False
    from kuberya.server.components import COMPONENTS

    return any(spec.factory.startswith("kuberya.node.agent:") for spec in COMPONENTS)


needs_agent = pytest.mark.skipif(
    not _agent_in_server(),
    reason="the node agent (kuberya.node.agent) is not part of the server yet: no pods run in a real cluster",
)


def pod_manifest(name: str, script: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeName": "kuberya",
                # Logs and exec don't care about the pod network; the host's keeps these tests
                # independent of the bridge/CNI setup.
                "hostNetwork": True,
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": name, "image": "busybox", "command": ["sh", "-c", script]}],
            },
        }
    )


def start_pod(cluster: Cluster, namespace: str, name: str, script: str, *, first_output: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=pod_manifest(name, script))
    cluster.kubectl("wait", "-n", namespace, f"pod/{name}", "--for=condition=Ready", "--timeout=60s", timeout=70)
    deadline = time.monotonic() + 20
    while first_output not in cluster.kubectl("logs", "-n", namespace, name, check=False).stdout:
        assert time.monotonic() < deadline, f"pod {name} never logged {first_output!r}"
        time.sleep(0.1)


@pytest.fixture
def talker(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A running pod that said ``hello`` on stdout and ``err`` on stderr; yields its namespace."""
    start_pod(cluster, namespace, "talker", "echo hello; echo err >&2; sleep 3600", first_output="err")
    yield namespace
    # Containers outlive the agent by design: stop this one before the server goes.
    cluster.kubectl("delete", "-n", namespace, "pod/talker", "--timeout=30s", check=False)


@needs_agent
def test_cluster_kubectl_logs(cluster: Cluster, talker: str) -> None:
    ns = talker
    assert sorted(cluster.kubectl("logs", "-n", ns, "talker").stdout.splitlines()) == ["err", "hello"]
    assert len(cluster.kubectl("logs", "-n", ns, "talker", "--tail=1").stdout.splitlines()) == 1
    stamped = cluster.kubectl("logs", "-n", ns, "talker", "--timestamps").stdout.splitlines()
    assert len(stamped) == 2
    for line in stamped:
        stamp, text = line.split(" ", 1)
        assert text in ("hello", "err") and stamp.endswith("Z") and "T" in stamp, line


@needs_agent
def test_cluster_kubectl_logs_follow_streams_new_lines(cluster: Cluster, namespace: str) -> None:
    # The pod prints a line each time the trigger file appears; exec creates it inside the container.
    trigger = f"/tmp/kuberya-follow-{namespace}"
    script = f"echo ready; while sleep 0.1; do if [ -f {trigger} ]; then rm -f {trigger}; echo streamed; fi; done"
    start_pod(cluster, namespace, "ticker", script, first_output="ready")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir / "home")}
    follower = subprocess.Popen(
        [str(kubectl_binaries()[0]), "logs", "-f", "-n", namespace, "ticker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"ready\n"
        cluster.kubectl("exec", "-n", namespace, "ticker", "--", "touch", trigger)
        assert follower.stdout.readline() == b"streamed\n"
        assert follower.poll() is None  # still following
    finally:
        follower.kill()
        follower.wait()
        follower.stdout.close()  # type: ignore[union-attr]
        follower.stderr.close()  # type: ignore[union-attr]
        cluster.kubectl("delete", "-n", namespace, "pod/ticker", "--timeout=30s", check=False)


@needs_agent
@pytest.mark.parametrize(
    "binary", kubectl_binaries(), ids=lambda p: "kubectl-" + ("venv" if ".venv" in str(p) else "system")
)
def test_cluster_kubectl_exec(cluster: Cluster, talker: str, binary: Path) -> None:
    ns = talker
    result = cluster.kubectl(
        "exec", "-n", ns, "talker", "--", "sh", "-c", "echo out; exit 3", binary=binary, check=False
    )
    assert (result.returncode, result.stdout) == (3, "out\n"), result.stderr
    assert "command terminated with exit code 3" in result.stderr
    piped = cluster.kubectl("exec", "-i", "-n", ns, "talker", "--", "cat", binary=binary, input="through stdin\n")
    assert piped.stdout == "through stdin\n"
    both = cluster.kubectl("exec", "-n", ns, "talker", "--", "sh", "-c", "echo o; echo e >&2", binary=binary)
    assert (both.stdout, both.stderr) == ("o\n", "e\n")


@needs_agent
def test_cluster_python_client(cluster: Cluster, talker: str) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the client's own unclosed sockets, as above
        api_client = k8s_config.new_client_from_config(str(cluster.kubeconfig))
        api = k8s.CoreV1Api(api_client)
        try:
            assert sorted(api.read_namespaced_pod_log("talker", talker).splitlines()) == ["err", "hello"]
            assert api.read_namespaced_pod_log("talker", talker, tail_lines=1) in ("hello\n", "err\n")
            out = stream(api.connect_get_namespaced_pod_exec, "talker", talker, command=["echo", "hi"], stdout=True)
            assert out == "hi\n"
            resp = stream(
                api.connect_get_namespaced_pod_exec,
                "talker",
                talker,
                command=["sh", "-c", "echo hi; exit 4"],
                stdout=True,
                stderr=True,
                _preload_content=False,
            )
            resp.run_forever(timeout=20)
            assert resp.read_stdout() == "hi\n"
            assert resp.returncode == 4
            resp.close()
        finally:
            api_client.close()
        del api, api_client, resp
        gc.collect()
