"""What the server hands one component from another that may not import it, as typed protocols.

The layers (``DESIGN.md``) keep the proxy, the node agent and the runtime apart; two services
still cross between them, and the server, which assembles everything, passes them along. Each side
depends only on the shapes below, never on the other's package:

* **offered endpoints, proxy → node agent.** A pod leaving its Services must be out of the proxy's
  rules before its server stops listening. The proxy publishes, after every apply, the endpoint
  IPs its rules offer (:class:`EndpointPublisher`); the node agent waits until a stopping pod's IP
  is withdrawn (:class:`OfferedEndpointsView`) instead of guessing a propagation delay. The one
  implementation is ``kuberya.client.offered.OfferedEndpoints``.
* **pod namespaces, runtime → proxy and DNS.** Rootless pods have network namespaces only the
  runtime's namespace holders can make sockets in; the proxy and the cluster DNS listen in there
  through :class:`PodNamespaces` (the module ``kuberya.runtime.nsconnect`` satisfies it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import Any, Protocol


class EndpointPublisher(Protocol):
    """The proxy's side of the offered endpoints."""

    def publish(self, ips: Iterable[str]) -> None:
        """The proxy applied rules that offer exactly ``ips`` for new connections."""

    def stop(self) -> None:
        """The proxy stopped: nobody will publish, so nobody should wait."""


class OfferedEndpointsView(Protocol):
    """The node agent's side of the offered endpoints."""

    @property
    def active(self) -> bool:
        """Whether a proxy publishes (it has applied its table once and has not stopped)."""

    async def wait_withdrawn(self, ip: str, timeout: float) -> bool:
        """Until the proxy no longer offers ``ip`` (True) or ``timeout`` passes or no proxy runs (False)."""


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
