"""Where the cluster DNS listens: UDP and TCP sockets on the host, and inside rootless pod namespaces.

The sockets are thin around one ``answer(data, tcp=…)`` coroutine: a datagram is one query
(:class:`UDPServer`), a TCP stream is queries each behind a two-byte length (:func:`tcp_handler`).

Pods on the rootless network (:mod:`kuberya.runtime.rootless`) cannot reach the host's
addresses: their namespace has loopback and the service range, made local to it, and nothing
else. So :class:`PodNamespaceListeners` also answers *inside* each of them, on UDP and TCP
``<cluster DNS IP>:53``, on sockets the namespace's holder makes
(:class:`~kuberya.meta.handover.PodNamespaces`, given by the server: those namespaces belong to this
process, where the rootless network lives), with the same answer as on the host. Binding port 53
there needs no privilege on the host: the server's user owns the pod's user namespace, so it holds
``CAP_NET_BIND_SERVICE`` in it. The runtime waits for these listeners (``delay_namespace_ready``)
before the pod's containers start, so their first query is not refused; a namespace whose holder
does not answer is tried again, backing off up to :data:`POD_SIDE_RETRY_MAX`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.meta.handover import NamespaceSockets, PodNamespaces
from kuberya.proxy.dns import wire

logger = logging.getLogger(__name__)

POD_SIDE_RETRY_MAX = 5.0
"""Longest wait between tries to listen inside a pod namespace (its holder did not answer, say)."""


class Answer(Protocol):
    """The reply to one query message (None: drop it)."""

    def __call__(self, data: bytes, *, tcp: bool) -> Awaitable[bytes | None]: ...


class UDPServer(asyncio.DatagramProtocol):
    """Answers each datagram with ``answer``, concurrently; a failing answer is a SERVFAIL."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport: cast.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reply(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            reply = await self.answer(data, tcp=False)
        except Exception:
            logger.exception("dns: answering a query from %s failed", addr[0])
            import dns.rcode

            reply = wire.error_reply(data, dns.rcode.SERVFAIL)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._pending:
            task.cancel()


def tcp_handler(answer: Answer) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A ``start_server`` callback answering queries with ``answer``, each behind its two-byte length."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = await answer(await reader.readexactly(length), tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return serve


@dataclass
class PodSide:
    """What answers inside one pod namespace: a UDP transport and a TCP server on the same address."""

    task: asyncio.Task[None] | None = None
    transport: asyncio.BaseTransport | None = None
    server: asyncio.Server | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    """Made but not yet handed to a transport or server."""
    bound: tuple[str, int] | None = None

    def close_listeners(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.server is not None:
            self.server.close()
            self.server = None
        self.bound = None

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.close_listeners()


class PodNamespaceListeners:
    """Answers inside every rootless pod namespace of this process, as they come and go."""

    def __init__(
        self, pod_namespaces: PodNamespaces, *, address: tuple[str, int], answer: Answer, answering: asyncio.Event
    ) -> None:
        self.pod_namespaces = pod_namespaces
        self.address = address
        """Where, inside a pod namespace: the address its resolv.conf names."""
        self.answer = answer
        self._answering = answering
        """Set once the host side answers: listening inside a pod before would answer from empty caches."""
        self._sides: dict[str, PodSide] = {}
        """Namespace path → what answers inside it."""
        self._stop_watching: Callable[[], None] | None = None

    def follow(self) -> None:
        """Answer inside every rootless pod namespace of this process, those there now included.

        The listeners are made once ``answering`` is set, and pods wait
        for them (so a pod made while the caches sync does not start without its DNS).
        """
        if self._stop_watching is None:
            self._stop_watching = self.pod_namespaces.watch_socket_factories(self._namespace_changed)

    def listening_in(self, netns_path: str) -> tuple[str, int] | None:
        """The address answered on (UDP and TCP) inside the namespace, once it is."""
        pod_side = self._sides.get(netns_path)
        return pod_side.bound if pod_side is not None else None

    def _namespace_changed(self, netns_path: str, factory: NamespaceSockets | None) -> None:
        old = self._sides.pop(netns_path, None)
        if old is not None:
            old.close()  # at once: its sockets would keep a dying namespace alive
        if factory is None:
            return
        pod_side = PodSide()
        pod_side.task = start_task(self._listen_inside(netns_path, factory, pod_side), name="dns-pod-namespace")
        self._sides[netns_path] = pod_side
        self.pod_namespaces.delay_namespace_ready(netns_path, pod_side.task)

    async def _listen_inside(self, netns_path: str, factory: NamespaceSockets, pod_side: PodSide) -> None:
        await self._answering.wait()
        loop = asyncio.get_running_loop()
        host, port = self.address
        delay = 0.1
        while True:
            try:
                udp = await factory.make_socket(socket.AF_INET, socket.SOCK_DGRAM)
                pod_side.sockets.append(udp)
                udp.bind((host, port))
                bound = udp.getsockname()[:2]
                tcp = await factory.make_socket(socket.AF_INET)
                pod_side.sockets.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(bound)
                tcp.listen(128)
                pod_side.transport, _ = await loop.create_datagram_endpoint(lambda: UDPServer(self.answer), sock=udp)
                pod_side.server = await asyncio.start_server(tcp_handler(self.answer), sock=tcp)
                pod_side.sockets.clear()  # the transport and server own them now
                pod_side.bound = (str(bound[0]), int(bound[1]))
                logger.debug("dns: answering inside pod %s on %s:%d", factory.pod_ip or netns_path, *bound)
                return
            except OSError as e:
                pod_side.close_listeners()
                level = logging.WARNING if delay == 0.1 else logging.DEBUG
                logger.log(level, "dns: cannot answer inside pod %s on %s:%d: %s; retrying",
                           factory.pod_ip or netns_path, host, port, e)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, POD_SIDE_RETRY_MAX)

    async def close(self) -> None:
        """Stop following, and close every listener inside a pod namespace."""
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        sides = [self._sides.pop(netns_path) for netns_path in list(self._sides)]
        for side in sides:
            side.close()
        await cancel_and_wait(*(s.task for s in sides if s.task is not None))
