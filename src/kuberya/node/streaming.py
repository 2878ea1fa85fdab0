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

This module is the HTTP side only: its routes and their refusals. What they speak lives beside
it, one concern each: :mod:`kuberya.node.logreading` (the CRI log read back, I/O-free formatting
and tail), :mod:`kuberya.node.channels` (the channel protocol's frames and statuses, I/O-free)
and :mod:`kuberya.node.execbridge` (an upgraded exec/attach socket pumped to the container).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kuberya.node import portforward
from kuberya.node.channels import (
    PROTOCOLS,
    ChannelCodec,
    StreamOptions,
    choose_protocol,
    internal_error_status,
    success_status,
)
from kuberya.node.execbridge import Channels, ExecBridge, attach_output
from kuberya.node.logreading import LogOptions, read_log
from kuberya.node.registry import ContainerRef, ContainerRegistry

log = logging.getLogger(__name__)

ERROR_HEADER = "X-Kuberya-Error"
"""A refused request's message, for clients that cannot read a refused WebSocket handshake's body."""


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
        channels = Channels(ws, codec)
        try:
            session = await ref.runtime.exec(ref.container_id, command, tty=streams.tty, stdin=streams.stdin)
        except Exception as e:
            log.info("exec %s in %s/%s/%s failed: %s", command, namespace, pod, container, e)
            await channels.finish(internal_error_status(f"error executing command in container: {e}"))
            return ws
        await ExecBridge(channels, session, streams, command).run()
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
        channels = Channels(ws, codec)
        # Output only: the log from now on. Client messages (stdin, resizes) are read and dropped.
        records = read_log(
            ref.log_path,
            LogOptions(follow=True, tail_lines=0),
            is_running=self._is_running(namespace, pod, container, ref.container_id),
            poll_interval=self.poll_interval,
        )
        output = asyncio.create_task(attach_output(channels, records, streams), name="attach-output")
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


def _never() -> bool:
    return False
