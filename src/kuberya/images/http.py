"""HTTP/1.1 for the registry client: the standard library's ``http.client``, blocking, on threads.

Why not aiohttp (which the server uses elsewhere): importing it costs 0.25–0.3 s - it builds two
TLS contexts from the system trust store and a stack of C extensions - which is more than half of
what a ``kuberya pull`` of a 200 MB image takes; ``http.client`` costs ~30 ms. And why blocking
rather than asyncio: a blob download is best done as one loop in a thread that reads the socket
into one reused buffer, hashes it and writes it (each step releases the GIL, so parallel
downloads hash on every core with no copy into Python objects), and with every request blocking
the ``kuberya pull`` command need not import asyncio at all (~60 ms here). The server runs a
transfer on a thread of its own (:mod:`kuberya.images.service`).

:class:`HttpPool` keeps idle keep-alive connections per ``(scheme, host, port)``; it is shared by the
threads of one transfer. A connection goes back to the pool only when its response was read to
the end and the server did not ask to close it; anything else closes it. A request on a reused
connection that the server had closed meanwhile (the usual keep-alive race) is retried once on a
new connection. :meth:`HttpPool.abort` shuts every connection in use, so that reads blocked in
other threads return at once (a cancelled transfer).

TLS is always verified: https connections use one :func:`ssl.create_default_context` (the system
trust store), built the first time an https registry is reached.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

_SEND_BLOCK = 1 << 20
"""Bytes ``http.client`` reads from a file body per ``send`` (its default, 8 kB, costs a syscall each)."""
_DRAIN_LIMIT = 64 << 10
"""A response body left unread up to this size is read to keep the connection; larger ones close it."""

Body = bytes | Any
"""``bytes``, or a binary file-like object (read in blocks; the caller sets ``Content-Length``)."""


@functools.cache
def verified_tls_context() -> ssl.SSLContext:
    """The context for every https registry: certificates and host names checked against the system's CAs."""
    import ssl  # only for https: a loopback registry over http needs none of it

    return ssl.create_default_context()


@dataclass(eq=False, slots=True)
class Response:
    """A response whose head has arrived; read its body with :meth:`read` or ``raw.readinto``."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    """Case-insensitive: ``headers.get("content-type")`` finds ``Content-Type``."""
    raw: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    key: tuple[str, str, int]

    def read(self, limit: int = -1) -> bytes:
        """At most ``limit`` bytes of the body (all of it by default)."""
        return self.raw.read(None if limit < 0 else limit)

    def text(self) -> str:
        return self.read().decode(errors="replace")


class HttpPool:
    """Keep-alive connections shared by the threads of one transfer; ``with HttpPool(...)``."""

    def __init__(self, *, timeout: float, user_agent: str) -> None:
        self.timeout = timeout
        """Seconds a connect, or any one read or write, may take."""
        self.user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._busy: set[http.client.HTTPConnection] = set()
        self._aborted = False
        self._lock = threading.Lock()

    def __enter__(self) -> HttpPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def abort(self) -> None:
        """Shut every connection in use (reads blocked in other threads return) and refuse new requests."""
        with self._lock:
            self._aborted = True
            busy = list(self._busy)
        for connection in busy:
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: Callable[[], Body] | None = None
    ) -> Response:
        """Send a request and wait for the response's head (not its body). Raises ``OSError``/``HTTPException``."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        key = (scheme, host, parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = {"User-Agent": self.user_agent, **headers}
        for attempt in range(2):
            connection, reused = self._connection(key)
            payload = body() if body else None
            try:
                connection.request(method, target, body=payload, headers=all_headers)
                raw = connection.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self._discard(connection)
                if reused and attempt == 0 and not self._aborted:
                    continue  # the server closed the idle connection as we reused it: try a fresh one
                raise
            except BaseException:
                self._discard(connection)
                raise
            finally:
                if callable(close := getattr(payload, "close", None)):
                    close()  # a file body is read to its end (or abandoned) once the response has come
            return Response(status=raw.status, reason=raw.reason, headers=raw.headers, raw=raw,
                            connection=connection, key=key)  # fmt: skip
        raise AssertionError("unreachable")  # pragma: no cover

    def release(self, response: Response) -> None:
        """Done with ``response``: its connection goes back to the pool if it can be reused."""
        raw = response.raw
        if not raw.isclosed() and raw.length is not None and raw.length <= _DRAIN_LIMIT and not self._aborted:
            with contextlib.suppress(OSError, http.client.HTTPException):
                raw.read()
        with self._lock:
            self._busy.discard(response.connection)
            if raw.isclosed() and not raw.will_close and not self._aborted:
                self._idle.setdefault(response.key, []).append(response.connection)
                return
        response.connection.close()

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._busy.discard(connection)
        connection.close()

    def _connection(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._aborted:
                raise ConnectionAbortedError("the transfer was cancelled")
            idle = self._idle.get(key)
            if idle:
                connection = idle.pop()
                self._busy.add(connection)
                return connection, True
        scheme, host, port = key
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=verified_tls_context(),
                                                     blocksize=_SEND_BLOCK)  # fmt: skip
        elif scheme == "http":
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout, blocksize=_SEND_BLOCK)
        else:
            raise http.client.InvalidURL(f"unsupported URL scheme {scheme!r}")
        with self._lock:
            if not self._aborted:
                self._busy.add(connection)
                return connection, False
        raise ConnectionAbortedError("the transfer was cancelled")
