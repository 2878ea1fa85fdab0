"""Which endpoint a new connection goes to: round robin, or sticky per client IP.

One :class:`Balancer` per service port. Round robin walks the usable endpoints in their (sorted)
order, so a changing endpoint list shifts the walk but never stalls it. With ``sessionAffinity:
ClientIP`` a client IP keeps its endpoint while that endpoint stays usable and the client came
back within the timeout (measured from its last connection, as kube-proxy's ``recent`` match
does); otherwise it is balanced afresh and remembered.
"""

from __future__ import annotations

from collections.abc import Sequence

from kuberya.client import Clock
from kuberya.proxy.table import Endpoint


class Balancer:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._next = 0
        self._sticky: dict[str, tuple[tuple[str, int], float]] = {}
        """client IP -> (endpoint address, when last used)."""

    def pick(
        self, endpoints: Sequence[Endpoint], *, client_ip: str, affinity_timeout: float | None = None
    ) -> Endpoint | None:
        """The endpoint for a new connection from ``client_ip``; None when there is none."""
        if not endpoints:
            return None
        if affinity_timeout is None:  # the common case, once per new connection: no clock, no dict
            return self._round_robin(endpoints)
        now = self._clock.now()
        remembered = self._sticky.get(client_ip)
        if remembered is not None and now - remembered[1] <= affinity_timeout:
            for endpoint in endpoints:
                if endpoint.address == remembered[0]:
                    self._sticky[client_ip] = (endpoint.address, now)
                    return endpoint
        chosen = self._round_robin(endpoints)
        self._sticky[client_ip] = (chosen.address, now)
        self._expire(now, affinity_timeout)
        return chosen

    def _round_robin(self, endpoints: Sequence[Endpoint]) -> Endpoint:
        chosen = endpoints[self._next % len(endpoints)]
        self._next = (self._next + 1) % len(endpoints)
        return chosen

    def _expire(self, now: float, timeout: float) -> None:
        # Bounded memory: forget clients whose stickiness has run out (cheap: only when adding).
        if len(self._sticky) > 1024:
            self._sticky = {ip: v for ip, v in self._sticky.items() if now - v[1] <= timeout}
