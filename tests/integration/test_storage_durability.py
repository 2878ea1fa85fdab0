"""An acknowledged SQLite write survives kill -9 of the process that made it.

A child process writes through :class:`SQLiteBackend` (creates and updates from several
concurrent writers, so group commit is exercised) and prints each write's revision only after
the awaited call returned. The test SIGKILLs it mid-stream, reopens the file, and checks that
every printed write is in the log with its value.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kuberya.storage import SQLiteBackend

pytestmark = pytest.mark.integration

WRITER = """
import asyncio, sys
from pathlib import Path
from kuberya.storage import SQLiteBackend

async def writer(store, name):
    key = f"/durable/{name}"
    revision = await store.create(key, b"0")
    print(key, revision, 0, flush=True)
    step = 0
    while True:
        step += 1
        revision = await store.update(key, str(step).encode(), expected_revision=revision)
        print(key, revision, step, flush=True)

async def main():
    store = SQLiteBackend(Path(sys.argv[1]))
    await store.start()
    await asyncio.gather(*(writer(store, n) for n in range(8)))

asyncio.run(main())
"""

ACKNOWLEDGED_BEFORE_KILL = 1500


async def stored_events(path: Path) -> dict[int, tuple[str, bytes]]:
    store = SQLiteBackend(path)
    await store.start()
    try:
        current = await store.current_revision()
        seen: dict[int, tuple[str, bytes]] = {}
        watch = store.watch("/durable/", after_revision=0)
        async for event in watch:
            seen[event.revision] = (event.kv.key, event.kv.value)
            if event.revision == current:
                break
        await watch.aclose()  # type: ignore[attr-defined]
        return seen
    finally:
        await store.close()


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged: list[tuple[str, int, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        for line in child.stdout:
            key, revision, value = line.split()
            acknowledged.append((key, int(revision), value.encode()))
            if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL or time.monotonic() > deadline:
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
        (key, int(revision), value.encode())
        # Only whole lines: what follows the last newline was cut off by the kill (even "key 12 " is).
        for key, revision, value in (line.split() for line in rest.split("\n")[:-1] if len(line.split()) == 3)
    )
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, errors

    stored = asyncio.run(stored_events(path))
    missing = [(key, revision) for key, revision, value in acknowledged if stored.get(revision) != (key, value)]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert sorted(stored) == list(range(1, len(stored) + 1)), "revisions have no gaps"
