"""The memory driver: the revision log held in Python objects, for tests and ``--storage memory://``.

Three views of one append-only history, all updated in the same synchronous step of a write
(so nothing here ever awaits and every call is atomic on the event loop):

- the :class:`Keyspace` of latest states answers ``get`` and lists at the current revision;
- a per-key history ``key → [(revision, KeyValue | None), ...]`` (None: deleted there) answers
  lists at an older revision with one bisect per key;
- the :class:`EventLog` of every event since the compacted revision feeds watch replays.

Compaction trims each key's history to the newest entry at or before the target (dropped too if
it is a deletion) plus everything after, and the log to the events after the target.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterator

from kuberya.storage.backend import (
    Event,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StoreClosedError,
)
from kuberya.storage.eventlog import EventLog
from kuberya.storage.keyspace import Keyspace, keys_in_range, page
from kuberya.storage.revisions import check_readable, compaction_target
from kuberya.storage.watchers import DEFAULT_MAX_PENDING, WatchHub, stream_watch

_HistoryEntry = tuple[int, KeyValue | None]


class MemoryBackend:
    """A :class:`~kuberya.storage.backend.Backend` that forgets everything when the process ends."""

    def __init__(self, retain: int = 1000, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._retain = retain
        self._latest = Keyspace()
        self._history: dict[str, list[_HistoryEntry]] = {}
        self._history_keys: list[str] = []
        """Every key in ``_history``, sorted."""
        self._log = EventLog()
        self._revision = 0
        self._compacted = 0
        self._hub = WatchHub(max_pending=max_pending)
        self._closed = False

    async def start(self) -> None:
        """Nothing to open; present for the protocol."""

    async def close(self) -> None:
        self._closed = True
        self._hub.close()

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        return self._latest.get(key)

    async def create(self, key: str, value: bytes) -> int:
        self._check_open()
        if self._latest.get(key) is not None:
            raise KeyExistsError(key)
        revision = self._revision + 1
        kv = KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision)
        self._append(Event(type=EventType.PUT, kv=kv, prev_kv=None))
        return revision

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        self._check_open()
        current = self._current_for_write(key, expected_revision)
        revision = self._revision + 1
        kv = KeyValue(key=key, value=value, create_revision=current.create_revision, mod_revision=revision)
        self._append(Event(type=EventType.PUT, kv=kv, prev_kv=current))
        return revision

    async def delete(self, key: str, *, expected_revision: int) -> int:
        self._check_open()
        current = self._current_for_write(key, expected_revision or None)
        revision = self._revision + 1
        tombstone = KeyValue(
            key=key, value=current.value, create_revision=current.create_revision, mod_revision=revision
        )
        self._append(Event(type=EventType.DELETE, kv=tombstone, prev_kv=current))
        return revision

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        self._check_open()
        check_readable(revision, compacted=self._compacted, current=self._revision)
        if revision in (0, self._revision):
            scan = self._latest.scan(prefix, start_after=start_after)
        else:
            scan = self._scan_at(revision, prefix, start_after=start_after)
        return page(scan, revision=revision or self._revision, limit=limit)

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[Event]:
        return stream_watch(
            hub=self._hub,
            prefix=prefix,
            after_revision=after_revision,
            revisions=lambda: (self._compacted, self._revision),
            replay=self._replay,
        )

    async def compact(self, revision: int) -> int:
        self._check_open()
        target = compaction_target(revision, current=self._revision, retain=self._retain, compacted=self._compacted)
        if target == self._compacted:
            return target
        for key in list(self._history):
            kept = _history_after_compaction(self._history[key], target)
            if kept:
                self._history[key] = kept
            else:
                del self._history[key]
                del self._history_keys[bisect.bisect_left(self._history_keys, key)]
        self._log.forget_through(target)
        self._compacted = target
        return target

    def _scan_at(self, revision: int, prefix: str, *, start_after: str) -> Iterator[KeyValue]:
        for key in keys_in_range(self._history_keys, prefix, start_after):
            kv = _state_at(self._history[key], revision)
            if kv is not None:
                yield kv

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the memory store is closed")

    def _current_for_write(self, key: str, expected_revision: int | None) -> KeyValue:
        current = self._latest.get(key)
        if current is None and expected_revision is None:
            raise KeyNotFoundError(key)
        if current is None or (expected_revision is not None and current.mod_revision != expected_revision):
            raise RevisionMismatchError(key, expected_revision or 0, current)
        return current

    def _append(self, event: Event) -> None:
        kv = event.kv
        self._revision = kv.mod_revision
        if event.type is EventType.PUT:
            self._latest.put(kv)
            state: KeyValue | None = kv
        else:
            self._latest.remove(kv.key)
            state = None
        history = self._history.get(kv.key)
        if history is None:
            self._history[kv.key] = [(kv.mod_revision, state)]
            bisect.insort(self._history_keys, kv.key)
        else:
            history.append((kv.mod_revision, state))
        self._log.append(event)
        self._hub.publish(event)

    async def _replay(self, prefix: str, after_revision: int, through: int) -> AsyncIterator[Event]:
        for event in self._log.since(after_revision, through=through, prefix=prefix):
            yield event


def _state_at(history: list[_HistoryEntry], revision: int) -> KeyValue | None:
    index = bisect.bisect_right(history, revision, key=lambda entry: entry[0])
    return history[index - 1][1] if index else None


def _history_after_compaction(history: list[_HistoryEntry], target: int) -> list[_HistoryEntry]:
    """Keep the entries a list at ``target`` or later can still need."""
    index = bisect.bisect_right(history, target, key=lambda entry: entry[0])
    if index == 0:
        return history
    start = index - 1 if history[index - 1][1] is not None else index
    return history[start:]
