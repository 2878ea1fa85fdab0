"""Fan-out of committed events to watchers, and the replay-then-stream shape of every watch.

A write is published once, on the event loop, after it is durable; :meth:`WatchHub.publish`
appends it to the pending queue of every subscription whose prefix matches and wakes only
those. Writers never wait for watchers: a subscription whose consumer has let
``max_pending`` events pile up is dropped on the spot (its queue is freed) and its iterator
raises :class:`WatcherTooSlowError`, telling the API server to end the watch so the client
re-lists, as kine and etcd do.

:func:`stream_watch` is the part both drivers share: subscribe first, remember the revision
current at that instant, replay (after, that revision] from the driver's history, then hand
out live events. Subscribing before replaying, in the same loop step as reading the current
revision, is what makes a watch see every event exactly once and in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from kuberya.storage.backend import Event, WatcherTooSlowError
from kuberya.storage.revisions import check_watchable

DEFAULT_MAX_PENDING = 10_000
"""Events a watcher may have waiting before it is dropped."""


class Subscription:
    """One watcher's queue of live events. Iterate it; :meth:`cancel` when done."""

    def __init__(self, hub: WatchHub, prefix: str, *, max_pending: int) -> None:
        self.prefix = prefix
        self._hub = hub
        self._max_pending = max_pending
        self._pending: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._dropped = False
        self._ended = False

    def offer(self, event: Event) -> None:
        """Queue ``event`` (already known to match); drop the subscription if it overflows."""
        if self._dropped or self._ended:
            return
        self._pending.append(event)
        if len(self._pending) > self._max_pending:
            self._dropped = True
            self._pending.clear()
            self._hub.unsubscribe(self)
        self._wake()

    def end(self) -> None:
        """Finish the iteration cleanly once the pending events are consumed (store closing)."""
        self._ended = True
        self._wake()

    def cancel(self) -> None:
        self._ended = True
        self._pending.clear()
        self._hub.unsubscribe(self)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._dropped:
                raise WatcherTooSlowError(
                    f"watch on {self.prefix!r} fell more than {self._max_pending} events behind "
                    "and was dropped; list again and watch from the list's revision"
                )
            if self._pending:
                return self._pending.popleft()
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class WatchHub:
    """Every live subscription, and the publishing side of them."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, prefix: str) -> Subscription:
        subscription = Subscription(self, prefix, max_pending=self._max_pending)
        if self._closed:
            subscription.end()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, event: Event) -> None:
        key = event.kv.key
        # A copy, because an overflowing subscription unsubscribes itself during the loop.
        for subscription in list(self._subscriptions):
            if key.startswith(subscription.prefix):
                subscription.offer(event)

    def close(self) -> None:
        """End every subscription; later ones end at once."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end()
        self._subscriptions.clear()


ReplaySource = Callable[[str, int, int], AsyncIterator[Event]]
"""``(prefix, after_revision, through_revision)`` → the stored events in that range, in order."""


async def stream_watch(
    *,
    hub: WatchHub,
    prefix: str,
    after_revision: int,
    revisions: Callable[[], tuple[int, int]],
    replay: ReplaySource,
) -> AsyncIterator[Event]:
    """Replay stored events after ``after_revision``, then live ones; see the module docstring.

    ``revisions`` gives the store's (compacted, current) revisions. Being a generator, this
    raises :class:`CompactedError` on the first iteration, as the Backend protocol says.
    """
    compacted, replayed_through = revisions()
    check_watchable(after_revision, compacted=compacted)
    subscription = hub.subscribe(prefix)
    try:
        if after_revision < replayed_through:
            async for event in replay(prefix, after_revision, replayed_through):
                yield event
        async for event in subscription:
            # A watch from a revision in the future starts when the store gets there.
            if event.revision > after_revision:
                yield event
    finally:
        subscription.cancel()
