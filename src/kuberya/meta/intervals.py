"""Sets of completion indexes written as upstream's interval text: ``"1,3-5,7"``.

Indexed Jobs report ``status.completedIndexes`` and ``status.failedIndexes`` in this form, and a
success policy names ``succeededIndexes`` in it (``pkg/controller/job/indexed_job_utils.go``).
The API server validates the text and the Job controller reads and writes it, so it lives here,
where both layers may import it.
"""

from __future__ import annotations

from collections.abc import Iterable


class IntervalError(ValueError):
    """The text is not a valid list of intervals; the message is upstream's wording."""


def parse_intervals(text: str, *, limit: int | None = None) -> list[tuple[int, int]]:
    """Parse ``"1,3-5"`` into ``[(1, 1), (3, 5)]``, strictly as upstream's validation does.

    Intervals must be ordered and non-overlapping; with ``limit``, every index must be below it.
    """
    intervals: list[tuple[int, int]] = []
    if not text:
        return intervals
    for part in text.split(","):
        first_text, sep, last_text = part.partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if sep else first
        except ValueError as exc:
            raise IntervalError(f"cannot parse integer index: {part!r}") from exc
        if first < 0 or last < 0:
            raise IntervalError("interval must not contain negative numbers")
        if first > last:
            raise IntervalError(f"first index in the interval {part!r} must not be greater than the last")
        if limit is not None and last >= limit:
            raise IntervalError(f"too large index: {last}")
        if intervals and first <= intervals[-1][1]:
            raise IntervalError("overlapping or unordered intervals")
        intervals.append((first, last))
    return intervals


def indexes_of(text: str, *, limit: int | None = None) -> set[int]:
    """The indexes ``text`` names, ignoring those at or above ``limit`` (lenient, for controllers)."""
    found: set[int] = set()
    for part in (text or "").split(","):
        first_text, sep, last_text = part.partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if sep else first
        except ValueError:
            continue
        top = last if limit is None else min(last, limit - 1)
        found.update(range(max(first, 0), top + 1))
    return found


def format_intervals(indexes: Iterable[int]) -> str:
    """Write a set of indexes as ordered, merged intervals: ``{0, 1, 2, 5}`` → ``"0-2,5"``."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    start = previous = None
    for index in ordered:
        if previous is not None and index == previous + 1:
            previous = index
            continue
        if start is not None:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        start = previous = index
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ",".join(parts)
