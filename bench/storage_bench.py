"""Micro-benchmark of the storage drivers: p50/p99 latency of create, update, get and list.

Run: ``python bench/storage_bench.py [--objects 1000]``. Values are ~1.5 KB, about the size of
a stored Pod. "list 1000" lists every object at the current revision; "list 1000 @old" lists
them at a revision a few writes back (SQLite: served from the recent tail); "list 1000 @sql"
forces the SQLite driver to answer from SQL. "create x8" is eight concurrent creates (group
commit): its figure is the latency each of them saw.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kuberya.storage import Backend, MemoryBackend, SQLiteBackend

VALUE = b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}' + b" " * 1500


async def timed(samples: list[float], call: Callable[[], Awaitable[object]]) -> None:
    started = time.perf_counter()
    await call()
    samples.append(time.perf_counter() - started)


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {name:<16} n={len(samples):<5} p50 {p50 * 1e3:7.3f} ms   p99 {p99 * 1e3:7.3f} ms")


async def bench(store: Backend, objects: int, *, cold: Backend | None = None) -> None:
    await store.start()
    try:
        creates: list[float] = []
        revisions: dict[str, int] = {}
        for n in range(objects):
            key = f"/registry/pods/default/pod-{n:05d}"

            async def create(key: str = key) -> None:
                revisions[key] = await store.create(key, VALUE)

            await timed(creates, create)
        report("create", creates)

        updates: list[float] = []
        for key, revision in list(revisions.items()):

            async def update(key: str = key, revision: int = revision) -> None:
                revisions[key] = await store.update(key, VALUE, expected_revision=revision)

            await timed(updates, update)
        report("update", updates)

        gets: list[float] = []
        for key in revisions:
            await timed(gets, functools.partial(store.get, key))
        report("get", gets)

        concurrent: list[float] = []
        for batch in range(objects // 8):
            await asyncio.gather(
                *(
                    timed(concurrent, functools.partial(store.create, f"/registry/burst/{batch}-{n}", VALUE))
                    for n in range(8)
                )
            )
        report("create x8", concurrent)

        old = await store.current_revision()
        for key in list(revisions)[:5]:
            revisions[key] = await store.update(key, VALUE, expected_revision=revisions[key])
        for label, revision in (("list 1000", 0), ("list 1000 @old", old)):
            lists: list[float] = []
            for _ in range(50):
                await timed(lists, functools.partial(store.list, "/registry/pods/", revision=revision))
            report(label, lists)
    finally:
        await store.close()
    if cold is not None:
        await cold.start()
        try:
            lists = []
            for _ in range(20):
                await timed(lists, functools.partial(cold.list, "/registry/pods/", revision=old))
            report("list 1000 @sql", lists)
        finally:
            await cold.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    objects = parser.parse_args().objects
    print("memory://")
    await bench(MemoryBackend(), objects)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        print("sqlite (synchronous=NORMAL)")
        await bench(SQLiteBackend(path), objects, cold=SQLiteBackend(path, recent_events=1))
    with tempfile.TemporaryDirectory() as directory:
        print("sqlite (synchronous=FULL, fsync per commit)")
        await bench(SQLiteBackend(Path(directory) / "bench.db", fsync_each_commit=True), objects)


if __name__ == "__main__":
    asyncio.run(main())
