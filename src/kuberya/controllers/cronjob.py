"""The CronJob controller: starts a Job at each activation of a CronJob's schedule.

Upstream's ``ControllerV2`` (``pkg/controller/cronjob/cronjob_controllerv2.go``), level-triggered:
informers on CronJobs and Jobs enqueue the CronJob's key; ``sync(key)`` reads the caches and

1. deletes the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``
   (oldest by ``status.startTime``, then by name);
2. reconciles ``status.active`` with the Jobs it controls: a finished one leaves it
   (``SawCompletedJob``, and ``lastSuccessfulTime`` from a Complete one), a vanished one too
   (``MissingJob``, after a live GET), an unfinished one missing from it is reported
   (``UnexpectedJob``);
3. unless the CronJob is being deleted, is suspended, or names an unknown ``timeZone``, finds the
   most recent missed activation (:mod:`kuberya.controllers.cronjob_times`): none, or too late for
   ``startingDeadlineSeconds`` (``MissSchedule``), or already started, means nothing to do; with
   ``Forbid`` an active Job means waiting (``JobAlreadyActive``), with ``Replace`` the active Jobs
   are deleted first; then it creates the Job ``<cronjob>-<scheduled minutes since the epoch>``
   (the name is the lock against starting one activation twice), owned by the CronJob and
   annotated ``batch.kubernetes.io/cronjob-scheduled-timestamp``, and records it in
   ``status.active`` and ``lastScheduleTime``;
4. writes the status once, through ``/status``, if it changed, and requeues the key for just after
   the next activation on the controller's clock.

Schedules are evaluated in ``spec.timeZone``, else in UTC (the controller manager's zone).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import logging
from typing import Any, Unpack

from kuberya.client import AlreadyExistsError, ApiError, KubeClient, NotFoundError, object_key, split_key
from kuberya.client.resources import CRONJOBS, JOBS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.cronjob_times import (
    InvalidScheduleError,
    Missed,
    next_schedule_delay,
    next_schedule_time,
)
from kuberya.controllers.events import EventType
from kuberya.controllers.failures import namespace_terminating
from kuberya.controllers.ownership import NAMESPACE_INDEX, controller_ref, meta, namespace_index, owner_reference
from kuberya.controllers.wallclock import format_time, parse_time
from kuberya.meta.cron import Schedule, ScheduleError, load_zone, parse_standard
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "cronjob-controller"
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
UNSUPPORTED_TZ_MESSAGE = (
    "CRON_TZ or TZ used in schedule {} is not officially supported, see "
    "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
)


# ---- small facts about Jobs and CronJobs ------------------------------------------------------


def finished_condition(job: Obj) -> str:
    """``Complete`` or ``Failed`` when the Job has finished (that condition is True), else ``""``."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return ""


def job_name(cj: Obj, scheduled: datetime.datetime) -> str:
    """``<cronjob>-<minutes since the epoch>``: deterministic, so one activation makes one Job."""
    return f"{meta(cj).get('name')}-{int(scheduled.timestamp()) // 60}"


def _rfc3339(when: datetime.datetime) -> str:
    """Go's ``time.RFC3339``: seconds, and ``Z`` for a zero offset in any zone."""
    text = when.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_from_template(cj: Obj, scheduled: datetime.datetime, zone: datetime.tzinfo) -> Obj:
    """Upstream ``getJobFromTemplate2``: the Job of one activation."""
    job_template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tmeta = job_template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = _rfc3339(scheduled.astimezone(zone))
    job_meta: dict[str, Any] = {
        "name": job_name(cj, scheduled),
        "namespace": meta(cj).get("namespace"),
        "annotations": annotations,
        "ownerReferences": [owner_reference(cj, api_version="batch/v1", kind="CronJob")],
    }
    if tmeta.get("labels"):
        job_meta["labels"] = dict(tmeta["labels"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": job_meta,
        "spec": copy.deepcopy(job_template.get("spec") or {}),
    }


def job_reference(job: Obj) -> dict[str, Any]:
    """The ``ObjectReference`` kept in ``status.active``."""
    return {
        "kind": "Job",
        "namespace": meta(job).get("namespace"),
        "name": meta(job).get("name"),
        "uid": meta(job).get("uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": meta(job).get("resourceVersion"),
    }


def _in_active(cj: Obj, uid: Any) -> bool:
    return any(ref.get("uid") == uid for ref in (cj.get("status") or {}).get("active") or [])


def _remove_active(cj: Obj, uid: Any) -> None:
    status = cj.setdefault("status", {})
    status["active"] = [ref for ref in status.get("active") or [] if ref.get("uid") != uid]


def _start_time_order(job: Obj) -> tuple[bool, datetime.datetime, str]:
    """Oldest first by ``status.startTime`` (unstarted last), then by name (``byJobStartTime``)."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    never = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return started is None, started or never, str(meta(job).get("name") or "")


def _quote(text: Any) -> str:
    """Go's ``%q`` of a string, as upstream's event messages quote schedules and zones."""
    return json.dumps(str(text), ensure_ascii=False)


class CronJobController(QueueController):
    """Creates a Job from each CronJob's template at every activation of its schedule."""

    def __init__(self, client: KubeClient, *, workers: int = 5, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="cronjob", component=COMPONENT, workers=workers, **wiring)
        self.cronjobs = self.primary(CRONJOBS, enqueue_changes=False)
        self.jobs = self.informer(JOBS)
        self.jobs.add_index(NAMESPACE_INDEX, namespace_index)
        self._pending_events: set[asyncio.Task[Obj | None]] = set()
        self.cronjobs.add_handlers(on_add=self.enqueue, on_update=self._on_cronjob_update, on_delete=self.enqueue)
        self.jobs.add_handlers(on_add=self._on_job_add, on_update=self._on_job_update, on_delete=self._on_job_delete)

    # -- event handlers: they only enqueue keys ----------------------------------------------

    def _on_cronjob_update(self, old: Obj, new: Obj) -> None:
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if (old_spec.get("schedule"), old_spec.get("timeZone")) == (new_spec.get("schedule"), new_spec.get("timeZone")):
            self.enqueue(new)  # within the deadline the sync acts at once, otherwise at the next slot
            return
        # A new schedule: requeue for its next slot (a sooner one replaces the pending delay).
        try:
            schedule = self._schedule(new)
        except ScheduleError:
            self._background_event(
                new, "UnParseableCronJobSchedule", f"unparseable schedule for cronjob: {new_spec.get('schedule')}"
            )
            return
        delay = next_schedule_delay(new, self._now(), schedule)
        if delay is not None:
            self.queue.add_after(object_key(new), delay)

    def _background_event(self, cj: Obj, reason: str, message: str) -> None:
        # Handlers are synchronous and the recorder is not; recording is best-effort anyway.
        task = asyncio.get_running_loop().create_task(
            self.events.record(cj, type="Warning", reason=reason, message=message)
        )
        self._pending_events.add(task)
        task.add_done_callback(self._pending_events.discard)

    def _owning_cronjob(self, job: Obj) -> Obj | None:
        return self.controller_of(job, "CronJob", self.cronjobs)

    def _on_job_add(self, job: Obj) -> None:
        cj = self._owning_cronjob(job)
        if cj is not None:
            self.enqueue(cj)

    def _on_job_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return  # a resync
        if controller_ref(old) != controller_ref(new):
            previous = self._owning_cronjob(old)
            if previous is not None:
                self.enqueue(previous)
        self._on_job_add(new)

    def _on_job_delete(self, job: Obj) -> None:
        self._on_job_add(job)

    # -- running ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Reconcile CronJob ``key`` (as cached), then requeue it for just after its next activation."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        cached = self.cronjobs.get(key)
        if cached is None:
            return  # deleted: its Jobs go with it (garbage collector)
        namespace, _ = split_key(key)
        jobs = [
            job
            for job in self.jobs.by_index(NAMESPACE_INDEX, namespace or "")
            if (ref := controller_ref(job)) is not None and ref.get("name") == meta(cached).get("name")
        ]
        cj = copy.deepcopy(cached)  # every change goes into one status write
        requeue: float | None = None
        failure: Exception | None = None
        try:
            await self._cleanup_finished_jobs(cj, jobs)
            requeue = await self._sync_cron_job(cj, jobs)
        except Exception as exc:  # what changed before the failure is still written, as upstream
            failure = exc
        if (cj.get("status") or {}) != (cached.get("status") or {}):
            await self._write_status(cj)
        if failure is not None:
            raise failure
        if requeue is not None:
            self.queue.add_after(key, requeue)

    # -- history limits -------------------------------------------------------------------------

    async def _cleanup_finished_jobs(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for condition, limit in (
            ("Complete", spec.get("successfulJobsHistoryLimit")),
            ("Failed", spec.get("failedJobsHistoryLimit")),
        ):
            if limit is None:
                continue
            finished = [j for j in jobs if finished_condition(j) == condition]
            excess = len(finished) - int(limit)
            for job in sorted(finished, key=_start_time_order)[: max(excess, 0)]:
                await self._delete_job(cj, job)

    async def _delete_job(self, cj: Obj, job: Obj) -> bool:
        """Delete ``job`` (its pods in the background) and drop it from ``status.active``."""
        name = str(meta(job).get("name"))
        try:
            await self.client.delete(JOBS, name, namespace=meta(job).get("namespace"), propagation_policy="Background")
        except ApiError as exc:
            if not isinstance(exc, NotFoundError):
                await self._event(cj, "Warning", "FailedDelete", f"Deleted job: {exc.message}")
                logger.warning("cronjob %s: cannot delete job %s: %s", object_key(cj), name, exc)
                return False
        _remove_active(cj, meta(job).get("uid"))
        await self._event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    # -- the schedule -------------------------------------------------------------------------

    def _zone(self, cj: Obj) -> datetime.tzinfo:
        return load_zone(str((cj.get("spec") or {}).get("timeZone") or ""))

    def _schedule(self, cj: Obj) -> Schedule:
        spec = cj.get("spec") or {}
        schedule = str(spec.get("schedule") or "")
        if "TZ" in schedule:  # the prefix names the zone; timeZone is ignored then, as upstream
            return parse_standard(schedule)
        return parse_standard(schedule, zone=self._zone(cj))

    async def _sync_cron_job(self, cj: Obj, jobs: list[Obj]) -> float | None:
        """Upstream ``syncCronJob``: changes ``cj``'s status; returns the seconds to requeue after, or None."""
        now = self._now()
        await self._reconcile_active(cj, jobs)
        key = object_key(cj)
        if meta(cj).get("deletionTimestamp"):
            return None
        spec, status = cj.get("spec") or {}, cj.setdefault("status", {})
        time_zone = spec.get("timeZone")
        if time_zone is not None:
            try:
                zone = self._zone(cj)
            except ScheduleError as e:
                await self._event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {_quote(time_zone)}: {e}")
                return None
        else:
            zone = datetime.UTC
        if spec.get("suspend"):
            logger.debug("cronjob %s: suspended, not starting a job", key)
            return None
        raw_schedule = str(spec.get("schedule") or "")
        if "TZ" in raw_schedule:
            await self._event(cj, "Warning", "UnsupportedSchedule", UNSUPPORTED_TZ_MESSAGE.format(_quote(raw_schedule)))
        try:
            schedule = self._schedule(cj)
        except ScheduleError as e:
            await self._event(
                cj, "Warning", "UnparseableSchedule", f"unparseable schedule: {_quote(raw_schedule)} : {e}"
            )
            return None
        try:
            scheduled, missed = next_schedule_time(cj, now, schedule)
        except InvalidScheduleError as e:
            await self._event(cj, "Warning", "InvalidSchedule", f"invalid schedule: {raw_schedule} : {e}")
            return None
        if missed is Missed.MANY and scheduled is not None:
            await self._event(
                cj,
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
        next_delay = next_schedule_delay(cj, now, schedule)
        if scheduled is None:
            return next_delay  # no unmet start time
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + datetime.timedelta(seconds=int(deadline)) < now:
            when = scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")  # RFC1123Z, in UTC
            await self._event(cj, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}")
            return next_delay
        name = job_name(cj, scheduled)
        already = any(ref.get("name") == name for ref in status.get("active") or [])
        if already or parse_time(status.get("lastScheduleTime")) == scheduled:
            return next_delay  # this activation is already processed
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            await self._event(
                cj,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            return next_delay
        if policy == "Replace":
            for ref in list(status.get("active") or []):
                try:
                    job = await self.client.get(JOBS, str(ref.get("name")), namespace=ref.get("namespace"))
                except ApiError as exc:
                    await self._event(cj, "Warning", "FailedGet", f"Get job: {exc.message}")
                    raise
                if not await self._delete_job(cj, job):
                    raise RuntimeError(f"could not replace job {ref.get('namespace')}/{ref.get('name')}")
        created = await self._create_job(cj, scheduled, zone)
        if created is None:
            return None
        status["active"] = [*(status.get("active") or []), job_reference(created)]
        status["lastScheduleTime"] = format_time(scheduled)
        return next_delay

    async def _create_job(self, cj: Obj, scheduled: datetime.datetime, zone: datetime.tzinfo) -> Obj | None:
        """Create the activation's Job; None when there is nothing to record (someone else's Job)."""
        body = job_from_template(cj, scheduled, zone)
        namespace = str(meta(cj).get("namespace"))
        try:
            job = await self.client.create(JOBS, body, namespace=namespace, field_manager=COMPONENT)
        except AlreadyExistsError:
            # Created earlier, but the status write that should have followed was lost?
            job = await self.client.get(JOBS, str(body["metadata"]["name"]), namespace=namespace)
            ref = controller_ref(job)
            if ref is None or ref.get("uid") != meta(cj).get("uid") or _in_active(cj, meta(job).get("uid")):
                return None
            logger.info("cronjob %s: job %s already exists", object_key(cj), meta(job).get("name"))
            return job
        except ApiError as exc:
            if not namespace_terminating(exc):
                await self._event(cj, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        await self._event(cj, "Normal", "SuccessfulCreate", f"Created job {meta(job).get('name')}")
        return job

    # -- status.active ------------------------------------------------------------------------

    async def _reconcile_active(self, cj: Obj, jobs: list[Obj]) -> None:
        children = {meta(j).get("uid") for j in jobs}
        for job in jobs:
            uid, job_name_ = meta(job).get("uid"), meta(job).get("name")
            found = _in_active(cj, uid)
            condition = finished_condition(job)
            if not found and not condition:
                # Maybe our own status write is just not in the cache yet: ask the server.
                live = await self.client.get(CRONJOBS, str(meta(cj).get("name")), namespace=meta(cj).get("namespace"))
                if _in_active(live, uid):
                    cj["metadata"], cj["status"] = live.get("metadata") or {}, live.get("status") or {}
                    continue
                await self._event(
                    cj,
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {job_name_}",
                )
            elif condition:
                if found:
                    _remove_active(cj, uid)
                    await self._event(
                        cj, "Normal", "SawCompletedJob", f"Saw completed job: {job_name_}, condition: {condition}"
                    )
                if condition == "Complete":
                    _note_success(cj, job)
        for ref in list((cj.get("status") or {}).get("active") or []):
            if ref.get("uid") in children:
                continue
            # Not in the cache: a slow watch, or really gone? Ask the server before forgetting it.
            try:
                await self.client.get(JOBS, str(ref.get("name")), namespace=ref.get("namespace"))
            except NotFoundError:
                await self._event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                _remove_active(cj, ref.get("uid"))

    async def _write_status(self, cj: Obj) -> None:
        await self.update_status(CRONJOBS, cj)

    async def _event(self, cj: Obj, type_: EventType, reason: str, message: str) -> None:
        await self.events.record(cj, type=type_, reason=reason, message=message)


def _note_success(cj: Obj, job: Obj) -> None:
    """Move ``lastSuccessfulTime`` up to the Job's completion time."""
    completed_text = (job.get("status") or {}).get("completionTime")
    completed = parse_time(completed_text)
    status = cj.setdefault("status", {})
    last = parse_time(status.get("lastSuccessfulTime"))
    if completed is not None and (last is None or completed > last):
        status["lastSuccessfulTime"] = completed_text
