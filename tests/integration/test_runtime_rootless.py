"""The process runtime's rootless pod network: a user + network namespace and a loopback IP per pod.

This machine runs the tests as root, so the rootless network is forced (``rootless_network=True``):
it is the same code a user without root gets, namespaces made by ``unshare --user --map-root-user
--net`` and sockets handed out by each namespace's holder, never ``setns`` from the host. Traffic
only goes to the 127.1.x.y addresses the runtime assigned. Every sandbox is removed (holders ended
by pid, relays closed) even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from kuberya.runtime import open_runtime
from kuberya.runtime.base import ContainerConfig, ContainerState, SandboxConfig, SandboxStatus
from kuberya.runtime.nsconnect import connect
from kuberya.runtime.process import ProcessRuntime
from kuberya.runtime.rootless import RootlessNetwork

pytestmark = [
    pytest.mark.skipif(not RootlessNetwork.available(), reason="needs unshare, nsenter and user namespaces"),
]

PORT = 8080
RANGE = ip_network("127.1.0.0/16")


def holder_pid(sandbox: SandboxStatus) -> int:
    assert sandbox.netns_path is not None and sandbox.netns_path.startswith("/proc/")
    return int(sandbox.netns_path.split("/")[2])


def alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return not data[data.rindex(b")") + 2 :].startswith(b"Z")


async def cleanup(runtime: ProcessRuntime) -> None:
    for sandbox in await runtime.list_pod_sandboxes():
        await runtime.remove_pod_sandbox(sandbox.id)
    await runtime.close()
    for pid in list(runtime._spawned):  # shims are our children: reap them
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def make_runtime(state: Path) -> ProcessRuntime:
    runtime = open_runtime("process", state_dir=state, rootless_network=True)
    assert isinstance(runtime, ProcessRuntime) and isinstance(runtime.network, RootlessNetwork)
    return runtime


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = make_runtime(tmp_path / "state")
    await runtime.start()
    try:
        yield runtime
    finally:
        await cleanup(runtime)


async def web_pod(runtime: ProcessRuntime, tmp_path: Path, name: str, *ports: int) -> tuple[SandboxStatus, str]:
    """A sandbox whose one container serves ``who`` (the pod's name) on 127.0.0.1:8080, inside the pod."""
    root = tmp_path / name
    root.mkdir()
    (root / "who").write_text(name)
    config = SandboxConfig(
        pod_uid=f"{name}-{secrets.token_hex(4)}", name=name, namespace="default", hostname=name,
        container_ports=ports or (PORT,),
    )  # fmt: skip
    sandbox = await runtime.run_pod_sandbox(config)
    container = ContainerConfig(
        name="web",
        image="payment:v1",
        command=(sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1"),
        env=(),
        working_dir=str(root),
        log_path=tmp_path / "logs" / f"{name}.log",
    )
    container_id = await runtime.create_container(sandbox.id, container)
    await runtime.start_container(container_id)
    return sandbox, container_id


async def get(url: str, *, timeout: float = 10.0) -> str:
    """The body, retried while the server inside the pod is still starting."""
    deadline = time.monotonic() + timeout

    def once() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    while True:
        try:
            return await asyncio.to_thread(once)
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_two_pods_on_one_port_each_on_its_own_address(runtime: ProcessRuntime, tmp_path: Path) -> None:
    (a, _), (b, b_id) = [await web_pod(runtime, tmp_path, name) for name in ("a", "b")]
    assert a.ip != b.ip and a.ip is not None and b.ip is not None
    assert ip_address(a.ip) in RANGE and ip_address(b.ip) in RANGE
    assert a.netns_path != b.netns_path

    # From the host, through each pod's relay on its own address.
    assert await get(f"http://{a.ip}:{PORT}/who") == "a"
    assert await get(f"http://{b.ip}:{PORT}/who") == "b"

    # exec runs inside the pod's namespaces: its localhost is the pod's.
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{PORT}/who').read().decode())"
    code, output = await runtime.exec_sync(b_id, [sys.executable, "-c", fetch], timeout=10)
    assert (code, output.decode().strip()) == (0, "b")

    # kubectl port-forward's path: a socket to the pod's localhost, made in its namespace.
    sock = await connect(a.netns_path, PORT)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET /who HTTP/1.0\r\n\r\n")
    assert (await reader.read()).endswith(b"\r\n\r\na")
    writer.close()
    await writer.wait_closed()


async def test_a_port_nobody_listens_on_is_reset(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox, _ = await web_pod(runtime, tmp_path, "web", PORT, 9090)
    assert await get(f"http://{sandbox.ip}:{PORT}/who") == "web"
    with pytest.raises((OSError, urllib.error.URLError)):
        await get(f"http://{sandbox.ip}:9090/", timeout=0)


async def test_removal_ends_the_holder_and_closes_the_relays(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox, container_id = await web_pod(runtime, tmp_path, "gone")
    assert await get(f"http://{sandbox.ip}:{PORT}/who") == "gone"
    pid = holder_pid(sandbox)
    assert alive(pid)
    await runtime.stop_pod_sandbox(sandbox.id)
    assert (await runtime.container_status(container_id)).state is ContainerState.EXITED
    assert not alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sandbox.ip or "", PORT), timeout=2).close()
    await runtime.remove_pod_sandbox(sandbox.id)
    assert not list((runtime.state_dir / "rootless-network").iterdir())


async def test_a_restarted_runtime_keeps_the_address_and_the_relays(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = make_runtime(state)
    await first.start()
    second: ProcessRuntime | None = None
    try:
        sandbox, container_id = await web_pod(first, tmp_path, "kept")
        assert await get(f"http://{sandbox.ip}:{PORT}/who") == "kept"
        await first.close()  # the agent stops: relays close, the holder and the container live on
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((sandbox.ip or "", PORT), timeout=2).close()
        record = json.loads((state / "rootless-network" / sandbox.id / "network.json").read_text())
        assert record["ip"] == sandbox.ip and record["ports"] == [PORT]

        second = make_runtime(state)
        await second.start()
        (adopted,) = await second.list_pod_sandboxes()
        assert (adopted.ip, adopted.netns_path) == (sandbox.ip, sandbox.netns_path)
        assert (await second.container_status(container_id)).state is ContainerState.RUNNING
        assert await get(f"http://{sandbox.ip}:{PORT}/who") == "kept"
    finally:
        await cleanup(second or first)
        network = first.network
        assert isinstance(network, RootlessNetwork)
        for pid in [*first._spawned, *network._spawned]:  # the first runtime's children, ended by the second
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


async def test_sandboxes_made_at_once_get_distinct_addresses(runtime: ProcessRuntime) -> None:
    configs = [
        SandboxConfig(pod_uid=secrets.token_hex(4), name=f"p{i}", namespace="default", hostname="p") for i in range(4)
    ]
    sandboxes = await asyncio.gather(*(runtime.run_pod_sandbox(config) for config in configs))
    assert len({s.ip for s in sandboxes}) == 4


STREAMER = (
    "import socket, sys, time\n"
    "listener = socket.create_server(('127.0.0.1', 8080))\n"
    "connection, _ = listener.accept()\n"
    "connection.recv(100)\n"
    "connection.sendall(b'x' * int(sys.argv[1]))\n"
    "connection.close()\n"
    "time.sleep(3600)\n"
)


async def test_a_response_in_flight_outlives_the_sandbox(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """What the pod wrote before it ended still reaches the client: the relay drains, it is not cut.

    The pod writes its whole answer into the kernel's buffers and is then stopped with its sandbox
    while the client has read none of it: the relay must go on passing it on, as a rollout's last
    responses from a terminating pod must arrive.
    """
    size = 5 * 1024 * 1024
    config = SandboxConfig(pod_uid=secrets.token_hex(4), name="streamer", namespace="default", hostname="streamer",
                           container_ports=(PORT,))  # fmt: skip
    sandbox = await runtime.run_pod_sandbox(config)
    command = (sys.executable, "-c", STREAMER, str(size))
    container = ContainerConfig(name="streamer", image="streamer:v1", command=command, env=(),
                                log_path=tmp_path / "streamer.log")  # fmt: skip
    await runtime.start_container(await runtime.create_container(sandbox.id, container))

    deadline = time.monotonic() + 10
    loop = asyncio.get_running_loop()
    while True:
        # A small receive buffer on our side, so the answer backs up in the relay rather than in our kernel.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, (sandbox.ip, PORT))
        reader, writer = await asyncio.open_connection(sock=sock, limit=64 * 1024)
        writer.write(b"go")
        first = await reader.read(1)  # a reset means the pod is not listening yet
        if first or time.monotonic() > deadline:
            break
        writer.close()
        await asyncio.sleep(0.1)
    assert first == b"x"
    await asyncio.sleep(0.3)  # the pod has written everything and is idle; the relay waits on us

    removal = asyncio.ensure_future(runtime.stop_pod_sandbox(sandbox.id))
    received = 1
    while chunk := await reader.read(64 * 1024):
        received += len(chunk)
        await asyncio.sleep(0.005)  # a slow reader: the relay must wait for it
    await removal
    writer.close()
    assert received == size


async def test_a_pod_reaches_a_cluster_ip_through_the_proxy_in_its_namespace(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    """The rootless pod's one way out: a TCP ClusterIP, listened on inside its namespace by the proxy."""
    from kuberya.proxy.podside import PodSideFrontends
    from kuberya.proxy.table import Endpoint, ServicePort
    from kuberya.proxy.userspace import UserspaceProxy
    from kuberya.runtime import nsconnect

    (server, _), (client, client_id) = [await web_pod(runtime, tmp_path, name) for name in ("server", "client")]
    assert server.ip is not None and client.netns_path is not None
    entry = ServicePort(service="default/server", port_name="http", protocol="TCP", cluster_ip="10.96.201.7",
                        port=80, endpoints=(Endpoint(server.ip, PORT),))  # fmt: skip
    userspace = UserspaceProxy()
    frontends = PodSideFrontends(userspace, nsconnect)
    frontends.start()
    try:
        table = {entry.key: entry}
        await userspace.apply(table, node_port_hosts=(), cluster_ips=False)
        await frontends.apply(table)
        assert ("10.96.201.7", 80) in frontends.listening(client.netns_path)

        fetch = (
            "import urllib.request; print(urllib.request.urlopen('http://10.96.201.7/who', timeout=5).read().decode())"
        )
        code, output = await runtime.exec_sync(client_id, [sys.executable, "-c", fetch], timeout=15)
        assert (code, output.decode().strip()) == (0, "server")

        await runtime.stop_pod_sandbox(client.id)  # the namespace goes: so do its listeners
        assert client.netns_path not in frontends.namespaces
    finally:
        await frontends.close()
        await userspace.close(drain=0)
