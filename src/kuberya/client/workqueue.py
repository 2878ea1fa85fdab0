"""The controllers' work queue, as client-go's ``workqueue``: keys, not events.

Three promises, the reason controllers can be level-triggered and still safe:

* a key waiting in the queue is there once, however often it is added (``dirty``);
* a key is never handed to two workers at once: added while a worker holds it, it is queued again
  only when that worker calls :meth:`WorkQueue.done` (``processing``);
* failures back off per key, exponentially, until :meth:`forget` — with client-go's
  ``DefaultControllerRateLimiter``: the larger of a per-key 5 ms doubling to 1000 s
  (:class:`ExponentialBackoff`) and an overall 10 retries/s token bucket of 100
  (:class:`BucketRateLimiter`), so neither one bad key nor a thousand spin.

Delays (``add_after``, ``add_rate_limited``) are timers of an injected :class:`Clock`, so tests
move a fake clock rather than sleep. :func:`run_workers` is the worker loop every controller uses:
pop a key, ``sync(key)``, forget it on success, re-add it rate-limited on failure. A ``sync``
that re-adds its own key rate-limited (a conflict it expected, an object it cannot act on) and
returns keeps its backoff: only a sync that did not ask for a retry counts as a success.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

from kuberya.client.clock import Clock, LoopClock, Timer
from kuberya.client.errors import ApiError
from kuberya.client.tasks import cancel_and_wait, start_task

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class ExponentialBackoff(Generic[K]):
    """Per-key delay ``base * 2**failures``, capped (client-go's ItemExponentialFailureRateLimiter)."""

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Return the delay before ``key``'s next try; each call counts one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures > 64:  # 2**64 * base is past any cap; avoid a huge float
            return self.cap
        return float(min(self.base * (2**failures), self.cap))

    def retries(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


class BucketRateLimiter:
    """An overall token bucket: ``qps`` retries a second, bursts of ``burst`` (client-go's BucketRateLimiter).

    Every call takes a token, going into debt when there is none; the delay is the time until the
    debt is paid, as ``rate.Limiter.Reserve().Delay()``. It has no per-key state to forget.
    """

    def __init__(self, *, clock: Clock, qps: float = 10.0, burst: int = 100) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self) -> float:
        """Take one token; return how long its holder must wait for it."""
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps


class ControllerRateLimiter(Generic[K]):
    """client-go's ``DefaultControllerRateLimiter``: the larger of the per-key and the overall delay."""

    def __init__(self, *, clock: Clock, per_key: ExponentialBackoff[K] | None = None) -> None:
        self.per_key: ExponentialBackoff[K] = per_key or ExponentialBackoff()
        self.overall = BucketRateLimiter(clock=clock)

    def when(self, key: K) -> float:
        return max(self.per_key.when(key), self.overall.when())

    def retries(self, key: K) -> int:
        return self.per_key.retries(key)

    def forget(self, key: K) -> None:
        self.per_key.forget(key)


class WorkQueue(Generic[K]):
    """A de-duplicating, rate-limited queue of keys for controller workers."""

    def __init__(
        self,
        *,
        name: str = "",
        clock: Clock | None = None,
        backoff: ExponentialBackoff[K] | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock or LoopClock()
        self._backoff = ControllerRateLimiter(clock=self._clock, per_key=backoff)
        self._requeued: set[K] = set()  # keys being processed whose sync asked for a rate-limited retry
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._delayed: dict[K, tuple[float, Timer]] = {}
        self._shutting_down = False

    def __len__(self) -> int:
        """Keys waiting to be handed out (not those being processed or delayed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue ``key`` unless it already waits; a key being processed is re-queued at :meth:`done`."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds; of several pending delays for a key the earliest wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()

        def fire() -> None:
            self._delayed.pop(key, None)
            self.add(key)

        self._delayed[key] = (ready_at, self._clock.call_later(delay, fire))

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its backoff delay, which doubles at every call until :meth:`forget`."""
        if key in self._processing:
            self._requeued.add(key)
        self.add_after(key, self._backoff.when(key))

    def requeued(self, key: K) -> bool:
        """Whether the sync now processing ``key`` re-added it rate-limited (so it did not succeed)."""
        return key in self._requeued

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (it succeeded); does not remove it from the queue."""
        self._backoff.forget(key)

    def retries(self, key: K) -> int:
        return self._backoff.retries(key)

    async def get(self) -> K | None:
        """Return the next key, marked as processing; ``None`` once shut down and drained."""
        while not self._queue:
            if self._shutting_down:
                return None
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: hand the wake-up to another worker
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """``key`` is no longer processed; if it was added meanwhile, queue it again."""
        self._processing.discard(key)
        self._requeued.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Stop accepting keys, cancel delayed ones and wake every waiting worker."""
        self._shutting_down = True
        for _, timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def run_workers(
    queue: WorkQueue[K],
    sync: Callable[[K], Awaitable[None]],
    *,
    workers: int,
    name: str | None = None,
) -> None:
    """Run ``workers`` loops of ``sync(key)`` over ``queue`` until cancelled or the queue shuts down.

    On success the key's backoff is forgotten; on an exception the key is re-added rate-limited.
    A failure is logged at warning level when it starts, or when its message changes, and its
    repeats at debug level, so one key that keeps failing is one line in the log, not a line (or a
    traceback) per retry. An error that is not the API's (a bug, or an object the sync could not
    read) carries its traceback the first time. Cancelling this coroutine shuts the queue down and
    waits for the workers.
    """
    label = name or queue.name or "workqueue"
    failing: dict[K, str] = {}  # key -> the message of its current run of failures

    async def work() -> None:
        while True:
            key = await queue.get()
            if key is None:
                return
            try:
                await sync(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                retries = queue.retries(key)
                message = f"{type(exc).__name__}: {exc}"
                if failing.get(key) != message:
                    failing[key] = message
                    logger.warning(
                        "%s: sync %r failed: %s; retrying with backoff",
                        label,
                        key,
                        exc,
                        exc_info=not isinstance(exc, ApiError),
                    )
                else:
                    logger.debug("%s: sync %r failed again (retry %d): %s", label, key, retries + 1, exc)
                queue.add_rate_limited(key)
            else:
                if not queue.requeued(key):
                    queue.forget(key)
                    if failing.pop(key, None) is not None:
                        logger.info("%s: sync %r succeeded after failing", label, key)
            finally:
                queue.done(key)

    tasks = [start_task(work(), name=f"{label}-worker-{i}") for i in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        queue.shutdown()
        await cancel_and_wait(*tasks)


class _Runnable(Protocol):
    has_synced: asyncio.Event

    async def run(self) -> None: ...


async def run_controller(
    *,
    name: str,
    informers: Sequence[_Runnable],
    queue: WorkQueue[K],
    sync: Callable[[K], Awaitable[None]],
    workers: int,
) -> None:
    """The life of a sample-controller style controller, until cancelled.

    Start its informers, wait until every cache has synced (a sync on a half-filled cache would
    act on objects it cannot see), then run ``workers`` loops of ``sync`` over ``queue``; the
    queue is shut down on the way out. An informer or worker that crashes ends the controller.
    """
    try:
        async with asyncio.TaskGroup() as group:
            for index, informer in enumerate(informers):
                start_task(informer.run(), name=f"{name}-informer-{index}", group=group)
            await asyncio.gather(*(informer.has_synced.wait() for informer in informers))
            start_task(run_workers(queue, sync, workers=workers, name=name), name=f"{name}-workers", group=group)
    finally:
        queue.shutdown()
