"""Pod workers, as the kubelet's ``podWorkers``: one task per pod, never two syncs of it at once.

Anything that concerns a pod — an informer event, a container exit, a probe result, a back-off
timer — only *wakes* its worker (:meth:`PodWorkers.wake`). A worker that is woken while syncing
syncs once more afterwards, however many wake-ups came in between, so bursts coalesce and the
latest pod object is always the one used. A failed sync is retried after an exponential delay
(0.1 s doubling to 30 s), and logged when it starts failing or fails differently, not at every
retry. The worker ends when the sync says the pod is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kuberya.client import Clock
from kuberya.client.malformed import MalformedObjectError
from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.meta.types import Obj
from kuberya.node.state import PodState

logger = logging.getLogger(__name__)

SyncFunc = Callable[[PodState], Awaitable[bool]]
RETRY_BASE = 0.1
RETRY_CAP = 30.0


class PodWorker:
    def __init__(self, state: PodState, sync: SyncFunc, clock: Clock) -> None:
        self.state = state
        self._sync = sync
        self._clock = clock
        self._dirty = asyncio.Event()
        self._dirty.set()
        self.idle = asyncio.Event()
        """Set while nothing is pending (tests wait on it)."""

    def wake(self) -> None:
        self._dirty.set()
        self.idle.clear()

    async def run(self) -> None:
        failures = 0
        failing = ""  # the current run of failures' message
        while True:
            if not self._dirty.is_set():
                self.idle.set()
            await self._dirty.wait()
            self._dirty.clear()
            try:
                done = await self._sync(self.state)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(RETRY_BASE * 2 ** min(failures - 1, 20), RETRY_CAP)
                message = f"{type(exc).__name__}: {exc}"
                if message != failing:
                    failing = message
                    # A pod that cannot be read is described by the error; anything else is a
                    # bug whose traceback (once) says where.
                    logger.warning(
                        "sync of pod %s failed; retrying in %.1fs: %s",
                        self.state.key,
                        delay,
                        exc,
                        exc_info=not isinstance(exc, MalformedObjectError),
                    )
                else:
                    logger.debug("sync of pod %s failed again; retrying in %.1fs: %s", self.state.key, delay, exc)
                self._clock.call_later(delay, self.wake)
                continue
            failures = 0
            failing = ""
            if done:
                self.idle.set()
                return


class PodWorkers:
    """The workers by pod uid."""

    def __init__(self, sync: SyncFunc, clock: Clock) -> None:
        self._sync = sync
        self._clock = clock
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def update(self, pod: Obj, *, wake: bool = True) -> None:
        """The pod (new or changed): make sure it has a worker with this latest object."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        worker = self.workers.get(uid)
        if worker is None:
            state = PodState(
                uid=uid, namespace=str(meta.get("namespace") or "default"), name=str(meta.get("name")), pod=pod
            )
            worker = self.workers[uid] = PodWorker(state, self._sync, self._clock)
            task = start_task(worker.run(), name=f"pod-worker-{state.key}")
            self._tasks[uid] = task
            task.add_done_callback(lambda _t: self._finished(uid))
            return
        worker.state.pod = pod
        if wake:
            worker.wake()

    def remove(self, pod: Obj) -> None:
        """The pod is gone from the API: its worker tears it down and ends."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        worker = self.workers.get(uid)
        if worker is not None:
            worker.state.gone = True
            worker.wake()

    def wake(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake()

    def states(self) -> list[PodState]:
        return [w.state for w in self.workers.values()]

    async def wait_idle(self) -> None:
        """Until every worker has nothing pending (tests)."""
        while True:
            pending = [w for w in self.workers.values() if not w.idle.is_set()]
            if not pending:
                return
            await asyncio.gather(*(w.idle.wait() for w in pending))

    def _finished(self, uid: str) -> None:
        self.workers.pop(uid, None)
        self._tasks.pop(uid, None)

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks.values())
        self.workers.clear()
        self._tasks.clear()
