"""The TTL-after-finished controller: deletes a finished Job ``ttlSecondsAfterFinished`` after it finished.

As upstream's ``pkg/controller/ttlafterfinished``: a Job is a candidate once it has a
``Complete`` or ``Failed`` condition with status True and ``spec.ttlSecondsAfterFinished`` set;
it expires at that condition's ``lastTransitionTime`` plus the TTL. Before then its key is queued
again for the moment it expires. When it has expired the controller reads the Job again from the
API server (the cache may be stale: the TTL may just have been changed or removed), checks once
more, and deletes it with **foreground** propagation (its pods go first, so nothing it created
outlives it) and a uid precondition (a new Job of the same name is never deleted by mistake).
"""

from __future__ import annotations

import datetime
import logging
from typing import Unpack

from kuberya.client import ConflictError, KubeClient, NotFoundError, split_key
from kuberya.client.resources import JOBS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import meta
from kuberya.controllers.wallclock import parse_time
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "ttl-after-finished-controller"


def finish_time(job: Obj) -> datetime.datetime | None:
    """When the Job finished: the ``lastTransitionTime`` of its true Complete or Failed condition."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def needs_cleanup(job: Obj) -> bool:
    """Upstream ``needsCleanup``: a TTL is set and the Job has finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    return ttl is not None and finish_time(job) is not None


def time_left(job: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the Job expires (≤ 0: expired), or None if it never does."""
    finished = finish_time(job)
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if finished is None or ttl is None:
        return None
    return (finished + datetime.timedelta(seconds=int(ttl)) - now).total_seconds()


class TTLAfterFinishedController(QueueController):
    """Deletes finished Jobs whose ``ttlSecondsAfterFinished`` has run out."""

    def __init__(self, client: KubeClient, *, workers: int = 2, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="ttl-after-finished", component=COMPONENT, workers=workers, **wiring)
        # Not primary(): the sync only deletes, it has no malformed Job to report.
        self.jobs = self.informer(JOBS)
        self.jobs.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new)

    def enqueue(self, obj: Obj) -> None:
        """Only a Job that is finished, has a TTL and is not already being deleted is worth a sync."""
        if not meta(obj).get("deletionTimestamp") and needs_cleanup(obj):
            super().enqueue(obj)

    async def sync(self, key: str) -> None:
        """Delete Job ``key`` if it has expired, or look again when it will have."""
        job = self.jobs.get(key)
        if job is None or meta(job).get("deletionTimestamp") or not self._expired(key, job):
            return
        namespace, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name, namespace=namespace)
        except NotFoundError:
            return
        # The cached Job may be stale (its TTL changed or removed): decide on the live one.
        if meta(fresh).get("deletionTimestamp") or not self._expired(key, fresh):
            return
        logger.info("ttl-after-finished: deleting Job %s", key)
        try:
            await self.client.delete(
                JOBS,
                name,
                namespace=namespace,
                propagation_policy="Foreground",
                preconditions={"uid": str(meta(fresh).get("uid"))},
            )
        except (NotFoundError, ConflictError):
            return  # gone already, or replaced by a new Job of the same name

    def _expired(self, key: str, job: Obj) -> bool:
        if not needs_cleanup(job):
            return False
        left = time_left(job, self._now())
        if left is None:
            return False
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True
