"""Wall-clock time as the workload controllers see it: injected, formatted as the API writes it.

The work queue's :class:`~kuberya.client.Clock` is monotonic and says nothing about the RFC 3339
timestamps objects carry (``lastTransitionTime``, ``creationTimestamp``). Controllers that compare
those (minReadySeconds, progress deadlines, event timestamps) take a :data:`WallClock` instead, so
tests pin "now" rather than wait for it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

# Re-exported: the controllers read and write timestamps through this module.
from kuberya.meta.timefmt import format_time as format_time
from kuberya.meta.timefmt import parse_time as parse_time

WallClock = Callable[[], datetime.datetime]
"""Returns the current time, timezone-aware (UTC)."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
