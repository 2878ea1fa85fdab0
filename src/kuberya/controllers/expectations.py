"""Expectations: what a controller has asked for and not yet seen in its cache.

A ReplicaSet that has just created three pods must not, on its next sync, count the cache (which
may not show them yet) and create three more. As upstream's ``UIDTrackingControllerExpectations``,
each controller key records how many creations it still expects to observe and which pod keys it
still expects to see deleted; informer handlers lower them as events arrive, and ``sync`` only
manages replicas once they are :meth:`Expectations.satisfied`. Expectations older than ``ttl``
seconds (upstream: 5 minutes) count as satisfied, so a lost event cannot wedge a controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kuberya.client import Clock

EXPECTATIONS_TTL = 300.0


@dataclass
class _Record:
    creations: int
    deletions: set[str] = field(default_factory=set)
    timestamp: float = 0.0


class Expectations:
    """Per-key counts of creations and sets of deletions not yet observed."""

    def __init__(self, clock: Clock, *, ttl: float = EXPECTATIONS_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending for ``key``, nothing was ever recorded, or it expired."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.creations <= 0 and not record.deletions:
            return True
        return self._clock.now() - record.timestamp > self._ttl

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Record(creations=count, timestamp=self._clock.now())

    def expect_deletions(self, key: str, pod_keys: set[str]) -> None:
        self._records[key] = _Record(creations=0, deletions=set(pod_keys), timestamp=self._clock.now())

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None and record.creations > 0:
            record.creations -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.deletions.discard(pod_key)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, frozenset[str]]:
        """``(creations, deletions)`` still expected for ``key`` (for logs and tests)."""
        record = self._records.get(key)
        if record is None:
            return 0, frozenset()
        return max(record.creations, 0), frozenset(record.deletions)
