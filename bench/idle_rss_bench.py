"""Idle memory of a real kuberya server holding N running pods (process runtime).

Starts a server with ``--runtime process``, creates a Deployment of N replicas of a sleeping
command, waits until all are Ready, lets the cluster settle, then reads the server process's
``VmRSS``/``VmHWM`` from ``/proc/PID/status``. It also counts the established connections from
the server to its own API port: the in-process components hold one per open watch (plus the
odd idle keep-alive), so the figure shows how many watches the informers keep open.

    .venv/bin/python bench/idle_rss_bench.py [--replicas 100] [--settle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_cluster
from bench.pod_bench import scale_out
from bench.up_bench import rss_kib

TCP_ESTABLISHED = "01"


def connections_to_port(port: int) -> int:
    """Established TCP connections whose remote end is ``port`` on this machine (IPv4 and IPv6)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == TCP_ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


async def run(url: str, ctx: ssl.SSLContext, *, replicas: int, settle: float, pid: int) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        took = await scale_out(session, url, replicas)
        print(f"0 -> {replicas} replicas Ready in {took:.2f} s")
        await asyncio.sleep(settle)
    rss = rss_kib(pid)
    print(f"idle server RSS with {replicas} pods: {rss['VmRSS'] / 1024:.1f} MiB (peak {rss['VmHWM'] / 1024:.1f} MiB)")
    print(f"connections to the API from the components (~ open watches): {connections_to_port(port)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait once all are Ready")
    args = parser.parse_args()
    with bench_cluster(cleanup=("deployment/fleet",)) as bench:
        asyncio.run(run(bench.url, bench.ssl, replicas=args.replicas, settle=args.settle, pid=bench.pid))


if __name__ == "__main__":
    main()
