"""The SQL half of the SQLite driver: one kine-style table and the statements run on it.

Everything here is synchronous and runs on one of the driver's two threads, each owning one
connection: the writer (every INSERT, compaction) and the reader (lists at old revisions,
watch replays older than the in-memory tail). Nothing here knows about asyncio.

The table is kine's: every create, update and delete inserts a row whose ``id`` is the
revision. The driver assigns ids itself (it is the only writer and knows the next revision), so
a write needs no read-back; ``AUTOINCREMENT`` still records the highest id ever used in
``sqlite_sequence``, so the revision counter survives even when compaction deletes the newest
row (a tombstone). ``prev_revision`` is the id of the key's previous row (for a create: the
tombstone it follows, else 0), and ``UNIQUE(name, prev_revision)`` makes two writes based on the
same revision impossible, whatever happens above. A delete's row carries the last value in
``value`` (kine copies it into ``old_value`` as well; here ``old_value`` is NULL for deletes
and only updates pay for the copy). The compacted revision lives in a small ``kuberya_meta``
table rather than kine's magic ``compact_rev_key`` row, so that it does not use up a revision.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from kuberya.storage import sqlitecheck
from kuberya.storage.backend import (
    CorruptStoreError,
    Event,
    EventType,
    KeyValue,
    StorageError,
)
from kuberya.storage.keyspace import Keyspace, prefix_end

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE kine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE INDEX kine_name_id ON kine (name, id);
CREATE UNIQUE INDEX kine_name_prev_revision ON kine (name, prev_revision);
CREATE TABLE kuberya_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_COLUMNS = "id, name, created, deleted, create_revision, prev_revision, value, old_value"

Row = tuple[int, str, int, int, int, int, bytes, bytes | None]
"""One ``kine`` row, columns in ``_COLUMNS`` order."""


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a restart recovers: the latest state of every key and the two revision marks."""

    latest: Keyspace
    tombstones: dict[str, int]
    """Deleted keys → the revision of their tombstone row (the ``prev_revision`` of a re-create)."""
    revision: int
    compacted: int


def row_for(event: Event, *, follows_tombstone: int = 0) -> Row:
    """Return the row that records ``event``; a create names the tombstone it follows, if any."""
    kv = event.kv
    if event.type is EventType.DELETE:
        return (kv.mod_revision, kv.key, 0, 1, kv.create_revision, _prev(event), kv.value, None)
    if event.prev_kv is None:
        return (kv.mod_revision, kv.key, 1, 0, kv.mod_revision, follows_tombstone, kv.value, None)
    return (kv.mod_revision, kv.key, 0, 0, kv.create_revision, _prev(event), kv.value, event.prev_kv.value)


def _prev(event: Event) -> int:
    assert event.prev_kv is not None, "only creates have no previous state"
    return event.prev_kv.mod_revision


def event_from_row(row: Row) -> Event:
    revision, key, created, deleted, create_revision, prev_revision, value, old_value = row
    kv = KeyValue(key=key, value=value, create_revision=create_revision, mod_revision=revision)
    if created:
        return Event(type=EventType.PUT, kv=kv, prev_kv=None)
    previous_value = value if deleted else old_value
    assert previous_value is not None, f"row {revision} of {key!r} lacks its old value"
    prev_kv = KeyValue(key=key, value=previous_value, create_revision=create_revision, mod_revision=prev_revision)
    return Event(type=EventType.DELETE if deleted else EventType.PUT, kv=kv, prev_kv=prev_kv)


def connect(path: Path, *, fsync_each_commit: bool, read_only: bool) -> sqlite3.Connection:
    """Open ``path`` in WAL mode, autocommit (transactions are explicit), usable from one thread."""
    # check_same_thread=False because the connection is made on the loop's thread and then
    # used only by its driver thread (a one-thread executor), never concurrently.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA busy_timeout = 5000")
        if connection.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise StorageError(f"{path}: SQLite refused WAL mode (is the file on a network share?)")
        # In WAL mode, NORMAL makes COMMIT write the transaction into the -wal file before it
        # returns, and fsync only at checkpoints: an acknowledged write is in the OS's page cache
        # and survives kill -9 of this process (the durability the cluster promises), and the
        # database can never be corrupted; only an OS crash or power loss can undo the last
        # few commits. FULL adds an fsync per commit (one per group of queued writes) for
        # machines where that matters and the disk is fast enough.
        connection.execute(f"PRAGMA synchronous = {'FULL' if fsync_each_commit else 'NORMAL'}")
        if read_only:
            connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Create the schema in an empty file, or check that the file holds a kuberya store."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        connection.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} INSERT INTO kuberya_meta (name, value) "
            f"VALUES ('schema_version', {SCHEMA_VERSION}), ('compacted_revision', 0); COMMIT;"
        )
        return
    if not {"kine", "kuberya_meta"} <= tables:
        raise CorruptStoreError(
            f"{path} is an SQLite database but not a kuberya store (it has tables {sorted(tables)}); "
            "point --storage at another file, or move this one away"
        )
    version = _meta(connection, "schema_version")
    if version != SCHEMA_VERSION:
        raise CorruptStoreError(
            f"{path} has kuberya store schema version {version}, this kuberya reads version "
            f"{SCHEMA_VERSION}; use the kuberya release that wrote it"
        )


def load(connection: sqlite3.Connection, path: Path) -> StoredState:
    """Read every key's latest row (a full pass over the name index) and the revision marks.

    Each row is checked on the way (:func:`~kuberya.storage.sqlitecheck.row_problem`), as a
    row that makes no sense would otherwise become a wrong object, or an assertion, later.
    """
    sequence = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").fetchone()
    revision: int = sequence[0] if sequence else 0
    latest = Keyspace()
    tombstones: dict[str, int] = {}
    rows = connection.execute(f"SELECT {_COLUMNS} FROM kine WHERE id IN (SELECT MAX(id) FROM kine GROUP BY name)")
    for row in rows:
        problem = sqlitecheck.row_problem(row[:6], revision=revision, has_old_value=row[7] is not None)
        if problem is not None:
            raise sqlitecheck.corrupt(path, problem)
        event = event_from_row(row)
        if event.type is EventType.DELETE:
            tombstones[event.kv.key] = event.revision
        else:
            latest.put(event.kv)
    return StoredState(
        latest=latest,
        tombstones=tombstones,
        revision=revision,
        compacted=_meta(connection, "compacted_revision"),
    )


def append(connection: sqlite3.Connection, rows: list[Row]) -> None:
    """Insert ``rows`` in one transaction: when this returns they are committed."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(f"INSERT INTO kine ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def compact_range(connection: sqlite3.Connection, *, after: int, through: int) -> None:
    """Forget what the rows in (``after``, ``through``] superseded, and their tombstones.

    A row is deleted when a newer row of the same key at or before ``through`` replaced it,
    or when it is a tombstone at or before ``through``; the state at ``through`` and every
    row after it survive. Done in ranges so that one transaction never holds the writer long.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine "
            "WHERE id > ? AND id <= ? AND prev_revision != 0)",
            (after, through),
        )
        connection.execute("DELETE FROM kine WHERE deleted = 1 AND id > ? AND id <= ?", (after, through))
        connection.execute("UPDATE kuberya_meta SET value = ? WHERE name = 'compacted_revision'", (through,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def list_at(
    connection: sqlite3.Connection, prefix: str, *, revision: int, start_after: str, limit: int
) -> list[KeyValue]:
    """Return the live keys under ``prefix`` after ``start_after`` as of ``revision``.

    At most ``limit`` of them (0: all), sorted by key.
    """
    conditions = ["id <= ?", "name >= ?", "name > ?"]
    parameters: list[object] = [revision, prefix, start_after]
    end = prefix_end(prefix)
    if end is not None:
        conditions.append("name < ?")
        parameters.append(end)
    parameters.append(limit or -1)
    # Sorting whole rows makes SQLite copy every value into a temporary B-tree (3x slower for
    # a list of Pods), so the ids are picked and ordered first and the rows fetched after;
    # Python restores the order, which the join does not promise to keep.
    rows = connection.execute(
        f"SELECT {', '.join('row.' + column for column in _COLUMNS.split(', '))} FROM "
        "(SELECT id FROM kine WHERE id IN "
        f"(SELECT MAX(id) FROM kine WHERE {' AND '.join(conditions)} GROUP BY name) "
        "AND deleted = 0 ORDER BY name LIMIT ?) AS picked CROSS JOIN kine AS row ON row.id = picked.id",
        parameters,
    ).fetchall()
    rows.sort(key=lambda row: row[1])
    return [event_from_row(row).kv for row in rows]


def events_between(connection: sqlite3.Connection, prefix: str, *, after: int, through: int, limit: int) -> list[Event]:
    """At most ``limit`` events under ``prefix`` in (``after``, ``through``], oldest first."""
    conditions = ["id > ?", "id <= ?", "name >= ?"]
    parameters: list[object] = [after, through, prefix]
    end = prefix_end(prefix)
    if end is not None:
        conditions.append("name < ?")
        parameters.append(end)
    parameters.append(limit)
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM kine WHERE {' AND '.join(conditions)} ORDER BY id LIMIT ?", parameters
    )
    return [event_from_row(row) for row in rows]


def _meta(connection: sqlite3.Connection, name: str) -> int:
    row = connection.execute("SELECT value FROM kuberya_meta WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise CorruptStoreError(f"the store lacks its {name!r} record")
    value: int = row[0]
    return value
