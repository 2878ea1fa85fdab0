"""Is this SQLite file safe to serve? The checks a store passes before the driver reads it.

SQLite keeps no checksums of its pages: bytes changed in the middle of a page (a failing disk,
a bad copy, an editor) go unnoticed until a query trips on them, or forever when they landed
inside a value. And SQLite silently ignores a write-ahead log whose header is damaged, dropping
every commit it holds that is not yet in the main file. A store that would serve such a file
half-read refuses to start instead, with :class:`CorruptStoreError` naming the file and what to do.

Two levels, chosen by :class:`CheckLevel`:

quick (the default; its cost stays small and bounded, see ``docs/DECISIONS.md``)
    the WAL header; ``PRAGMA quick_check`` (the structure of every b-tree page, not the indexes
    against the table); the revision marks; the newest :data:`VALUE_SAMPLE` values through the
    owner's value check. While loading, the driver also checks every key's latest row with
    :func:`row_problem`, which is free since it reads those rows anyway.
full (``--check-storage=full``)
    ``PRAGMA integrity_check`` (indexes and UNIQUE constraints too) and a scan of the whole log:
    every row, its chain of previous revisions, and every value and old value.

The checks run on a read-only connection, so a damaged file is neither checkpointed nor has its
WAL deleted by them: what the user restores from or moves aside is what was found.

Values are opaque bytes to storage; whoever owns their format (the server: the API server's
JSON objects) passes :attr:`StartupCheck.value_problem` to have them checked too.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kuberya.storage.backend import CorruptStoreError, StorageError

logger = logging.getLogger(__name__)

VALUE_SAMPLE = 1000
"""Values the quick check parses: the newest writes, so its cost does not grow with the store."""
MAX_REPORTED = 5
"""Problems named in the error; a full check stops counting at :data:`MAX_COLLECTED`."""
MAX_COLLECTED = 100

_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_VERSION = 3007000
_WAL_HEADER = 32

# Columns of the rows checked here, in this order (a prefix of sqlitelog's, without the values).
RowFacts = tuple[int, str, int, int, int, int]
"""id, name, created, deleted, create_revision, prev_revision."""


class CheckLevel(enum.Enum):
    QUICK = "quick"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class StartupCheck:
    """What a store checks before it serves anything."""

    level: CheckLevel = CheckLevel.QUICK
    value_problem: Callable[[bytes], str | None] | None = None
    """Says what is wrong with one stored value, or None when it is fine; None checks no values."""


def check_before_open(path: Path, check: StartupCheck) -> None:
    """Raise :class:`CorruptStoreError` when the store at ``path`` must not be served.

    A missing or empty file with no WAL is a new store and passes.
    """
    wal = path.with_name(path.name + "-wal")
    wal_problem = wal_header_problem(wal)
    if wal_problem is not None:
        raise CorruptStoreError(
            f"{wal} is not a valid SQLite write-ahead log ({wal_problem}): SQLite would ignore it, "
            f"and with it every write not yet copied into {path}. Restore {path.name} and its -wal "
            f"file from a backup; or move {wal.name} aside to start from what {path.name} itself "
            "holds, losing those writes"
        )
    if not _has_content(path) and not _has_content(wal):
        return
    started = time.perf_counter()
    try:
        # mode=ro: a read-only connection can neither checkpoint nor delete the WAL on close.
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            problems = _problems(connection, check)
        finally:
            connection.close()
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorname", "") in {"SQLITE_NOTADB", "SQLITE_CORRUPT"}:
            # SQLite found the damage itself, reading a page the checks needed.
            raise corrupt(path, f"SQLite cannot read it ({error})") from error
        raise StorageError(f"cannot check the store {path}: {error}") from error
    if problems:
        raise corrupt(path, _summary(problems), level=check.level)
    logger.info(
        "storage: %s check of %s passed in %.0f ms", check.level.value, path, (time.perf_counter() - started) * 1000
    )


def corrupt(path: Path, what: str, *, level: CheckLevel | None = None) -> CorruptStoreError:
    """The error for a damaged store: what was found, in which file, and what the user can do."""
    hint = " (a full check, --check-storage=full, may find more)" if level is CheckLevel.QUICK else ""
    return CorruptStoreError(
        f"{path} is damaged: {what}{hint}. kuberya refuses to serve it. Restore it from a backup, "
        f"or move it and its -wal and -shm files aside to start an empty cluster"
    )


def wal_header_problem(wal: Path) -> str | None:
    """What is wrong with the header of the write-ahead log ``wal``, or None (also when absent or empty).

    SQLite writes the 32-byte header in one ``write`` before any frame, so a process killed at
    any point leaves either no header or a whole one: a bad one is damage, not a crash.
    """
    try:
        with open(wal, "rb") as f:
            header = f.read(_WAL_HEADER)
    except FileNotFoundError:
        return None
    if not header:
        return None
    if len(header) < _WAL_HEADER:
        return f"{len(header)} bytes, shorter than a WAL header"
    magic, version, page_size = struct.unpack(">III", header[:12])
    if magic not in _WAL_MAGIC:
        return f"bad magic number {magic:#010x}"
    if version != _WAL_VERSION:
        return f"unknown WAL format {version}"
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return f"impossible page size {page_size}"
    if _wal_checksum(header[:24], big_endian=magic & 1 == 1) != struct.unpack(">II", header[24:32]):
        return "its header checksum does not match"
    return None


def row_problem(row: RowFacts, *, revision: int, has_old_value: bool) -> str | None:
    """What is wrong with one ``kine`` row in a log whose counter is at ``revision``, or None."""
    row_id, name, created, deleted, create_revision, prev_revision = row
    where = f"row {row_id} ({name!r})"
    if created not in (0, 1) or deleted not in (0, 1) or (created and deleted):
        return f"{where} has impossible flags created={created} deleted={deleted}"
    if not 0 < row_id <= revision:
        return f"{where} is beyond the revision counter {revision}"
    if not 0 < create_revision <= row_id:
        return f"{where} has create revision {create_revision}, outside 1..{row_id}"
    if created and create_revision != row_id:
        return f"{where} is a create whose create revision is {create_revision}"
    if not 0 <= prev_revision < row_id or (not created and prev_revision == 0):
        return f"{where} has previous revision {prev_revision}"
    if not created and not deleted and not has_old_value:
        return f"{where} is an update without its old value"
    return None


def _problems(connection: sqlite3.Connection, check: StartupCheck) -> list[str]:
    pragma = "integrity_check" if check.level is CheckLevel.FULL else "quick_check"
    found = [row[0] for row in connection.execute(f"PRAGMA {pragma}({MAX_COLLECTED})")]
    if found != ["ok"]:
        # One line per problem (the server's error is one line); SQLite heads its first with the
        # database's name, which says nothing here.
        lines = (line for entry in found for line in entry.splitlines() if not line.startswith("***"))
        return [f"SQLite's {pragma}: {line}" for line in lines]
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"kine", "kuberya_meta", "sqlite_sequence"} <= tables:
        return []  # a new store, or not a kuberya store at all: the driver's prepare() says which
    revision, compacted = _marks(connection)
    problems = _mark_problems(connection, revision=revision, compacted=compacted)
    if problems:
        return problems
    if check.level is CheckLevel.FULL:
        return _log_problems(connection, check, revision=revision, compacted=compacted)
    if check.value_problem is not None:
        newest = connection.execute("SELECT id, name, value FROM kine ORDER BY id DESC LIMIT ?", (VALUE_SAMPLE,))
        problems = _value_problems(((f"row {i} ({n!r})", v) for i, n, v in newest), check.value_problem)
    return problems


def _marks(connection: sqlite3.Connection) -> tuple[int, int]:
    sequence = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").fetchone()
    compacted = connection.execute("SELECT value FROM kuberya_meta WHERE name = 'compacted_revision'").fetchone()
    return (int(sequence[0]) if sequence else 0), (int(compacted[0]) if compacted else -1)


def _mark_problems(connection: sqlite3.Connection, *, revision: int, compacted: int) -> list[str]:
    highest = connection.execute("SELECT MAX(id) FROM kine").fetchone()[0] or 0
    problems = []
    if highest > revision:
        problems.append(f"the log holds revision {highest}, beyond its revision counter {revision}")
    if compacted < 0:
        problems.append("the compacted revision is missing")
    elif compacted > revision:
        problems.append(f"the compacted revision {compacted} is beyond the revision counter {revision}")
    return problems


def _log_problems(connection: sqlite3.Connection, check: StartupCheck, *, revision: int, compacted: int) -> list[str]:
    """Every row on its own, and each against the row it names as its previous revision."""
    problems: list[str] = []
    seen: dict[int, tuple[str, int, int]] = {}
    """id → (name, deleted, create_revision) of every row read so far (rows come oldest first)."""
    rows = connection.execute(
        "SELECT id, name, created, deleted, create_revision, prev_revision, value, old_value FROM kine ORDER BY id"
    )
    for row_id, name, created, deleted, create_revision, prev_revision, value, old_value in rows:
        facts: RowFacts = (row_id, name, created, deleted, create_revision, prev_revision)
        problem = row_problem(facts, revision=revision, has_old_value=old_value is not None) or _chain_problem(
            facts, seen, compacted=compacted
        )
        if problem is None and check.value_problem is not None:
            values = [(f"row {row_id} ({name!r})", value)]
            if old_value is not None:
                values.append((f"the old value in row {row_id} ({name!r})", old_value))
            problem = next(iter(_value_problems(values, check.value_problem)), None)
        if problem is not None:
            problems.append(problem)
            if len(problems) >= MAX_COLLECTED:
                break
        seen[row_id] = (name, deleted, create_revision)
    return problems


def _chain_problem(row: RowFacts, seen: dict[int, tuple[str, int, int]], *, compacted: int) -> str | None:
    row_id, name, created, _, create_revision, prev_revision = row
    if prev_revision == 0:
        return None
    where = f"row {row_id} ({name!r})"
    previous = seen.get(prev_revision)
    if previous is None:
        # Compaction removes a row only once a row at or below the compacted revision replaced
        # it (or it is a tombstone at or below it): an update's or delete's previous row above
        # the mark, or a tombstone above it, must still be there.
        if row_id > compacted and (not created or prev_revision > compacted):
            return f"{where} follows revision {prev_revision}, which is missing from the log"
        return None
    previous_name, previous_deleted, previous_create = previous
    if previous_name != name:
        return f"{where} follows revision {prev_revision}, a row of another key ({previous_name!r})"
    if created and not previous_deleted:
        return f"{where} is a create after revision {prev_revision}, which is no delete"
    if not created and previous_deleted:
        return f"{where} changes revision {prev_revision}, which is a delete"
    if not created and create_revision != previous_create:
        return f"{where} has create revision {create_revision}, its previous row {previous_create}"
    return None


def _value_problems(values: Iterable[tuple[str, bytes]], value_problem: Callable[[bytes], str | None]) -> list[str]:
    problems = []
    for where, value in values:
        problem = value_problem(bytes(value))
        if problem is not None:
            problems.append(f"the value of {where} {problem}")
            if len(problems) >= MAX_COLLECTED:
                break
    return problems


def _summary(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_REPORTED])
    more = len(problems) - MAX_REPORTED
    return f"{shown}; and {more}{'+' if len(problems) >= MAX_COLLECTED else ''} more" if more > 0 else shown


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _wal_checksum(data: bytes, *, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum: Fibonacci-weighted sums of 32-bit words in the log's byte order."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0 = s1 = 0
    for x0, x1 in zip(words[::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1
