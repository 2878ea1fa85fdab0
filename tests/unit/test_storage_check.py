"""The SQLite store's startup check: a damaged file is refused, named, and left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

import kuberya.storage.sqlitecheck as sqlitecheck
from kuberya.server.main import stored_object_problem
from kuberya.storage import CheckLevel, CorruptStoreError, SQLiteBackend, StartupCheck
from tests.storage_files import DAMAGES, PREFIX, damage, sql, stored_object, write_store

QUICK = StartupCheck(CheckLevel.QUICK, value_problem=stored_object_problem)
FULL = StartupCheck(CheckLevel.FULL, value_problem=stored_object_problem)


async def start_and_list(path: Path, check: StartupCheck) -> list[str]:
    store = SQLiteBackend(path, check=check)
    await store.start()
    try:
        return [kv.key for kv in (await store.list(PREFIX)).items]
    finally:
        await store.close()


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.glob(path.name + "*") if not p.name.endswith(".lock")}


@pytest.mark.parametrize("check", [QUICK, FULL], ids=["quick", "full"])
async def test_a_sound_store_passes_and_serves_everything(tmp_path: Path, check: StartupCheck) -> None:
    path = tmp_path / "state.db"
    await write_store(path, objects=60, keep_wal=True)
    assert (tmp_path / "state.db-wal").stat().st_size > 0, "the writes are still in the WAL, as after kill -9"
    keys = await start_and_list(path, check)
    assert len(keys) == 60 - len(range(0, 60, 7))


@pytest.mark.parametrize("how", DAMAGES)
async def test_a_damaged_store_is_refused_at_start_and_left_as_it_was(tmp_path: Path, how: str) -> None:
    path = tmp_path / "state.db"
    await write_store(path, objects=200, keep_wal=how == "garbage-wal")
    damage(path, how)
    before = files_of(path)
    with pytest.raises(CorruptStoreError) as refused:
        await start_and_list(path, QUICK)
    message = str(refused.value)
    assert str(path) in message
    assert "backup" in message and "aside" in message, "the message says what to do"
    assert "\n" not in message, "one line: the server ends a failed start with one"
    after = files_of(path)
    # SQLite may add an empty -wal and its -shm index beside the file; what was there stays as it was.
    assert {name: after.get(name) for name in before} == before, "nothing was checkpointed, rewritten or removed"
    assert not after.get(path.name + "-wal", b"") or path.name + "-wal" in before


async def test_the_quick_check_reads_only_the_newest_values_and_the_full_check_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlitecheck, "VALUE_SAMPLE", 10)
    path = tmp_path / "state.db"
    await write_store(path, objects=100)
    # The value of an old row, damaged in place with the length kept, so that only parsing it tells.
    original = stored_object("o1", 0)
    data = path.read_bytes()
    assert data.count(original) == 1
    path.write_bytes(data.replace(original, original.replace(b'"metadata": {', b'"metadata": [')))

    assert len(await start_and_list(path, QUICK)) > 0, "the quick check's cost is bounded: it does not read o1"
    with pytest.raises(CorruptStoreError, match=r"o1'\) is not JSON"):
        await start_and_list(path, FULL)


async def test_the_quick_check_finds_a_damaged_value_among_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await write_store(path, objects=20)
    newest_o5 = f"(SELECT MAX(id) FROM kine WHERE name = '{PREFIX}o5')"
    sql(path, f"UPDATE kine SET value = CAST('[1, 2]' AS BLOB) WHERE id = {newest_o5}")
    with pytest.raises(CorruptStoreError, match=r"o5'\) is JSON but not an object"):
        await start_and_list(path, QUICK)


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        ("UPDATE sqlite_sequence SET seq = seq - 3 WHERE name = 'kine'", "beyond its revision counter"),
        ("UPDATE kuberya_meta SET value = 10000 WHERE name = 'compacted_revision'", "compacted revision 10000"),
        ("DELETE FROM kuberya_meta WHERE name = 'compacted_revision'", "compacted revision is missing"),
        (
            f"UPDATE kine SET create_revision = id + 1 WHERE id = (SELECT MAX(id) FROM kine WHERE name = '{PREFIX}o4')",
            "create revision",
        ),
        (f"UPDATE kine SET created = 1, deleted = 1 WHERE name = '{PREFIX}o2'", "impossible flags"),
    ],
    ids=["counter-behind", "compacted-ahead", "compacted-missing", "create-after-itself", "flags"],
)
async def test_the_quick_check_refuses_an_inconsistent_revision_log(tmp_path: Path, statement: str, found: str) -> None:
    path = tmp_path / "state.db"
    await write_store(path, objects=20)
    sql(path, statement)
    with pytest.raises(CorruptStoreError, match=found):
        await start_and_list(path, QUICK)


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        # The row o3's update replaced: a history with a hole in it.
        (f"DELETE FROM kine WHERE id = (SELECT MIN(id) FROM kine WHERE name = '{PREFIX}o3')", "missing from the log"),
        # An update that names another key's row as the one it replaced.
        (
            f"UPDATE kine SET prev_revision = (SELECT MIN(id) FROM kine WHERE name = '{PREFIX}o1') "
            f"WHERE id = (SELECT MAX(id) FROM kine WHERE name = '{PREFIX}o9')",
            "a row of another key",
        ),
    ],
    ids=["hole", "crossed-keys"],
)
async def test_the_full_check_follows_every_key_s_history(tmp_path: Path, statement: str, found: str) -> None:
    path = tmp_path / "state.db"
    await write_store(path, objects=20)
    sql(path, statement)
    assert await start_and_list(path, QUICK), "the latest rows alone look fine"
    with pytest.raises(CorruptStoreError, match=found):
        await start_and_list(path, FULL)


def test_wal_header_problems(tmp_path: Path) -> None:
    wal = tmp_path / "state.db-wal"
    assert sqlitecheck.wal_header_problem(wal) is None, "no WAL"
    wal.write_bytes(b"")
    assert sqlitecheck.wal_header_problem(wal) is None, "an empty WAL"
    wal.write_bytes(b"\x37\x7f\x06\x82")
    assert "shorter than a WAL header" in (sqlitecheck.wal_header_problem(wal) or "")
    wal.write_bytes(b"\0" * 4096)
    assert "magic" in (sqlitecheck.wal_header_problem(wal) or "")


def test_stored_object_problem() -> None:
    assert stored_object_problem(stored_object("a", 0)) is None
    assert "not JSON" in (stored_object_problem(b'{"metadata": {') or "")
    assert "not JSON" in (stored_object_problem(b"\xff\xfe") or "")
    assert "not an object" in (stored_object_problem(b"[]") or "")
    assert "without metadata" in (stored_object_problem(b'{"kind": "Pod"}') or "")
