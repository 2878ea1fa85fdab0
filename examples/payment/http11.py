"""HTTP/1.1 on asyncio streams for ``serve.py``: reading requests, and one ASGI exchange per request.

Kept apart from the server loop so that framing rules live in one place: a request body comes by
``Content-Length`` or ``chunked`` (both at once is refused, as a request-smuggling defence);
a response is framed by the application's ``Content-Length``, by a length computed here when the
body arrives in one message, or ``chunked`` when it streams (HTTP/1.0: by closing).
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

Message = MutableMapping[str, Any]

MAX_HEAD_BYTES = 64 * 1024
"""Largest request line plus headers; also the stream reader's buffer limit."""
MAX_BODY_BYTES = 1024 * 1024


class HttpError(Exception):
    """A request this server refuses; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Request:
    method: str
    raw_target: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        values = [value for key, value in self.headers if key == name]
        return b",".join(values) if values else None

    @property
    def wants_close(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header(b"connection") or b"").split(b",")}
        if self.http_version == "1.0":
            # HTTP/1.0 keep-alive is a bolt-on almost nobody needs now; always close.
            return True
        return b"close" in tokens


async def read_request_head(reader: asyncio.StreamReader) -> Request | None:
    """The next request's line and headers; ``None`` when the client closed cleanly in between."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise HttpError(400, "connection closed in the middle of a request head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"request head is larger than {MAX_HEAD_BYTES} bytes") from None
    # Tolerate blank lines before a request (RFC 9112 §2.2) left by clients after a body.
    lines = head.lstrip(b"\r\n").split(b"\r\n")
    request_line = lines[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper():
        raise HttpError(400, f"malformed request line {request_line[:100]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505 if version.startswith("HTTP/") else 400, f"unsupported protocol {version[:20]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(b":")
        # Whitespace before the colon or a folded line is a smuggling vector: refuse both.
        if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise HttpError(400, f"malformed header line {line[:100]!r}")
        headers.append((name.lower(), value.strip(b" \t")))
    return Request(method=method, raw_target=target.encode("latin-1"), http_version=version[5:], headers=headers)


async def read_request_body(reader: asyncio.StreamReader, request: Request) -> bytes:
    transfer_encoding = request.header(b"transfer-encoding")
    content_length = request.header(b"content-length")
    if transfer_encoding is not None:
        if content_length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length were sent")
        if transfer_encoding.lower().split(b",")[-1].strip() != b"chunked":
            raise HttpError(501, f"unsupported Transfer-Encoding {transfer_encoding.decode('latin-1')!r}")
        return await _read_chunked(reader)
    if content_length is None:
        return b""
    values = {v.strip() for v in content_length.split(b",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HttpError(400, f"invalid Content-Length {content_length.decode('latin-1')!r}")
    length = int(next(iter(values)))
    if length > MAX_BODY_BYTES:
        raise HttpError(413, f"request body of {length} bytes is larger than {MAX_BODY_BYTES}")
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        size_line = (await reader.readuntil(b"\r\n"))[:-2]
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            chunk_size = int(size_text, 16)
        except ValueError:
            raise HttpError(400, f"invalid chunk size {size_text[:20]!r}") from None
        if chunk_size < 0:
            raise HttpError(400, "negative chunk size")
        if chunk_size == 0:
            # Trailer fields until the empty line; they are read and dropped.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(chunks)
        size += chunk_size
        if size > MAX_BODY_BYTES:
            raise HttpError(413, f"chunked request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(await reader.readexactly(chunk_size))
        if await reader.readexactly(2) != b"\r\n":
            raise HttpError(400, "chunk data not followed by CRLF")


def status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


class Exchange:
    """One request and its response: the ASGI ``receive`` and ``send`` for an ``http`` scope."""

    def __init__(
        self, *, request: Request, writer: asyncio.StreamWriter, keep_alive: bool, stopping: asyncio.Event
    ) -> None:
        self.request = request
        self.writer = writer
        self.keep_alive = keep_alive
        self._stopping = stopping
        self._head_written = False
        self.status = 0
        self.started = False
        self.complete = False
        self.disconnected = False
        self._body_sent = False
        self._chunked = False
        self._no_body = request.method == "HEAD"
        self._response_headers: list[tuple[bytes, bytes]] = []
        self._has_length = False
        self._done = asyncio.get_running_loop().create_future()

    async def receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        # The body was read before the app ran; afterwards only the end of the exchange is news.
        await asyncio.shield(self._done)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            for name, value in message.get("headers", []):
                name, value = bytes(name).lower(), bytes(value)
                if b"\r" in name + value or b"\n" in name + value:
                    raise RuntimeError(f"response header {name!r} contains CR or LF")
                if name == b"connection" and b"close" in value.lower():
                    self.keep_alive = False
                    continue
                if name == b"content-length":
                    self._has_length = True
                elif name == b"transfer-encoding":
                    continue  # framing is this server's job
                self._response_headers.append((name, value))
            if self.status in (204, 304) or 100 <= self.status < 200:
                self._no_body = True
        elif kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if not self._head_written:
                self._write_head(single_body=None if more else body)
            if not self._no_body and body:
                self._write(b"%x\r\n%s\r\n" % (len(body), body) if self._chunked else body)
            if not more:
                if self._chunked:
                    self._write(b"0\r\n\r\n")
                self.complete = True
                if not self._done.done():
                    self._done.set_result(None)
            await self._drain()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for an http scope")

    def _write_head(self, *, single_body: bytes | None) -> None:
        self._head_written = True
        headers = list(self._response_headers)
        if not self._has_length and not (100 <= self.status < 200 or self.status in (204, 304)):
            if single_body is not None:
                headers.append((b"content-length", str(len(single_body)).encode()))
            elif self.request.http_version == "1.1":
                self._chunked = True
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                self.keep_alive = False  # HTTP/1.0 without a length: the end of the body is the close
        headers.append((b"date", formatdate(usegmt=True).encode()))
        if self._stopping.is_set():
            # Shutdown began while the app was working: say so, rather than just closing after.
            self.keep_alive = False
        if not self.keep_alive:
            headers.append((b"connection", b"close"))
        head = status_line(self.status) + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self._write(head + b"\r\n")

    def _write(self, data: bytes) -> None:
        if self.disconnected:
            return
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError):
            self.disconnected = True

    async def _drain(self) -> None:
        if self.disconnected:
            return
        try:
            await self.writer.drain()
        except ConnectionError:
            # ASGI lets a send to a gone client be a no-op; the app learns it from receive().
            self.disconnected = True
            if not self._done.done():
                self._done.set_result(None)

    def finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
