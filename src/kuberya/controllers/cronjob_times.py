"""When a CronJob should have started a Job: upstream's missed-schedule arithmetic, as pure functions.

Upstream (``pkg/controller/cronjob/utils.go``) never lists every missed start time: it takes the
first two activations after the *earliest time* (the last schedule time, else the creation time,
raised to ``now - startingDeadlineSeconds`` when a deadline is set), estimates from their distance
how many were missed, and walks forward from just before the estimate to find the most recent
one. Only that one is ever started; past 100 missed times a ``TooManyMissedTimes`` warning says the
clock or the deadline is off. A schedule that never fires twice a second apart (``0 0 31 2 *``)
is an error. Requeues aim at the next activation plus 100 ms, so the sync lands just after it.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from kuberya.controllers.wallclock import parse_time
from kuberya.meta.cron import Schedule
from kuberya.meta.types import Obj

NEXT_SCHEDULE_DELTA = 0.1
"""Seconds past an activation to requeue at (upstream's ``nextScheduleDelta``)."""
TOO_MANY_MISSED = 100


class Missed(enum.Enum):
    NONE = "none"
    FEW = "few"
    MANY = "many"


class InvalidScheduleError(Exception):
    """A schedule that parses but cannot be run (no two activations a second apart)."""


@dataclass(frozen=True, slots=True)
class MostRecent:
    earliest: datetime.datetime
    """Where the search for missed times started."""
    time: datetime.datetime | None
    """The most recent activation at or before now, None when there is none."""
    missed: Missed


def _earliest(cj: Obj, now: datetime.datetime, *, with_deadline: bool) -> datetime.datetime:
    status, spec = cj.get("status") or {}, cj.get("spec") or {}
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(
        (cj.get("metadata") or {}).get("creationTimestamp")
    )
    if earliest is None:  # not stored yet: nothing can have been missed
        earliest = now
    deadline = spec.get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        # The controller is not going to schedule anything before this point.
        scheduling_deadline = now - datetime.timedelta(seconds=int(deadline))
        earliest = max(earliest, scheduling_deadline)
    return earliest


def most_recent_schedule_time(
    cj: Obj, now: datetime.datetime, schedule: Schedule, *, with_deadline: bool
) -> MostRecent:
    """Upstream ``mostRecentScheduleTime``; raises :class:`InvalidScheduleError`."""
    earliest = _earliest(cj, now, with_deadline=with_deadline)
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1) if t1 is not None else None
    if t1 is not None and now < t1:
        return MostRecent(earliest, None, Missed.NONE)
    if t1 is not None and t2 is not None and now < t2:
        return MostRecent(earliest, t1, Missed.NONE)
    between = round((t2 - t1).total_seconds()) if t1 is not None and t2 is not None else 0
    if t1 is None or between < 1:
        raise InvalidScheduleError("time difference between two schedules is less than 1 second")
    # A rough count: how many of t2 - t1 fit between t1 and now.
    elapsed = int((now - t1).total_seconds())
    missed = elapsed // between + 1
    # Walk from one period before the estimate: exact for irregular schedules (weekdays only) too.
    found: datetime.datetime | None = None
    t = schedule.next(t1 + datetime.timedelta(seconds=(missed - 2) * between))
    while t is not None and t <= now:
        found = t
        t = schedule.next(t)
    return MostRecent(earliest, found, Missed.MANY if missed > TOO_MANY_MISSED else Missed.FEW)


def next_schedule_time(cj: Obj, now: datetime.datetime, schedule: Schedule) -> tuple[datetime.datetime | None, Missed]:
    """The time to start a Job for now (deadline applied), or None; raises :class:`InvalidScheduleError`."""
    recent = most_recent_schedule_time(cj, now, schedule, with_deadline=True)
    if recent.time is None or recent.time > now:
        return None, recent.missed
    return recent.time, recent.missed


def next_schedule_delay(cj: Obj, now: datetime.datetime, schedule: Schedule) -> float | None:
    """Seconds until just after the next activation (upstream ``nextScheduleTimeDuration``)."""
    try:
        recent = most_recent_schedule_time(cj, now, schedule, with_deadline=False)
    except InvalidScheduleError:
        base = now  # still requeue at some point: aim for the next slot from now
    else:
        # No activation yet: from the earliest time, unless some were missed (then from now).
        fallback = recent.earliest if recent.missed is Missed.NONE else now
        base = recent.time if recent.time is not None else fallback
    following = schedule.next(base)
    if following is None:
        return None
    return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA
