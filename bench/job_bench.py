"""Job figures of a real kuberya server with the process runtime, and a Deployment of as many pods beside it.

- a Job of ``--completions`` (100) completions, ``--parallelism`` (10) at a time, each pod running
  ``true``: the time from create to the ``Complete`` condition (goal < 15 s);
- the same number of pods as a Deployment (``sleep 3600``, restartPolicy Always): create to all
  Ready;
- for both, per pod: the server's CPU time (API server, controllers and node agent are one
  process) and its writes (the global resourceVersion advances by one per write: pods, status,
  events…), and the Job/Deployment ratio of each. A Job pod costs more by design: it also exits,
  is counted through ``uncountedTerminatedPods`` and loses its tracking finalizer.

Everything runs in a temporary data directory and is deleted at the end; traffic goes to loopback.

    .venv/bin/python bench/job_bench.py [--completions 100] [--parallelism 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_cluster, cpu_seconds

NAMESPACE = "default"


def _pod_template(command: list[str], restart: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": command}],
        },
    }


async def _current_rv(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/api/v1/namespaces", params={"limit": "1"}) as r:
        return int((await r.json())["metadata"]["resourceVersion"])


async def _create_and_watch(session: aiohttp.ClientSession, collection: str, body: dict[str, Any], done: Any) -> float:
    started = time.perf_counter()
    async with session.post(collection, json=body) as r:
        created = await r.json()
        if r.status != 201:
            raise RuntimeError(f"create failed: {created}")
    params = {
        "watch": "true",
        "resourceVersion": created["metadata"]["resourceVersion"],
        "fieldSelector": f"metadata.name={body['metadata']['name']}",
    }
    async with session.get(collection, params=params, timeout=aiohttp.ClientTimeout(total=300)) as resp:
        async for line in resp.content:
            if done(json.loads(line)["object"]):
                return time.perf_counter() - started
    raise RuntimeError("watch ended before the object was done")


def _job_complete(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions):
        raise RuntimeError(f"the Job failed: {conditions}")
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)


async def measure(
    session: aiohttp.ClientSession, url: str, pid: int, *, collection: str, body: dict[str, Any], done: Any, pods: int
) -> dict[str, float]:
    rv, cpu = await _current_rv(session, url), cpu_seconds(pid)
    took = await _create_and_watch(session, collection, body, done)
    await asyncio.sleep(1)  # let the trailing status writes and events land
    writes = await _current_rv(session, url) - rv
    used = cpu_seconds(pid) - cpu
    return {"seconds": round(took, 2), "cpu_ms_per_pod": round(used * 1000 / pods, 1), "writes_per_pod": writes / pods}


async def run(url: str, ctx: ssl.SSLContext, pid: int, *, completions: int, parallelism: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        jobs = f"{url}/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "bench"},
            "spec": {
                "completions": completions,
                "parallelism": parallelism,
                "template": _pod_template(["true"], "Never", {}),
            },
        }
        job_result = await measure(session, url, pid, collection=jobs, body=job, done=_job_complete, pods=completions)
        deployments = f"{url}/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
        deploy = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench"},
            "spec": {
                "replicas": completions,
                "selector": {"matchLabels": {"app": "bench"}},
                "template": _pod_template(["sleep", "3600"], "Always", {"app": "bench"}),
            },
        }
        deploy_result = await measure(
            session,
            url,
            pid,
            collection=deployments,
            body=deploy,
            done=lambda d: (d.get("status") or {}).get("readyReplicas", 0) >= completions,
            pods=completions,
        )
        for path in (f"{jobs}/bench", f"{deployments}/bench"):
            async with session.delete(path, params={"propagationPolicy": "Background"}) as r:
                await r.read()
    return {
        "job": job_result,
        "deployment": deploy_result,
        "ratio_cpu_per_pod": round(job_result["cpu_ms_per_pod"] / max(deploy_result["cpu_ms_per_pod"], 0.1), 2),
        "ratio_writes_per_pod": round(job_result["writes_per_pod"] / max(deploy_result["writes_per_pod"], 0.01), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    with bench_cluster(prefix="kuberya-job-bench-") as bench:
        report = asyncio.run(
            run(bench.url, bench.ssl, bench.pid, completions=args.completions, parallelism=args.parallelism)
        )
    job, deploy = report["job"], report["deployment"]
    print(
        f"Job {args.completions} completions x{args.parallelism}: Complete in {job['seconds']:.2f} s (goal < 15 s); "
        f"{job['cpu_ms_per_pod']} ms CPU and {job['writes_per_pod']:.1f} writes per pod"
    )
    print(
        f"Deployment of {args.completions} pods: all Ready in {deploy['seconds']:.2f} s; "
        f"{deploy['cpu_ms_per_pod']} ms CPU and {deploy['writes_per_pod']:.1f} writes per pod"
    )
    print(
        f"per-pod overhead, Job / Deployment: CPU {report['ratio_cpu_per_pod']}x, "
        f"writes {report['ratio_writes_per_pod']}x"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if job["seconds"] < 15 else 1


if __name__ == "__main__":
    sys.exit(main())
