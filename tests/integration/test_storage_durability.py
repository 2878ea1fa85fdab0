"""An acknowledged SQLite write survives kill -9 of the process that made it, wherever it falls.

A child process writes through :class:`SQLiteBackend` (creates, updates, deletes and re-creates
from several concurrent writers, so group commit is exercised, and a compaction now and then)
and prints each write's revision only after the awaited call returned. The test SIGKILLs it at
points drawn from a fixed seed, reopens the file with the full startup check (SQLite's
integrity_check and every row of the revision log), and checks that every printed write above
the compacted revision is in the log with its value, that the log has no gaps, that the latest
state matches the log, and that the next write continues the revisions.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kuberya.server.main import stored_object_problem
from kuberya.storage import CheckLevel, SQLiteBackend, StartupCheck

WRITER = """
import asyncio, json, sys
from pathlib import Path
from kuberya.storage import SQLiteBackend

def value(key, step):
    return json.dumps({"metadata": {"name": key}, "step": step}).encode()

async def writer(store, name):
    step = 0
    while True:
        key = f"/durable/{sys.argv[2]}-{name}"
        revision = await store.create(key, value(key, step))
        print(key, revision, step, flush=True)
        for _ in range(20 + name):
            step += 1
            revision = await store.update(key, value(key, step), expected_revision=revision)
            print(key, revision, step, flush=True)
        revision = await store.delete(key, expected_revision=revision)
        print(key, revision, "-", flush=True)
        step += 1

async def compactor(store):
    while True:
        await asyncio.sleep(0.05)
        await store.compact(await store.current_revision() - 200)

async def main():
    store = SQLiteBackend(Path(sys.argv[1]), retain=200)
    await store.start()
    await asyncio.gather(compactor(store), *(writer(store, n) for n in range(8)))

asyncio.run(main())
"""

_POINTS = random.Random(20240607)
KILL_POINTS = sorted([_POINTS.randrange(1, 50), *_POINTS.sample(range(50, 6000), 3)])
"""Acknowledged writes after which the writer is killed (one early, before any compaction):
random with a fixed seed, so that a failure reproduces."""

Acknowledged = tuple[str, int, bytes | None]
"""key, revision, and the value written (None for a delete)."""


def stored_value(key: str, step: str) -> bytes | None:
    return None if step == "-" else json.dumps({"metadata": {"name": key}, "step": int(step)}).encode()


def write_until_killed(path: Path, kill_after: int, *, run: str = "r") -> list[Acknowledged]:
    """Run the writer (its keys named after ``run``) until ``kill_after`` writes were acknowledged, then kill -9 it."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), run], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged: list[Acknowledged] = []
    deadline = time.monotonic() + 30
    try:
        for line in child.stdout:
            key, revision, step = line.split()
            acknowledged.append((key, int(revision), stored_value(key, step)))
            if len(acknowledged) >= kill_after or time.monotonic() > deadline:
                break
        child.send_signal(signal.SIGKILL)
        # Lines the child printed before it died were acknowledged too; a cut-off last line was not.
        rest, errors = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, errors
    acknowledged.extend(
        (key, int(revision), stored_value(key, step))
        # Only whole lines: what follows the last newline was cut off by the kill (even "key 12 " is).
        for key, revision, step in (line.split() for line in rest.split("\n")[:-1] if len(line.split()) == 3)
    )
    assert len(acknowledged) >= kill_after, errors
    return acknowledged


async def reopen_and_check(path: Path, acknowledged: list[Acknowledged], *, run: str = "r") -> None:
    # The full check fails the start on any inconsistency in the file or the log.
    store = SQLiteBackend(path, check=StartupCheck(CheckLevel.FULL, value_problem=stored_object_problem))
    await store.start()
    try:
        current = await store.current_revision()
        compacted = await store.compacted_revision()
        replayed: dict[int, tuple[str, bytes | None]] = {}
        final: dict[str, bytes | None] = {}
        if current > compacted:
            watch = store.watch("/durable/", after_revision=compacted)
            async for event in watch:
                value = None if event.type.value == "DELETE" else event.kv.value
                replayed[event.revision] = (event.kv.key, value)
                final[event.kv.key] = value
                if event.revision == current:
                    break
            await watch.aclose()  # type: ignore[attr-defined]
        assert sorted(replayed) == list(range(compacted + 1, current + 1)), "the log above the mark has no gaps"
        kept = [(key, rev, value) for key, rev, value in acknowledged if rev > compacted]
        missing = [(key, rev) for key, rev, value in kept if replayed.get(rev) != (key, value)]
        assert not missing, f"{len(missing)} of {len(kept)} acknowledged writes lost, e.g. {missing[:5]}"
        latest = {kv.key: kv.value for kv in (await store.list("/durable/")).items}
        wrong = [key for key, value in final.items() if latest.get(key) != value]
        assert not wrong, f"the latest state loaded at start is not the log's for {wrong[:5]}"
        assert max(rev for _, rev, _ in acknowledged) <= current
        assert await store.create(f"/durable/after-{run}", b'{"metadata": {}}') == current + 1, "revisions go on"
    finally:
        await store.close()


@pytest.mark.parametrize("kill_after", KILL_POINTS)
def test_acknowledged_writes_survive_sigkill(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "state.db"
    acknowledged = write_until_killed(path, kill_after)
    asyncio.run(reopen_and_check(path, acknowledged))


def test_a_store_killed_again_and_again_still_opens_whole(tmp_path: Path) -> None:
    """Each restart writes on top of what the previous kill left, as a crashing server would."""
    path = tmp_path / "state.db"
    for run, kill_after in enumerate(KILL_POINTS):
        acknowledged = write_until_killed(path, kill_after, run=str(run))
        asyncio.run(reopen_and_check(path, acknowledged, run=str(run)))
