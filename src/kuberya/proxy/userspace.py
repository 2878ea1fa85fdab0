"""The userspace proxy: listening sockets on the event loop that splice each connection to an endpoint.

:meth:`UserspaceProxy.apply` takes a table (:mod:`kuberya.proxy.table`) and makes the
listeners match it: one listening socket per frontend address, all frontends of one service
port sharing one :class:`~kuberya.proxy.balancer.Balancer`. A listener that cannot bind (the
address is busy or not ours) is logged and tried again at the next apply.
:meth:`UserspaceProxy.serve_socket` serves a listening socket made elsewhere (inside a pod's
network namespace) the same way.

Why raw sockets and not asyncio transports: the per-connection cost is what limits a proxy on
this machine, and ``bench/proxy_bench.py`` with a profile showed where it went — a Task, an
``asyncio.timeout`` and ``create_connection`` per backend connect, two transports (each
scheduling its own ``connection_made`` and reader registration) and about sixteen loop
callbacks per connection. Here the loop's ``add_reader``/``add_writer`` call this module's
callbacks directly: accept in batches, a non-blocking ``connect`` watched for writability, then
per direction one callback per chunk that ``recv_into`` one shared buffer and ``send`` it on.
That halved the proxy's CPU per connection (``docs/DECISIONS.md``).

Flow control: a direction holds at most one chunk that its destination would not take; while
it does, its source is not read (the kernel's socket buffers push back on the sender), and the
destination's writability resumes it. Half-closes pass through: EOF from one side becomes
``shutdown(SHUT_WR)`` on the other once its chunk is sent, and the connection ends when both
directions have. The accepted side is not read until the backend connection is up (nothing to
hand its bytes to); a backend that refuses or does not answer within ``connect_timeout`` is
skipped for the next usable one. Both sides get ``TCP_NODELAY``: a splice must not hold a small
chunk back waiting for an ACK.

Draining: a connection remembers its endpoint. When an apply no longer lists that endpoint for
its service port at all, new connections stop going there at once (the balancer never sees it),
and the existing ones get ``drain_timeout`` seconds to finish before they are cut. An endpoint
that is merely not ready, or terminating, keeps its connections open: they end when the pod
closes them or disappears from the slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from kuberya.client import Clock, LoopClock
from kuberya.client.clock import Timer
from kuberya.proxy.balancer import Balancer
from kuberya.proxy.table import Endpoint, ServicePort

logger = logging.getLogger(__name__)

Address = tuple[str, int]

CHUNK = 256 * 1024
"""The most one ``recv`` takes (asyncio's own transports use the same)."""
ACCEPTS_PER_WAKEUP = 128
"""Connections accepted per readiness callback: a burst costs one wake-up, not one each."""
_NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
_CONNECT_PENDING = (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY)


class _Direction:
    """Bytes flowing from ``source`` to ``sink``, with the one chunk ``sink`` has not taken yet."""

    __slots__ = ("conn", "eof", "pending", "reading", "sink", "source", "writing")

    def __init__(self, conn: Connection, source: socket.socket, sink: socket.socket) -> None:
        self.conn = conn
        self.source = source
        self.sink = sink
        self.pending = b""
        self.eof = False
        # What is registered with the loop, so that closing unregisters exactly that: each
        # needless add/remove costs a selector lookup, and this is per connection.
        self.reading = False
        self.writing = False


@dataclass(eq=False, slots=True)
class Connection:
    """A client connection and, once connected, its backend connection."""

    proxy: UserspaceProxy
    port_key: str
    client: socket.socket
    client_ip: str
    backend: socket.socket | None = None
    endpoint: Endpoint | None = None
    drain_timer: Timer | None = None
    closed: bool = False
    tried: set[Address] = field(default_factory=set)
    """Endpoints this connection has tried (a refused one is not picked again)."""
    connect_timer: asyncio.TimerHandle | None = None
    """Set while a backend connection is being made (its socket is then watched for writability)."""
    upstream: _Direction | None = None
    downstream: _Direction | None = None

    def close(self, *, abort: bool = False) -> None:
        """Close both sides and forget the connection.

        Nothing is buffered in the proxy once both directions have ended, so a close after both
        EOFs loses nothing; ``abort`` (a drain cut, an error, shutdown) drops what is pending.
        """
        if self.closed:
            return
        self.closed = True
        if self.drain_timer is not None:
            self.drain_timer.cancel()
        if self.connect_timer is not None:
            self.connect_timer.cancel()
        # Unregister before closing: the selector is keyed by fd number, which the next socket reuses.
        loop = self.proxy._loop
        for direction in (self.upstream, self.downstream):
            if direction is not None:
                if direction.reading:
                    loop.remove_reader(direction.source.fileno())
                if direction.writing:
                    loop.remove_writer(direction.sink.fileno())
        if self.connect_timer is not None and self.backend is not None:  # still connecting
            loop.remove_writer(self.backend.fileno())
        self.client.close()
        if self.backend is not None:
            self.backend.close()
        self.proxy._forget(self)


class Listener:
    """One listening socket whose connections go to one service port (``close()`` stops it)."""

    def __init__(self, proxy: UserspaceProxy, sock: socket.socket, port_key: str, client_ip: str | None) -> None:
        self.proxy = proxy
        self.sock = sock
        self.port_key = port_key
        self.client_ip = client_ip
        """The client address the balancer sees, when the socket's peer address is not the client's."""
        sock.setblocking(False)
        proxy._loop.add_reader(sock.fileno(), proxy._accept, self)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.proxy._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class _PortState:
    def __init__(self, entry: ServicePort, clock: Clock) -> None:
        self.balancer = Balancer(clock)
        self.update(entry)

    def update(self, entry: ServicePort) -> None:
        self.entry = entry
        self.usable = entry.usable_endpoints()
        """Computed once per apply, not once per connection."""
        self.present = {e.address for e in entry.endpoints}


class UserspaceProxy:
    """Listens on every frontend of a table and forwards connections to usable endpoints."""

    def __init__(
        self,
        *,
        drain_timeout: float = 30.0,
        connect_timeout: float = 3.0,
        clock: Clock | None = None,
    ) -> None:
        self.drain_timeout = drain_timeout
        """How long connections to an endpoint that is gone may go on before they are cut."""
        self.connect_timeout = connect_timeout
        """Seconds a backend has to accept a connection before the next endpoint is tried (real time)."""
        self._clock: Clock = clock or LoopClock()
        self._ports: dict[str, _PortState] = {}
        self._listeners: dict[Address, Listener] = {}
        self._listener_keys: dict[Address, str] = {}
        self._connections: set[Connection] = set()
        self._buffer = bytearray(CHUNK)
        self._view = memoryview(self._buffer)
        """One receive buffer for every connection: the loop runs one callback at a time."""
        self._bound_loop: asyncio.AbstractEventLoop | None = None

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._bound_loop is None:
            self._bound_loop = asyncio.get_running_loop()
        return self._bound_loop

    # -- the table ------------------------------------------------------------------------------

    async def apply(
        self,
        table: dict[str, ServicePort],
        *,
        node_port_hosts: Iterable[str],
        cluster_ips: bool,
        cluster_ip_keys: frozenset[str] = frozenset(),
    ) -> None:
        """Make the listeners and the endpoint sets those of ``table``.

        ``cluster_ips``: listen on every entry's ClusterIP; else only on those of ``cluster_ip_keys``
        (what the kernel path leaves to userspace: ``sessionAffinity``).
        """
        node_port_hosts = tuple(node_port_hosts)
        for key, entry in table.items():
            state = self._ports.get(key)
            if state is None:
                self._ports[key] = _PortState(entry, self._clock)
            else:
                state.update(entry)
        for key in set(self._ports) - set(table):
            del self._ports[key]
        wanted: dict[Address, str] = {}
        for key, entry in table.items():
            if entry.protocol != "TCP":
                continue  # UDP and SCTP are not proxied in userspace (docs/DECISIONS.md)
            on_cluster_ip = cluster_ips or key in cluster_ip_keys
            for address in entry.frontends(node_port_hosts=node_port_hosts, cluster_ips=on_cluster_ip):
                wanted.setdefault(address, key)
        self._listener_keys = wanted
        for address in set(self._listeners) - set(wanted):
            self._listeners.pop(address).close()
        for address, key in wanted.items():
            listener = self._listeners.get(address)
            if listener is None:
                self._listen(address, key)
            else:
                listener.port_key = key
        self._update_draining()

    def _listen(self, address: Address, key: str) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        try:
            sock = socket.create_server(address, family=family, backlog=512)
        except OSError as e:
            why = {errno.EADDRINUSE: "the port is busy", errno.EADDRNOTAVAIL: "the address is not on this host"}
            logger.warning("proxy: cannot listen on %s:%d for %s (%s); will retry",
                           *address, key, why.get(e.errno or 0, e.strerror))  # fmt: skip
            return
        self._listeners[address] = Listener(self, sock, key, None)
        logger.debug("proxy: listening on %s:%d for %s", *address, key)

    def serve_socket(self, sock: socket.socket, port_key: str, *, client_ip: str | None = None) -> Listener:
        """Serve connections accepted on ``sock`` (already listening) as ``port_key``'s.

        ``client_ip`` stands in for the peer address in the balancer (for ``sessionAffinity``)
        where every peer looks alike, as inside a pod's namespace. The caller closes the listener.
        """
        return Listener(self, sock, port_key, client_ip)

    @property
    def listening(self) -> list[Address]:
        return sorted(self._listeners)

    def connections(self) -> dict[Address, int]:
        """How many open connections each endpoint has (for tests and metrics)."""
        counts: dict[Address, int] = {}
        for conn in self._connections:
            if conn.endpoint is not None:
                counts[conn.endpoint.address] = counts.get(conn.endpoint.address, 0) + 1
        return counts

    def _update_draining(self) -> None:
        for conn in list(self._connections):
            state = self._ports.get(conn.port_key)
            present = state is not None and conn.endpoint is not None and conn.endpoint.address in state.present
            if present and conn.drain_timer is not None:
                conn.drain_timer.cancel()
                conn.drain_timer = None
            elif not present and conn.drain_timer is None and conn.endpoint is not None:
                self._start_drain(conn)

    def _start_drain(self, conn: Connection) -> None:
        def cut() -> None:
            if not conn.closed:
                logger.info("proxy: %s: a connection to %s cut after %.0fs of draining", conn.port_key,
                            conn.endpoint, self.drain_timeout)  # fmt: skip
                conn.close(abort=True)

        conn.drain_timer = self._clock.call_later(self.drain_timeout, cut)

    # -- accepting and connecting ---------------------------------------------------------------

    def _accept(self, listener: Listener) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                client, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while waiting in the backlog
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment rather than spin on the backlog.
                    logger.error("proxy: accepting on %s failed (%s); pausing for a second", listener.port_key, e)
                    fd = listener.sock.fileno()
                    self._loop.remove_reader(fd)
                    self._loop.call_later(1.0, self._resume_accepting, listener)
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, listener.port_key, client, listener.client_ip or str(peer[0]))
            self._connections.add(conn)
            self._connect_next(conn)

    def _resume_accepting(self, listener: Listener) -> None:
        if listener.sock.fileno() >= 0:
            self._loop.add_reader(listener.sock.fileno(), self._accept, listener)

    def _connect_next(self, conn: Connection) -> None:
        """Start connecting to the next usable endpoint not yet tried; close the client if none is left."""
        state = self._ports.get(conn.port_key)
        while state is not None and not conn.closed:
            usable = state.usable
            if conn.tried:
                usable = tuple(e for e in usable if e.address not in conn.tried)
            endpoint = state.balancer.pick(usable, client_ip=conn.client_ip,
                                           affinity_timeout=state.entry.affinity_timeout)  # fmt: skip
            if endpoint is None:
                break
            conn.tried.add(endpoint.address)
            backend = socket.socket(socket.AF_INET, _NONBLOCKING_STREAM)
            backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = backend.connect_ex(endpoint.address)
            if code in _CONNECT_PENDING:
                conn.backend, conn.endpoint = backend, endpoint
                self._loop.add_writer(backend.fileno(), self._connected, conn)
                conn.connect_timer = self._loop.call_later(self.connect_timeout, self._connect_failed, conn, None)
                return
            if code == 0:
                conn.backend, conn.endpoint = backend, endpoint
                self._splice(conn)
                return
            backend.close()
            logger.debug(
                "proxy: %s: endpoint %s:%d failed: %s", conn.port_key, *endpoint.address, errno.errorcode.get(code)
            )
        logger.debug("proxy: %s: no usable endpoint for %s", conn.port_key, conn.client_ip)
        conn.close(abort=True)  # the client sees its connection end at once: nobody is there

    def _connected(self, conn: Connection) -> None:
        backend = conn.backend
        assert backend is not None
        code = backend.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._connect_failed(conn, code)
            return
        self._loop.remove_writer(backend.fileno())
        if conn.connect_timer is not None:
            conn.connect_timer.cancel()
            conn.connect_timer = None
        self._splice(conn)

    def _connect_failed(self, conn: Connection, code: int | None) -> None:
        """The backend refused (``code``) or did not answer in time (None): try the next endpoint."""
        backend, endpoint = conn.backend, conn.endpoint
        if conn.closed or backend is None or endpoint is None:
            return
        if conn.connect_timer is not None:
            conn.connect_timer.cancel()
            conn.connect_timer = None
        self._loop.remove_writer(backend.fileno())
        backend.close()
        conn.backend = conn.endpoint = None
        why = "timed out" if code is None else errno.errorcode.get(code, str(code))
        logger.debug("proxy: %s: endpoint %s:%d failed: %s", conn.port_key, *endpoint.address, why)
        self._connect_next(conn)

    def _splice(self, conn: Connection) -> None:
        backend, endpoint = conn.backend, conn.endpoint
        assert backend is not None and endpoint is not None
        conn.upstream = upstream = _Direction(conn, conn.client, backend)
        conn.downstream = downstream = _Direction(conn, backend, conn.client)
        self._loop.add_reader(conn.client.fileno(), self._readable, upstream)
        self._loop.add_reader(backend.fileno(), self._readable, downstream)
        upstream.reading = downstream.reading = True
        state = self._ports.get(conn.port_key)
        if state is None or endpoint.address not in state.present:
            self._start_drain(conn)  # the endpoint went away while we were connecting

    # -- the splice -----------------------------------------------------------------------------

    def _readable(self, direction: _Direction) -> None:
        try:
            size = direction.source.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            direction.conn.close(abort=True)
            return
        if size == 0:
            self._loop.remove_reader(direction.source.fileno())
            direction.reading = False
            direction.eof = True
            self._pass_eof(direction)
            return
        try:
            sent = direction.sink.send(self._view[:size])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            direction.conn.close(abort=True)
            return
        if sent < size:
            # The sink is full: keep the rest, stop reading until it drains.
            direction.pending = bytes(self._view[sent:size])
            self._loop.remove_reader(direction.source.fileno())
            self._loop.add_writer(direction.sink.fileno(), self._writable, direction)
            direction.reading, direction.writing = False, True

    def _writable(self, direction: _Direction) -> None:
        try:
            sent = direction.sink.send(direction.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            direction.conn.close(abort=True)
            return
        direction.pending = direction.pending[sent:]
        if direction.pending:
            return
        self._loop.remove_writer(direction.sink.fileno())
        self._loop.add_reader(direction.source.fileno(), self._readable, direction)
        direction.reading, direction.writing = True, False

    def _pass_eof(self, direction: _Direction) -> None:
        # Only reached with nothing pending: a direction with a pending chunk is not being read.
        conn = direction.conn
        other = conn.downstream if direction is conn.upstream else conn.upstream
        if other is not None and other.eof:
            conn.close()  # both directions done: closing sends the last FIN, no shutdown needed
            return
        try:
            direction.sink.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close(abort=True)

    def _forget(self, conn: Connection) -> None:
        self._connections.discard(conn)

    # -- shutdown -------------------------------------------------------------------------------

    async def close(self, *, drain: float = 5.0) -> None:
        """Stop listening, let open connections finish for up to ``drain`` seconds, then cut them."""
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        for conn in list(self._connections):
            if conn.upstream is None:
                conn.close(abort=True)  # still connecting: nothing was exchanged yet
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                while self._connections:
                    await asyncio.sleep(0.05)
        for conn in list(self._connections):
            conn.close(abort=True)
