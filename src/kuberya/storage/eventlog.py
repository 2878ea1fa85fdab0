"""Events indexed by revision: the memory driver's whole log, the SQLite driver's recent tail.

Every write makes exactly one revision and the single writer appends them in order, so the
events held always cover a contiguous run of revisions and revision ``r`` sits at index
``r - first_revision``: finding where a replay starts is arithmetic, not a search.

With ``capacity`` set the log forgets its oldest events once it holds twice that many (trimming
in halves keeps appends amortised O(1) where trimming one by one would memmove every time).
"""

from __future__ import annotations

from collections.abc import Iterable

from kuberya.storage.backend import Event


class EventLog:
    """A contiguous run of events, oldest first."""

    def __init__(self, *, next_revision: int = 1, capacity: int = 0) -> None:
        self._events: list[Event] = []
        self._first_revision = next_revision
        """The revision of ``_events[0]``, or the next one to come while the log is empty."""
        self._capacity = capacity
        """How many events to keep at least (0: keep everything until :meth:`forget_through`)."""

    @property
    def first_revision(self) -> int:
        return self._first_revision

    def append(self, event: Event) -> None:
        expected = self._first_revision + len(self._events)
        if event.revision != expected:
            raise ValueError(f"event log expected revision {expected}, got {event.revision}")
        self._events.append(event)
        if self._capacity and len(self._events) >= 2 * self._capacity:
            self.forget_through(event.revision - self._capacity)

    def covers_after(self, after_revision: int) -> bool:
        """Whether every event newer than ``after_revision`` is still held."""
        return after_revision + 1 >= self._first_revision

    def since(self, after_revision: int, *, through: int, prefix: str = "") -> list[Event]:
        """Events in (``after_revision``, ``through``] whose key starts with ``prefix``.

        The caller checks :meth:`covers_after` first; an uncovered start raises ValueError.
        """
        if not self.covers_after(after_revision):
            raise ValueError(f"event log starts at {self._first_revision}, not after {after_revision}")
        start = after_revision + 1 - self._first_revision
        stop = through + 1 - self._first_revision
        window: Iterable[Event] = self._events[start:stop]
        if not prefix:
            return list(window)
        return [event for event in window if event.kv.key.startswith(prefix)]

    def forget_through(self, revision: int) -> None:
        """Drop the events at or before ``revision``."""
        count = min(revision + 1 - self._first_revision, len(self._events))
        if count > 0:
            del self._events[:count]
            self._first_revision += count
