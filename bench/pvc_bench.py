"""Storage through a claim of the built-in ``local-path`` class, on a kuberya server of its own (process runtime).

Two figures, each against its baseline measured in the same invocation:

1. **Throughput**: a pod writes ``--mib`` MiB sequentially into its claim (``dd``, 1 MiB blocks,
   ``conv=fsync``), then reads it back; the same ``dd`` commands run on the host into a directory
   on the same filesystem (the server's data dir). Reported as pod / host, write and read
   (goal >= 0.95x). The read is served from the page cache in both cases (no root is needed to
   drop it), so it compares the paths, not the disk.
2. **Latency**: a claim and a pod that mounts it created together, timed to the claim ``Bound``
   and to the pod ``Running`` (WaitForFirstConsumer: schedule, provision, bind, mount, start),
   against a plain pod's create -> Running; p50 over ``--runs`` (goal: p50 < 200 ms over the plain pod).

Needs the PersistentVolume/StorageClass kinds with the built-in classes, the PV controller, this
node's provisioner and the node agent's claim mounts (issue #14); without one of them it stops
with a message that names what is missing. Run it under the integration lock (it starts a server):

    flock /tmp/kuberya-integration.lock .venv/bin/python bench/pvc_bench.py [--mib 256] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_cluster

THROUGHPUT_GOAL = 0.95
LATENCY_GOAL_MS = 200.0
WAIT_SECONDS = 60.0
NS = "default"


class Missing(Exception):
    """A part of the storage stack this bench needs is not in this build."""


def dd_script(path: str, mib: int) -> str:
    """Write then read ``mib`` MiB at ``path``, printing the nanoseconds each took (``W <ns>``, ``R <ns>``)."""
    return (
        "set -e; t0=$(date +%s%N); "
        f"dd if=/dev/zero of={path} bs=1M count={mib} conv=fsync 2>/dev/null; "
        "t1=$(date +%s%N); "
        f"dd if={path} of=/dev/null bs=1M 2>/dev/null; "
        "t2=$(date +%s%N); "
        'echo "W $((t1 - t0))"; echo "R $((t2 - t1))"; '
        f"rm -f {path}"
    )


def parse_dd(output: str) -> tuple[float, float]:
    """The (write, read) seconds :func:`dd_script` printed."""
    seconds = {line.split()[0]: int(line.split()[1]) / 1e9 for line in output.splitlines() if line[:2] in ("W ", "R ")}
    if set(seconds) != {"W", "R"}:
        raise RuntimeError(f"unexpected dd output: {output!r}")
    return seconds["W"], seconds["R"]


def claim(name: str, size: str = "1Gi") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def pod(name: str, command: str, claim_name: str | None, *, restart: str = "Never") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox", "command": ["sh", "-c", command]}
    spec: dict[str, Any] = {"restartPolicy": restart, "terminationGracePeriodSeconds": 1, "containers": [container]}
    if claim_name is not None:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def request(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        async with self.session.request(method, self.url + path, json=body) as response:
            payload = await response.json(content_type=None)
            if response.status not in ok:
                raise RuntimeError(f"{method} {path}: {response.status} {payload}")
            return payload

    async def exists(self, path: str) -> bool:
        async with self.session.get(self.url + path) as response:
            await response.read()
            return response.status == 200

    async def wait_for(self, collection: str, name: str, done: Any, *, after: str) -> float:
        """Watch ``collection`` from ``after`` until ``done(obj)``; return the perf_counter of that event."""
        params = {"watch": "true", "resourceVersion": after, "fieldSelector": f"metadata.name={name}"}
        async with asyncio.timeout(WAIT_SECONDS):
            async with self.session.get(self.url + collection, params=params) as response:
                async for line in response.content:
                    obj = json.loads(line)["object"]
                    if done(obj):
                        return time.perf_counter()
        raise RuntimeError(f"the watch of {collection} ended before {name} was ready")

    async def events(self, name: str) -> list[str]:
        listed = await self.request("GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name={name}")
        return [f"{e['reason']}: {e['message']}" for e in listed["items"]]


def bound(obj: Any) -> bool:
    return bool((obj.get("status") or {}).get("phase") == "Bound")


def running(obj: Any) -> bool:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Failed":
        raise RuntimeError(f"pod {obj['metadata']['name']} failed: {obj.get('status')}")
    return bool(phase in ("Running", "Succeeded"))


async def check_prerequisites(api: Api) -> None:
    if not await api.exists("/apis/storage.k8s.io/v1/storageclasses/local-path"):
        raise Missing("no StorageClass local-path: the StorageClass kind or its built-in classes have not landed")
    if not await api.exists("/api/v1/persistentvolumes"):
        raise Missing("PersistentVolumes are not served")


async def explain_timeout(api: Api, claim_name: str, pod_name: str) -> str:
    lines = [*await api.events(claim_name), *await api.events(pod_name)]
    return "; ".join(lines) or "no events"


async def start_with_claim(api: Api, index: int, command: str) -> tuple[float, float, float, str]:
    """Create a claim and its pod together; return (created, bound, running) perf_counters and the pod name."""
    claim_name, pod_name = f"data-{index}", f"user-{index}"
    pods, claims = f"/api/v1/namespaces/{NS}/pods", f"/api/v1/namespaces/{NS}/persistentvolumeclaims"
    started = time.perf_counter()
    created_claim = await api.request("POST", claims, claim(claim_name))
    created_pod = await api.request("POST", pods, pod(pod_name, command, claim_name))
    try:
        bound_at, running_at = await asyncio.gather(
            api.wait_for(claims, claim_name, bound, after=created_claim["metadata"]["resourceVersion"]),
            api.wait_for(pods, pod_name, running, after=created_pod["metadata"]["resourceVersion"]),
        )
    except TimeoutError:
        detail = await explain_timeout(api, claim_name, pod_name)
        raise Missing(
            f"claim {claim_name} / pod {pod_name} not Bound and Running within {WAIT_SECONDS:.0f} s "
            f"(the PV controller, the provisioner and the node's claim mounts are all needed): {detail}"
        ) from None
    return started, bound_at, running_at, pod_name


async def delete_all(api: Api, names: list[tuple[str, str]]) -> None:
    for collection, name in names:
        await api.request(
            "DELETE", f"/api/v1/namespaces/{NS}/{collection}/{name}", {"gracePeriodSeconds": 0}, ok=(200, 202, 404)
        )


async def throughput(api: Api, host_dir: Path, mib: int) -> None:
    script = dd_script("/data/bench.bin", mib)
    _, _, _, pod_name = await start_with_claim(api, 0, script)
    pods = f"/api/v1/namespaces/{NS}/pods"
    current = await api.request("GET", f"{pods}/{pod_name}")
    if (current.get("status") or {}).get("phase") != "Succeeded":
        after = current["metadata"]["resourceVersion"]
        await api.wait_for(pods, pod_name, lambda o: (o.get("status") or {}).get("phase") == "Succeeded", after=after)
    async with api.session.get(f"{api.url}{pods}/{pod_name}/log") as response:
        pod_write, pod_read = parse_dd(await response.text())
    await delete_all(api, [("pods", pod_name), ("persistentvolumeclaims", "data-0")])

    host_dir.mkdir(parents=True, exist_ok=True)
    host = subprocess.run(["sh", "-c", dd_script(str(host_dir / "bench.bin"), mib)], capture_output=True, text=True)
    host_write, host_read = parse_dd(host.stdout)
    for label, in_pod, on_host in (("write", pod_write, host_write), ("read", pod_read, host_read)):
        ratio = on_host / in_pod  # throughput ratio: the same bytes, so the inverse of the times
        print(
            f"sequential {label:<5} {mib} MiB: pod via claim {mib / in_pod:8.1f} MiB/s, "
            f"host dir {mib / on_host:8.1f} MiB/s"
            f"  -> {ratio:4.2f}x   goal >= {THROUGHPUT_GOAL:.2f}x"
        )


async def latency(api: Api, runs: int) -> None:
    pods = f"/api/v1/namespaces/{NS}/pods"
    plain: list[float] = []
    for index in range(runs):
        name = f"plain-{index}"
        started = time.perf_counter()
        created = await api.request("POST", pods, pod(name, "sleep 3600", None))
        plain.append(await api.wait_for(pods, name, running, after=created["metadata"]["resourceVersion"]) - started)
        await delete_all(api, [("pods", name)])
    to_bound: list[float] = []
    to_running: list[float] = []
    for index in range(1, runs + 1):
        started, bound_at, running_at, pod_name = await start_with_claim(api, index, "sleep 3600")
        to_bound.append(bound_at - started)
        to_running.append(running_at - started)
        await delete_all(api, [("pods", pod_name), ("persistentvolumeclaims", f"data-{index}")])
    p50_plain, p50_bound, p50_running = (statistics.median(s) * 1e3 for s in (plain, to_bound, to_running))
    print(f"plain pod create -> Running           p50 {p50_plain:7.1f} ms  (n={runs})")
    print(f"claim + pod create -> claim Bound     p50 {p50_bound:7.1f} ms")
    print(
        f"claim + pod create -> pod Running     p50 {p50_running:7.1f} ms  "
        f"-> {p50_running - p50_plain:+.1f} ms over the plain pod   goal < +{LATENCY_GOAL_MS:.0f} ms"
    )


async def run(url: str, ctx: ssl.SSLContext, host_dir: Path, *, mib: int, runs: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        api = Api(session, url)
        await check_prerequisites(api)
        await throughput(api, host_dir, mib)
        await latency(api, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with bench_cluster(prefix="kuberya-pvc-bench-") as bench:
        try:
            asyncio.run(run(bench.url, bench.ssl, bench.tmp / "host-dir", mib=args.mib, runs=args.runs))
        except Missing as missing:
            sys.exit(f"pvc_bench: cannot measure: {missing}")


if __name__ == "__main__":
    main()
