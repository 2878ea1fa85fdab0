"""Which pod addresses the in-process service proxy sends new connections to, for the node agent.

A pod leaving its Services must be out of the proxy's rules before its server stops listening:
a new connection sent to it afterwards is refused. The EndpointSlices say what the proxy *will*
do; this says what it *has done*. The proxy publishes, after every apply, the endpoint IPs it
offers (:meth:`OfferedEndpoints.publish`); the node agent, once the slices no longer list its pod
as ready, waits here until the proxy's rules agree (:meth:`OfferedEndpoints.wait_withdrawn`)
instead of guessing a propagation delay - a guess a loaded machine can outrun.

The server makes one and hands it to both components (they may not import each other); each
depends only on its side's protocol in :mod:`kuberya.meta.handover` (:class:`EndpointPublisher`
for the proxy, :class:`OfferedEndpointsView` for the node agent), which this class satisfies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class OfferedEndpoints:
    """The proxy's applied endpoint IPs; all methods on the event loop both components share."""

    def __init__(self) -> None:
        self._ips: frozenset[str] = frozenset()
        self._active = False
        self._changed = asyncio.Event()

    @property
    def active(self) -> bool:
        """Whether a proxy publishes here (it has applied its table once and has not stopped)."""
        return self._active

    def publish(self, ips: Iterable[str]) -> None:
        """The proxy applied rules that offer exactly ``ips`` for new connections."""
        self._ips = frozenset(ips)
        self._active = True
        self._wake()

    def stop(self) -> None:
        """The proxy stopped: nobody will publish, so nobody should wait."""
        self._active = False
        self._wake()

    async def wait_withdrawn(self, ip: str, timeout: float) -> bool:
        """Until the proxy no longer offers ``ip`` (True) or ``timeout`` passes or no proxy runs (False)."""
        try:
            async with asyncio.timeout(timeout):
                while self._active and ip in self._ips:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            return False
        return self._active

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
