"""The node agent's heartbeat Lease, under a FakeClock against the FakeApiClient."""

import asyncio
import datetime
from typing import Any

import pytest

from kuberya.client import ConflictError, FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import LEASES, NODES
from kuberya.node.lease import NODE_LEASE_NAMESPACE, NodeLeaseController

NODE = "kuberya"


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock(start=1_700_000_000.0)
        self.lease = NodeLeaseController(
            self.client,
            node_name=NODE,
            clock=self.clock,
            now=lambda: datetime.datetime.fromtimestamp(self.clock.now(), datetime.UTC),
        )

    def stored(self) -> dict[str, Any]:
        lease = self.client.stored(LEASES, NODE, namespace=NODE_LEASE_NAMESPACE)
        assert lease is not None
        return lease


async def test_creates_the_lease_as_upstreams_kubelet() -> None:
    w = World()
    node = w.client.add(NODES, {"metadata": {"name": NODE}})
    await w.lease.sync()
    lease = w.stored()
    assert lease["spec"] == {
        "holderIdentity": NODE,
        "leaseDurationSeconds": 40,
        "renewTime": "2023-11-14T22:13:20.000000Z",
    }
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": node["metadata"]["uid"]}
    ]


async def test_renews_every_ten_seconds() -> None:
    w = World()
    w.client.add(NODES, {"metadata": {"name": NODE}})
    task = asyncio.create_task(w.lease.run())
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        first = w.stored()["spec"]["renewTime"]
        w.clock.advance(9.9)
        for _ in range(10):
            await asyncio.sleep(0)
        assert w.stored()["spec"]["renewTime"] == first  # not yet due
        w.clock.advance(0.1)
        for _ in range(10):
            await asyncio.sleep(0)
        assert w.stored()["spec"]["renewTime"] == "2023-11-14T22:13:30.000000Z"
        updates = [a for a in w.client.mutations() if a.verb == "update"]
        assert len(updates) == 1 and updates[0].resource == "leases.coordination.k8s.io"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_adds_the_owner_once_the_node_is_registered() -> None:
    w = World()
    await w.lease.sync()  # no Node yet: a lease without an owner
    assert "ownerReferences" not in w.stored()["metadata"]
    node = w.client.add(NODES, {"metadata": {"name": NODE}})
    await w.lease.sync()
    assert w.stored()["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]


async def test_a_conflict_is_retried_on_a_fresh_copy() -> None:
    w = World()
    w.client.add(NODES, {"metadata": {"name": NODE}})
    await w.lease.sync()
    conflicts = iter([True, False])

    def once(action: Action) -> None:
        if action.verb == "update" and next(conflicts, False):
            raise ConflictError(409, "Conflict", "the object has been modified", {})

    w.client.reactors.append(once)
    w.client.clear()
    w.clock.advance(10)
    await w.lease.sync()
    assert [a.verb for a in w.client.actions if a.resource.startswith("leases")] == ["get", "update", "get", "update"]
    assert w.stored()["spec"]["renewTime"] == "2023-11-14T22:13:30.000000Z"
