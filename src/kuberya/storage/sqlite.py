"""The SQLite driver: kine's table in one WAL-mode file, with every read served from memory.

Writes. Callers put their write on a queue and await a future. One writer task drains the
queue: it checks each write against the latest state (plus the earlier writes of the same
batch), gives it the next revision, and commits the whole batch as one transaction on the
writer thread (group commit: under load, many writes share one COMMIT). Only after COMMIT
returns does it apply the batch to memory, publish the events to watchers and resolve the
futures, so an acknowledged write is on disk and a read never sees an uncommitted one. With a
single writer "database is locked" cannot happen, and because the task validates batch *n+1*
only after batch *n* is applied, the in-memory state it checks against is always current.

Reads. The latest state of every key (loaded at start) answers ``get`` and lists at the
current revision; a tail of recent events answers watch replays and lists at recent revisions
(by undoing the newer events); only older revisions go to SQL, on a separate reader thread and
connection that WAL lets run beside the writer.

The file is locked with ``flock`` on ``<file>.lock`` while the store is open, so a second
kuberya on the same file fails at once with :class:`StoreInUseError` instead of corrupting
the revision sequence. Once locked, and before it is opened for writing, the file is checked
(:mod:`kuberya.storage.sqlitecheck`): a damaged store fails ``start`` with
:class:`~kuberya.storage.backend.CorruptStoreError` and is never served half-read.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import functools
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from kuberya.storage import sqlitecheck, sqlitelog
from kuberya.storage.backend import (
    Event,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StorageError,
    StoreClosedError,
    StoreInUseError,
)
from kuberya.storage.eventlog import EventLog
from kuberya.storage.keyspace import Keyspace, page, scan_before
from kuberya.storage.revisions import check_readable, check_watchable, compaction_target
from kuberya.storage.watchers import DEFAULT_MAX_PENDING, WatchHub, stream_watch

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

MAX_BATCH = 512
"""Writes committed in one transaction at most, so one COMMIT never grows unbounded."""
REPLAY_PAGE = 1000
"""Events read from SQL per query when a watch replays history older than the recent tail."""
COMPACT_STEP = 1000
"""Revisions compacted per transaction; writes queued meanwhile go in between the steps."""


class _WriteKind(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class _Write:
    kind: _WriteKind
    key: str
    value: bytes
    expected_revision: int
    """The CAS revision; for a delete 0 means any."""
    done: asyncio.Future[int]


class SQLiteBackend:
    """A :class:`~kuberya.storage.backend.Backend` in one SQLite file; see the module docstring."""

    def __init__(
        self,
        path: Path,
        retain: int = 1000,
        *,
        fsync_each_commit: bool = False,
        recent_events: int = 4096,
        max_pending: int = DEFAULT_MAX_PENDING,
        check: sqlitecheck.StartupCheck | None = None,
    ) -> None:
        self.path = path
        self._check = check or sqlitecheck.StartupCheck()  # None: the quick check, of no values
        self._retain = retain
        self._fsync_each_commit = fsync_each_commit
        self._recent_capacity = recent_events
        self._hub = WatchHub(max_pending=max_pending)
        self._latest = Keyspace()
        self._tombstones: dict[str, int] = {}
        self._recent = EventLog(capacity=recent_events)
        self._revision = 0
        self._compacted = 0
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._reader_thread: ThreadPoolExecutor | None = None
        self._writer_db: sqlite3.Connection | None = None
        self._reader_db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._compaction_lock = asyncio.Lock()
        self._open = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._open or self._lock_file is not None:
            raise StorageError(f"the store {self.path} is already started")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.path)
        try:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="kuberya-sqlite-writer")
            self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="kuberya-sqlite-reader")
            stored = await self._in_thread(self._writer_thread, self._open_and_load)
            self._reader_db = await self._in_thread(
                self._reader_thread,
                functools.partial(
                    sqlitelog.connect, self.path, fsync_each_commit=self._fsync_each_commit, read_only=True
                ),
            )
        except BaseException:
            await self._release()
            raise
        self._latest = stored.latest
        self._tombstones = stored.tombstones
        self._revision = stored.revision
        self._compacted = stored.compacted
        self._recent = EventLog(next_revision=stored.revision + 1, capacity=self._recent_capacity)
        self._writer_task = asyncio.create_task(self._run_writer(), name=f"kuberya-sqlite-writer {self.path}")
        self._writer_task.add_done_callback(_report_writer_crash)
        self._open = True

    async def close(self) -> None:
        """Finish the writes already queued, end every watch, close the file and unlock it."""
        if not self._open:
            return
        self._open = False
        self._queue.put_nowait(None)
        if self._writer_task is not None:
            await self._writer_task
        self._hub.close()
        async with self._compaction_lock:
            await self._release()

    def _open_and_load(self) -> sqlitelog.StoredState:
        try:
            # Before the writer's connection exists: closing that one checkpoints and deletes
            # the WAL, which must not happen to a damaged store (see sqlitecheck).
            sqlitecheck.check_before_open(self.path, self._check)
            self._writer_db = sqlitelog.connect(self.path, fsync_each_commit=self._fsync_each_commit, read_only=False)
            sqlitelog.prepare(self._writer_db, self.path)
            return sqlitelog.load(self._writer_db, self.path)
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorname", "") in {"SQLITE_NOTADB", "SQLITE_CORRUPT"}:
                raise sqlitecheck.corrupt(self.path, f"SQLite cannot read it ({error})") from error
            raise StorageError(f"cannot open the store {self.path}: {error}") from error

    async def _release(self) -> None:
        if self._writer_thread is not None:
            if self._writer_db is not None:
                await self._in_thread(self._writer_thread, self._writer_db.close)
            self._writer_thread.shutdown(wait=True)
        if self._reader_thread is not None:
            if self._reader_db is not None:
                await self._in_thread(self._reader_thread, self._reader_db.close)
            self._reader_thread.shutdown(wait=True)
        self._writer_db = self._reader_db = None
        self._writer_thread = self._reader_thread = None
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the flock
            self._lock_file = None

    # -- reads -----------------------------------------------------------------------------

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        return self._latest.get(key)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        self._check_open()
        check_readable(revision, compacted=self._compacted, current=self._revision)
        at = revision or self._revision
        if at == self._revision:
            scan = self._latest.scan(prefix, start_after=start_after)
        elif self._recent.covers_after(at):
            newer = self._recent.since(at, through=self._revision, prefix=prefix)
            scan = scan_before(self._latest, newer, prefix, start_after=start_after)
        else:
            assert self._reader_thread is not None and self._reader_db is not None
            items = await self._in_thread(
                self._reader_thread,
                functools.partial(
                    sqlitelog.list_at,
                    self._reader_db,
                    prefix,
                    revision=at,
                    start_after=start_after,
                    limit=limit + 1 if limit else 0,
                ),
            )
            # A compaction that started while SQL was reading may have removed rows it needed.
            check_readable(at, compacted=self._compacted, current=self._revision)
            scan = iter(items)
        return page(scan, revision=at, limit=limit)

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[Event]:
        return stream_watch(
            hub=self._hub,
            prefix=prefix,
            after_revision=after_revision,
            revisions=lambda: (self._compacted, self._revision),
            replay=self._replay,
        )

    async def _replay(self, prefix: str, after_revision: int, through: int) -> AsyncIterator[Event]:
        cursor = after_revision
        while not self._recent.covers_after(cursor):
            if not self._open:
                return
            assert self._reader_thread is not None and self._reader_db is not None
            events = await self._in_thread(
                self._reader_thread,
                functools.partial(
                    sqlitelog.events_between,
                    self._reader_db,
                    prefix,
                    after=cursor,
                    through=through,
                    limit=REPLAY_PAGE,
                ),
            )
            # Compaction moves the mark before it deletes rows, so a page read after rows
            # it needed were deleted always sees the mark past its start.
            check_watchable(cursor, compacted=self._compacted)
            for event in events:
                yield event
            if len(events) < REPLAY_PAGE:
                return
            cursor = events[-1].revision
        for event in self._recent.since(cursor, through=through, prefix=prefix):
            yield event

    # -- writes ----------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        return await self._submit(_WriteKind.CREATE, key, value, expected_revision=0)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self._submit(_WriteKind.UPDATE, key, value, expected_revision=expected_revision)

    async def delete(self, key: str, *, expected_revision: int) -> int:
        return await self._submit(_WriteKind.DELETE, key, b"", expected_revision=expected_revision)

    async def _submit(self, kind: _WriteKind, key: str, value: bytes, *, expected_revision: int) -> int:
        self._check_open()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(kind, key, value, expected_revision, done))
        return await done

    async def _run_writer(self) -> None:
        stopping = False
        while not stopping:
            write = await self._queue.get()
            if write is None:
                return
            batch = [write]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is None:
                    stopping = True
                    break
                batch.append(queued)
            try:
                await self._commit_batch(batch)
            except Exception as error:
                # A bug here must not kill the only writer: fail this batch and go on.
                logger.exception("the storage writer failed a batch of %d writes", len(batch))
                for failed in batch:
                    if not failed.done.done():
                        failed.done.set_exception(StorageError(f"write failed: {error}"))

    async def _commit_batch(self, batch: Sequence[_Write]) -> None:
        """Check, number, commit, then apply and acknowledge one batch of writes."""
        pending: dict[str, KeyValue | None] = {}
        """The batch's own effect on keys it wrote, seen by its later writes."""
        tombstones: dict[str, int] = {}
        outcomes: list[tuple[_Write, Event | StorageError]] = []
        rows: list[sqlitelog.Row] = []
        revision = self._revision
        for write in batch:
            if write.done.cancelled():
                continue  # its caller gave up before anything was written
            current = pending[write.key] if write.key in pending else self._latest.get(write.key)
            try:
                event = _event_for(write, current, revision=revision + 1)
            except StorageError as refused:
                outcomes.append((write, refused))
                continue
            revision += 1
            follows = tombstones.get(write.key) or self._tombstones.get(write.key, 0)
            rows.append(sqlitelog.row_for(event, follows_tombstone=follows))
            if event.type is EventType.DELETE:
                pending[write.key] = None
                tombstones[write.key] = revision
            else:
                pending[write.key] = event.kv
            outcomes.append((write, event))
        if rows:
            assert self._writer_thread is not None and self._writer_db is not None
            try:
                await self._in_thread(self._writer_thread, functools.partial(sqlitelog.append, self._writer_db, rows))
            except sqlite3.Error as error:
                failure = StorageError(f"writing to {self.path} failed, nothing was written: {error}")
                for write, _ in outcomes:
                    _settle(write.done, failure)
                return
        for write, outcome in outcomes:
            if isinstance(outcome, Event):
                self._apply(outcome)
                _settle(write.done, outcome.revision)
            else:
                _settle(write.done, outcome)

    def _apply(self, event: Event) -> None:
        kv = event.kv
        self._revision = event.revision
        if event.type is EventType.DELETE:
            self._latest.remove(kv.key)
            self._tombstones[kv.key] = event.revision
        else:
            self._latest.put(kv)
            if event.prev_kv is None:
                self._tombstones.pop(kv.key, None)
        self._recent.append(event)
        self._hub.publish(event)

    # -- compaction ------------------------------------------------------------------------

    async def compact(self, revision: int) -> int:
        self._check_open()
        async with self._compaction_lock:
            previous = self._compacted
            target = compaction_target(revision, current=self._revision, retain=self._retain, compacted=previous)
            if target == previous:
                return target
            # Raise the mark first: from here on no read may start below it (see _replay).
            self._compacted = target
            assert self._writer_thread is not None and self._writer_db is not None
            for step_after in range(previous, target, COMPACT_STEP):
                step = functools.partial(
                    sqlitelog.compact_range,
                    self._writer_db,
                    after=step_after,
                    through=min(step_after + COMPACT_STEP, target),
                )
                await self._in_thread(self._writer_thread, step)
            self._tombstones = {key: rev for key, rev in self._tombstones.items() if rev > target}
            return target

    # -- plumbing --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._open:
            raise StoreClosedError(f"the store {self.path} is not open")

    @staticmethod
    async def _in_thread(executor: ThreadPoolExecutor, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(executor, call)


def _event_for(write: _Write, current: KeyValue | None, *, revision: int) -> Event:
    """Return the event ``write`` makes at ``revision`` given the key's ``current`` state, or why not."""
    if write.kind is _WriteKind.CREATE:
        if current is not None:
            raise KeyExistsError(write.key)
        kv = KeyValue(key=write.key, value=write.value, create_revision=revision, mod_revision=revision)
        return Event(type=EventType.PUT, kv=kv, prev_kv=None)
    any_revision = write.kind is _WriteKind.DELETE and write.expected_revision == 0
    if current is None and any_revision:
        raise KeyNotFoundError(write.key)
    if current is None or (not any_revision and current.mod_revision != write.expected_revision):
        raise RevisionMismatchError(write.key, write.expected_revision, current)
    if write.kind is _WriteKind.DELETE:
        tombstone = KeyValue(
            key=write.key, value=current.value, create_revision=current.create_revision, mod_revision=revision
        )
        return Event(type=EventType.DELETE, kv=tombstone, prev_kv=current)
    kv = KeyValue(key=write.key, value=write.value, create_revision=current.create_revision, mod_revision=revision)
    return Event(type=EventType.PUT, kv=kv, prev_kv=current)


def _report_writer_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the storage writer died; writes will hang", exc_info=task.exception())


def _settle(done: asyncio.Future[int], outcome: int | StorageError) -> None:
    if done.done():
        return  # cancelled by its caller; the write (if it was one) stands, like etcd's
    if isinstance(outcome, int):
        done.set_result(outcome)
    else:
        done.set_exception(outcome)


def _lock(path: Path) -> IO[bytes]:
    """Hold an exclusive flock on ``<path>.lock`` for as long as the returned file stays open."""
    lock_path = path.with_name(path.name + ".lock")
    lock_file = open(lock_path, "a+b")  # noqa: SIM115 (held open for the store's lifetime)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().decode(errors="replace").strip() or "unknown"
        lock_file.close()
        raise StoreInUseError(
            f"{path} is in use by another kuberya (pid {holder}, lock {lock_path}); stop it first, "
            "or give this one its own --storage file"
        ) from None
    lock_file.truncate(0)
    lock_file.write(str(os.getpid()).encode())
    lock_file.flush()
    return lock_file
