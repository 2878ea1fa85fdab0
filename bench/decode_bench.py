"""What typed decoding costs: per object size, and on the API's write latency.

1. The decoder alone (``kuberya.resources.schema.decode``) per object size, against
   ``json.loads`` of the same object as the baseline (what the server pays anyway).
2. create / update / patch p50 and p99 through the API server (in-process, memory store, real
   loopback HTTP) with typed decoding and with it replaced by a pass-through, in interleaved
   rounds of the same invocation so machine noise hits both alike.

    .venv/bin/python bench/decode_bench.py [--n 400] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kuberya.apiserver import handlers
from kuberya.apiserver.app import create_app
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.resources.schema.decode import Decoded, decode_object
from kuberya.storage import MemoryBackend


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def container(i: int) -> dict[str, Any]:
    return {
        "name": f"c{i}",
        "image": "payment:v1",
        "ports": [{"containerPort": 8080 + i, "name": f"http{i}"}],
        "env": [{"name": f"E{j}", "value": str(j)} for j in range(5)],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + i}, "periodSeconds": 2},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }


def deployment(containers: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [container(i) for i in range(containers)],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }


def config_map(keys: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {f"key-{i}": "v" * 40 for i in range(keys)},
    }


def time_per_call(call: Callable[[], object], *, seconds: float = 0.4) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        count += 1
    return elapsed / count


def decoder_alone() -> None:
    print("decoder alone (per object), against json.loads of the same bytes:")
    for label, obj in [
        ("ConfigMap, 1 key", config_map(1)),
        ("Deployment, 1 container", deployment(1)),
        ("Deployment, 10 containers", deployment(10)),
        ("ConfigMap, 2,000 keys", config_map(2000)),
        ("Deployment, 100 containers", deployment(100)),
    ]:
        raw = json.dumps(obj).encode()
        copies = [copy.deepcopy(obj) for _ in range(max(20, 2_000_000 // len(raw)))]
        start = time.perf_counter()
        for each in copies:
            decode_object(obj["apiVersion"], obj["kind"], each)
        decode = (time.perf_counter() - start) / len(copies)
        parse = time_per_call(lambda raw=raw: json.loads(raw), seconds=0.3)
        print(
            f"  {label:<28} {len(raw) / 1024:8.1f} KiB  decode {decode * 1e6:9.1f} µs"
            f"  json.loads {parse * 1e6:9.1f} µs  ratio {decode / parse:5.2f}×"
        )


@contextmanager
def decoding(enabled: bool) -> Iterator[None]:
    real = handlers.decode_or_refuse

    def pass_through(rt: Any, obj: Any, *, patched: bool = False) -> Decoded:
        return Decoded()

    handlers.decode_or_refuse = real if enabled else pass_through  # type: ignore[assignment]
    try:
        yield
    finally:
        handlers.decode_or_refuse = real  # type: ignore[assignment]


async def writes(session: aiohttp.ClientSession, url: str, n: int, tag: str) -> dict[str, list[float]]:
    base = f"{url}/apis/apps/v1/namespaces/default/deployments"
    out: dict[str, list[float]] = {"create": [], "update": [], "patch": []}
    for i in range(n):
        obj = deployment(2)
        obj["metadata"]["name"] = f"{tag}-{i}"
        start = time.perf_counter()
        async with session.post(base, json=obj) as r:
            created = await r.json()
            assert r.status == 201, created
        out["create"].append(time.perf_counter() - start)
        created["spec"]["replicas"] = 4
        start = time.perf_counter()
        async with session.put(f"{base}/{tag}-{i}", json=created) as r:
            assert r.status == 200, await r.text()
        out["update"].append(time.perf_counter() - start)
        start = time.perf_counter()
        async with session.patch(
            f"{base}/{tag}-{i}",
            data=json.dumps({"spec": {"replicas": 2}}),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        ) as r:
            assert r.status == 200, await r.text()
        out["patch"].append(time.perf_counter() - start)
    return out


async def through_the_api(n: int, rounds: int) -> None:
    backend = MemoryBackend()
    await backend.start()
    app = create_app(backend=backend, settings=APIServerSettings(auth=AuthSettings(allow_anonymous=True)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    samples: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
    try:
        async with aiohttp.ClientSession() as session:
            await writes(session, url, 50, "warm")
            for r in range(rounds):
                for enabled in (r % 2 == 0, r % 2 != 0):  # interleave: ABBA…
                    with decoding(enabled):
                        got = await writes(session, url, n, f"r{r}-{int(enabled)}")
                    for verb, values in got.items():
                        samples[enabled].setdefault(verb, []).extend(values)
    finally:
        await runner.cleanup()
        await backend.close()
    print(f"\nthrough the API (Deployment with 2 containers, {n * rounds} of each verb per mode):")
    for verb in ("create", "update", "patch"):
        on, off = samples[True][verb], samples[False][verb]
        p99_on, p99_off = percentile(on, 0.99) * 1000, percentile(off, 0.99) * 1000
        print(
            f"  {verb:<7} decoding p50 {percentile(on, 0.5) * 1000:6.2f} ms p99 {p99_on:6.2f} ms"
            f"   without p50 {percentile(off, 0.5) * 1000:6.2f} ms p99 {p99_off:6.2f} ms"
            f"   p99 ratio {p99_on / p99_off:5.2f}×"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=400, help="writes of each verb per round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    decoder_alone()
    asyncio.run(through_the_api(args.n, args.rounds))


if __name__ == "__main__":
    main()
