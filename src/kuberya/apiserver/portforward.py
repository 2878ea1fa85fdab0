"""``pods/portforward``: kubectl's SPDY sessions and the Python client's channel WebSocket.

Three ways in, one way out. Clients reach the API server by

- **SPDY tunnelled over WebSocket** (kubectl 1.31+): a WebSocket with subprotocol
  ``SPDY/3.1+portforward.k8s.io`` whose binary messages carry a raw SPDY/3.1 byte stream
  (client-go ``tools/portforward/tunneling_connection.go``);
- **plain SPDY** (kubectl's fallback, and older kubectl): ``POST`` with ``Upgrade: SPDY/3.1`` and
  ``X-Stream-Protocol-Version: portforward.k8s.io``, answered ``101`` and then SPDY on the
  connection itself. aiohttp only hands over connections upgraded to ``websocket`` or ``tcp``,
  so the ``101`` is written as a bodiless response and the connection's incoming bytes are
  taken with :meth:`RequestHandler.set_parser` — the same hook aiohttp's own WebSocket uses;
- **the channel protocol** ``v4.channel.k8s.io`` (the Python ``kubernetes`` client), with the
  ports in the query (``?ports=80,443``): channel ``2i`` carries port ``i``'s data and ``2i+1``
  its errors, and the server's first message on each channel is just the port, 2 bytes
  little-endian.

In a SPDY session (:class:`SpdySession`) kubectl opens, per local connection, a *pair* of
streams sharing a ``requestID`` header: ``streamType: error`` (which it half-closes at once and
then reads to its end) and ``streamType: data``, both with ``port``. Every stream is answered
with ``SYN_REPLY`` at once (kubectl waits for it). Once both halves are there the pair is
forwarded: a WebSocket to the node agent (:mod:`kuberya.node.portforward`, which enters the
pod's network namespace and connects to ``localhost:port``), data both ways, a half-close as
``FIN``; when the agent is done both streams are ``FIN``-ed, with the error text on the error
stream first if there was one. kubectl keeps a connection open until its error stream ends.

The codec is :mod:`kuberya.apiserver.spdy`; nothing here knows the frames' bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web

from kuberya.apiserver import errors, spdy

log = logging.getLogger(__name__)

PORTFORWARD_PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOL = "v4.channel.k8s.io"
AGENT_ERROR_HEADER = "X-Kuberya-Error"
"""kuberya.node.streaming.ERROR_HEADER (the node agent sits above the API server in the layering)."""
AGENT_CONNECT_TIMEOUT = 10.0
PAIR_TIMEOUT = 30.0
"""How long the first half of a stream pair waits for the other (upstream's stream creation timeout)."""
MAX_DATA_FRAME = 64 * 1024
STREAM_QUEUE = 64
"""Client data chunks buffered per stream before the session stops reading (back-pressure)."""

_EOF = b""


@dataclass(frozen=True, slots=True)
class PodTarget:
    """Where a pod's forwarded connections go: the node agent's socket and the pod's identity."""

    agent_socket: Path
    namespace: str
    name: str
    uid: str
    containers: tuple[str, ...]


class ForwardRefused(Exception):
    """The agent could not connect to the pod's port; the message is for the user."""


class AgentDialer:
    """Opens one node-agent WebSocket per forwarded connection, over one client session."""

    def __init__(self, target: PodTarget) -> None:
        self.target = target
        self._session: aiohttp.ClientSession | None = None

    async def dial(self, port: int) -> aiohttp.ClientWebSocketResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.target.agent_socket)),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=AGENT_CONNECT_TIMEOUT),
            )
        t = self.target
        url = f"http://kuberya-node/portForward/{quote(t.namespace, safe='')}/{quote(t.name, safe='')}"
        params = [("port", str(port)), ("uid", t.uid), *(("container", c) for c in t.containers)]
        try:
            return await self._session.ws_connect(url, params=params, max_msg_size=0, autoping=True)
        except aiohttp.WSServerHandshakeError as e:
            message = (e.headers.get(AGENT_ERROR_HEADER, "") if e.headers else "") or e.message
            raise ForwardRefused(message) from e
        except (aiohttp.ClientError, OSError) as e:
            raise ForwardRefused(f"the node agent is not answering on {t.agent_socket}: {e}") from e

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def _agent_chunks(agent: aiohttp.ClientWebSocketResponse) -> AsyncIterator[bytes]:
    """The agent's data; ``b""`` marks the pod's end of data. Ends when the agent closes."""
    async for message in agent:
        if message.type == WSMsgType.BINARY:
            yield message.data


def _agent_failure(agent: aiohttp.ClientWebSocketResponse) -> str:
    """The error the agent closed with, or '' for a clean end."""
    if agent.close_code in (None, 1000):
        return ""
    exception = agent.exception()
    return str(exception) if exception is not None else f"the forwarded connection failed (code {agent.close_code})"


# ---- SPDY sessions ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stream:
    stream_id: int
    kind: str
    port: int
    request_id: str
    inbox: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(STREAM_QUEUE))
    """Client data; ``b""`` is the client's FIN, None a reset."""
    fin_sent: bool = False


@dataclass(slots=True)
class _Pair:
    error: _Stream | None = None
    data: _Stream | None = None
    timer: asyncio.TimerHandle | None = None


class SpdySession:
    """One kubectl port-forward connection: SPDY frames in, forwarded TCP connections out."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]], dialer: AgentDialer) -> None:
        self._write = write
        self._dialer = dialer
        self._encoder = spdy.FrameEncoder()
        self._decoder = spdy.FrameDecoder()
        self._send_lock = asyncio.Lock()
        self._streams: dict[int, _Stream] = {}
        self._pairs: dict[str, _Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_stream = 0
        self._closed = False

    async def run(self, chunks: AsyncIterator[bytes]) -> None:
        """Serve until the client goes away or says GOAWAY; then end every forwarded connection."""
        try:
            async for chunk in chunks:
                for frame in self._decoder.feed(chunk):
                    await self._handle(frame)
                if self._closed:
                    break
        except spdy.ProtocolError as e:
            log.info("port-forward: ending a SPDY session: %s", e)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(spdy.GoAway(self._last_stream, spdy.GOAWAY_PROTOCOL_ERROR))
        finally:
            self._closed = True
            for pair in self._pairs.values():
                if pair.timer is not None:
                    pair.timer.cancel()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._dialer.close()

    async def send(self, *frames: spdy.Frame) -> None:
        """Encode and write in one step: header compression is stateful, so order is everything."""
        async with self._send_lock:
            await self._write(b"".join(self._encoder.encode(f) for f in frames))

    async def _handle(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.SynStream():
                await self._open(frame)
            case spdy.DataFrame(stream_id=sid, data=data, fin=fin):
                stream = self._streams.get(sid)
                if stream is None:
                    return
                if data and stream.kind == "data":
                    await stream.inbox.put(data)
                if fin:
                    await stream.inbox.put(_EOF)
            case spdy.RstStream(stream_id=sid):
                stream = self._streams.pop(sid, None)
                if stream is not None:
                    stream.fin_sent = True  # nothing may be sent on a reset stream
                    await stream.inbox.put(None)
            case spdy.Ping(ping_id=ping_id):
                await self.send(spdy.Ping(ping_id))
            case spdy.GoAway():
                self._closed = True
            case _:
                pass  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control in spdystream)

    async def _open(self, frame: spdy.SynStream) -> None:
        self._last_stream = max(self._last_stream, frame.stream_id)
        kind = spdy.header(frame.headers, "streamType")
        raw_port = spdy.header(frame.headers, "port")
        request_id = spdy.header(frame.headers, "requestID") or str(frame.stream_id)
        if kind not in ("error", "data") or not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            log.info("port-forward: refusing stream %d with headers %s", frame.stream_id, frame.headers)
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        stream = _Stream(frame.stream_id, kind, int(raw_port), request_id)
        self._streams[frame.stream_id] = stream
        await self.send(spdy.SynReply(frame.stream_id))
        if frame.fin:
            stream.inbox.put_nowait(_EOF)
        pair = self._pairs.setdefault(request_id, _Pair())
        if getattr(pair, kind) is not None:
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        setattr(pair, kind, stream)
        if pair.error is not None and pair.data is not None:
            if pair.timer is not None:
                pair.timer.cancel()
            del self._pairs[request_id]
            self._spawn(self._forward(pair.error, pair.data), f"portforward-{request_id}")
        else:
            loop = asyncio.get_running_loop()
            pair.timer = loop.call_later(PAIR_TIMEOUT, self._pair_timed_out, request_id)

    def _pair_timed_out(self, request_id: str) -> None:
        pair = self._pairs.pop(request_id, None)
        if pair is None:
            return
        message = f"timed out waiting for the other stream of request {request_id}"
        self._spawn(self._finish(pair.error, pair.data, message), f"portforward-timeout-{request_id}")

    def _spawn(self, coroutine: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("port-forward: %s failed: %r", task.get_name(), error)

    async def _finish(self, error: _Stream | None, data: _Stream | None, message: str) -> None:
        """Write the error (if any), FIN both streams, forget them."""
        frames: list[spdy.Frame] = []
        if error is not None and not error.fin_sent:
            if message:
                frames.append(spdy.DataFrame(error.stream_id, message.encode()))
            frames.append(spdy.DataFrame(error.stream_id, b"", fin=True))
            error.fin_sent = True
        if data is not None and not data.fin_sent:
            frames.append(spdy.DataFrame(data.stream_id, b"", fin=True))
            data.fin_sent = True
        for stream in (error, data):
            if stream is not None:
                self._streams.pop(stream.stream_id, None)
        if frames and not self._closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(*frames)

    async def _forward(self, error: _Stream, data: _Stream) -> None:
        try:
            agent = await self._dialer.dial(data.port)
        except ForwardRefused as e:
            await self._finish(error, data, str(e))
            return
        failure = ""
        try:
            to_agent = asyncio.create_task(_pump_to_agent(data.inbox, agent), name="portforward-to-agent")
            try:
                async for chunk in _agent_chunks(agent):
                    if not chunk:
                        await self._send_fin(data)
                        continue
                    for piece in _pieces(chunk):
                        if data.fin_sent:
                            break
                        await self.send(spdy.DataFrame(data.stream_id, piece))
                failure = _agent_failure(agent)
            finally:
                to_agent.cancel()
                await asyncio.gather(to_agent, return_exceptions=True)
        finally:
            await agent.close()
        await self._finish(error, data, failure)

    async def _send_fin(self, stream: _Stream) -> None:
        if not stream.fin_sent:
            stream.fin_sent = True
            await self.send(spdy.DataFrame(stream.stream_id, b"", fin=True))


async def _pump_to_agent(inbox: asyncio.Queue[bytes | None], agent: aiohttp.ClientWebSocketResponse) -> None:
    """Client data to the agent; a FIN becomes the empty message, a reset closes the agent's socket."""
    while True:
        item = await inbox.get()
        if item is None:
            await agent.close()
            return
        await agent.send_bytes(item)
        if not item:
            return


def _pieces(chunk: bytes) -> Iterator[bytes]:
    for start in range(0, len(chunk), MAX_DATA_FRAME):
        yield chunk[start : start + MAX_DATA_FRAME]


# ---- the three transports -----------------------------------------------------------------------------


def offered_protocols(request: web.Request) -> set[str]:
    return {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()}


async def serve(request: web.Request, target: PodTarget) -> web.StreamResponse:
    """Answer a port-forward request on whichever of the three protocols the client speaks."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        offered = offered_protocols(request)
        if TUNNEL_PROTOCOL in offered:
            return await _serve_tunnel(request, target)
        if CHANNEL_PROTOCOL in offered:
            return await _serve_channels(request, target)
        raise errors.bad_request(
            f"pods/portforward needs the WebSocket subprotocol {TUNNEL_PROTOCOL} or {CHANNEL_PROTOCOL}; "
            f"the client offered: {', '.join(sorted(offered)) or 'none'}"
        )
    if request.headers.get("Upgrade", "").lower().startswith("spdy/3"):
        return await _serve_spdy(request, target)
    raise errors.bad_request(
        "pods/portforward must be upgraded: to SPDY/3.1 (kubectl) or to a WebSocket "
        f"({TUNNEL_PROTOCOL} or {CHANNEL_PROTOCOL})"
    )


async def _serve_tunnel(request: web.Request, target: PodTarget) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=0)
    await ws.prepare(request)

    async def chunks() -> AsyncIterator[bytes]:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                yield message.data

    await SpdySession(ws.send_bytes, AgentDialer(target)).run(chunks())
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close()
    return ws


class _RawParser:
    """What aiohttp's request handler feeds once the connection is ours (its ``set_parser`` hook)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


async def _serve_spdy(request: web.Request, target: PodTarget) -> web.StreamResponse:
    offered = {p.strip() for p in request.headers.getall("X-Stream-Protocol-Version", []) for p in p.split(",")}
    if offered and PORTFORWARD_PROTOCOL not in offered:
        raise errors.bad_request(
            f"pods/portforward speaks the stream protocol {PORTFORWARD_PROTOCOL}; "
            f"the client offered: {', '.join(sorted(offered))}"
        )
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away before the upgrade")
    response = web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PORTFORWARD_PROTOCOL},
    )
    response.force_close()
    writer = await response.prepare(request)
    assert writer is not None
    reader = asyncio.StreamReader(limit=2**20)
    reader.set_transport(transport)  # pauses reading when the session falls behind
    cast(Any, request.protocol).set_parser(_RawParser(reader))
    request.protocol.keep_alive(False)

    async def write(data: bytes) -> None:
        if transport.is_closing():
            raise ConnectionResetError("the port-forward client went away")
        transport.write(data)
        await writer.drain()

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await reader.read(256 * 1024):
            yield chunk

    try:
        await SpdySession(write, AgentDialer(target)).run(chunks())
    except ConnectionError as e:
        log.debug("port-forward: SPDY client went away: %s", e)
    return response


# ---- the channel protocol (Python client) ----------------------------------------------------------------


def _ports(request: web.Request) -> list[int]:
    ports: list[int] = []
    for raw in request.query.getall("ports", []):
        for part in raw.split(","):
            if not part.strip().isdigit() or not 0 < int(part) < 65536:
                raise errors.bad_request(f"invalid port {part.strip()!r} in ports: must be 1-65535")
            ports.append(int(part))
    if not ports:
        raise errors.bad_request("query parameter ports is required (e.g. ?ports=8080) with this protocol")
    return ports


async def _serve_channels(request: web.Request, target: PodTarget) -> web.StreamResponse:
    ports = _ports(request)
    ws = web.WebSocketResponse(protocols=(CHANNEL_PROTOCOL,), max_msg_size=0)
    await ws.prepare(request)
    dialer = AgentDialer(target)
    inboxes: list[asyncio.Queue[bytes | None]] = [asyncio.Queue(STREAM_QUEUE) for _ in ports]
    for index, port in enumerate(ports):
        prefix = port.to_bytes(2, "little")
        await ws.send_bytes(bytes([2 * index]) + prefix)
        await ws.send_bytes(bytes([2 * index + 1]) + prefix)
    forwards = [
        asyncio.create_task(_forward_channel(ws, dialer, i, port, inboxes[i]), name=f"portforward-channel-{port}")
        for i, port in enumerate(ports)
    ]
    reader = asyncio.create_task(_read_channels(ws, inboxes), name="portforward-channel-reader")
    all_done: asyncio.Future[list[None]] = asyncio.gather(*forwards)
    try:
        waiting: set[asyncio.Future[Any]] = {reader, all_done}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, *forwards):
            task.cancel()
        await asyncio.gather(reader, all_done, return_exceptions=True)
        await dialer.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


async def _read_channels(ws: web.WebSocketResponse, inboxes: list[asyncio.Queue[bytes | None]]) -> None:
    async for message in ws:
        if message.type != WSMsgType.BINARY or not message.data:
            continue
        channel, payload = message.data[0], message.data[1:]
        if channel % 2 == 0 and channel // 2 < len(inboxes) and payload:
            await inboxes[channel // 2].put(payload)
    for inbox in inboxes:
        inbox.put_nowait(None)


async def _forward_channel(
    ws: web.WebSocketResponse, dialer: AgentDialer, index: int, port: int, inbox: asyncio.Queue[bytes | None]
) -> None:
    data_channel, error_channel = bytes([2 * index]), bytes([2 * index + 1])
    try:
        agent = await dialer.dial(port)
    except ForwardRefused as e:
        await ws.send_bytes(error_channel + str(e).encode())
        return
    try:
        to_agent = asyncio.create_task(_pump_to_agent(inbox, agent), name="portforward-channel-to-agent")
        try:
            async for chunk in _agent_chunks(agent):
                if chunk:
                    await ws.send_bytes(data_channel + chunk)
            if failure := _agent_failure(agent):
                await ws.send_bytes(error_channel + failure.encode())
        finally:
            to_agent.cancel()
            await asyncio.gather(to_agent, return_exceptions=True)
    finally:
        await agent.close()
