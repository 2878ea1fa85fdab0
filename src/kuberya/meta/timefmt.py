"""Times and durations as the Kubernetes API prints them.

``metav1.Time`` serializes as RFC 3339 in UTC with second precision (``2026-01-02T03:04:05Z``):
:data:`RFC3339` is that format, :func:`format_time` applies it to a ``datetime`` and
:func:`rfc3339` to epoch seconds; :func:`parse_time` reads any RFC 3339 time back. CRI log lines
carry nanoseconds (:func:`rfc3339_nano`, :func:`parse_rfc3339_ns`). ``metav1.Duration`` (and every
duration in an event message or a status) prints as Go's ``time.Duration.String()``:
:func:`go_duration`.
"""

from __future__ import annotations

import calendar
import datetime
import re
import time

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
"""``strftime`` format of ``metav1.Time``; apply it to a UTC time (:func:`format_time` does)."""

RFC3339_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"
"""``strftime`` format of ``metav1.MicroTime`` (six fractional digits)."""

_SECONDS = "%Y-%m-%dT%H:%M:%S"
_RFC3339_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def format_time(when: datetime.datetime) -> str:
    """``when`` as ``metav1.Time`` serializes (converted to UTC; a naive time is taken as local)."""
    return when.astimezone(datetime.UTC).strftime(RFC3339)


def rfc3339(epoch: float) -> str:
    """Epoch seconds as ``metav1.Time`` serializes: ``2026-01-02T03:04:05Z``."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime(RFC3339)


def now_rfc3339() -> str:
    """The current time as ``metav1.Time`` serializes."""
    return datetime.datetime.now(datetime.UTC).strftime(RFC3339)


def parse_time(text: object) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp (``Z`` or an offset, optional fractions); None if absent or bad.

    The result is timezone-aware: a time written without an offset is taken as UTC.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def rfc3339_nano(timestamp_ns: int) -> str:
    """Epoch nanoseconds with all nine digits, as CRI log lines carry them: ``…T03:04:05.000000001Z``."""
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    return f"{time.strftime(_SECONDS, time.gmtime(seconds))}.{nanos:09d}Z"


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (any fraction up to nanoseconds, any offset)."""
    match = _RFC3339_TEXT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2006-01-02T15:04:05Z")
    base, fraction, zone = match.groups()
    seconds = calendar.timegm(time.strptime(base, _SECONDS))
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: ``10s``, ``1m20s``, ``5m0s``, ``1h2m5s``, ``5.002s``, ``100ms``.

    Computed on whole nanoseconds as Go does, so a float's binary noise (``5.002`` is
    ``5.00199…``) never shows; a caller wanting coarser text rounds first.
    """
    nanos = round(seconds * 1e9)
    if nanos <= 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return _decimal(nanos, size) + unit
    whole_seconds, fraction = divmod(nanos, 1_000_000_000)
    minutes, secs = divmod(whole_seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = _decimal(secs * 1_000_000_000 + fraction, 1_000_000_000) + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` in decimal without trailing zeros (``5002, 1000`` → ``5.002``)."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")
