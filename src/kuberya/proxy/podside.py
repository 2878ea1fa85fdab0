"""ClusterIPs inside rootless pods' network namespaces: how a pod without a bridge reaches a Service.

A pod on the rootless network (:mod:`kuberya.runtime.rootless`) has only loopback in its
namespace, and no root anywhere can route it out. What it can have is an agent *inside*: the
namespace's holder made the whole service range local to it (a ``local`` route on ``lo``), so a
socket bound to a ClusterIP in that namespace receives what the pod sends to that ClusterIP.

:class:`PodSideFrontends` keeps, in every such namespace, one listening socket per TCP ClusterIP
frontend of the service table. The sockets are made by the namespace's holder (a socket lives in
the namespace it was created in), then bound, listened on and accepted here, on the proxy's event
loop. Each accepted connection is handed to the userspace proxy (:mod:`kuberya.proxy.userspace`)
exactly as if it had arrived at that ClusterIP on the host: same balancer, same draining, and the
endpoints are the other pods' published ``127.1.x.y`` ports. Inside the namespace every
connection comes from the ClusterIP itself, so the client address the balancer sees (for
``sessionAffinity: ClientIP``) is the pod's IP instead.

Namespaces come and go with sandboxes (:class:`~kuberya.meta.handover.PodNamespaces`, given by the server);
the listener set follows both the namespaces and the table, and a listener that cannot be made
(the holder is gone, the pod bound that address itself) is logged and tried again at the next apply.
A new namespace's listeners are made before its pod's containers start
(``delay_namespace_ready``), so an app that calls a Service as it
starts is not refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from kuberya.client.tasks import start_task
from kuberya.meta.handover import NamespaceSockets, PodNamespaces
from kuberya.proxy.table import ServicePort
from kuberya.proxy.userspace import Listener, UserspaceProxy

logger = logging.getLogger(__name__)

Address = tuple[str, int]
BACKLOG = 128


class PodSideFrontends:
    """The table's TCP ClusterIPs, listened on inside every rootless pod namespace of this process."""

    def __init__(self, userspace: UserspaceProxy, namespaces: PodNamespaces) -> None:
        self.userspace = userspace
        self.namespaces_source = namespaces
        self._wanted: dict[Address, str] = {}
        """ClusterIP frontend → the service port key it belongs to."""
        self._factories: dict[str, NamespaceSockets] = {}
        self._listeners: dict[str, dict[Address, Listener]] = {}
        """Namespace path → its listeners."""
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._stop_watching: Callable[[], None] | None = None

    def start(self) -> None:
        """Follow the rootless namespaces of this process (those there now included)."""
        if self._stop_watching is None:
            self._stop_watching = self.namespaces_source.watch_socket_factories(self._namespace_changed)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self._listeners)

    def listening(self, netns_path: str) -> list[Address]:
        return sorted(self._listeners.get(netns_path, {}))

    async def apply(self, table: dict[str, ServicePort]) -> None:
        """Make every namespace's listeners those of ``table``'s TCP ClusterIPs."""
        self._wanted = {
            (entry.cluster_ip, entry.port): key
            for key, entry in table.items()
            if entry.cluster_ip and entry.protocol == "TCP"
        }
        async with self._lock:
            for netns_path in list(self._factories):
                await self._sync_namespace(netns_path)

    async def close(self) -> None:
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        async with self._lock:
            for netns_path in list(self._listeners):
                self._close_namespace(netns_path)
            self._factories.clear()

    # -- namespaces -------------------------------------------------------------------------------

    def _namespace_changed(self, netns_path: str, factory: NamespaceSockets | None) -> None:
        if factory is None:
            self._factories.pop(netns_path, None)
            self._close_namespace(netns_path)  # at once: the sockets keep a dying namespace alive
            return
        self._factories[netns_path] = factory
        task = start_task(self._sync_locked(netns_path), name="proxy-podside-namespace")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        self.namespaces_source.delay_namespace_ready(
            netns_path, task
        )  # the pod's containers start once its ClusterIPs listen

    async def _sync_locked(self, netns_path: str) -> None:
        async with self._lock:
            await self._sync_namespace(netns_path)

    async def _sync_namespace(self, netns_path: str) -> None:
        factory = self._factories.get(netns_path)
        if factory is None:
            return
        listeners = self._listeners.setdefault(netns_path, {})
        # A Service port that is also one of the pod's own ports is left out in that pod: a listener on
        # ClusterIP:8080 would make the pod's own bind to 0.0.0.0:8080 fail (Linux counts a wildcard
        # and a specific address on one port as a clash). Such a pod cannot call that Service port.
        wanted = {address: key for address, key in self._wanted.items() if address[1] not in factory.pod_ports}
        for address in set(listeners) - set(wanted):
            listeners.pop(address).close()
        for address, key in wanted.items():
            if address in listeners:
                continue
            try:
                listeners[address] = await self._listen(factory, address, key)
            except OSError as e:
                logger.warning("proxy: cannot listen on %s:%d inside pod %s for %s: %s; will retry",
                               *address, factory.pod_ip or netns_path, key, e)  # fmt: skip
            if self._factories.get(netns_path) is not factory:  # the sandbox went while we waited
                for server in listeners.values():
                    server.close()
                listeners.clear()
                return

    async def _listen(self, factory: NamespaceSockets, address: Address, key: str) -> Listener:
        sock = await factory.make_socket(socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
        except BaseException:
            sock.close()
            raise
        return self.userspace.serve_socket(sock, key, client_ip=factory.pod_ip or None)

    def _close_namespace(self, netns_path: str) -> None:
        for listener in self._listeners.pop(netns_path, {}).values():
            with contextlib.suppress(OSError):
                listener.close()
