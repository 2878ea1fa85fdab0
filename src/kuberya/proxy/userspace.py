"""The userspace proxy: asyncio TCP listeners that splice each connection to an endpoint.

:meth:`UserspaceProxy.apply` takes a table (:mod:`kuberya.proxy.table`) and makes the
listeners match it: one listening socket per frontend address, all frontends of one service
port sharing one :class:`~kuberya.proxy.balancer.Balancer`. A listener that cannot bind (the
address is busy or not ours) is logged and tried again at the next apply.

Connections are spliced with two ``asyncio.Protocol`` halves rather than streams: each chunk
received on one side is handed to the other side's transport, with flow control by the
transports' own watermarks (``pause_writing`` on one side pauses reading on the other), and
half-closes pass through (``write_eof``). That keeps the per-chunk cost to one callback and one
``write`` — the figures in ``docs/DECISIONS.md`` are why it matters. The accepted side is paused
until the backend connection is up; a backend that refuses is skipped for the next usable one.

Draining: a connection remembers its endpoint. When an apply no longer lists that endpoint for
its service port at all, new connections stop going there at once (the balancer never sees it),
and the existing ones get ``drain_timeout`` seconds to finish before they are aborted. An
endpoint that is merely not ready, or terminating, keeps its connections open: they end when the
pod closes them or disappears from the slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kuberya.client import Clock, LoopClock
from kuberya.client.clock import Timer
from kuberya.client.tasks import start_task
from kuberya.proxy.balancer import Balancer
from kuberya.proxy.table import Endpoint, ServicePort

logger = logging.getLogger(__name__)

Address = tuple[str, int]


class _Side(asyncio.Protocol):
    """One socket of a spliced connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()
        if peer is None or peer.eof:
            self.connection.close()
        return True  # keep the other direction open (half-close)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.close()


class _ClientSide(_Side):
    """The accepted socket: paused until the backend is up (nothing to hand its bytes to)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        self.connection.proxy._start_connecting(self.connection)


@dataclass(eq=False)
class Connection:
    """A client connection and, once connected, its backend connection."""

    proxy: UserspaceProxy
    port_key: str
    client: _Side = field(init=False)
    backend: _Side | None = None
    endpoint: Endpoint | None = None
    drain_timer: Timer | None = None
    closed: bool = False

    def __post_init__(self) -> None:
        self.client = _ClientSide(self)

    def close(self, *, abort: bool = False) -> None:
        """Close both sides (flushing what is buffered, unless ``abort``) and forget the connection."""
        if self.closed:
            return
        self.closed = True
        if self.drain_timer is not None:
            self.drain_timer.cancel()
        for side in (self.client, self.backend):
            if side is not None and side.transport is not None:
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()
        self.proxy._forget(self)


def _factory(side: _Side) -> Callable[[], _Side]:
    return lambda: side


class _PortState:
    def __init__(self, entry: ServicePort, clock: Clock) -> None:
        self.entry = entry
        self.balancer = Balancer(clock)


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
        self._clock: Clock = clock or LoopClock()
        self._ports: dict[str, _PortState] = {}
        self._listeners: dict[Address, asyncio.Server] = {}
        self._listener_keys: dict[Address, str] = {}
        self._connections: set[Connection] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    # -- the table ------------------------------------------------------------------------------

    async def apply(self, table: dict[str, ServicePort], *, node_port_hosts: Iterable[str], cluster_ips: bool) -> None:
        """Make the listeners and the endpoint sets those of ``table``."""
        node_port_hosts = tuple(node_port_hosts)
        for key, entry in table.items():
            state = self._ports.get(key)
            if state is None:
                self._ports[key] = _PortState(entry, self._clock)
            else:
                state.entry = entry
        for key in set(self._ports) - set(table):
            del self._ports[key]
        wanted: dict[Address, str] = {}
        for key, entry in table.items():
            if entry.protocol != "TCP":
                continue  # UDP and SCTP are not proxied (docs/DECISIONS.md)
            for address in entry.frontends(node_port_hosts=node_port_hosts, cluster_ips=cluster_ips):
                wanted.setdefault(address, key)
        self._listener_keys = wanted
        for address in set(self._listeners) - set(wanted):
            self._listeners.pop(address).close()
        for address in wanted:
            if address not in self._listeners:
                await self._listen(address)
        self._update_draining()

    async def _listen(self, address: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: self._accepted(address), address[0], address[1], reuse_address=True, backlog=512
            )
        except OSError as e:
            why = {errno.EADDRINUSE: "the port is busy", errno.EADDRNOTAVAIL: "the address is not on this host"}
            logger.warning(
                "proxy: cannot listen on %s:%d for %s (%s); will retry",
                *address,
                self._listener_keys.get(address),
                why.get(e.errno or 0, e.strerror),
            )
            return
        self._listeners[address] = server
        logger.debug("proxy: listening on %s:%d for %s", *address, self._listener_keys.get(address))

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
            present = (
                state is not None
                and conn.endpoint is not None
                and any(e.address == conn.endpoint.address for e in state.entry.endpoints)
            )
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

    # -- connections ----------------------------------------------------------------------------

    def _accepted(self, address: Address) -> asyncio.Protocol:
        conn = Connection(self, self._listener_keys.get(address, ""))
        self._connections.add(conn)
        return conn.client

    def _start_connecting(self, conn: Connection) -> None:
        task = start_task(self._connect(conn), name=f"proxy-connect-{conn.port_key}")
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        transport = conn.client.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else ""
        state = self._ports.get(conn.port_key)
        tried: set[Address] = set()
        while state is not None and not conn.closed:
            usable = [e for e in state.entry.usable_endpoints() if e.address not in tried]
            endpoint = state.balancer.pick(usable, client_ip=client_ip, affinity_timeout=state.entry.affinity_timeout)
            if endpoint is None:
                break
            tried.add(endpoint.address)
            backend = _Side(conn)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await loop.create_connection(_factory(backend), endpoint.ip, endpoint.port)
            except (OSError, TimeoutError) as e:
                logger.debug("proxy: %s: endpoint %s:%d failed: %s", conn.port_key, *endpoint.address, e)
                continue
            if conn.closed:
                if backend.transport is not None:
                    backend.transport.close()
                return
            conn.backend, conn.endpoint = backend, endpoint
            backend.peer, conn.client.peer = conn.client, backend
            if conn.client.eof and backend.transport is not None and backend.transport.can_write_eof():
                backend.transport.write_eof()
            transport.resume_reading()
            if not any(e.address == endpoint.address for e in state.entry.endpoints):
                self._start_drain(conn)  # the endpoint went away while we were connecting
            return
        logger.debug("proxy: %s: no usable endpoint for %s", conn.port_key, client_ip)
        conn.close(abort=True)  # a reset tells the client at once that nobody is there

    def _forget(self, conn: Connection) -> None:
        self._connections.discard(conn)

    # -- shutdown -------------------------------------------------------------------------------

    async def close(self, *, drain: float = 5.0) -> None:
        """Stop listening, let open connections finish for up to ``drain`` seconds, then cut them."""
        for server in self._listeners.values():
            server.close()
        self._listeners.clear()
        for task in list(self._connecting):
            task.cancel()
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                while self._connections:
                    await asyncio.sleep(0.05)
        for conn in list(self._connections):
            conn.close(abort=True)
