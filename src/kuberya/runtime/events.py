"""Fan-out of container events to every subscriber of ``ContainerRuntime.events()``.

A subscription is registered when :meth:`EventHub.subscribe` is *called*, not when iteration
starts, so an event published between ``runtime.events()`` and the first ``__anext__`` is not
lost (an async generator would register too late). Each subscriber has its own unbounded queue:
container events are few (a handful per container lifetime), so a slow reader costs little memory
and is never allowed to block the publisher. :meth:`EventHub.close` ends every stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kuberya.runtime.base import ContainerEvent


class _Subscription(AsyncIterator[ContainerEvent]):
    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()

    def push(self, event: ContainerEvent | None) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> ContainerEvent:
        event = await self._queue.get()
        if event is None:
            self._hub.unsubscribe(self)
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    """Publish :class:`ContainerEvent` s to all current subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscription] = []
        self.closed = False

    def subscribe(self) -> AsyncIterator[ContainerEvent]:
        subscription = _Subscription(self)
        if self.closed:
            subscription.push(None)
        else:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, event: ContainerEvent) -> None:
        for subscription in self._subscribers:
            subscription.push(event)

    def close(self) -> None:
        self.closed = True
        for subscription in self._subscribers:
            subscription.push(None)
        self._subscribers.clear()
