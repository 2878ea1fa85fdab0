"""Connecting from the host to ``localhost:<port>`` inside a pod's network namespace.

Upstream the CRI runtime dials ``localhost:<port>`` *inside the pod's network namespace* (for
``kubectl port-forward``), so a server that listens on 127.0.0.1 only is reachable too. A socket
stays in the namespace it was created in, so it is enough to *create* it there; two ways:

- a namespace of the root pod network (:mod:`kuberya.runtime.network`): a thread of its own enters
  it with ``setns(2)`` (through ctypes: ``os.setns`` is Python 3.12+), connects and moves back; the
  event loop's thread never changes namespace. A thread costs tens of microseconds, spawning
  ``nsenter`` with a relay process milliseconds, which is why that is not used;
- a namespace of the rootless pod network (:mod:`kuberya.runtime.rootless`): ``setns`` needs
  CAP_SYS_ADMIN in the caller's own user namespace too, which a user without root does not have, and
  a threaded process cannot join another user namespace. The namespace's holder process hands out
  sockets made inside it instead (a :class:`SocketFactory`, registered under the namespace's path
  by the rootless network), and the connect runs on the event loop. The same factories let the
  service proxy listen inside those namespaces (:func:`watch_socket_factories`).

A pod without a namespace of its own (host network) is reached on the host's 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 10.0
FACTORY_SOCKET = "netns.sock"
"""The holder's listening socket, in the directory a :class:`SocketFactory` names."""

_factories: dict[str, SocketFactory] = {}
"""Namespace path → the holder that makes sockets in it (rootless namespaces only)."""

FactoryObserver = Callable[[str, "SocketFactory | None"], None]
"""Told ``(namespace path, factory)`` when a namespace's factory is registered, ``(path, None)`` when it goes."""
_observers: list[FactoryObserver] = []

_setups: dict[str, set[asyncio.Future[Any]]] = {}
"""Namespace path → what observers are still making in it that its pods should not start without."""


class SocketFactory:
    """Asks a namespace holder (:mod:`kuberya.runtime.nsholder`) for TCP or UDP sockets made in its namespace.

    The holder listens on ``<directory>/netns.sock``. A state directory can be deeper than the
    108 bytes a socket address holds, so the path is reached through ``/proc/self/fd/<directory
    fd>/netns.sock``, which is always short.
    """

    def __init__(self, directory: Path, *, pod_ip: str = "", pod_ports: frozenset[int] = frozenset()) -> None:
        self.directory = directory
        self.pod_ip = pod_ip
        """The address the pod is known by outside its namespace (inside, it connects from loopback)."""
        self.pod_ports = pod_ports
        """The pod's declared TCP ports: the pod's own to bind (on 0.0.0.0, likely), so nothing else
        in its namespace may listen on them, not even on another address."""

    async def make_socket(
        self, family: socket.AddressFamily, kind: socket.SocketKind = socket.SOCK_STREAM
    ) -> socket.socket:
        """A fresh, unbound, non-blocking socket (TCP, or UDP with ``SOCK_DGRAM``) in the holder's namespace."""
        loop = asyncio.get_running_loop()
        directory = os.open(self.directory, os.O_PATH | os.O_DIRECTORY)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
                channel.setblocking(False)
                await loop.sock_connect(channel, f"/proc/self/fd/{directory}/{FACTORY_SOCKET}")
                request = (b"6" if family == socket.AF_INET6 else b"4") + (b"u" if kind == socket.SOCK_DGRAM else b"")
                await loop.sock_sendall(channel, request)
                await _readable(channel)
                message, fds, _, _ = socket.recv_fds(channel, 512, 1)
        finally:
            os.close(directory)
        if not fds:
            detail = message.decode(errors="replace").removeprefix("e").strip() or "it closed the connection"
            raise OSError(f"the network namespace's holder made no socket: {detail}")
        sock = socket.socket(fileno=fds[0])
        if sock.type != kind:  # a holder older than UDP sockets made a TCP one
            sock.close()
            raise OSError(f"the network namespace's holder made a {sock.type.name} socket, not {kind.name}")
        sock.setblocking(False)
        return sock

    async def connect(self, port: int) -> socket.socket:
        """A non-blocking socket connected to ``localhost:port`` in the namespace: IPv4, then IPv6."""
        return await _connect_localhost(port, self.make_socket)


def register_socket_factory(netns_path: str, factory: SocketFactory) -> None:
    _factories[netns_path] = factory
    for observer in list(_observers):
        observer(netns_path, factory)


def unregister_socket_factory(netns_path: str) -> None:
    if _factories.pop(netns_path, None) is not None:
        for observer in list(_observers):
            observer(netns_path, None)


def watch_socket_factories(observer: FactoryObserver) -> Callable[[], None]:
    """Call ``observer`` for every namespace registered now and from now on; returns the way to stop.

    Observers run synchronously inside (un)registration: they must only note the change (and
    schedule work), never block.
    """
    _observers.append(observer)
    for netns_path, factory in list(_factories.items()):
        observer(netns_path, factory)

    def stop() -> None:
        if observer in _observers:
            _observers.remove(observer)

    return stop


def delay_namespace_ready(netns_path: str, setup: asyncio.Future[Any]) -> None:
    """Make :func:`namespace_ready` wait for ``setup``: an observer's work for a new namespace.

    An observer must not block, so what it makes in the namespace (a listener there: the cluster
    DNS's) is a task; a pod's containers that start before it is done would miss it (a DNS query
    refused). The runtime waits for these before it calls a sandbox ready.
    """
    pending = _setups.setdefault(netns_path, set())
    pending.add(setup)

    def done(finished: asyncio.Future[Any]) -> None:
        pending.discard(finished)
        if not pending and _setups.get(netns_path) is pending:
            del _setups[netns_path]

    setup.add_done_callback(done)


async def namespace_ready(netns_path: str, *, timeout: float) -> bool:
    """Wait until what observers make in the namespace is done; False when ``timeout`` came first.

    The observers' work is not cancelled on a timeout: it goes on, the caller only stops waiting.
    """
    pending = [setup for setup in _setups.get(netns_path, ()) if not setup.done()]
    if not pending:
        return True
    _, late = await asyncio.wait(pending, timeout=timeout)
    return not late


async def connect(netns_path: str | None, port: int, *, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A connected, non-blocking socket to ``localhost:port`` of the pod whose namespace is ``netns_path``.

    ``None`` (or a namespace that is gone): the host's. Raises :class:`OSError` or :class:`TimeoutError`.
    """
    factory = _factories.get(netns_path) if netns_path else None
    if factory is not None:
        async with asyncio.timeout(timeout):
            return await factory.connect(port)
    if netns_path is None or not os.path.exists(netns_path):
        async with asyncio.timeout(timeout):
            return await _connect_host(port)
    return await _in_thread(netns_path, port, timeout)


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


# ---- a namespace of the root pod network: setns in a thread -------------------------------------


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _dial_localhost(port: int, timeout: float) -> socket.socket:
    """``localhost:port`` as upstream dials it: IPv4 first, then IPv6."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as v4:
        try:
            return socket.create_connection(("::1", port), timeout=timeout)
        except OSError:
            raise v4 from None


def connect_in_namespace(netns_path: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """Blocking: a socket connected to 127.0.0.1:port inside the namespace. Call it in a thread of its own."""
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            sock = _dial_localhost(port, timeout)
        finally:
            # The thread ends right after; moving back keeps it harmless should anything else run here.
            _setns(home)
    finally:
        os.close(home)
    sock.setblocking(False)
    return sock


async def _connect_host(port: int) -> socket.socket:
    async def make_socket(family: socket.AddressFamily) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    return await _connect_localhost(port, make_socket)


async def _connect_localhost(
    port: int, make_socket: Callable[[socket.AddressFamily], Awaitable[socket.socket]]
) -> socket.socket:
    """``localhost:port`` as upstream dials it, IPv4 then IPv6, on sockets ``make_socket`` makes."""
    loop = asyncio.get_running_loop()
    first: OSError | None = None
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = await make_socket(family)
        try:
            await loop.sock_connect(sock, (address, port))
            return sock
        except OSError as e:
            sock.close()
            first = first or e
    assert first is not None
    raise first


async def _in_thread(netns_path: str, port: int, timeout: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()

    def deliver(result: socket.socket | BaseException) -> None:
        if future.done():  # the caller gave up: nobody will use the socket
            if isinstance(result, socket.socket):
                result.close()
        elif isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def work() -> None:
        result: socket.socket | BaseException
        try:
            result = connect_in_namespace(netns_path, port, timeout=timeout)
        except BaseException as e:  # handed to the loop, not lost
            result = e
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(deliver, result)
            return
        if isinstance(result, socket.socket):
            result.close()

    threading.Thread(target=work, name=f"netns-connect-{port}", daemon=True).start()
    return await future
