"""Port forwarding on the node: one TCP connection to a port inside a pod, relayed over a WebSocket.

Upstream the kubelet (through the CRI runtime) connects to ``localhost:<port>`` *inside the pod's
network namespace*, so a server that listens on 127.0.0.1 only is reachable too. kuberya does
the same with :func:`kuberya.runtime.nsconnect.connect` (``setns`` in a thread of its own for a
namespace on the bridge, a socket made by the namespace's holder for a rootless one); a pod
without a namespace of its own (host network) is reached on the host's 127.0.0.1.

The streaming server (:mod:`kuberya.node.streaming`) serves
``GET /portForward/{namespace}/{pod}?port=N&uid=U&container=C…`` as a WebSocket, one per
forwarded connection (the API server opens it when kubectl opens a stream pair). The connection
to the pod is made *before* the upgrade, so a refusal is an HTTP error whose message the API
server writes on kubectl's error stream. Then the relay: every binary message is bytes for the
pod and every chunk from the pod a binary message; an empty binary message means end of data
in that direction (a TCP half-close, which HTTP/1.0 clients rely on). The agent closes the
WebSocket (code 1000) once both directions have ended, or with code 1011 and the reason when the
pod's connection fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from kuberya.node.registry import ContainerRegistry
from kuberya.runtime import nsconnect
from kuberya.runtime.base import SandboxStatus
from kuberya.runtime.nsconnect import CONNECT_TIMEOUT

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
ERROR_CLOSE_CODE = 1011
HALF_CLOSE_GRACE = 1.0


class ForwardError(Exception):
    """The pod's port cannot be reached; the message is meant for the kubectl user."""


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    """What the API server asked for (from the query string)."""

    namespace: str
    pod: str
    port: int
    uid: str
    containers: tuple[str, ...]

    @classmethod
    def from_request(cls, request: web.Request) -> ForwardRequest:
        raw = request.query.get("port", "")
        try:
            port = int(raw)
        except ValueError:
            raise ValueError(f"port must be a number, not {raw!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range 1-65535")
        info = request.match_info
        return cls(
            namespace=info["namespace"],
            pod=info["pod"],
            port=port,
            uid=request.query.get("uid", ""),
            containers=tuple(request.query.getall("container", [])),
        )


# ---- connecting inside the pod's network namespace -------------------------------------------------


async def connect(netns_path: str | None, port: int, *, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A connected, non-blocking socket to the pod's ``localhost:port``; ForwardError says why not."""
    try:
        return await nsconnect.connect(netns_path, port, timeout=timeout)
    except (OSError, TimeoutError) as e:
        where = f'inside namespace "{netns_path}"' if netns_path else "on the host network"
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e) or type(e).__name__)
        raise ForwardError(f"failed to connect to localhost:{port} {where}: {reason}") from e


# ---- finding the pod's sandbox --------------------------------------------------------------------


async def find_sandbox(registry: ContainerRegistry, request: ForwardRequest) -> SandboxStatus:
    """The pod's sandbox, through the runtime of one of its containers; ForwardError when not running here."""
    for container in request.containers:
        ref = registry.lookup(request.namespace, request.pod, container)
        if ref is None:
            continue
        for sandbox in await ref.runtime.list_pod_sandboxes():
            if sandbox.namespace != request.namespace or sandbox.name != request.pod or not sandbox.ready:
                continue
            if request.uid and sandbox.pod_uid != request.uid:
                continue
            return sandbox
    raise ForwardError(f'pod "{request.namespace}/{request.pod}" has no running sandbox on this node')


# ---- the relay ------------------------------------------------------------------------------------


async def relay(ws: web.WebSocketResponse, sock: socket.socket) -> None:
    """Bytes both ways between the WebSocket and the pod's socket, half-closes included."""
    reader, writer = await asyncio.open_connection(sock=sock, limit=READ_CHUNK)
    to_pod = asyncio.create_task(_to_pod(ws, writer), name="portforward-to-pod")
    from_pod = asyncio.create_task(_from_pod(ws, reader), name="portforward-from-pod")
    failure = ""
    try:
        done, _ = await asyncio.wait({to_pod, from_pod}, return_when=asyncio.FIRST_COMPLETED)
        # The client ending its data (EOF marker) leaves the pod's answer to finish. The pod
        # ending first gives the client HALF_CLOSE_GRACE to end too (containerd's, after socat),
        # as a keep-alive client never does. Anything else (the WebSocket closed, the pod's
        # connection failed) ends both at once.
        if to_pod in done and to_pod.exception() is None and to_pod.result():
            await asyncio.wait({from_pod})
        elif from_pod in done and from_pod.exception() is None:
            await asyncio.wait({to_pod}, timeout=HALF_CLOSE_GRACE)
        for task in (to_pod, from_pod):
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                failure = failure or f"error forwarding port: {error}"
    finally:
        for task in (to_pod, from_pod):
            task.cancel()
        await asyncio.gather(to_pod, from_pod, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        if failure:
            await ws.close(code=ERROR_CLOSE_CODE, message=failure[:120].encode())
        else:
            await ws.close(code=1000)


async def _to_pod(ws: web.WebSocketResponse, writer: asyncio.StreamWriter) -> bool:
    """Client → pod; True when the client ended its data (then the pod sees a half-close)."""
    async for message in ws:
        if message.type != WSMsgType.BINARY:
            continue
        data: bytes = message.data
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return True
        writer.write(data)
        await writer.drain()
    return False


async def _from_pod(ws: web.WebSocketResponse, reader: asyncio.StreamReader) -> None:
    """Pod → client, then the end-of-data marker."""
    while chunk := await reader.read(READ_CHUNK):
        await ws.send_bytes(chunk)
    await ws.send_bytes(b"")
