"""Leaving the Service endpoints before the stop signal: the node's half of zero-downtime rollouts.

When a pod gets its ``deletionTimestamp`` three things race: the EndpointSlice controller marks
it ``ready: false, terminating: true``, the service proxy stops choosing it for new connections,
and the node agent stops its containers. Upstream leaves the order to chance (and to a
``preStop: sleep`` in the manifest); a connection that lands on a pod whose server has already
closed its listening socket is refused. kuberya puts them in order: before any ``preStop`` hook
or stop signal, :func:`leave_endpoints` waits — at most :data:`WAIT_SECONDS` — until no
EndpointSlice of the pod's namespace still offers it for new connections, then until the
in-process service proxy has applied that (:class:`~kuberya.meta.handover.OfferedEndpointsView`;
without one, a fixed :data:`PROPAGATION_SECONDS`), then :data:`IN_FLIGHT_SECONDS` more: a
connection the proxy sent the pod just before has completed its handshake in the pod's kernel
and waits in the accept queue, and a server that closes its listening socket on SIGTERM resets
whatever it has not accepted yet. Connections already open are left
alone: the userspace proxy keeps them (it only drains endpoints that leave the slice), and
nftables DNAT keeps them through conntrack, so in-flight requests finish while the app shuts
down gracefully.

A pod no slice lists (no Service selects it) is not waited for. The predicate
(:func:`still_offered`) is pure, so it is tested without a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kuberya.client import ApiError, Clock, KubeClient
from kuberya.client.resources import ENDPOINTSLICES
from kuberya.meta.handover import OfferedEndpointsView
from kuberya.meta.types import Obj

log = logging.getLogger(__name__)

WAIT_SECONDS = 2.0
"""The longest a termination waits for the endpoints (it comes out of the grace period)."""
POLL_SECONDS = 0.05
PROPAGATION_SECONDS = 0.25
"""Once the slices are right, when no in-process proxy reports what it applied: time for the
proxies to apply them (a userspace apply is sub-millisecond, an nftables one a few milliseconds;
the rest is watch latency - on an idle machine)."""

IN_FLIGHT_SECONDS = 0.25
"""Once no proxy sends the pod new connections: time for its server to accept the ones already sent."""


def _lists(endpoint: Obj, *, pod_uid: str, pod_ip: str) -> bool:
    ref = endpoint.get("targetRef") or {}
    if pod_uid and ref.get("uid") == pod_uid:
        return True
    return bool(pod_ip) and pod_ip in (endpoint.get("addresses") or [])


def still_offered(slices: Iterable[Obj], *, pod_uid: str, pod_ip: str) -> bool | None:
    """Whether some slice still offers the pod for new connections; None when no slice lists it.

    Offered means ``ready`` (unset reads as true) and not ``terminating``: a proxy sends new
    connections to a terminating endpoint only when nothing in the Service is ready, and then
    there is nothing better to send them to.
    """
    listed = False
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            if not _lists(endpoint, pod_uid=pod_uid, pod_ip=pod_ip):
                continue
            listed = True
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is not False and not conditions.get("terminating"):
                return True
    return False if listed else None


async def leave_endpoints(
    client: KubeClient,
    clock: Clock,
    *,
    namespace: str,
    pod_uid: str,
    pod_ip: str,
    timeout: float = WAIT_SECONDS,
    proxy: OfferedEndpointsView | None = None,
) -> float:
    """Wait (bounded) until the pod is out of its Services' endpoints; the seconds it took."""
    started = clock.now()
    deadline = started + timeout
    seen = False
    while True:
        try:
            listing = await client.list(ENDPOINTSLICES, namespace=namespace)
        except (ApiError, OSError) as e:
            log.debug("cannot read the endpoint slices of %s, stopping the pod anyway: %s", namespace, e)
            return clock.now() - started
        offered = still_offered(listing.get("items") or [], pod_uid=pod_uid, pod_ip=pod_ip)
        if offered is None and not seen:
            return clock.now() - started  # no Service selects the pod
        seen = True
        if not offered:
            break
        if clock.now() >= deadline:
            log.info("pod %s is still offered by a Service after %.1fs: stopping it anyway", pod_uid, timeout)
            return clock.now() - started
        await clock.sleep(POLL_SECONDS)
    if proxy is not None and proxy.active and pod_ip:
        if not await proxy.wait_withdrawn(pod_ip, max(deadline - clock.now(), POLL_SECONDS)):
            log.info("the service proxy still offered pod %s after %.1fs: stopping it anyway", pod_uid, timeout)
    else:
        await clock.sleep(PROPAGATION_SECONDS)
    await clock.sleep(IN_FLIGHT_SECONDS)
    return clock.now() - started
