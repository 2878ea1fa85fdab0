"""Micro-benchmark of the process runtime: how long until a container's process runs.

Run: ``python bench/runtime_bench.py [--count 50]``. "container start" is ``create_container`` +
``start_container`` of ``sleep``, returning once the shim reports the process exec'd (the
runtime's share of pod create → Ready). It is measured in a host-network sandbox and, as root,
in a sandbox with its own network namespace (the shim then starts through ``nsenter``). "sandbox"
is ``run_pod_sandbox`` alone: ``ip netns add`` plus the CNI loopback and bridge plugins (and the
pod cgroups). As root the bench uses a bridge of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from kuberya.runtime.base import ContainerConfig, SandboxConfig
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.network import PodNetwork
from kuberya.runtime.process import ProcessRuntime


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {name:<28} n={len(samples):<4} p50 {p50 * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms")


def sandbox_config(index: int) -> SandboxConfig:
    return SandboxConfig(
        pod_uid=f"bench-{secrets.token_hex(4)}", name=f"bench-{index}", namespace="default", hostname="b"
    )


async def bench(runtime: ProcessRuntime, *, label: str, count: int, logs: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config(0))
    samples = []
    for index in range(count):
        config = ContainerConfig(
            name=f"c{index}", image="bench", command=("sleep", "60"), env=(), log_path=logs / f"{label}-{index}.log"
        )
        started = time.perf_counter()
        container_id = await runtime.create_container(sandbox.id, config)
        await runtime.start_container(container_id)
        samples.append(time.perf_counter() - started)
    report(f"container start ({label})", samples)
    await runtime.remove_pod_sandbox(sandbox.id)

    if runtime.network is not None or runtime.cgroups is not None:
        samples = []
        for index in range(min(count, 20)):
            started = time.perf_counter()
            sandbox = await runtime.run_pod_sandbox(sandbox_config(index))
            samples.append(time.perf_counter() - started)
            await runtime.remove_pod_sandbox(sandbox.id)
        report(f"sandbox ({label})", samples)


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kuberya-runtime-bench-") as scratch:
        root = Path(scratch)
        host = ProcessRuntime(state_dir=root / "host", network=None)
        await host.start()
        try:
            await bench(host, label="host network", count=count, logs=root / "logs")
        finally:
            await host.close()
        if not PodNetwork.available():
            print("  (not root or no CNI plugins: no network namespace figures)")
            return
        bridge = f"kyb{secrets.token_hex(4)}"
        cgroups = CgroupManager.detect()
        pods = ProcessRuntime(
            state_dir=root / "pods", network=PodNetwork(state_dir=root / "net", bridge=bridge), cgroups=cgroups
        )
        await pods.start()
        try:
            await bench(pods, label="netns + cgroups", count=count, logs=root / "logs")
        finally:
            for sandbox in await pods.list_pod_sandboxes():
                await pods.remove_pod_sandbox(sandbox.id)
            await pods.close()
            if cgroups is not None:
                cgroups.remove_parent()
            subprocess.run(["ip", "link", "delete", bridge], stderr=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    asyncio.run(main(parser.parse_args().count))
