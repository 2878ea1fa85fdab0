"""One exec or attach WebSocket, once upgraded: the container's streams to and from its channels.

:class:`Channels` writes framed output, then the final ``Status`` on channel 3, then closes.
:class:`ExecBridge` pumps an exec session (:class:`kuberya.runtime.base.ExecSession`): stdout
and stderr out, stdin, stdin's close (v5) and terminal resizes in, until the command exits and
its output has drained for :data:`EXEC_DRAIN_SECONDS`; a client that goes away first has its
command killed, since nobody is left to talk to it. :func:`attach_output` sends an attached
container's own output, read from its log, on the same channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

from kuberya.node.channels import (
    CLOSE,
    ERROR,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    ChannelCodec,
    StreamOptions,
    exit_status,
    internal_error_status,
)
from kuberya.runtime.base import ExecSession

log = logging.getLogger(__name__)

EXEC_DRAIN_SECONDS = 2.0
"""After the command exits, how long its output may still drain (a background child can hold the pipes)."""


async def attach_output(
    channels: Channels, records: AsyncGenerator[tuple[str, bytes], None], streams: StreamOptions
) -> None:
    """The container's output as it is logged, stdout on channel 1 and stderr on 2 (1 with a tty)."""
    async with contextlib.aclosing(records):
        async for stream, data in records:
            channel = STDERR if stream == "stderr" and not streams.tty else STDOUT
            wanted = streams.stdout if channel == STDOUT else streams.stderr
            if wanted and not await channels.send(channel, data):
                return


class Channels:
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


class ExecBridge:
    """Pumps an exec session's streams to and from the channels until the command ends."""

    def __init__(self, channels: Channels, session: ExecSession, streams: StreamOptions, command: list[str]) -> None:
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
