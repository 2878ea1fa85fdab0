"""How long an OrderedReady StatefulSet takes to come up, on a real kuberya server (process runtime).

A StatefulSet of N pods (no readiness probe: a running pod is ready at once) is created; the
clock stops when its status shows N ready replicas. OrderedReady creates each pod only after the
one before it is Running and Ready, so this is N round trips of create → schedule → start →
ready → status → next create.

    .venv/bin/python bench/statefulset_bench.py [--replicas 10] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_cluster

GOAL_SECONDS = 5.0


def statefulset(name: str, replicas: int) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
                },
            },
        },
    }


async def time_to_ready(session: aiohttp.ClientSession, url: str, name: str, replicas: int) -> float:
    base = f"{url}/apis/apps/v1/namespaces/default/statefulsets"
    started = time.perf_counter()
    async with session.post(base, json=statefulset(name, replicas)) as r:
        created = await r.json()
    params = {
        "watch": "true",
        "resourceVersion": created["metadata"]["resourceVersion"],
        "fieldSelector": f"metadata.name={name}",
    }
    async with session.get(base, params=params) as resp:
        async for line in resp.content:
            status = json.loads(line)["object"].get("status", {})
            if status.get("readyReplicas", 0) >= replicas:
                return time.perf_counter() - started
    raise RuntimeError("watch ended before the statefulset was ready")


async def run(url: str, ctx: ssl.SSLContext, *, replicas: int, runs: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        for index in range(runs):
            name = f"bench-{index}"
            took = await time_to_ready(session, url, name, replicas)
            print(
                f"StatefulSet of {replicas}, OrderedReady: all Ready in {took:5.2f} s "
                f"({took / replicas * 1000:4.0f} ms per ordinal)   goal < {GOAL_SECONDS:.0f} s"
            )
            async with session.delete(f"{url}/apis/apps/v1/namespaces/default/statefulsets/{name}") as r:
                await r.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with bench_cluster() as bench:
        asyncio.run(run(bench.url, bench.ssl, replicas=args.replicas, runs=args.runs))


if __name__ == "__main__":
    main()
