"""The storage contract: a revision log in the spirit of k3s's kine.

Every write appends one revision to a single, global, strictly increasing log; the revision
that wrote a key is that key's ``mod_revision`` and becomes the object's Kubernetes
``resourceVersion``. Updates and deletes are compare-and-swap on the key's current
``mod_revision``, so two writers that read the same revision cannot both win. Watches replay
the log from a revision and then stream; revisions older than the compacted one answer
:class:`CompactedError` (the API server turns it into 410 Expired).

Keys are plain strings (``/registry/apps/deployments/default/web``); values are opaque bytes
(the API server stores JSON). Only the API server imports this package.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key's state as of a revision."""

    key: str
    value: bytes
    create_revision: int
    """The revision that created this incarnation of the key."""
    mod_revision: int
    """The revision that last wrote it: the object's resourceVersion."""


class EventType(enum.Enum):
    PUT = "PUT"
    """A create (``prev_kv is None``) or an update."""
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    """One revision of the log, as a watcher sees it."""

    type: EventType
    kv: KeyValue
    """For PUT the new state; for DELETE the last state, with ``mod_revision`` = the delete's revision."""
    prev_kv: KeyValue | None
    """The state before this revision, or None for a create."""

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    """Sorted by key."""
    revision: int
    """The revision the list was read at (the store's current revision when none was asked)."""
    more: bool
    """True when ``limit`` cut the list; continue with ``start_after=items[-1].key``."""


class StorageError(Exception):
    """Base of every storage failure."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionMismatchError(StorageError):
    """A compare-and-swap lost: the key changed since ``expected`` was read."""

    def __init__(self, key: str, expected: int, current: KeyValue | None) -> None:
        actual = current.mod_revision if current else "deleted"
        super().__init__(f"key {key!r} is at revision {actual}, not {expected}")
        self.key = key
        self.expected = expected
        self.current = current


class CompactedError(StorageError):
    """The asked revision is older than the oldest one kept."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} has been compacted (oldest kept: {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """The asked revision is newer than the store's current one."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


class WatcherTooSlowError(StorageError):
    """A watcher fell so far behind that it was dropped so it cannot block everyone else."""


class StoreClosedError(StorageError):
    """A call reached a store that is closed (or was never started)."""


class CorruptStoreError(StorageError):
    """The store's file is not a kuberya store, or is damaged."""


class StoreInUseError(StorageError):
    """Another process has the store's file open."""


class Backend(Protocol):
    """What the API server needs from a store. Every write returns the revision it made."""

    async def start(self) -> None:
        """Open files and start background tasks. Called once before any other call."""

    async def close(self) -> None:
        """Flush, stop background tasks and end every watch."""

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int:
        """Return the oldest revision still served (0 when nothing was ever compacted)."""

    async def get(self, key: str) -> KeyValue | None:
        """Return the key's latest state, or None when it does not exist."""

    async def create(self, key: str, value: bytes) -> int:
        """Raise :class:`KeyExistsError` when the key exists."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Raise :class:`RevisionMismatchError` unless the key's mod_revision is ``expected_revision``.

        A key that does not exist (any more) is a mismatch too, with ``current=None``.
        """

    async def delete(self, key: str, *, expected_revision: int) -> int:
        """Delete if the key is at ``expected_revision`` (0: whatever it is). Returns the delete's revision.

        A missing key raises :class:`RevisionMismatchError` with ``current=None``, or
        :class:`KeyNotFoundError` when ``expected_revision`` is 0.
        """

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        """Keys under ``prefix`` as of ``revision`` (0: now), sorted, at most ``limit`` (0: all).

        ``start_after`` resumes a limited list (exclusive). Raises :class:`CompactedError` for a
        revision older than the compacted one and :class:`FutureRevisionError` for a future one.
        """

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[Event]:
        """Every event under ``prefix`` with revision > ``after_revision``, in order, then live ones.

        Raises :class:`CompactedError` (on first iteration) when ``after_revision`` is older than
        the compacted revision; ends with :class:`WatcherTooSlowError` when the consumer lags too
        far. The iterator ends cleanly when the store closes. Closing the generator (``aclose``)
        unsubscribes.
        """

    async def compact(self, revision: int) -> int:
        """Forget history up to ``revision``; return the compacted revision now in force.

        Never forgets the newest ``retain`` revisions nor any key's latest state.
        """
