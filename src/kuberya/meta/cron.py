"""Cron schedules as upstream's CronJobs read them: robfig/cron's ``ParseStandard`` grammar.

Upstream validates ``spec.schedule`` and computes activation times with ``cron.ParseStandard``
(github.com/robfig/cron/v3): five fields (minute hour day-of-month month day-of-week), the
descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
``@hourly`` and ``@every <duration>``, an optional ``TZ=``/``CRON_TZ=`` prefix, month and weekday
names, ``?`` for ``*``, and nothing else: no ``L``, ``W``, ``#``, seconds or years, and weekdays
0-6 only (7 is out of range).

The activation times come from ``croniter``, which accepts a superset of that grammar; so
:func:`parse_standard` first checks the expression field by field against robfig's rules, with
robfig's error messages (users see them verbatim in ``spec.schedule: Invalid value: ...``), and
works out robfig's day-of-month/day-of-week rule: when either field is a star (``*``, ``?`` or a
star with step 1) a day must match both, otherwise either (``0 0 13 * 5`` fires every 13th *and*
every Friday). croniter's ``day_or`` flag is set from that, not left to croniter's own reading.

A schedule is evaluated in its zone (UTC unless ``TZ=`` or the CronJob's ``timeZone`` says
otherwise: kuberya's controller manager runs in UTC) and returns aware datetimes in UTC. Across
daylight-saving changes it fires as robfig does: a wall-clock time the change skips does not fire
that day (croniter would move it to the next valid minute), one that happens twice fires twice.
Zones come from the system's database, else from the ``tzdata`` package.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass

from croniter import CroniterError, croniter

UTC = datetime.UTC

_MONTHS = {
    n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_WEEKDAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


@dataclass(frozen=True, slots=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_FIELDS = (
    _Bounds(0, 59),  # minute
    _Bounds(0, 23),  # hour
    _Bounds(1, 31),  # day of month
    _Bounds(1, 12, _MONTHS),
    _Bounds(0, 6, _WEEKDAYS),
)

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Go's time.ParseDuration units, for "@every 1h30m".
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_YEARS_AHEAD = 5
"""robfig gives up looking for a match five years past the start (``0 0 31 2 *`` never fires)."""


class ScheduleError(ValueError):
    """A schedule robfig/cron would refuse; the message is robfig's."""


def load_zone(name: str) -> datetime.tzinfo:
    """Return the IANA zone ``name`` (Go's ``time.LoadLocation``; ``""`` and ``UTC`` are UTC)."""
    if name in ("", "UTC"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name}") from None


def _parse_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if number < 0:
        raise ScheduleError(f"negative number ({number}) not allowed: {text}")
    return number


def _parse_int_or_name(text: str, bounds: _Bounds) -> int:
    if bounds.names is not None and text.lower() in bounds.names:
        return bounds.names[text.lower()]
    return _parse_int(text)


def _check_range(expr: str, bounds: _Bounds) -> tuple[bool, range]:
    """Check one comma-separated part of a field (robfig's ``getRange``): (is it a star, its values)."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    star = low_and_high[0] in ("*", "?")
    if star:
        start, end = bounds.low, bounds.high
    else:
        start = _parse_int_or_name(low_and_high[0], bounds)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _parse_int_or_name(low_and_high[1], bounds)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if len(low_and_high) == 1:  # "N/step" means "N-max/step"
            end = bounds.high
        if step > 1:
            star = False
    elif len(range_and_step) > 2:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise ScheduleError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return star, range(start, end + 1, step)


def _check_field(field: str, bounds: _Bounds) -> tuple[bool, frozenset[int]]:
    parts = [_check_range(part, bounds) for part in field.split(",") if part]
    return any(star for star, _ in parts), frozenset(v for _, values in parts for v in values)


def _go_duration(text: str) -> float:
    """Seconds in a Go duration string (``90s``, ``1h30m``, ``1.5h``), as ``time.ParseDuration``."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return -total if text.startswith("-") else total


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: :meth:`next` gives the activation after a moment."""

    expression: str
    """The five fields croniter evaluates (a descriptor expanded); empty for ``@every``."""
    zone: datetime.tzinfo
    day_or: bool
    """robfig's day rule: a day matches day-of-month *or* day-of-week (neither field is a star)."""
    every: float = 0.0
    """The period of an ``@every`` schedule, in whole seconds (0 for a cron expression)."""
    hours: frozenset[int] = frozenset()
    minutes: frozenset[int] = frozenset()
    """The wall-clock hours and minutes that may fire: a time croniter moved off them (into the
    hour a DST change skips) is skipped, as robfig skips it."""

    def next(self, after: datetime.datetime) -> datetime.datetime | None:
        """The first activation strictly after ``after`` (aware), in UTC; None if none in 5 years."""
        if self.every:
            return (after.replace(microsecond=0) + datetime.timedelta(seconds=self.every)).astimezone(UTC)
        try:
            times = croniter(
                self.expression,
                after.astimezone(self.zone),
                day_or=self.day_or,
                max_years_between_matches=_YEARS_AHEAD,
            )
            found = times.get_next(datetime.datetime)
            # On a spring-forward day croniter moves 02:30 to 03:00; robfig skips that day instead.
            while found.hour not in self.hours or found.minute not in self.minutes:
                found = times.get_next(datetime.datetime)
        except CroniterError:
            return None
        return found.astimezone(UTC)


def parse_standard(spec: str, *, zone: datetime.tzinfo = UTC) -> Schedule:
    """Parse ``spec`` as robfig's ``ParseStandard`` does, or raise :class:`ScheduleError`."""
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, equals = spec.find(" "), spec.find("=")
        name = spec[equals + 1 : space] if space >= 0 else spec[equals + 1 :]
        try:
            zone = load_zone(name)
        except ScheduleError as e:
            raise ScheduleError(f"provided bad location {name}: {e}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            try:
                seconds = _go_duration(spec[len("@every ") :])
            except ValueError as e:
                raise ScheduleError(f"failed to parse duration {spec}: {e}") from None
            return Schedule(expression="", zone=zone, day_or=False, every=float(max(int(seconds), 1)))
        if spec not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    checked = [_check_field(field, bounds) for field, bounds in zip(fields, _FIELDS, strict=True)]
    # croniter reads "?" as "*" in the day fields but not elsewhere; robfig reads it as "*" anywhere.
    expression = " ".join(field.replace("?", "*") for field in fields)
    return Schedule(
        expression=expression,
        zone=zone,
        day_or=not (checked[2][0] or checked[4][0]),
        minutes=checked[0][1],
        hours=checked[1][1],
    )
