"""Leaving the Service endpoints before the stop signal (kuberya.node.draining), without a cluster.

The agent must not signal a pod while a proxy may still send it new connections: first the
EndpointSlices must stop offering it, then the in-process proxy must have applied that
(:class:`~kuberya.client.offered.OfferedEndpoints`), whatever time that takes on a loaded machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kuberya.client import LoopClock
from kuberya.client.offered import OfferedEndpoints
from kuberya.node import draining
from kuberya.node.draining import leave_endpoints, still_offered

UID, IP = "uid-1", "10.88.0.7"


def endpoint_slice(*, ready: bool = True, terminating: bool = False, ip: str = IP, uid: str = UID) -> dict[str, Any]:
    return {"endpoints": [{"addresses": [ip], "targetRef": {"uid": uid},
                           "conditions": {"ready": ready, "terminating": terminating}}]}  # fmt: skip


class Slices:
    """``client.list`` of EndpointSlices: the next listing each call, the last one for ever after."""

    def __init__(self, *listings: list[dict[str, Any]]) -> None:
        self.listings = list(listings)
        self.calls = 0

    async def list(self, _resource: Any, *, namespace: str) -> dict[str, Any]:
        self.calls += 1
        items = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        return {"items": items}


def test_still_offered_reads_the_conditions() -> None:
    assert still_offered([endpoint_slice()], pod_uid=UID, pod_ip=IP) is True
    assert still_offered([endpoint_slice(ready=False, terminating=True)], pod_uid=UID, pod_ip=IP) is False
    assert still_offered([endpoint_slice(ip="10.88.0.9", uid="other")], pod_uid=UID, pod_ip=IP) is None


async def test_waits_for_the_slices_then_for_the_proxy_to_apply_them() -> None:
    client = Slices([endpoint_slice()], [endpoint_slice()], [endpoint_slice(ready=False, terminating=True)])
    proxy = OfferedEndpoints()
    proxy.publish([IP, "10.88.0.8"])
    leaving = asyncio.create_task(
        leave_endpoints(client, LoopClock(), namespace="ns", pod_uid=UID, pod_ip=IP, timeout=5, proxy=proxy)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.5)
    assert client.calls >= 3  # the slices stopped offering it...
    assert not leaving.done()  # ...but the proxy still sends it new connections
    proxy.publish(["10.88.0.8"])
    async with asyncio.timeout(1):
        waited = await leaving
    assert 0.5 + draining.IN_FLIGHT_SECONDS <= waited < 2.0  # then time for what it had already sent


async def test_a_proxy_that_never_applies_it_is_waited_for_only_until_the_deadline() -> None:
    proxy = OfferedEndpoints()
    proxy.publish([IP])
    started = time.monotonic()
    waited = await leave_endpoints(Slices([endpoint_slice(ready=False)]), LoopClock(), namespace="ns",  # type: ignore[arg-type]
                                   pod_uid=UID, pod_ip=IP, timeout=0.3, proxy=proxy)  # fmt: skip
    assert 0.25 <= time.monotonic() - started < 1.0 and waited >= 0.25


async def test_without_a_running_proxy_it_allows_a_fixed_propagation_delay() -> None:
    proxy = OfferedEndpoints()
    proxy.publish([IP])
    proxy.stop()  # the proxy component stopped: nobody would ever withdraw the address
    waited = await leave_endpoints(Slices([endpoint_slice(ready=False)]), LoopClock(), namespace="ns",  # type: ignore[arg-type]
                                   pod_uid=UID, pod_ip=IP, timeout=5, proxy=proxy)  # fmt: skip
    assert draining.PROPAGATION_SECONDS + draining.IN_FLIGHT_SECONDS <= waited < 1.5


async def test_a_pod_no_service_selects_is_not_waited_for() -> None:
    waited = await leave_endpoints(Slices([]), LoopClock(), namespace="ns", pod_uid=UID, pod_ip=IP, timeout=5,  # type: ignore[arg-type]
                                   proxy=OfferedEndpoints())  # fmt: skip
    assert waited < 0.1
