"""HTTP/1.1 for the registry client: the standard library's ``http.client`` on worker threads.

Why not aiohttp (which the server uses elsewhere): importing it costs 0.25–0.3 s - it builds two
TLS contexts from the system trust store and a stack of C extensions - which is more than half of
what a ``kuberya pull`` of a 200 MB image takes; ``http.client`` costs ~30 ms. And a blob download
is best done as one blocking loop in a thread that reads the socket into one reused buffer, hashes
it and writes it: each of the three steps releases the GIL, so parallel downloads hash on every
core with no copy into Python objects and no event-loop hop per chunk (:meth:`HttpPool.run`).

:class:`HttpPool` keeps idle keep-alive connections per ``(scheme, host, port)`` and runs every
blocking call on its own executor (``workers`` threads), so a long download never occupies the
event loop's default executor. A connection goes back to the pool only when its response was read
to the end and the server did not ask to close it; anything else closes it. A request on a reused
connection that the server had closed meanwhile (the usual keep-alive race) is retried once on a
new connection.

TLS is always verified: https connections use one :func:`ssl.create_default_context` (the system
trust store), built the first time an https registry is reached, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

_T = TypeVar("_T")
_SEND_BLOCK = 1 << 20
"""Bytes ``http.client`` reads from a file body per ``send`` (its default, 8 kB, costs a syscall each)."""
_DRAIN_LIMIT = 64 << 10
"""A response body left unread up to this size is read to keep the connection; larger ones close it."""

Body = bytes | Any
"""``bytes``, or a binary file-like object (read in blocks; the caller sets ``Content-Length``)."""


@functools.cache
def verified_tls_context() -> ssl.SSLContext:
    """The context for every https registry: certificates and host names checked against the system's CAs."""
    return ssl.create_default_context()


@dataclass(eq=False, slots=True)
class Response:
    """A response whose head has arrived; read its body with :meth:`read` or in a :meth:`HttpPool.run` loop."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    """Case-insensitive: ``headers.get("content-type")`` finds ``Content-Type``."""
    raw: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    key: tuple[str, str, int]
    pool: HttpPool

    async def read(self, limit: int = -1) -> bytes:
        """At most ``limit`` bytes of the body (all of it by default)."""
        return await self.pool.run(self.raw.read, None if limit < 0 else limit)

    async def text(self) -> str:
        return (await self.read()).decode(errors="replace")

    def abort(self) -> None:
        """Unblock a read in progress in another thread (a cancelled download): shut the socket."""
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class HttpPool:
    """Keep-alive connections and the threads that use them; ``async with HttpPool(...)``."""

    def __init__(self, *, workers: int, timeout: float, user_agent: str) -> None:
        self.timeout = timeout
        """Seconds a connect, or any one read or write, may take."""
        self.user_agent = user_agent
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kuberya-registry")
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    async def __aenter__(self) -> HttpPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()
        # A download cancelled a moment ago may still be unwinding in its thread: don't wait for it.
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on one of the pool's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: Callable[[], Body] | None = None
    ) -> Response:
        """Send a request and wait for the response's head (not its body). Raises ``OSError``/``HTTPException``."""
        return await self.run(self._request, method, url, dict(headers), body)

    async def release(self, response: Response) -> None:
        """Done with ``response``: its connection goes back to the pool if it can be reused."""
        raw = response.raw
        if not raw.isclosed() and raw.length is not None and raw.length <= _DRAIN_LIMIT:
            with contextlib.suppress(OSError, http.client.HTTPException):
                await self.run(raw.read)
        if raw.isclosed() and not raw.will_close:
            with self._lock:
                self._idle.setdefault(response.key, []).append(response.connection)
        else:
            response.connection.close()

    # -- on a worker thread ---------------------------------------------------------------------------

    def _request(self, method: str, url: str, headers: dict[str, str], body: Callable[[], Body] | None) -> Response:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        key = (scheme, host, parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers.setdefault("User-Agent", self.user_agent)
        for attempt in range(2):
            connection, reused = self._connection(key)
            payload = body() if body else None
            try:
                connection.request(method, target, body=payload, headers=headers)
                raw = connection.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                connection.close()
                if reused and attempt == 0:
                    continue  # the server closed the idle connection as we reused it: try a fresh one
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                if callable(close := getattr(payload, "close", None)):
                    close()  # a file body is read to its end (or abandoned) once the response has come
            return Response(status=raw.status, reason=raw.reason, headers=raw.headers, raw=raw,
                            connection=connection, key=key, pool=self)  # fmt: skip
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=verified_tls_context(),
                                               blocksize=_SEND_BLOCK), False  # fmt: skip
        if scheme != "http":
            raise http.client.InvalidURL(f"unsupported URL scheme {scheme!r}")
        return http.client.HTTPConnection(host, port, timeout=self.timeout, blocksize=_SEND_BLOCK), False
