"""Benchmark ``kuberya up``: time until the API answers, and the idle RSS of the server.

Goals (issue §5): ``up`` → API ready, median < 0.5 s; idle RSS of the control plane < 80 MB.

Each run is the real command a user types, ``kuberya up --port 0 --no-kubeconfig``, timed from
spawn until it exits — and it exits only once ``GET /readyz`` answered 200 over TLS with the
admin certificate. Then one independent ``/readyz`` probe confirms it, and ``kuberya down``.
Runs reuse one data dir (the usual case: the PKI and database exist) unless ``--fresh``.
After the timed runs, one more server is started and left idle for ``--idle`` seconds before its
RSS (``VmRSS``, and ``VmHWM`` = its peak) is read from /proc.

    .venv/bin/python bench/up_bench.py [--runs 15] [--fresh] [--idle 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-c", "from kuberya.cli.main import main; main()"]


def kuberya(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBERYA_DATA_DIR", "KUBECONFIG")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def probe(data_dir: Path) -> None:
    ready = json.loads((data_dir / "ready").read_text())
    ctx = ssl.create_default_context(cafile=ready["ca_file"])
    ctx.load_cert_chain(ready["client_cert_file"], ready["client_key_file"])
    with urllib.request.urlopen(f"{ready['url']}/readyz", context=ctx, timeout=5) as response:
        assert response.status == 200, response.status


def up(data_dir: Path) -> float:
    started = time.perf_counter()
    result = kuberya("up", "--data-dir", str(data_dir), "--port", "0", "--no-kubeconfig")
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"kuberya up failed:\n{result.stdout}{result.stderr}")
    probe(data_dir)
    return elapsed


def down(data_dir: Path) -> None:
    result = kuberya("down", "--data-dir", str(data_dir))
    if result.returncode != 0:
        raise SystemExit(f"kuberya down failed:\n{result.stdout}{result.stderr}")


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fresh", action="store_true", help="a new data dir (new PKI, empty db) per run")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading RSS")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="kuberya-bench-"))
    try:
        data_dir = root / "data"
        first = up(data_dir)  # also warms the page cache and .pyc files
        down(data_dir)
        times = []
        for i in range(args.runs):
            run_dir = root / f"fresh-{i}" if args.fresh else data_dir
            times.append(up(run_dir))
            down(run_dir)

        up(data_dir)
        pid = json.loads((data_dir / "ready").read_text())["pid"]
        time.sleep(args.idle)
        memory = rss_kib(pid)
        down(data_dir)
    finally:
        kuberya("down", "--data-dir", str(root / "data"))
        shutil.rmtree(root, ignore_errors=True)

    median, p90 = statistics.median(times), percentile(times, 0.9)
    print(f"kuberya up -> API ready over {len(times)} runs ({'fresh' if args.fresh else 'reused'} data dir):")
    print(f"  first (new PKI + db) {first * 1000:6.0f} ms")
    print(f"  median               {median * 1000:6.0f} ms   goal < 500 ms  {'ok' if median < 0.5 else 'MISSED'}")
    print(f"  p90                  {p90 * 1000:6.0f} ms")
    print(f"  min / max            {min(times) * 1000:6.0f} / {max(times) * 1000:.0f} ms")
    rss_mb = memory["VmRSS"] / 1024
    print(f"idle RSS after {args.idle:.0f} s:    {rss_mb:6.1f} MB   goal < 80 MB   {'ok' if rss_mb < 80 else 'MISSED'}")
    print(f"  peak RSS (VmHWM)     {memory['VmHWM'] / 1024:6.1f} MB")


if __name__ == "__main__":
    main()
