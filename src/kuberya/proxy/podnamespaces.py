"""What the proxy and the cluster DNS need from the rootless pod network, as protocols.

The proxy layer reaches the API only through ``kuberya.client`` and may not import the runtime
(``../shared/DESIGN.md``). Yet both listen *inside* rootless pods' network namespaces, on sockets
the runtime's namespace holders make. So the server, which assembles the components, hands them
the runtime's registry (the module :mod:`kuberya.runtime.nsconnect` satisfies :class:`PodNamespaces`)
and the proxy depends only on the shapes below.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, Protocol


class NamespaceSockets(Protocol):
    """Makes sockets inside one pod's network namespace."""

    @property
    def pod_ip(self) -> str:
        """The address the pod is known by outside its namespace."""

    @property
    def pod_ports(self) -> frozenset[int]:
        """The pod's declared ports: its own to bind, so nothing else may listen on them in there."""

    async def make_socket(
        self, family: socket.AddressFamily, kind: socket.SocketKind = socket.SOCK_STREAM
    ) -> socket.socket:
        """A fresh, unbound, non-blocking socket in the namespace."""


NamespaceObserver = Callable[[str, NamespaceSockets | None], None]
"""Told ``(namespace path, sockets)`` when a namespace comes, ``(path, None)`` when it goes."""


class PodNamespaces(Protocol):
    """The rootless pod namespaces of this process."""

    def watch_socket_factories(self, observer: NamespaceObserver) -> Callable[[], None]:
        """Call ``observer`` for every namespace now and from now on; returns the way to stop."""

    def delay_namespace_ready(self, netns_path: str, setup: asyncio.Future[Any]) -> None:
        """Hold the namespace's pod back until ``setup`` (a listener being made in there) is done."""
