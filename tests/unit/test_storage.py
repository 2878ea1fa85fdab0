"""The storage contract, run against every driver.

``sqlite-cold`` is the SQLite driver with a one-event recent tail, so lists at old revisions
and watch replays go to SQL instead of memory: the same answers must come from both paths.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kuberya.storage.sqlite as sqlite_driver
from kuberya.storage import (
    Backend,
    CompactedError,
    CorruptStoreError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    MemoryBackend,
    RevisionMismatchError,
    SQLiteBackend,
    StoreClosedError,
    StoreInUseError,
    WatcherTooSlowError,
    open_backend,
)

DRIVERS = ["memory", "sqlite", "sqlite-cold"]

MakeBackend = Callable[..., Awaitable[Backend]]


def build(driver: str, directory: Path, **options: Any) -> Backend:
    if driver == "memory":
        return MemoryBackend(**options)
    if driver == "sqlite-cold":
        options.setdefault("recent_events", 1)
    return SQLiteBackend(directory / "state.db", **options)


@pytest.fixture(params=DRIVERS)
async def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeBackend]:
    """Start backends of the parametrized driver (retain=0 unless given) and close them after."""
    async with AsyncExitStack() as stack:

        async def make(**options: Any) -> Backend:
            options.setdefault("retain", 0)
            backend = build(request.param, tmp_path, **options)
            await backend.start()
            stack.push_async_callback(backend.close)
            return backend

        yield make


@pytest.fixture
async def store(make_backend: MakeBackend) -> Backend:
    return await make_backend()


@asynccontextmanager
async def watching(store: Backend, prefix: str, *, after_revision: int) -> AsyncIterator[AsyncIterator[Event]]:
    watch = store.watch(prefix, after_revision=after_revision)
    try:
        yield watch
    finally:
        await watch.aclose()  # type: ignore[attr-defined]


async def next_events(watch: AsyncIterator[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(watch), timeout=2) for _ in range(count)]


# -- create, get, update, delete ----------------------------------------------------------


async def test_create_then_get(store: Backend) -> None:
    revision = await store.create("/a", b"one")
    assert await store.get("/a") == KeyValue("/a", b"one", create_revision=revision, mod_revision=revision)
    assert await store.current_revision() == revision
    assert await store.get("/missing") is None
    with pytest.raises(KeyExistsError):
        await store.create("/a", b"again")
    assert await store.current_revision() == revision, "a refused write makes no revision"


async def test_update_is_compare_and_swap(store: Backend) -> None:
    created = await store.create("/a", b"one")
    updated = await store.update("/a", b"two", expected_revision=created)
    assert updated == created + 1
    assert await store.get("/a") == KeyValue("/a", b"two", create_revision=created, mod_revision=updated)
    with pytest.raises(RevisionMismatchError) as lost:
        await store.update("/a", b"stale", expected_revision=created)
    assert lost.value.current is not None and lost.value.current.mod_revision == updated
    with pytest.raises(RevisionMismatchError) as missing:
        await store.update("/missing", b"x", expected_revision=1)
    assert missing.value.current is None


async def test_delete_is_compare_and_swap(store: Backend) -> None:
    created = await store.create("/a", b"one")
    await store.create("/b", b"bee")
    with pytest.raises(RevisionMismatchError):
        await store.delete("/a", expected_revision=created + 100)
    deleted = await store.delete("/a", expected_revision=created)
    assert await store.get("/a") is None
    assert await store.current_revision() == deleted
    assert await store.delete("/b", expected_revision=0) == deleted + 1, "0 deletes whatever is there"
    with pytest.raises(KeyNotFoundError):
        await store.delete("/a", expected_revision=0)
    with pytest.raises(RevisionMismatchError) as gone:
        await store.delete("/a", expected_revision=deleted)
    assert gone.value.current is None
    recreated = await store.create("/a", b"again")
    kv = await store.get("/a")
    assert kv is not None and kv.create_revision == recreated


# -- list -----------------------------------------------------------------------------------


async def test_list_prefix_limit_and_continue(store: Backend) -> None:
    for name in ["c", "a", "b", "d"]:
        await store.create(f"/pods/default/{name}", name.encode())
    await store.create("/pods/other/x", b"x")
    await store.create("/podsx", b"not under /pods/")
    revision = await store.current_revision()

    everything = await store.list("/pods/")
    assert [kv.key for kv in everything.items] == [
        "/pods/default/a",
        "/pods/default/b",
        "/pods/default/c",
        "/pods/default/d",
        "/pods/other/x",
    ]
    assert everything.revision == revision and not everything.more

    first = await store.list("/pods/default/", limit=3)
    assert [kv.value for kv in first.items] == [b"a", b"b", b"c"] and first.more
    rest = await store.list("/pods/default/", revision=first.revision, limit=3, start_after=first.items[-1].key)
    assert [kv.value for kv in rest.items] == [b"d"] and not rest.more
    exact = await store.list("/pods/default/", limit=4)
    assert len(exact.items) == 4 and not exact.more
    assert (await store.list("/nothing/")).items == []


async def test_list_at_an_old_revision(store: Backend) -> None:
    a1 = await store.create("/r/a", b"a1")
    b1 = await store.create("/r/b", b"b1")
    at_two = await store.current_revision()
    await store.update("/r/a", b"a2", expected_revision=a1)
    await store.delete("/r/b", expected_revision=b1)
    await store.create("/r/c", b"c1")
    await store.create("/elsewhere", b"x")

    then = await store.list("/r/", revision=at_two)
    assert then.revision == at_two
    assert [(kv.key, kv.value) for kv in then.items] == [("/r/a", b"a1"), ("/r/b", b"b1")]
    page = await store.list("/r/", revision=at_two, limit=1)
    assert [kv.value for kv in page.items] == [b"a1"] and page.more
    resumed = await store.list("/r/", revision=at_two, start_after="/r/a")
    assert [kv.value for kv in resumed.items] == [b"b1"]
    assert (await store.list("/r/", revision=a1)).items == [KeyValue("/r/a", b"a1", a1, a1)]
    now = await store.list("/r/")
    assert [(kv.key, kv.value) for kv in now.items] == [("/r/a", b"a2"), ("/r/c", b"c1")]


async def test_list_at_a_future_revision_is_refused(store: Backend) -> None:
    await store.create("/a", b"1")
    with pytest.raises(FutureRevisionError):
        await store.list("/", revision=await store.current_revision() + 1)


# -- watch ----------------------------------------------------------------------------------


async def test_watch_replays_then_streams(store: Backend) -> None:
    created = await store.create("/w/a", b"1")
    updated = await store.update("/w/a", b"2", expected_revision=created)
    await store.create("/other", b"ignored")
    async with watching(store, "/w/", after_revision=created - 1) as watch:
        replayed = await next_events(watch, 2)
        assert [(e.type, e.revision) for e in replayed] == [
            (EventType.PUT, created),
            (EventType.PUT, updated),
        ]
        assert replayed[0].prev_kv is None
        assert replayed[1].prev_kv == KeyValue("/w/a", b"1", created, created)

        deleted = await store.delete("/w/a", expected_revision=updated)
        await store.create("/other2", b"ignored")
        recreated = await store.create("/w/a", b"3")
        live = await next_events(watch, 2)
    assert live[0] == Event(
        EventType.DELETE,
        kv=KeyValue("/w/a", b"2", created, deleted),
        prev_kv=KeyValue("/w/a", b"2", created, updated),
    )
    assert live[1] == Event(EventType.PUT, kv=KeyValue("/w/a", b"3", recreated, recreated), prev_kv=None)


async def test_watch_sees_every_event_once_and_in_order(store: Backend) -> None:
    start = await store.current_revision()

    async def writer(name: str) -> None:
        revision = await store.create(f"/k/{name}", b"0")
        for step in range(1, 15):
            revision = await store.update(f"/k/{name}", str(step).encode(), expected_revision=revision)
            if step % 4 == 0:
                await asyncio.sleep(0)

    async with watching(store, "/k/", after_revision=start) as watch:
        # Half the writes happen before the watch first runs (replayed), half while it streams.
        await asyncio.gather(*(writer(f"{n}") for n in range(5)))
        second_half = asyncio.gather(*(writer(f"{n}") for n in range(5, 10)))
        seen = await next_events(watch, 150)
        await second_half
        extra = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.05)
        assert not extra.done(), "no event may come twice"
        extra.cancel()
        with pytest.raises(asyncio.CancelledError):
            await extra
    assert [event.revision for event in seen] == list(range(start + 1, start + 151))


async def test_watch_from_a_future_revision_waits_for_it(store: Backend) -> None:
    now = await store.create("/f/a", b"1")
    async with watching(store, "/f/", after_revision=now + 1) as watch:
        pending = asyncio.ensure_future(anext(watch))
        await store.update("/f/a", b"2", expected_revision=now)
        third = await store.create("/f/b", b"1")
        assert (await asyncio.wait_for(pending, timeout=2)).revision == third


async def test_watch_ends_when_the_store_closes(make_backend: MakeBackend) -> None:
    store = await make_backend()
    async with watching(store, "/", after_revision=0) as watch:
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.01)
        await store.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, timeout=2)
    with pytest.raises(StoreClosedError):
        await store.create("/late", b"x")


async def test_slow_watcher_is_dropped_not_waited_for(make_backend: MakeBackend) -> None:
    store = await make_backend(max_pending=5)
    first = await store.create("/s/0", b"")
    async with watching(store, "/s/", after_revision=0) as watch:
        assert (await next_events(watch, 1))[0].revision == first
        for n in range(1, 10):
            await store.create(f"/s/{n}", b"")
        with pytest.raises(WatcherTooSlowError):
            await next_events(watch, 9)
    assert len((await store.list("/s/")).items) == 10


# -- compaction -----------------------------------------------------------------------------


async def test_compaction_refuses_older_reads_and_keeps_latest_state(make_backend: MakeBackend) -> None:
    store = await make_backend(retain=2)
    a = await store.create("/c/a", b"a1")
    b = await store.create("/c/b", b"b1")
    a2 = await store.update("/c/a", b"a2", expected_revision=a)
    await store.delete("/c/b", expected_revision=b)
    await store.create("/c/d", b"d1")
    current = await store.create("/c/e", b"e1")

    compacted = await store.compact(current)
    assert compacted == current - 2, "the newest `retain` revisions are kept"
    assert await store.compacted_revision() == compacted
    assert await store.compact(1) == compacted, "compaction never goes back"
    with pytest.raises(CompactedError):
        await store.list("/c/", revision=compacted - 1)
    with pytest.raises(CompactedError):
        async with watching(store, "/c/", after_revision=compacted - 1) as watch:
            await anext(watch)

    at_compacted = await store.list("/c/", revision=compacted)
    assert [(kv.key, kv.value) for kv in at_compacted.items] == [("/c/a", b"a2")]
    assert await store.get("/c/a") == KeyValue("/c/a", b"a2", a, a2)
    async with watching(store, "/c/", after_revision=compacted) as watch:
        assert [e.kv.key for e in await next_events(watch, 2)] == ["/c/d", "/c/e"]


# -- properties -----------------------------------------------------------------------------


def run_on_fresh_backend(driver: str, scenario: Callable[[Backend], Awaitable[None]], **options: Any) -> None:
    """Run ``scenario`` on a new, started backend in its own event loop (for hypothesis)."""

    async def main(directory: Path) -> None:
        backend = build(driver, directory, **options)
        await backend.start()
        try:
            await scenario(backend)
        finally:
            await backend.close()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(main(Path(directory)))


@pytest.mark.parametrize("driver", DRIVERS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds=st.lists(st.lists(st.sampled_from(["update", "delete"]), min_size=2, max_size=8), max_size=4))
def test_concurrent_writes_from_one_revision_have_one_winner(driver: str, rounds: list[list[str]]) -> None:
    async def scenario(store: Backend) -> None:
        for contenders in rounds:
            kv = await store.get("/race")
            base = kv.mod_revision if kv else await store.create("/race", b"start")

            async def contend(index: int, kind: str, base: int = base) -> int:
                if kind == "delete":
                    return await store.delete("/race", expected_revision=base)
                return await store.update("/race", f"{index}".encode(), expected_revision=base)

            outcomes = await asyncio.gather(
                *(contend(index, kind) for index, kind in enumerate(contenders)), return_exceptions=True
            )
            winners = [(index, o) for index, o in enumerate(outcomes) if isinstance(o, int)]
            assert len(winners) == 1, outcomes
            index, revision = winners[0]
            assert all(isinstance(o, RevisionMismatchError) for o in outcomes if not isinstance(o, int))
            assert revision == base + 1
            after = await store.get("/race")
            if contenders[index] == "delete":
                assert after is None
            else:
                assert after == KeyValue("/race", f"{index}".encode(), after.create_revision, revision)

    run_on_fresh_backend(driver, scenario)


operations = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete", "compact"]),
        st.sampled_from(["/m/a", "/m/b", "/m/c", "/n/a"]),
        st.binary(max_size=3),
    ),
    max_size=30,
)


@pytest.mark.parametrize("driver", DRIVERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_matches_a_model_at_every_revision(driver: str, ops: list[tuple[str, str, bytes]]) -> None:
    """Every list at every kept revision, and the replay of the kept log, agree with a dict model."""

    async def scenario(store: Backend) -> None:
        state: dict[str, KeyValue] = {}
        snapshots: dict[int, dict[str, KeyValue]] = {0: {}}
        events: list[Event] = []
        compacted = 0
        for kind, key, value in ops:
            current = state.get(key)
            if kind == "compact":
                compacted = await store.compact(await store.current_revision())
                continue
            if kind == "create" and current is not None:
                with pytest.raises(KeyExistsError):
                    await store.create(key, value)
                continue
            if kind != "create" and current is None:
                if kind == "update":
                    with pytest.raises(RevisionMismatchError):
                        await store.update(key, value, expected_revision=1)
                else:
                    with pytest.raises(KeyNotFoundError):
                        await store.delete(key, expected_revision=0)
                continue
            if kind == "create":
                revision = await store.create(key, value)
                state[key] = KeyValue(key, value, revision, revision)
                events.append(Event(EventType.PUT, state[key], None))
            elif kind == "update":
                assert current is not None
                revision = await store.update(key, value, expected_revision=current.mod_revision)
                state[key] = KeyValue(key, value, current.create_revision, revision)
                events.append(Event(EventType.PUT, state[key], current))
            else:
                assert current is not None
                revision = await store.delete(key, expected_revision=current.mod_revision)
                del state[key]
                tombstone = KeyValue(key, current.value, current.create_revision, revision)
                events.append(Event(EventType.DELETE, tombstone, current))
            snapshots[revision] = dict(state)

        current_revision = await store.current_revision()
        assert current_revision == (events[-1].revision if events else 0)
        assert await store.compacted_revision() == compacted
        for revision in range(max(compacted, 1), current_revision + 1):
            snapshot = snapshots[max(r for r in snapshots if r <= revision)]
            expected = [snapshot[k] for k in sorted(snapshot) if k.startswith("/m/")]
            assert (await store.list("/m/", revision=revision)).items == expected, revision
            halves = await store.list("/m/", revision=revision, limit=1)
            assert halves.items == expected[:1] and halves.more == (len(expected) > 1)
        expected_events = [e for e in events if e.revision > compacted and e.kv.key.startswith("/m/")]
        async with watching(store, "/m/", after_revision=compacted) as watch:
            assert await next_events(watch, len(expected_events)) == expected_events

    run_on_fresh_backend(driver, scenario, retain=2)


# -- the SQLite file ------------------------------------------------------------------------


async def test_sqlite_restart_keeps_objects_revision_and_compaction(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteBackend(path, retain=0)
    await store.start()
    a = await store.create("/p/a", b"a1")
    a2 = await store.update("/p/a", b"a2", expected_revision=a)
    b = await store.create("/p/b", b"b1")
    keep = await store.create("/p/keep", b"k")
    before_compaction = await store.list("/p/")
    compacted = await store.compact(keep)
    await store.delete("/p/b", expected_revision=b)
    c = await store.create("/p/c", b"c1")
    # The newest row is a tombstone that compaction then deletes: the counter must not go back.
    last = await store.delete("/p/c", expected_revision=c)
    assert await store.compact(last) == last
    await store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM kine WHERE name = '/p/c'").fetchone() == (0,)
    connection.close()

    reopened = SQLiteBackend(path, retain=0, recent_events=1)
    await reopened.start()
    try:
        assert await reopened.current_revision() == last
        assert await reopened.compacted_revision() == last
        assert await reopened.get("/p/a") == KeyValue("/p/a", b"a2", a, a2)
        assert [kv.key for kv in (await reopened.list("/p/")).items] == ["/p/a", "/p/keep"]
        assert compacted == keep and before_compaction.revision == keep
        assert await reopened.create("/p/c", b"again") == last + 1, "re-create after a compacted tombstone"
        assert await reopened.create("/p/b", b"again") == last + 2
    finally:
        await reopened.close()


async def test_sqlite_restart_serves_old_revisions_and_replays_from_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "REPLAY_PAGE", 2)
    path = tmp_path / "state.db"
    store = SQLiteBackend(path)
    await store.start()
    revisions = [await store.create(f"/q/{n}", b"%d" % n) for n in range(7)]
    await store.create("/gone", b"")
    tombstone = await store.delete("/gone", expected_revision=0)
    await store.close()

    reopened = SQLiteBackend(path)
    await reopened.start()
    try:
        old = await reopened.list("/q/", revision=revisions[2])
        assert [kv.key for kv in old.items] == ["/q/0", "/q/1", "/q/2"]
        async with watching(reopened, "/q/", after_revision=revisions[1]) as watch:
            assert [e.revision for e in await next_events(watch, 5)] == revisions[2:]
            live = await reopened.create("/q/live", b"")
            assert (await next_events(watch, 1))[0].revision == live
        assert await reopened.create("/gone", b"back") == tombstone + 2, "re-create after a kept tombstone"
    finally:
        await reopened.close()


async def test_sqlite_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all, " * 200)
    with pytest.raises(CorruptStoreError, match=r"garbage\.db"):
        await SQLiteBackend(garbage).start()
    assert garbage.read_bytes().startswith(b"this is not"), "the file is left untouched"

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    with pytest.raises(CorruptStoreError, match="not a kuberya store"):
        await SQLiteBackend(foreign).start()
    # A failed start releases its lock: the file can be opened again (and fails the same way).
    with pytest.raises(CorruptStoreError):
        await SQLiteBackend(foreign).start()


async def test_sqlite_file_is_locked_against_a_second_user(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SQLiteBackend(path)
    await first.start()
    try:
        with pytest.raises(StoreInUseError, match=r"state\.db"):
            await SQLiteBackend(path).start()
    finally:
        await first.close()
    second = SQLiteBackend(path)
    await second.start()
    await second.close()


# -- open_backend ---------------------------------------------------------------------------


def test_open_backend_by_url(tmp_path: Path) -> None:
    assert isinstance(open_backend("memory://"), MemoryBackend)
    absolute = open_backend(f"sqlite://{tmp_path}/state.db")
    assert isinstance(absolute, SQLiteBackend) and absolute.path == tmp_path / "state.db"
    relative = open_backend("sqlite://data/state.db")
    assert isinstance(relative, SQLiteBackend) and relative.path == Path("data/state.db")
    for wrong in ["etcd://localhost:2379", "state.db", "sqlite://", "memory://x"]:
        with pytest.raises(ValueError, match=r"storage URL|sqlite://|memory://"):
            open_backend(wrong)
