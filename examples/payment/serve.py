"""Run an ASGI application over HTTP/1.1 with nothing but the standard library.

The payment image must build and run offline, from a bare Python base, so it cannot ``pip install
uvicorn``. This runner is small but careful about what a Kubernetes pod needs:

- HTTP/1.1 keep-alive and pipelining (one request at a time per connection), HTTP/1.0 (closes),
  request bodies by ``Content-Length`` or ``chunked``, ``Expect: 100-continue``; responses framed
  by the application's ``Content-Length``, by one computed here for single-message bodies, or
  ``chunked`` for streamed ones; ``HEAD`` answered without a body (the framing is ``http11.py``'s).
- The ASGI lifespan protocol (startup before listening, shutdown last), with lifespan state.
- Graceful termination on SIGTERM or SIGINT, in uvicorn's order: tell the application (readiness
  turns 503, see ``app.py``), close the listening socket so new connections are refused, close idle
  keep-alive connections, let in-flight requests finish within ``GRACE_PERIOD`` seconds (cancel
  what is left, with a log line), run lifespan shutdown, exit 0. A second signal skips the wait.

Configuration, from the environment (or the same names as ``--options``):
``APP`` (``app:app``), ``HOST`` (``0.0.0.0``), ``PORT`` (``8080``; 0 picks a free port, logged),
``GRACE_PERIOD`` (25 s: under Kubernetes' default 30 s minus the preStop sleep),
``KEEPALIVE_TIMEOUT`` (5 s), ``ACCESS_LOG`` (off; ``1`` logs one line per request),
``SERVER`` (``builtin``; ``uvicorn`` runs the same app under uvicorn when it is installed).
The built-in server is the default even where uvicorn is importable, so that the demo behaves
the same on every machine.

Kubernetes injects ``<SERVICE>_PORT=tcp://…`` variables into pods, which is why the port is read
from ``PORT`` and never from ``PAYMENT_PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from http11 import MAX_HEAD_BYTES, Exchange, HttpError, Request, read_request_body, read_request_head, status_line

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SHUTDOWN_STATE_KEY = "payment.shutdown_requested"
"""Lifespan-state key under which the app finds the :class:`threading.Event` set at SIGTERM."""

FIRST_REQUEST_TIMEOUT = 10.0
"""Seconds a new connection may take to send its first request head (slow-loris bound)."""

log = logging.getLogger("serve")


@dataclass(frozen=True)
class ServerConfig:
    app: str = "app:app"
    """``module:attribute`` of the ASGI application, imported from this file's directory first."""
    host: str = "0.0.0.0"
    port: int = 8080
    grace_period: float = 25.0
    """Seconds in-flight requests get to finish after SIGTERM before they are cancelled."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection is kept open waiting for its next request."""
    access_log: bool = False
    server: str = "builtin"

    @classmethod
    def parse(cls, argv: list[str], environ: Mapping[str, str]) -> ServerConfig:
        parser = argparse.ArgumentParser(description="Serve an ASGI app over HTTP/1.1 (stdlib only).")
        parser.add_argument("--app", default=environ.get("APP", cls.app))
        parser.add_argument("--host", default=environ.get("HOST", cls.host))
        parser.add_argument("--port", type=int, default=int(environ.get("PORT", cls.port)))
        parser.add_argument("--grace-period", type=float, default=float(environ.get("GRACE_PERIOD", cls.grace_period)))
        parser.add_argument(
            "--keepalive-timeout", type=float, default=float(environ.get("KEEPALIVE_TIMEOUT", cls.keepalive_timeout))
        )
        parser.add_argument(
            "--access-log", action="store_true", default=environ.get("ACCESS_LOG", "") in ("1", "true", "yes")
        )
        parser.add_argument("--server", choices=("builtin", "uvicorn"), default=environ.get("SERVER", cls.server))
        args = parser.parse_args(argv)
        return cls(
            app=args.app,
            host=args.host,
            port=args.port,
            grace_period=args.grace_period,
            keepalive_timeout=args.keepalive_timeout,
            access_log=args.access_log,
            server=args.server,
        )


@dataclass(eq=False)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle: bool = True
    """Waiting for the next request head: safe to close when the server drains."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Server:
    """The built-in server; :meth:`serve` returns the process's exit code."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.shutdown_requested = threading.Event()
        self.state: dict[str, Any] = {SHUTDOWN_STATE_KEY: self.shutdown_requested}
        self._connections: set[Connection] = set()
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._listener: asyncio.Server | None = None
        self.port: int | None = None

    def request_stop(self, signum: int) -> None:
        if self._stop.is_set():
            log.warning("second %s: not waiting for in-flight requests", signal.Signals(signum).name)
            self._force.set()
            return
        log.info("%s received: shutting down gracefully", signal.Signals(signum).name)
        self.shutdown_requested.set()
        self._stop.set()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        lifespan = Lifespan(self.app, self.state)
        if not await lifespan.startup():
            return 1
        self._listener = await asyncio.start_server(
            self._accept, self.config.host, self.config.port, limit=MAX_HEAD_BYTES, reuse_address=True
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        log.info("listening on http://%s:%d (pid %d)", self.config.host, self.port, os.getpid())
        await self._stop.wait()
        await self._shutdown()
        await lifespan.shutdown()
        log.info("stopped")
        return 0

    async def _shutdown(self) -> None:
        assert self._listener is not None
        # Closing the listener first is what makes new connections fail fast (refused) instead of
        # hanging in the backlog while the endpoints controller catches up.
        self._listener.close()
        for connection in list(self._connections):
            if connection.idle and connection.task is not None:
                connection.task.cancel()
        tasks = [c.task for c in self._connections if c.task is not None]
        in_flight = sum(not c.idle for c in self._connections)
        if in_flight:
            log.info("waiting up to %.1fs for %d in-flight request(s)", self.config.grace_period, in_flight)
        if tasks:
            waiter = asyncio.ensure_future(asyncio.wait(tasks, timeout=self.config.grace_period))
            force = asyncio.ensure_future(self._force.wait())
            await asyncio.wait([waiter, force], return_when=asyncio.FIRST_COMPLETED)
            force.cancel()
            waiter.cancel()
            left = [task for task in tasks if not task.done()]
            if left:
                log.warning("cancelling %d request(s) still running after the grace period", len(left))
                for task in left:
                    task.cancel()
                await asyncio.gather(*left, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(reader, writer, task=asyncio.current_task())
        self._connections.add(connection)
        try:
            await self._run_connection(connection)
        except asyncio.CancelledError:
            pass  # shutdown closed it; nothing more to say to this client
        finally:
            self._connections.discard(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _run_connection(self, connection: Connection) -> None:
        reader, writer = connection.reader, connection.writer
        timeout = FIRST_REQUEST_TIMEOUT
        while not self._stop.is_set():
            connection.idle = True
            try:
                async with asyncio.timeout(timeout):
                    request = await read_request_head(reader)
                if request is None:
                    return
                connection.idle = False
                await self._continue_if_expected(request, writer)
                request.body = await read_request_body(reader, request)
            except TimeoutError:
                return
            except HttpError as error:
                await self._answer_error(writer, error)
                return
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            keep_alive = not request.wants_close and not self._stop.is_set()
            exchange = Exchange(request=request, writer=writer, keep_alive=keep_alive, stopping=self._stop)
            started = time.perf_counter()
            await self._run_app(exchange, writer)
            if self.config.access_log:
                self._log_access(writer, request, exchange.status, time.perf_counter() - started)
            if not (exchange.complete and exchange.keep_alive) or exchange.disconnected or self._stop.is_set():
                return
            timeout = self.config.keepalive_timeout

    async def _continue_if_expected(self, request: Request, writer: asyncio.StreamWriter) -> None:
        expect = request.header(b"expect")
        if expect is not None and request.http_version == "1.1":
            if expect.lower() != b"100-continue":
                raise HttpError(417, f"unsupported Expect {expect.decode('latin-1')!r}")
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()

    async def _run_app(self, exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        try:
            await self.app(self._scope(exchange.request, writer), exchange.receive, exchange.send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the application raised while answering %s", exchange.request.raw_target[:200])
            if not exchange.started:
                exchange.keep_alive = False
                await exchange.send({"type": "http.response.start", "status": 500, "headers": []})
                await exchange.send({"type": "http.response.body", "body": b"Internal Server Error\n"})
            else:
                exchange.keep_alive = False  # the response is broken mid-way; closing tells the client
        else:
            if not exchange.started:
                log.error("the application returned without a response to %s", exchange.request.raw_target[:200])
                exchange.keep_alive = False
                await exchange.send({"type": "http.response.start", "status": 500, "headers": []})
                await exchange.send({"type": "http.response.body", "body": b"Internal Server Error\n"})
            elif not exchange.complete:
                exchange.keep_alive = False
        finally:
            exchange.finish()

    def _scope(self, request: Request, writer: asyncio.StreamWriter) -> Scope:
        raw_path, _, query = request.raw_target.partition(b"?")
        if not raw_path.startswith(b"/"):
            # absolute-form (what proxies send): keep only the path and query
            parts = urlsplit(request.raw_target.decode("latin-1"))
            raw_path, query = (parts.path or "/").encode("latin-1"), parts.query.encode("latin-1")
        client = writer.get_extra_info("peername")
        server = writer.get_extra_info("sockname")
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method,
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": tuple(client[:2]) if client else None,
            "server": tuple(server[:2]) if server else None,
            # Per request a shallow copy, as the spec says: objects in it are shared.
            "state": dict(self.state),
        }

    async def _answer_error(self, writer: asyncio.StreamWriter, error: HttpError) -> None:
        body = f"{error.status} {error.detail}\n".encode()
        head = status_line(error.status) + (
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head + body)
            await writer.drain()

    def _log_access(self, writer: asyncio.StreamWriter, request: Request, status: int, seconds: float) -> None:
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if peer else "-"
        target = request.raw_target.decode("latin-1")
        version = request.http_version
        log.info('%s "%s %s HTTP/%s" %d %.1fms', client, request.method, target, version, status, seconds * 1000)


class Lifespan:
    """The ASGI lifespan protocol, run as one task beside the server."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def startup(self) -> bool:
        """False when the app reported a failed startup (the process should exit 1)."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self._task = asyncio.create_task(self._run(scope), name="asgi-lifespan")
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._reply()
        if reply["type"] == "lifespan.startup.failed":
            log.error("application startup failed: %s", reply.get("message", ""))
            return False
        return True

    async def shutdown(self) -> None:
        if not self._supported or self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        reply = await self._reply()
        if reply["type"] == "lifespan.shutdown.failed":
            log.error("application shutdown failed: %s", reply.get("message", ""))

    async def _reply(self) -> Message:
        assert self._task is not None
        getter = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait([getter, self._task], return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        # The app ended (or raised) without answering: like uvicorn's "auto", run without lifespan.
        self._supported = False
        return {"type": "lifespan.unsupported"}

    async def _run(self, scope: Scope) -> None:
        try:
            await self.app(scope, self._inbox.get, self._outbox.put)
        except Exception as error:
            log.info("ASGI lifespan unsupported by the application (%s); continuing without it", error)


def load_app(spec: str) -> ASGIApp:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"serve: APP must look like 'module:attribute', got {spec!r}")
    # The app sits next to this file; import it from here whatever the working directory is.
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    module = importlib.import_module(module_name)
    app = getattr(module, attribute, None)
    if app is None:
        raise SystemExit(f"serve: module {module_name!r} has no attribute {attribute!r}")
    return app  # type: ignore[no-any-return]


def with_shutdown_state(app: ASGIApp, event: threading.Event) -> ASGIApp:
    """Wrap ``app`` so that every scope's state carries ``event`` (for servers that don't put it there)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        # In place: the lifespan state is the dict the server copies into every request's scope.
        scope.setdefault("state", {})[SHUTDOWN_STATE_KEY] = event
        await app(scope, receive, send)

    return wrapped


def serve_with_uvicorn(app: ASGIApp, config: ServerConfig) -> int:
    try:
        import uvicorn  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise SystemExit("serve: SERVER=uvicorn but uvicorn is not installed; use SERVER=builtin") from None
    event = threading.Event()

    class _Server(uvicorn.Server):  # type: ignore[misc,unused-ignore]
        def handle_exit(self, sig: int, frame: Any) -> None:
            event.set()  # readiness turns 503 before uvicorn starts closing
            super().handle_exit(sig, frame)

    uvicorn_config = uvicorn.Config(
        with_shutdown_state(app, event),
        host=config.host,
        port=config.port,
        lifespan="auto",
        timeout_keep_alive=int(config.keepalive_timeout),
        timeout_graceful_shutdown=int(config.grace_period),
        access_log=config.access_log,
    )
    _Server(uvicorn_config).run()
    return 0


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig.parse(sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ)
    try:
        app = load_app(config.app)
    except ValueError as error:  # the app's settings, read from the environment at import
        raise SystemExit(f"serve: cannot load {config.app}: {error}") from None
    if config.server == "uvicorn":
        return serve_with_uvicorn(app, config)
    return asyncio.run(Server(app, config).serve())


if __name__ == "__main__":
    sys.exit(main())
