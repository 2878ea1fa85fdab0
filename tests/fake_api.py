"""What sample-controller style tests do around a :class:`~kuberya.client.fake.FakeApiClient`.

Such a test seeds the fake API server and the controller's informer caches with the same objects,
calls ``sync(key)`` once and compares what the controller wrote; these are those three steps,
written once for every controller's tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from kuberya.client import Informer
from kuberya.client.fake import Action, FakeApiClient

Obj = dict[str, Any]


class Syncs(Protocol):
    async def sync(self, key: str) -> None: ...


def seed(client: FakeApiClient, informer: Informer, obj: Obj) -> Obj:
    """Store ``obj`` in the fake API server and put what it stored in ``informer``'s cache.

    What a synced informer would show; returns the stored object (uid and resourceVersion filled in).
    """
    stored = client.add(informer.ref, obj)
    informer.store.add(stored)
    return stored


async def writes_of_sync(client: FakeApiClient, controller: Syncs, key: str) -> list[Action]:
    """The writes one ``controller.sync(key)`` makes, Events aside (the record is cleared first)."""
    client.clear()
    await controller.sync(key)
    return [a for a in client.mutations() if a.resource != "events"]


def recorded_events(client: FakeApiClient, *, earlier: Sequence[Action] = ()) -> list[tuple[str, str, str]]:
    """``(type, reason, message)`` of every Event created through ``client``, oldest first.

    ``earlier``: actions recorded before the client's record was last cleared, kept by the test.
    """
    return [
        (a.body["type"], a.body["reason"], a.body["message"])
        for a in [*earlier, *client.actions]
        if a.resource == "events" and a.verb == "create"
    ]
