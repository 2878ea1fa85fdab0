"""The Job controller: runs a Job's pods to completion, counts them, retries and gives up as upstream.

Level-triggered as upstream's ``pkg/controller/job``: informers on Jobs and Pods enqueue keys;
``sync(key)`` reads the caches and, for one Job,

1. **claims** its pods (all phases: finished pods still carry the tracking finalizer until they
   are counted);
2. **tracks** every pod that finished (or, unless ``podReplacementPolicy: Failed``, was deleted
   unfinished) while it still has the ``batch.kubernetes.io/job-tracking`` finalizer: its uid
   goes to ``status.uncountedTerminatedPods`` (one status write), then the finalizer is removed,
   then the uid moves into ``succeeded``/``failed`` (or ``completedIndexes``/``failedIndexes``).
   A pod is thus counted exactly once, even across a controller restart, and a pod's deletion
   never loses its result. The pod failure policy decides per failed pod: FailJob, FailIndex,
   Ignore (not counted) or Count;
3. decides whether the Job is **done**: a FailJob rule, ``backoffLimit`` exceeded,
   ``activeDeadlineSeconds`` passed, too many failed indexes → the ``FailureTarget`` condition at
   once, active pods deleted, and ``Failed`` (same reason and message) once no pod is left
   terminating; enough completions or a success policy rule → ``SuccessCriteriaMet`` then
   ``Complete`` with ``completionTime``. Events: ``Completed``, or a Warning named for the reason;
4. otherwise **manages** its pods: deletes all while suspended (condition ``Suspended``, events
   Suspended/Resumed, a resume resets ``startTime``), deletes the surplus, creates the missing ones
   (``generateName: <job>-``, or ``<job>-<index>-`` with hostname ``<job>-<index>``, the
   completion-index annotation and label and the ``JOB_COMPLETION_INDEX`` env var from the
   downward API for Indexed Jobs), in slow-start batches, after upstream's exponential back-off
   since the last failure (10 s doubling up to 6 min; per index with ``backoffLimitPerIndex``);
5. writes the status (``active``, ``ready``, ``terminating``, ``startTime``…) with the Job's
   resourceVersion, so that a write from a stale cache fails with a conflict and is retried
   instead of undoing counts.

Pods whose Job is gone or finished lose their finalizer through the same queue (``orphan`` keys),
so the garbage collector can delete them.
"""

from __future__ import annotations

import copy
import datetime
import logging
from dataclasses import dataclass, field
from typing import Any, Unpack

from kuberya.client import KubeClient, object_key, split_key
from kuberya.client.resources import JOBS, PODS
from kuberya.controllers import job_policy as policy
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.events import EventType
from kuberya.controllers.expectations import Expectations
from kuberya.controllers.job_indexed import past_backoff_limit_on_failure, pending_indexes, pods_to_remove
from kuberya.controllers.job_pods import JobPodControl
from kuberya.controllers.ownership import (
    CONTROLLER_INDEX,
    NAMESPACE_INDEX,
    ControllerRefManager,
    controller_ref,
    controller_uid_index,
    meta,
    namespace_index,
)
from kuberya.controllers.pods import is_active, is_ready, phase
from kuberya.controllers.wallclock import format_time, parse_time
from kuberya.meta import labels as selectors
from kuberya.meta.intervals import format_intervals
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "job-controller"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"
"""The ``spec.managedBy`` value that means this controller (unset means it too)."""
MAX_POD_CREATE_DELETE_PER_SYNC = 500
ORPHAN_PREFIX = "orphan-pod:"
"""Queue keys of pods whose tracking finalizer must go because no live Job owns them."""


@dataclass
class _Tally:
    """What one sync learned from the pods, before it is written."""

    active: list[Obj] = field(default_factory=list)
    terminating: int = 0
    new_succeeded: list[str] = field(default_factory=list)
    new_failed: list[str] = field(default_factory=list)
    to_unfinalize: list[Obj] = field(default_factory=list)
    new_succeeded_indexes: set[int] = field(default_factory=set)
    new_failed_indexes: set[int] = field(default_factory=set)
    fail_job_message: str | None = None
    new_failures: list[Obj] = field(default_factory=list)
    new_successes: list[Obj] = field(default_factory=list)
    events: list[tuple[EventType, str, str]] = field(default_factory=list)
    """Events decided on the way (Suspended, Resumed), recorded once the status is written."""


class JobController(QueueController):
    """Keeps every Job's pods running until enough succeed, or the Job fails."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 4,
        backoff: float = policy.DEFAULT_BACKOFF,
        max_backoff: float = policy.MAX_BACKOFF,
        **wiring: Unpack[Wiring],
    ) -> None:
        super().__init__(client, name="job", component=COMPONENT, workers=workers, **wiring)
        self.backoff, self.max_backoff = backoff, max_backoff
        self.expectations = Expectations(self._clock)
        self.jobs = self.primary(JOBS, enqueue_changes=False)
        self.pods = self.informer(PODS)
        self.jobs.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(CONTROLLER_INDEX, controller_uid_index)
        self.backoffs: dict[str, policy.BackoffRecord] = {}
        self.unfinalized: set[str] = set()
        """Uids of pods whose finalizer this controller removed, while the cache still shows it."""
        self.control = JobPodControl(client, events=self.events, expectations=self.expectations)
        self.jobs.add_handlers(on_add=self.enqueue, on_update=self._on_job_update, on_delete=self._on_job_delete)
        self.pods.add_handlers(on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._on_pod_delete)

    # -- event handlers: they only enqueue keys (and lower expectations) ---------------------

    def _on_job_update(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)
        deadline = policy.spec_of(new).get("activeDeadlineSeconds")
        if deadline != policy.spec_of(old).get("activeDeadlineSeconds") and deadline is not None:
            start = parse_time((new.get("status") or {}).get("startTime"))
            if start is not None:
                left = float(deadline) - (self._now() - start).total_seconds()
                self.queue.add_after(object_key(new), max(left, 0.0))

    def _on_job_delete(self, job: Obj) -> None:
        key = object_key(job)
        self.expectations.forget(key)
        self.backoffs.pop(key, None)
        for pod in self.pods.by_index(CONTROLLER_INDEX, str(meta(job).get("uid") or "")):
            if policy.has_finalizer(pod):
                self.queue.add(ORPHAN_PREFIX + object_key(pod))

    def _owning_job(self, pod: Obj) -> Obj | None:
        return self.controller_of(pod, "Job", self.jobs)

    def _pod_changed(self, pod: Obj) -> None:
        job = self._owning_job(pod)
        if job is not None:
            self.enqueue(job)
        elif policy.has_finalizer(pod):
            self.queue.add(ORPHAN_PREFIX + object_key(pod))

    def _on_pod_add(self, pod: Obj) -> None:
        job = self._owning_job(pod)
        if job is not None and not meta(pod).get("deletionTimestamp"):
            self.expectations.creation_observed(object_key(job))
        self._pod_changed(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if not policy.has_finalizer(new):
            self.unfinalized.discard(str(meta(new).get("uid")))
        job = self._owning_job(new)
        if job is not None and meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            self.expectations.deletion_observed(object_key(job), object_key(new))
        self._pod_changed(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        self.unfinalized.discard(str(meta(pod).get("uid")))
        job = self._owning_job(pod)
        if job is not None:
            self.expectations.deletion_observed(object_key(job), object_key(pod))
            self.enqueue(job)

    # -- running ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring Job ``key`` (as cached) one step closer to done, then post its status."""
        if key.startswith(ORPHAN_PREFIX):
            await self._sync_orphan_pod(key.removeprefix(ORPHAN_PREFIX))
            return
        # A status write from a Job cached before this controller's last write conflicts: the
        # next sync starts from the newer one, so no count goes backwards.
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync_orphan_pod(self, pod_key: str) -> None:
        pod = self.pods.get(pod_key)
        if pod is None or not policy.has_finalizer(pod):
            return
        job = self._owning_job(pod)
        if job is not None and not policy.is_finished(job):
            return  # a live Job counts it and removes the finalizer itself
        await self.control.remove_finalizers([pod], self.unfinalized)

    # -- the reconciliation -------------------------------------------------------------------

    async def _sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            self.backoffs.pop(key, None)
            return
        managed_by = policy.spec_of(job).get("managedBy")
        if managed_by is not None and managed_by != JOB_CONTROLLER_NAME:
            return  # another controller's Job (spec.managedBy), as upstream skips it
        job = copy.deepcopy(job)
        pods = await self._claim(job, namespace or "")
        if policy.is_finished(job):
            # Counted long ago: only finalizers left behind by a race may remain.
            await self.control.remove_finalizers([p for p in pods if policy.has_finalizer(p)], self.unfinalized)
            self.backoffs.pop(key, None)
            return
        now = self._now()
        satisfied = self.expectations.satisfied(key)
        status = job.setdefault("status", {})
        old_status = copy.deepcopy(status)
        tally = self._tally(job, pods)
        self._record_backoff(key, tally, now)

        uncounted = status.get("uncountedTerminatedPods") or {}
        prev_succeeded = policy.indexes_of_status(job, "completedIndexes") if policy.is_indexed(job) else set()
        prev_failed_idx = policy.indexes_of_status(job, "failedIndexes")
        succeeded_indexes = prev_succeeded | tally.new_succeeded_indexes
        failed_indexes = prev_failed_idx | tally.new_failed_indexes
        if policy.is_indexed(job):
            succeeded = len(succeeded_indexes)
        else:
            succeeded = (
                int(status.get("succeeded") or 0) + len(uncounted.get("succeeded") or []) + len(tally.new_succeeded)
            )
        failed = int(status.get("failed") or 0) + len(uncounted.get("failed") or []) + len(tally.new_failed)
        active_pods = tally.active
        if status.get("startTime") is None and not policy.is_suspended(job):
            status["startTime"] = format_time(now)

        finished = self._pending_finish(job)
        if finished is None and tally.fail_job_message is not None:
            finished = policy.new_condition("FailureTarget", policy.POD_FAILURE_POLICY, tally.fail_job_message, now)
        if finished is None:
            finished = self._failure(job, key, succeeded, failed, failed_indexes, tally, active_pods, now)
        deleted = 0
        if finished is None and satisfied and not meta(job).get("deletionTimestamp"):
            active_pods, deleted = await self._manage(
                key, job, active_pods, pods, succeeded, succeeded_indexes, failed_indexes, tally, now
            )
            finished = self._success(job, succeeded, succeeded_indexes, failed_indexes, active_pods, now)
            if finished is None:
                self._suspend_condition(job, tally, now)
        if finished is not None and finished["type"] in ("FailureTarget", "SuccessCriteriaMet") and active_pods:
            deleted += await self.control.delete_pods(key, job, active_pods, reason="finished")
            active_pods = []

        status["active"] = len(active_pods)
        status["ready"] = sum(1 for p in active_pods if is_ready(p))
        status["terminating"] = tally.terminating + deleted
        await self._flush(key, job, pods, old_status, tally, succeeded_indexes, failed_indexes, finished, now)

    async def _claim(self, job: Obj, namespace: str) -> list[Obj]:
        selector = policy.spec_of(job).get("selector")

        def match(pod: Obj) -> bool:
            return selectors.matches(selector, meta(pod).get("labels"))

        candidates = list(self.pods.by_index(NAMESPACE_INDEX, namespace))
        manager = ControllerRefManager(self.client, owner=job, owner_ref=JOBS, child_ref=PODS, match=match)
        # Finished pods are claimed too (upstream claims every pod): they carry the finalizer.
        return await manager.claim([p for p in candidates if is_active(p) or controller_ref(p) is not None])

    def _tally(self, job: Obj, pods: list[Obj]) -> _Tally:
        """Sort the claimed pods: active ones, and the newly finished ones still to be counted."""
        tally = _Tally()
        status = job.get("status") or {}
        uncounted = status.get("uncountedTerminatedPods") or {}
        seen = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
        indexed, per_index = policy.is_indexed(job), policy.spec_of(job).get("backoffLimitPerIndex")
        finished = policy.find_condition(job, "FailureTarget") is not None
        for pod in pods:
            if policy.is_terminating(pod):
                tally.terminating += 1
            if is_active(pod):
                tally.active.append(pod)
                continue
            uid = str(meta(pod).get("uid"))
            if not policy.has_finalizer(pod) or uid in self.unfinalized:
                continue
            if uid in seen:
                tally.to_unfinalize.append(pod)
                continue
            index = policy.valid_index(pod, job) if indexed else None
            if phase(pod) == "Succeeded":
                tally.to_unfinalize.append(pod)
                if indexed:
                    if index is not None:
                        tally.new_succeeded_indexes.add(index)
                else:
                    tally.new_succeeded.append(uid)
                tally.new_successes.append(pod)
            elif policy.is_pod_failed(pod, job) or finished:
                tally.to_unfinalize.append(pod)
                if indexed and index is None:
                    continue
                match = policy.match_pod_failure_policy(job, pod)
                if match.message is not None and tally.fail_job_message is None:
                    tally.fail_job_message = match.message
                if not match.counts:
                    continue
                tally.new_failed.append(uid)
                tally.new_failures.append(pod)
                over_limit = per_index is not None and policy.index_failure_count(pod) + 1 > int(per_index)
                if (
                    indexed
                    and per_index is not None
                    and index is not None
                    and (match.action == "FailIndex" or over_limit)
                ):
                    tally.new_failed_indexes.add(index)
        return tally

    def _record_backoff(self, key: str, tally: _Tally, now: datetime.datetime) -> None:
        """Upstream ``newBackoffRecord``: failures since the last success, and the last failure's time."""
        record = self.backoffs.setdefault(key, policy.BackoffRecord())
        if tally.new_successes:
            last_success = max(policy.finished_at(p, now) for p in tally.new_successes)
            later = [p for p in tally.new_failures if policy.finished_at(p, now) > last_success]
            record.failures_after_last_success = len(later)
        else:
            record.failures_after_last_success += len(tally.new_failures)
        if tally.new_failures:
            last = max(policy.finished_at(p, now) for p in tally.new_failures)
            if record.last_failure is None or last > record.last_failure:
                record.last_failure = last

    def _pending_finish(self, job: Obj) -> dict[str, Any] | None:
        """An interim condition already written becomes the terminal one, with its reason and message."""
        for interim, final in (("FailureTarget", "Failed"), ("SuccessCriteriaMet", "Complete")):
            cond = policy.find_condition(job, interim)
            if cond is not None and cond.get("status") == "True":
                return policy.new_condition(
                    final, str(cond.get("reason") or ""), str(cond.get("message") or ""), self._now()
                )
        return None

    def _failure(
        self,
        job: Obj,
        key: str,
        succeeded: int,
        failed: int,
        failed_indexes: set[int],
        tally: _Tally,
        active_pods: list[Obj],
        now: datetime.datetime,
    ) -> dict[str, Any] | None:
        spec, status = policy.spec_of(job), job.get("status") or {}
        limit = spec.get("backoffLimit")
        backoff_limit = int(limit) if limit is not None else 6
        new_failure = failed > int(status.get("failed") or 0)
        exceeds = new_failure and len(active_pods) != int(spec.get("parallelism") or 0) and failed > backoff_limit
        if exceeds or past_backoff_limit_on_failure(job, active_pods, backoff_limit):
            return policy.new_condition("FailureTarget", *policy.BACKOFF_LIMIT_EXCEEDED, now)
        per_index, max_failed = spec.get("backoffLimitPerIndex"), spec.get("maxFailedIndexes")
        if per_index is not None and max_failed is not None and len(failed_indexes) > int(max_failed):
            return policy.new_condition("FailureTarget", *policy.MAX_FAILED_INDEXES_EXCEEDED, now)
        deadline, start = spec.get("activeDeadlineSeconds"), parse_time(status.get("startTime"))
        if deadline is not None and start is not None and not policy.is_suspended(job):
            left = float(deadline) - (now - start).total_seconds()
            if left <= 0:
                return policy.new_condition("FailureTarget", *policy.DEADLINE_EXCEEDED, now)
            self.queue.add_after(key, left)
        del succeeded, tally
        return None

    def _success(
        self,
        job: Obj,
        succeeded: int,
        succeeded_indexes: set[int],
        failed_indexes: set[int],
        active_pods: list[Obj],
        now: datetime.datetime,
    ) -> dict[str, Any] | None:
        total = policy.completions(job)
        if policy.is_indexed(job):
            message = policy.match_success_policy(job, succeeded_indexes)
            if message is not None:
                return policy.new_condition("SuccessCriteriaMet", policy.SUCCESS_POLICY, message, now)
            if total is not None and failed_indexes and len(succeeded_indexes) + len(failed_indexes) >= total:
                return policy.new_condition("FailureTarget", *policy.FAILED_INDEXES, now)
        # Without completions, the first success ends the Job once the rest have stopped.
        if succeeded >= (1 if total is None else total) and not active_pods:
            return policy.new_condition("SuccessCriteriaMet", *policy.COMPLETIONS_REACHED, now)
        return None

    def _suspend_condition(self, job: Obj, tally: _Tally, now: datetime.datetime) -> None:
        status = job["status"]
        conditions = list(status.get("conditions") or [])
        if policy.is_suspended(job):
            new = policy.new_condition("Suspended", "JobSuspended", "Job suspended", now)
        else:
            new = policy.new_condition("Suspended", "JobResumed", "Job resumed", now, status="False")
        conditions, changed = policy.ensure_condition(conditions, new)
        if not changed:
            return
        status["conditions"] = conditions
        if policy.is_suspended(job):
            tally.events.append(("Normal", "Suspended", "Job suspended"))
        else:
            tally.events.append(("Normal", "Resumed", "Job resumed"))
            # ActiveDeadlineSeconds counts time continuously active: a resume starts it again.
            status["startTime"] = format_time(now)

    async def _manage(
        self,
        key: str,
        job: Obj,
        active_pods: list[Obj],
        pods: list[Obj],
        succeeded: int,
        succeeded_indexes: set[int],
        failed_indexes: set[int],
        tally: _Tally,
        now: datetime.datetime,
    ) -> tuple[list[Obj], int]:
        """Upstream ``manageJob``: delete the surplus or create the missing pods, never both in one sync."""
        spec = policy.spec_of(job)
        if policy.is_suspended(job):
            deleted = await self.control.delete_pods(key, job, active_pods, reason="suspended") if active_pods else 0
            return [], deleted
        parallelism = int(spec.get("parallelism") or 0)
        total = policy.completions(job)
        if total is None:
            want = len(active_pods) if succeeded > 0 else parallelism
        else:
            want = max(0, min(total - succeeded, parallelism))
        surplus = pods_to_remove(job, active_pods, succeeded_indexes, failed_indexes, want)
        if surplus:
            surplus = surplus[:MAX_POD_CREATE_DELETE_PER_SYNC]
            deleted = await self.control.delete_pods(key, job, surplus, reason="surplus")
            gone = {id(p) for p in surplus}
            return [p for p in active_pods if id(p) not in gone], deleted
        terminating = tally.terminating if policy.only_replace_failed_pods(job) else 0
        diff = min(want - terminating - len(active_pods), MAX_POD_CREATE_DELETE_PER_SYNC)
        if diff <= 0:
            return active_pods, 0
        indexes: list[int | None] = [None] * diff
        if policy.spec_of(job).get("backoffLimitPerIndex") is None:
            record = self.backoffs.get(key) or policy.BackoffRecord()
            wait = record.remaining(now, base=self.backoff, cap=self.max_backoff)
            if wait > 0:
                self.queue.add_after(key, wait)
                return active_pods, 0
        if policy.is_indexed(job):
            chosen, wait = pending_indexes(
                job,
                active_pods,
                pods,
                succeeded_indexes,
                failed_indexes,
                diff,
                now,
                base=self.backoff,
                cap=self.max_backoff,
            )
            if wait > 0:
                self.queue.add_after(key, wait)
            indexes = list(chosen)
            if not indexes:
                return active_pods, 0
        created = await self.control.create_pods(key, job, indexes, pods)
        return active_pods + created, 0

    async def _flush(
        self,
        key: str,
        job: Obj,
        pods: list[Obj],
        old_status: dict[str, Any],
        tally: _Tally,
        succeeded_indexes: set[int],
        failed_indexes: set[int],
        finished: dict[str, Any] | None,
        now: datetime.datetime,
    ) -> None:
        """Write the status, count the newly finished pods (two writes around the finalizer removal)."""
        status = job["status"]
        uncounted = copy.deepcopy(status.get("uncountedTerminatedPods") or {})
        interim = finished is not None and finished["type"] in ("FailureTarget", "SuccessCriteriaMet")
        new_indexes = False
        if policy.is_indexed(job):
            # The index is what counts a succeeded pod: it is written before the finalizer goes.
            new_indexes = format_intervals(succeeded_indexes) != status.get("completedIndexes", "")
            status["succeeded"] = len(succeeded_indexes)
            status["completedIndexes"] = format_intervals(succeeded_indexes)
            if policy.spec_of(job).get("backoffLimitPerIndex") is not None:
                new_indexes = new_indexes or format_intervals(failed_indexes) != status.get("failedIndexes")
                status["failedIndexes"] = format_intervals(failed_indexes)
        if tally.new_succeeded or tally.new_failed or interim or new_indexes:
            uncounted["succeeded"] = list(uncounted.get("succeeded") or []) + tally.new_succeeded
            uncounted["failed"] = list(uncounted.get("failed") or []) + tally.new_failed
            status["uncountedTerminatedPods"] = {k: v for k, v in uncounted.items() if v}
            if interim:
                assert finished is not None
                status["conditions"], _ = policy.ensure_condition(list(status.get("conditions") or []), finished)
                final_type = "Failed" if finished["type"] == "FailureTarget" else "Complete"
                finished = policy.new_condition(final_type, finished["reason"], finished["message"], now)
            job = await self._write_status(job)
            status = job["status"]
        await self.control.remove_finalizers(tally.to_unfinalize, self.unfinalized)
        # Move what is counted (its finalizer gone) from uncounted into the counters.
        holding = {
            str(meta(p).get("uid"))
            for p in pods
            if policy.has_finalizer(p) and str(meta(p).get("uid")) not in self.unfinalized
        }
        still: dict[str, list[str]] = {"succeeded": [], "failed": []}
        current = status.get("uncountedTerminatedPods") or {}
        for kind in ("succeeded", "failed"):
            for uid in current.get(kind) or []:
                if uid in holding:
                    still[kind].append(uid)
                elif kind == "failed" or not policy.is_indexed(job):
                    status[kind] = int(status.get(kind) or 0) + 1
        status["uncountedTerminatedPods"] = {k: v for k, v in still.items() if v}
        done = False
        if finished is not None and not status["uncountedTerminatedPods"] and not status.get("terminating"):
            status["conditions"], _ = policy.ensure_condition(list(status.get("conditions") or []), finished)
            if finished["type"] == "Complete":
                status["completionTime"] = finished["lastTransitionTime"]
            done = True
        for zero in ("active", "succeeded", "failed"):
            if not status.get(zero):
                status.pop(zero, None)
        if status != old_status or done:
            await self._write_status(job)
        for type_, reason, message in tally.events:
            await self.events.record(job, type=type_, reason=reason, message=message)
        if done and finished is not None:
            if finished["type"] == "Complete":
                await self.events.record(job, type="Normal", reason="Completed", message="Job completed")
            else:
                await self.events.record(job, type="Warning", reason=finished["reason"], message=finished["message"])
            self.backoffs.pop(key, None)

    async def _write_status(self, job: Obj) -> Obj:
        return await self.update_status(JOBS, job) or job
