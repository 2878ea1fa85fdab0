"""The revision rules both drivers enforce: which revisions may be read and how far to compact.

``compacted`` is the oldest revision still served: a list at ``compacted`` or later sees the
exact state of that revision, and a watch after ``compacted`` or later sees every event. A
compaction never reaches into the newest ``retain`` revisions, so a client that listed a
moment ago can always continue or watch from what it got.
"""

from __future__ import annotations

from kuberya.storage.backend import CompactedError, FutureRevisionError


def check_readable(revision: int, *, compacted: int, current: int) -> None:
    """Raise unless ``revision`` (0: now) can be listed or watched from."""
    if revision == 0:
        return
    if revision < compacted:
        raise CompactedError(revision, compacted)
    if revision > current:
        raise FutureRevisionError(revision, current)


def check_watchable(after_revision: int, *, compacted: int) -> None:
    """Raise unless every event after ``after_revision`` is still held (a future one is fine)."""
    if after_revision < compacted:
        raise CompactedError(after_revision, compacted)


def compaction_target(requested: int, *, current: int, retain: int, compacted: int) -> int:
    """Return the revision a compaction may go up to: never into the newest ``retain`` revisions."""
    return max(compacted, min(requested, current - retain))
