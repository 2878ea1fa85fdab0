"""Wall-clock time as the workload controllers see it: injected, formatted as the API writes it.

The work queue's :class:`~kuberya.client.Clock` is monotonic and says nothing about the RFC 3339
timestamps objects carry (``lastTransitionTime``, ``creationTimestamp``). Controllers that compare
those (minReadySeconds, progress deadlines, event timestamps) take a :data:`WallClock` instead, so
tests pin "now" rather than wait for it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

WallClock = Callable[[], datetime.datetime]
"""Returns the current time, timezone-aware (UTC)."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def format_time(when: datetime.datetime) -> str:
    """RFC 3339 with second precision, as ``metav1.Time`` serializes."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp (``Z`` or an offset, optional fractions); None if absent or bad."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
