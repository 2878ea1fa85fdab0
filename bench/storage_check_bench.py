"""What the startup check of the SQLite store costs: quick (the default) and full, per store size.

Writes a store of N ConfigMaps shaped as the API server stores them (a third updated, a seventh
deleted), then times ``check_before_open`` at each level, with the server's own value check, against the
whole start of the store (its quick structural check, opening, loading the state), measured in
the same invocation as the baseline.

    .venv/bin/python bench/storage_check_bench.py [--objects 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.storage_files import write_store

from kuberya.server.main import stored_object_problem
from kuberya.storage import CheckLevel, SQLiteBackend, StartupCheck
from kuberya.storage.sqlitecheck import check_before_open


async def open_and_close(path: Path) -> None:
    store = SQLiteBackend(path)
    await store.start()
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        asyncio.run(write_store(path, objects=args.objects))
        print(f"store: {args.objects} objects, {path.stat().st_size / 1e6:.1f} MB")
        timings: dict[str, list[float]] = {"store start": [], "quick check": [], "full check": []}
        for _ in range(args.runs):
            start = time.perf_counter()
            asyncio.run(open_and_close(path))
            timings["store start"].append(time.perf_counter() - start)
            for label, level in (("quick check", CheckLevel.QUICK), ("full check", CheckLevel.FULL)):
                start = time.perf_counter()
                check_before_open(path, StartupCheck(level=level, value_problem=stored_object_problem))
                timings[label].append(time.perf_counter() - start)
        baseline = statistics.median(timings["store start"])
        for label, values in timings.items():
            median = statistics.median(values)
            print(
                f"  {label:<15} median {median * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms"
                f"  ({median / baseline:4.2f}× the store start)"
            )


if __name__ == "__main__":
    main()
