"""API latency of a real kuberya server over HTTPS with the admin certificate.

Measures p50/p99 of create, get, patch (one object each) and list of 1,000 objects, the time
for one write to reach 100 open watches, and the control plane's idle resident memory.

    .venv/bin/python bench/api_bench.py [--n 300] [--storage sqlite|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_server, stop_server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ssl_context(kubeconfig: Path, workdir: Path) -> ssl.SSLContext:
    import base64

    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    ca = workdir / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    cert, key = workdir / "client.crt", workdir / "client.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(f"{name:<28} n={len(ms):<5} p50={percentile(ms, 0.5):7.2f} ms  p99={percentile(ms, 0.99):7.2f} ms")


async def run(url: str, ctx: ssl.SSLContext, n: int) -> None:
    base = f"{url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=200)) as session:
        creates, gets, patches = [], [], []
        for i in range(n):
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"bench-{i}"},
                "data": {"k": "v" * 64},
            }
            t = time.perf_counter()
            async with session.post(base, json=body) as r:
                assert r.status == 201, await r.text()
                await r.read()
            creates.append(time.perf_counter() - t)
        for i in range(n):
            t = time.perf_counter()
            async with session.get(f"{base}/bench-{i}") as r:
                await r.read()
            gets.append(time.perf_counter() - t)
        for i in range(n):
            t = time.perf_counter()
            async with session.patch(
                f"{base}/bench-{i}",
                data=json.dumps({"data": {"k": str(i)}}),
                headers={"Content-Type": "application/merge-patch+json"},
            ) as r:
                assert r.status == 200, await r.text()
                await r.read()
            patches.append(time.perf_counter() - t)
        for i in range(n, 1000):
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"bench-{i}"},
                "data": {"k": "v"},
            }
            async with session.post(base, json=body) as r:
                await r.read()
        lists = []
        for _ in range(20):
            t = time.perf_counter()
            async with session.get(base) as r:
                doc = await r.json()
            lists.append(time.perf_counter() - t)
            assert len(doc["items"]) >= 1000
        report("create (1 object)", creates)
        report("get (1 object)", gets)
        report("patch (merge, 1 object)", patches)
        report("list (1,000 objects)", lists)

        # Watch fan-out: 100 watches open; one write; time until every watch has seen it.
        async with session.get(base, params={"limit": "1"}) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        received: list[float] = []
        ready = asyncio.Event()
        opened = 0

        async def watcher() -> None:
            nonlocal opened
            async with session.get(
                base, params={"watch": "true", "resourceVersion": rv, "fieldSelector": "metadata.name=fanout"}
            ) as resp:
                opened += 1
                if opened == 100:
                    ready.set()
                async for _line in resp.content:
                    received.append(time.perf_counter())
                    return

        tasks = [asyncio.create_task(watcher()) for _ in range(100)]
        async with asyncio.timeout(30):
            await ready.wait()
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        async with session.post(
            base, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fanout"}}
        ) as r:
            await r.read()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
        lat = sorted((t - t0) * 1000 for t in received)
        print(f"{'watch fan-out (100)':<28} first={lat[0]:7.2f} ms  last={lat[-1]:7.2f} ms  p50={lat[50]:7.2f} ms")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--storage", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        extra = ["--storage", "memory://"] if args.storage == "memory" else []
        cluster = start_server(work / "data", *extra)
        try:
            time.sleep(3)
            print(f"storage={args.storage}  idle RSS after start: {rss_mb(cluster.pid):.1f} MB")
            ctx = ssl_context(cluster.kubeconfig, work)
            asyncio.run(run(cluster.url, ctx, args.n))
            print(f"RSS after the run (1,000 objects stored): {rss_mb(cluster.pid):.1f} MB")
        finally:
            stop_server(cluster)


if __name__ == "__main__":
    main()
