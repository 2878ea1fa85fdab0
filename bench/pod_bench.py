"""Workload figures of a real kuberya server with the process runtime.

- pod create → Ready, p50/p99 over N pods (each watched from its create's resourceVersion);
- 0 → 100 replicas of a Deployment all Ready;
- the server's CPU use while idle with those 100 pods running (the node agent is in-process).

    .venv/bin/python bench/pod_bench.py [--pods 30] [--replicas 100]
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

from bench.api_bench import percentile
from bench.harness import bench_cluster, cpu_seconds, deployment


def is_ready(obj: dict) -> bool:  # type: ignore[type-arg]
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in obj.get("status", {}).get("conditions", [])
    )


async def pod_latency(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    base = f"{url}/api/v1/namespaces/default/pods"
    samples = []
    for i in range(count):
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"lat-{i}"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
            },
        }
        started = time.perf_counter()
        async with session.post(base, json=body) as r:
            created = await r.json()
        rv = created["metadata"]["resourceVersion"]
        params = {"watch": "true", "resourceVersion": rv, "fieldSelector": f"metadata.name=lat-{i}"}
        async with session.get(base, params=params) as resp:
            async for line in resp.content:
                if is_ready(json.loads(line)["object"]):
                    samples.append(time.perf_counter() - started)
                    break
    async with session.delete(base, params={"gracePeriodSeconds": "0"}) as r:
        await r.read()
    return samples


async def scale_out(session: aiohttp.ClientSession, url: str, replicas: int) -> float:
    base = f"{url}/apis/apps/v1/namespaces/default/deployments"
    body = deployment("fleet", replicas)
    started = time.perf_counter()
    async with session.post(base, json=body) as r:
        created = await r.json()
    params = {
        "watch": "true",
        "resourceVersion": created["metadata"]["resourceVersion"],
        "fieldSelector": "metadata.name=fleet",
    }
    async with session.get(base, params=params) as resp:
        async for line in resp.content:
            status = json.loads(line)["object"].get("status", {})
            if status.get("readyReplicas", 0) >= replicas:
                return time.perf_counter() - started
    raise RuntimeError("watch ended before the deployment was ready")


async def run(url: str, ctx: ssl.SSLContext, *, pods: int, replicas: int, pid: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        samples = [s * 1000 for s in await pod_latency(session, url, pods)]
        print(
            f"pod create -> Ready       n={len(samples)}  p50={percentile(samples, 0.5):6.1f} ms  "
            f"p99={percentile(samples, 0.99):6.1f} ms   goal p50 < 100 ms"
        )
        took = await scale_out(session, url, replicas)
        print(f"0 -> {replicas} replicas Ready  {took:6.2f} s   goal < 10 s")
        await asyncio.sleep(3)
        before, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(10)
        used = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
        print(f"idle CPU with {replicas} pods: {used * 100:5.2f}% of one core (API server + controllers + agent)")
        async with session.delete(f"{url}/apis/apps/v1/namespaces/default/deployments/fleet") as r:
            await r.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--replicas", type=int, default=100)
    args = parser.parse_args()
    with bench_cluster() as bench:
        asyncio.run(run(bench.url, bench.ssl, pods=args.pods, replicas=args.replicas, pid=bench.pid))


if __name__ == "__main__":
    main()
