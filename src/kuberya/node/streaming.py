"""The node agent's streaming server: container logs, exec, attach and port-forward on a local unix socket.

Upstream the kubelet serves these on its port 10250 and the API server proxies ``pods/log``,
``pods/exec`` and ``pods/attach`` to it; kuberya keeps that split, over a unix socket only the
API server (same user) can reach. Routes, as the kubelet's:

- ``GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&sinceSeconds=
  &sinceTime=&limitBytes=&previous=&stream=`` answers ``text/plain``: the container's CRI log file
  (``<RFC3339Nano> <stdout|stderr> <F|P> <text>``) turned back into the program's output, ``P``
  pieces joined into their line. ``follow`` tails the file (following rotation and truncation)
  until the container instance has exited and the file has stopped growing.
- ``GET /exec/{namespace}/{pod}/{container}?command=…&stdin=&stdout=&stderr=&tty=`` is a WebSocket
  speaking the Kubernetes channel protocol (``v5.channel.k8s.io``, ``v4.channel.k8s.io``,
  ``v4.base64.channel.k8s.io``): every message is one channel byte then the payload, 0 stdin,
  1 stdout, 2 stderr, 3 the final ``Status``, 4 terminal resizes, and in v5 ``[255, ch]`` closes
  a channel (stdin EOF). The command runs through :meth:`ContainerRuntime.exec`.
- ``GET /attach/…`` uses the same protocol, but its output is the container's own: the log from
  now on, stdout on channel 1 and stderr on 2, until the container exits. stdin is not connected
  (the runtime protocol has no attach), which is written down rather than hidden.

- ``GET /portForward/{namespace}/{pod}?port=&uid=&container=…`` is one forwarded TCP connection to
  the pod's ``localhost:port``, relayed over a WebSocket (:mod:`kuberya.node.portforward`).

Failures before a WebSocket upgrade answer a ``Status`` JSON body and also carry its message in
the :data:`ERROR_HEADER` header, because a WebSocket client library (the API server's) sees the
headers of a refused handshake but not its body.

The log and channel logic (:class:`LogFormatter`, :func:`tail_offset`, :class:`ChannelCodec`,
:func:`exit_status`) is I/O-free so that it is tested without sockets.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiohttp import WSMsgType, web

from kuberya.node import portforward
from kuberya.node.registry import ContainerRef, ContainerRegistry
from kuberya.runtime.base import ExecSession
from kuberya.runtime.crilog import parse_cri_line

log = logging.getLogger(__name__)

ERROR_HEADER = "X-Kuberya-Error"
"""A refused request's message, for clients that cannot read a refused WebSocket handshake's body."""

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5_PROTOCOL = "v5.channel.k8s.io"
V4_PROTOCOL = "v4.channel.k8s.io"
V4_BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
PROTOCOLS = (V5_PROTOCOL, V4_PROTOCOL, V4_BASE64_PROTOCOL)
"""The channel protocols served, most preferred first (v5 whenever the client offers it)."""

READ_CHUNK = 64 * 1024
MAX_JOINED = 1024 * 1024
"""A line assembled from ``P`` pieces is written out in parts beyond this, so memory stays bounded."""
EXEC_DRAIN_SECONDS = 2.0
"""After the command exits, how long its output may still drain (a background child can hold the pipes)."""


# ---- CRI logs: options, timestamps, formatting, tail ---------------------------------------------

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (any fraction up to nanoseconds, any offset)."""
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2006-01-02T15:04:05Z")
    base, fraction, zone = match.groups()
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def go_rfc3339nano(timestamp: str) -> str:
    """The timestamp as Go's ``time.RFC3339Nano`` prints it: trailing zeros of the fraction trimmed."""
    if "." not in timestamp or not timestamp.endswith("Z"):
        return timestamp
    base, fraction = timestamp[:-1].split(".", 1)
    fraction = fraction.rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What ``kubectl logs`` asked for (upstream's ``PodLogOptions``, as the kubelet receives them)."""

    follow: bool = False
    tail_lines: int | None = None
    """Only the last N lines (None: all)."""
    timestamps: bool = False
    since_ns: int | None = None
    """Only lines written at or after this time (nanoseconds since the epoch)."""
    limit_bytes: int | None = None
    previous: bool = False
    streams: frozenset[str] = frozenset({"stdout", "stderr"})

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, now_ns: int) -> LogOptions:
        """Parse the kubelet's query parameters; ValueError says which one is wrong."""

        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        def number(name: str, minimum: int) -> int | None:
            raw = query.get(name, "")
            if raw == "":
                return None
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not an integer") from None
            if value < minimum:
                raise ValueError(f"{name}: must be greater than or equal to {minimum}")
            return value

        since_seconds = number("sinceSeconds", 1)
        since_time = query.get("sinceTime", "")
        if since_seconds is not None and since_time:
            raise ValueError("at most one of `sinceTime` or `sinceSeconds` may be specified")
        since_ns = parse_rfc3339_ns(since_time) if since_time else None
        if since_seconds is not None:
            since_ns = now_ns - since_seconds * 1_000_000_000
        stream = query.get("stream", "") or "All"
        streams = {"All": {"stdout", "stderr"}, "Stdout": {"stdout"}, "Stderr": {"stderr"}}.get(stream)
        if streams is None:
            raise ValueError(f'stream: Unsupported value: "{stream}": supported values: "All", "Stdout", "Stderr"')
        return cls(
            follow=flag("follow"),
            tail_lines=number("tailLines", 0),
            timestamps=flag("timestamps"),
            since_ns=since_ns,
            limit_bytes=number("limitBytes", 1),
            previous=flag("previous"),
            streams=frozenset(streams),
        )


@dataclass(slots=True)
class _Pending:
    timestamp: str
    text: bytearray
    started: bool = False
    """Part of this line was already written (with its timestamp), because it grew past MAX_JOINED."""


@dataclass(slots=True)
class LogFormatter:
    """Turns CRI log lines into output records ``(stream, bytes)``, applying the log options.

    ``P`` pieces are held until their ``F`` piece and written as one line, stamped with the first
    piece's time; that time also decides ``since``. ``limit_bytes`` counts the timestamps too,
    and cuts the last record short, as upstream does.
    """

    timestamps: bool = False
    since_ns: int | None = None
    limit_bytes: int | None = None
    streams: frozenset[str] = frozenset({"stdout", "stderr"})
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _written: int = 0

    @classmethod
    def for_options(cls, options: LogOptions) -> LogFormatter:
        return cls(
            timestamps=options.timestamps,
            since_ns=options.since_ns,
            limit_bytes=options.limit_bytes,
            streams=options.streams,
        )

    @property
    def exhausted(self) -> bool:
        """``limit_bytes`` has been written: nothing more will come out."""
        return self.limit_bytes is not None and self._written >= self.limit_bytes

    def feed(self, line: bytes) -> list[tuple[str, bytes]]:
        """One CRI line (its newline optional) → the records it completes."""
        try:
            record = parse_cri_line(line)
        except ValueError:
            log.debug("skipping a malformed log line: %r", line[:80])
            return []
        if record.stream not in self.streams:
            return []
        pending = self._pending.get(record.stream)
        if record.partial:
            if pending is None:
                self._pending[record.stream] = pending = _Pending(record.timestamp, bytearray())
            pending.text += record.text
            if len(pending.text) < MAX_JOINED:
                return []
            out = self._emit(record.stream, pending.timestamp, bytes(pending.text), prefix=not pending.started)
            pending.text.clear()
            pending.started = True
            return out
        if pending is None:
            return self._emit(record.stream, record.timestamp, record.text + b"\n", prefix=True)
        del self._pending[record.stream]
        text = bytes(pending.text) + record.text + b"\n"
        return self._emit(record.stream, pending.timestamp, text, prefix=not pending.started)

    def flush(self) -> list[tuple[str, bytes]]:
        """The pieces of lines never finished (the writer stopped mid-line), without a newline."""
        out: list[tuple[str, bytes]] = []
        for stream, pending in self._pending.items():
            if pending.text:
                out += self._emit(stream, pending.timestamp, bytes(pending.text), prefix=not pending.started)
        self._pending.clear()
        return out

    def _emit(self, stream: str, timestamp: str, text: bytes, *, prefix: bool) -> list[tuple[str, bytes]]:
        if self.exhausted:
            return []
        if self.since_ns is not None:
            try:
                if parse_rfc3339_ns(timestamp) < self.since_ns:
                    return []
            except ValueError:
                return []
        if self.timestamps and prefix:
            text = go_rfc3339nano(timestamp).encode("ascii") + b" " + text
        if self.limit_bytes is not None:
            text = text[: self.limit_bytes - self._written]
        self._written += len(text)
        return [(stream, text)] if text else []


def _is_full_record(line: bytes) -> bool:
    """Whether a CRI line ends its record (tag ``F``); a malformed line counts as a record of its own."""
    parts = line.split(b" ", 3)
    return len(parts) < 3 or parts[2] != b"P"


def tail_offset(f: IO[bytes], lines: int) -> int:
    """Where the last ``lines`` records of a CRI log start (a record: its ``P`` pieces and the ``F`` one).

    Reads backwards in blocks, so a long log costs only what is shown. A last line without its
    newline is still being written and is not counted.
    """
    f.seek(0, os.SEEK_END)
    position = f.tell()
    carry = b""
    end: int | None = None  # just after the last complete line
    boundaries = 0  # record starts found so far, the end of the file being the first
    while position > 0:
        size = min(READ_CHUNK, position)
        position -= size
        f.seek(position)
        data = f.read(size) + carry
        pieces = data.split(b"\n")
        carry = pieces[0] if position > 0 else b""
        # pieces[i] for i >= 1 is a line that started right after a newline; walk them from the end.
        offset = position + len(data)
        for index in range(len(pieces) - 1, -1 if position == 0 else 0, -1):
            piece = pieces[index]
            line_start = offset - len(piece)
            offset = line_start - 1  # before the newline that precedes this line
            if end is None:
                if index == len(pieces) - 1:
                    # The bytes after the last newline: an unfinished line (or nothing).
                    end = line_start
                    boundaries = 1
                    if lines == 0:
                        return end
                continue
            line_end = line_start + len(piece) + 1
            if _is_full_record(piece) and line_end < end:
                boundaries += 1
                if boundaries > lines:
                    return line_end
    return 0


class _LineReader:
    """Complete lines from a file that may still be growing (a partly written line waits)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.file = f
        self._buffer = b""

    def read_lines(self) -> list[bytes]:
        """The next complete lines (without newlines); [] at the end of what has been written."""
        while True:
            data = self.file.read(READ_CHUNK)
            if not data:
                return []
            self._buffer += data
            last = self._buffer.rfind(b"\n")
            if last >= 0:
                lines = self._buffer[:last].split(b"\n")
                self._buffer = self._buffer[last + 1 :]
                return lines


def _open(path: Path) -> IO[bytes] | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _replaced(path: Path, f: IO[bytes]) -> bool:
    """The file was rotated away (another file now at the path) or truncated in place."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return False  # mid-rotation: the new file isn't there yet
    mine = os.fstat(f.fileno())
    return current.st_ino != mine.st_ino or current.st_dev != mine.st_dev or current.st_size < f.tell()


async def read_log(
    path: Path,
    options: LogOptions,
    *,
    is_running: Callable[[], bool],
    poll_interval: float = 0.1,
) -> AsyncGenerator[tuple[str, bytes], None]:
    """The records of a container's log, as the options ask; with ``follow``, until the container exits.

    ``is_running`` tells whether the container instance may still write. Once it says no, the
    file is read to its end once more and the stream ends.
    """
    formatter = LogFormatter.for_options(options)
    f = _open(path)
    while f is None:
        if not options.follow or not is_running():
            return
        await asyncio.sleep(poll_interval)
        f = _open(path)
    try:
        if options.tail_lines is not None:
            f.seek(tail_offset(f, options.tail_lines))
        reader = _LineReader(f)
        final = False
        while not formatter.exhausted:
            lines = reader.read_lines()
            if lines:
                for line in lines:
                    for record in formatter.feed(line):
                        yield record
                await asyncio.sleep(0)
                continue
            if not options.follow or final:
                break
            if _replaced(path, f):
                fresh = _open(path)
                if fresh is None:
                    await asyncio.sleep(poll_interval)
                    continue
                # Whatever reached the old file after the last read comes first.
                while lines := reader.read_lines():
                    for line in lines:
                        for record in formatter.feed(line):
                            yield record
                f.close()
                f = fresh
                reader = _LineReader(f)
                continue
            if not is_running():
                final = True  # one more read catches what was written just before the exit
                continue
            await asyncio.sleep(poll_interval)
        for record in formatter.flush():
            yield record
    finally:
        f.close()


# ---- the channel protocol --------------------------------------------------------------------------


def choose_protocol(offered: str) -> str | None:
    """The channel protocol to answer from a ``Sec-WebSocket-Protocol`` header (v5 first)."""
    names = {p.strip() for p in offered.split(",")}
    return next((p for p in PROTOCOLS if p in names), None)


@dataclass(frozen=True, slots=True)
class ChannelCodec:
    """Frames of one channel protocol: ``[channel] + payload``, or text ``"<digit>" + base64``."""

    protocol: str

    @property
    def base64(self) -> bool:
        return self.protocol == V4_BASE64_PROTOCOL

    @property
    def can_close_channels(self) -> bool:
        return self.protocol == V5_PROTOCOL

    def encode(self, channel: int, payload: bytes) -> bytes | str:
        if self.base64:
            return str(channel) + base64.b64encode(payload).decode("ascii")
        return bytes([channel]) + payload

    def decode(self, message: bytes | str) -> tuple[int, bytes]:
        """A client message → (channel, payload); ValueError for an empty or malformed one.

        Text messages in the plain protocols are taken as their UTF-8 bytes: the Python client
        sends ``chr(channel) + text`` as a text frame when given a ``str``.
        """
        if self.base64:
            text = message.decode("ascii") if isinstance(message, bytes) else message
            if not text or not text[0].isdigit():
                raise ValueError(f"not a base64 channel frame: {text[:16]!r}")
            return int(text[0]), base64.b64decode(text[1:])
        data = message.encode("utf-8") if isinstance(message, str) else message
        if not data:
            raise ValueError("an empty channel frame")
        return data[0], data[1:]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The channel-3 ``Status`` of a finished command, exactly as the kubelet writes it."""
    if code == 0:
        return success_status()
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
            f"exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error_status(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """The streams an exec or attach asked for."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> StreamOptions:
        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        return cls(stdin=flag("stdin"), stdout=flag("stdout"), stderr=flag("stderr"), tty=flag("tty"))


# ---- the server ---------------------------------------------------------------------------------------


def _error(code: int, reason: str, message: str) -> web.Response:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason, "code": code}
    header = message.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")
    return web.json_response(body, status=code, headers={ERROR_HEADER: header})


class StreamingServer:
    """The agent's local HTTP server for logs, exec and attach (upstream: the kubelet's port 10250).

    ``registry`` maps pod containers to runtime containers; the agent keeps it current.
    """

    def __init__(
        self,
        registry: ContainerRegistry,
        *,
        socket_path: Path,
        poll_interval: float = 0.1,
    ) -> None:
        self.registry = registry
        self.socket_path = socket_path
        self.poll_interval = poll_interval
        """How often a followed log is checked for growth while idle."""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_route("*", "/attach/{namespace}/{pod}/{container}", self._attach)
        app.router.add_get("/portForward/{namespace}/{pod}", self._port_forward)
        return app

    async def start(self) -> None:
        """Listen on the socket (a stale one from an earlier run is replaced); only the owner may connect."""
        if len(os.fsencode(self.socket_path)) >= 107:
            raise OSError(f"the streaming socket path is too long for a unix socket: {self.socket_path}")
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        runner = web.AppRunner(
            self.app(), handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.UnixSite(runner, str(self.socket_path))
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.socket_path.chmod(0o600)
        self._runner = runner
        log.info("streaming server listening on %s", self.socket_path)

    async def close(self) -> None:
        """Stop listening and end open streams."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    # ---- handlers ---------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _target(self, request: web.Request) -> tuple[str, str, str]:
        info = request.match_info
        return info["namespace"], info["pod"], info["container"]

    def _is_running(self, namespace: str, pod: str, container: str, container_id: str) -> Callable[[], bool]:
        def check() -> bool:
            ref = self.registry.lookup(namespace, pod, container)
            return ref is not None and ref.container_id == container_id and ref.running

        return check

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, container = self._target(request)
        try:
            options = LogOptions.from_query(request.query, now_ns=time.time_ns())
        except ValueError as e:
            return _error(400, "BadRequest", str(e))
        ref = self.registry.lookup(namespace, pod, container, previous=options.previous)
        if ref is None:
            if options.previous:
                message = f'previous terminated container "{container}" in pod "{pod}" not found'
            else:
                message = f'container "{container}" in pod "{pod}" is waiting to start - no logs yet'
            return _error(400, "BadRequest", message)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        is_running = self._is_running(namespace, pod, container, ref.container_id) if ref.running else _never
        records = read_log(ref.log_path, options, is_running=is_running, poll_interval=self.poll_interval)
        try:
            async with contextlib.aclosing(records):
                async for _stream, data in records:
                    await response.write(data)
            await response.write_eof()
        except ConnectionResetError:
            log.debug("log reader of %s/%s/%s went away", namespace, pod, container)
        return response

    def _running_ref(self, namespace: str, pod: str, container: str) -> ContainerRef | web.Response:
        ref = self.registry.lookup(namespace, pod, container)
        if ref is None:
            return _error(404, "NotFound", f'container "{container}" not found in pod "{namespace}/{pod}"')
        if not ref.running:
            return _error(400, "BadRequest", f'container "{container}" in pod "{pod}" is not running')
        return ref

    async def _upgrade(self, request: web.Request) -> tuple[web.WebSocketResponse, ChannelCodec] | web.Response:
        protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""))
        if request.headers.get("Upgrade", "").lower() != "websocket" or protocol is None:
            return _error(
                400,
                "BadRequest",
                f"streams are served over a WebSocket with one of the subprotocols {', '.join(PROTOCOLS)}",
            )
        ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0)
        await ws.prepare(request)
        return ws, ChannelCodec(protocol)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, container = self._target(request)
        command = request.query.getall("command", [])
        if not command:
            return _error(400, "BadRequest", "you must specify at least 1 command")
        streams = StreamOptions.from_query(request.query)
        ref = self._running_ref(namespace, pod, container)
        if isinstance(ref, web.Response):
            return ref
        upgraded = await self._upgrade(request)
        if isinstance(upgraded, web.Response):
            return upgraded
        ws, codec = upgraded
        channels = _Channels(ws, codec)
        try:
            session = await ref.runtime.exec(ref.container_id, command, tty=streams.tty, stdin=streams.stdin)
        except Exception as e:
            log.info("exec %s in %s/%s/%s failed: %s", command, namespace, pod, container, e)
            await channels.finish(internal_error_status(f"error executing command in container: {e}"))
            return ws
        await _ExecBridge(channels, session, streams, command).run()
        return ws

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, container = self._target(request)
        streams = StreamOptions.from_query(request.query)
        ref = self._running_ref(namespace, pod, container)
        if isinstance(ref, web.Response):
            return ref
        upgraded = await self._upgrade(request)
        if isinstance(upgraded, web.Response):
            return upgraded
        ws, codec = upgraded
        channels = _Channels(ws, codec)
        # Output only: the log from now on. Client messages (stdin, resizes) are read and dropped.
        records = read_log(
            ref.log_path,
            LogOptions(follow=True, tail_lines=0),
            is_running=self._is_running(namespace, pod, container, ref.container_id),
            poll_interval=self.poll_interval,
        )
        output = asyncio.create_task(_attach_output(channels, records, streams), name="attach-output")
        client = asyncio.create_task(channels.drain_input(), name="attach-input")
        try:
            await asyncio.wait({output, client}, return_when=asyncio.FIRST_COMPLETED)
            container_exited = output.done()
        finally:
            for task in (output, client):
                task.cancel()
            await asyncio.gather(output, client, return_exceptions=True)
        if container_exited:
            await channels.finish(success_status())
        return ws

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        """One forwarded connection (:mod:`kuberya.node.portforward`): connect first, then upgrade."""
        try:
            wanted = portforward.ForwardRequest.from_request(request)
        except ValueError as e:
            return _error(400, "BadRequest", str(e))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _error(400, "BadRequest", "port forwarding is served over a WebSocket")
        try:
            sandbox = await portforward.find_sandbox(self.registry, wanted)
            sock = await portforward.connect(sandbox.netns_path, wanted.port)
        except portforward.ForwardError as e:
            message = f"error forwarding port {wanted.port} to pod {wanted.namespace}/{wanted.pod}: {e}"
            return _error(400, "BadRequest", message)
        ws = web.WebSocketResponse(max_msg_size=0)
        try:
            await ws.prepare(request)
        except BaseException:
            sock.close()
            raise
        await portforward.relay(ws, sock)
        return ws


async def _attach_output(
    channels: _Channels, records: AsyncGenerator[tuple[str, bytes], None], streams: StreamOptions
) -> None:
    """The container's output as it is logged, stdout on channel 1 and stderr on 2 (1 with a tty)."""
    async with contextlib.aclosing(records):
        async for stream, data in records:
            channel = STDERR if stream == "stderr" and not streams.tty else STDOUT
            wanted = streams.stdout if channel == STDOUT else streams.stderr
            if wanted and not await channels.send(channel, data):
                return


def _never() -> bool:
    return False


class _Channels:
    """One upgraded exec/attach WebSocket: send framed output, the final status, then close."""

    def __init__(self, ws: web.WebSocketResponse, codec: ChannelCodec) -> None:
        self.ws = ws
        self.codec = codec

    async def send(self, channel: int, payload: bytes) -> bool:
        """Write a frame; False when the client is gone."""
        if self.ws.closed:
            return False
        frame = self.codec.encode(channel, payload)
        try:
            if isinstance(frame, str):
                await self.ws.send_str(frame)
            else:
                await self.ws.send_bytes(frame)
        except (ConnectionResetError, RuntimeError):
            return False
        return True

    async def finish(self, status: dict[str, Any]) -> None:
        await self.send(ERROR, json.dumps(status, separators=(",", ":")).encode())
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.ws.close(code=1000)

    async def drain_input(self) -> None:
        async for _ in self.ws:
            pass


class _ExecBridge:
    """Pumps an exec session's streams to and from the channels until the command ends."""

    def __init__(self, channels: _Channels, session: ExecSession, streams: StreamOptions, command: list[str]) -> None:
        self.channels = channels
        self.session = session
        self.streams = streams
        self.command = command

    async def run(self) -> None:
        session = self.session
        output = [
            asyncio.create_task(self._pump(session.stdout(), STDOUT, self.streams.stdout), name="exec-stdout"),
            asyncio.create_task(
                self._pump(session.stderr(), STDERR, self.streams.stderr and not self.streams.tty), name="exec-stderr"
            ),
        ]
        reader = asyncio.create_task(self._read_client(), name="exec-input")
        exited = asyncio.create_task(session.wait(), name="exec-wait")
        try:
            await asyncio.wait({exited, reader}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                await asyncio.wait(output, timeout=EXEC_DRAIN_SECONDS)
                if (error := exited.exception()) is not None:
                    status = internal_error_status(f"error executing command in container: {error}")
                else:
                    status = exit_status(exited.result(), self.command)
                await self.channels.finish(status)
        finally:
            if not exited.done():
                # The client went away (or the server is closing): the command has no one to talk to.
                await asyncio.shield(self._kill(exited))
            for task in (*output, reader, exited):
                task.cancel()
            await asyncio.gather(*output, reader, exited, return_exceptions=True)

    async def _kill(self, exited: asyncio.Task[int]) -> None:
        try:
            await self.session.kill()
            async with asyncio.timeout(EXEC_DRAIN_SECONDS):
                await asyncio.shield(exited)
        except Exception as e:
            log.warning("could not kill an abandoned exec of %s: %s", self.command, e)

    async def _pump(self, chunks: AsyncIterator[bytes], channel: int, wanted: bool) -> None:
        async for chunk in chunks:
            if wanted and chunk:
                await self.channels.send(channel, chunk)

    async def _read_client(self) -> None:
        """Client frames: stdin data, stdin close (v5), resizes. Returns when the client closes."""
        codec = self.channels.codec
        stdin_open = self.streams.stdin
        async for message in self.channels.ws:
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            try:
                channel, payload = codec.decode(message.data)
            except ValueError as e:
                log.debug("ignoring a malformed exec frame: %s", e)
                continue
            if channel == STDIN and stdin_open and payload:
                try:
                    await self.session.write_stdin(payload)
                except Exception as e:  # the command closed its stdin or exited
                    log.debug("exec stdin write failed: %s", e)
                    stdin_open = False
            elif channel == CLOSE and codec.can_close_channels and payload[:1] == bytes([STDIN]) and stdin_open:
                stdin_open = False
                with contextlib.suppress(Exception):
                    await self.session.close_stdin()
            elif channel == RESIZE and self.streams.tty:
                await self._resize(payload)
        if stdin_open:
            with contextlib.suppress(Exception):
                await self.session.close_stdin()

    async def _resize(self, payload: bytes) -> None:
        try:
            size = json.loads(payload)
            width, height = int(size["Width"]), int(size["Height"])
        except (ValueError, KeyError, TypeError):
            log.debug("ignoring a malformed resize: %r", payload[:80])
            return
        with contextlib.suppress(Exception):
            await self.session.resize(width=width, height=height)
