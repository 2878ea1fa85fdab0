"""Container start overhead of the runc runtime against bare runc, on the same bundle.

Run as root: ``python bench/runc_bench.py [--count 30]``. The image is a static busybox built into
a layer directory here (a cached image: nothing is pulled or unpacked while timing).

- **pod → Running**: ``run_pod_sandbox`` (network namespace, CNI bridge + host-local IPAM, pod
  cgroups, hosts/resolv.conf/hostname files) + ``create_container`` (overlay rootfs, config.json)
  + ``start_container`` (the shim, ``runc run --detach``), which returns once the container's
  process runs: what the node agent waits for before it reports the pod Running.
- **bare runc run -d**: ``runc run --detach`` of a bundle made the same way (the same config.json
  generator and overlay rootfs, a network namespace of runc's own), which also returns once the
  process runs.
- **bare runc run (true)**: the foreground floor ENVIRONMENT.md quotes (~42 ms here).

Each sample's teardown (pod removal, ``runc delete``) is outside the timing. As root the bench uses
a bridge and runc root of its own (ids ``kuberya-bench-…``), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kuberya.runtime.base import ContainerConfig, SandboxConfig
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.network import PodNetwork
from kuberya.runtime.oci_spec import PodContext, build_spec
from kuberya.runtime.rootfs import mount_overlay, unmount
from kuberya.runtime.runc import ImageRootfs, RuncRuntime

PREFIX = "kuberya-bench-"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def report(name: str, samples: list[float]) -> float:
    p50 = statistics.median(samples)
    print(f"  {name:<26} n={len(samples):<4} p50 {p50 * 1e3:7.2f} ms   p99 {percentile(samples, 0.99) * 1e3:7.2f} ms")
    return p50


def busybox_layer(root: Path) -> Path:
    layer = root / "layer"
    (layer / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", layer / "bin" / "busybox")
    for applet in ("sh", "sleep", "true"):
        (layer / "bin" / applet).symlink_to("busybox")
    for directory in ("etc", "proc", "sys", "dev", "tmp"):
        (layer / directory).mkdir()
    return layer


def config(name: str, logs: Path, *command: str) -> ContainerConfig:
    return ContainerConfig(
        name=name,
        image="busybox",
        command=command,
        env=(),
        log_path=logs / f"{name}.log",
        image_entrypoint_override=True,
    )


def runc(root: Path, *args: str) -> None:
    subprocess.run(
        ["runc", "--root", str(root), *args], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )


def bare_bundle(directory: Path, layer: Path, *command: str) -> Path:
    spec = build_spec(config("bare", directory, *command), {}, PodContext(hostname="bare", netns_path=None))
    spec["linux"]["namespaces"].append({"type": "network"})
    mount_overlay([layer], directory)
    (directory / "config.json").write_text(json.dumps(spec))
    return directory


def bare_sample(scratch: Path, layer: Path, *, detach: bool) -> float:
    """One bare ``runc run`` (``--detach`` of ``sleep``, or foreground ``true``); teardown untimed."""
    root = scratch / "runc-bare"
    bundle = bare_bundle(scratch / f"bare-{secrets.token_hex(4)}", layer, *(("sleep", "600") if detach else ("true",)))
    container_id = f"{PREFIX}{secrets.token_hex(4)}"
    started = time.perf_counter()
    runc(root, "run", *(["--detach"] if detach else []), "--bundle", str(bundle), container_id)
    elapsed = time.perf_counter() - started
    if detach:
        runc(root, "kill", container_id, "KILL")
        for _ in range(200):  # delete once it has stopped: no cgroup is left busy
            state = subprocess.run(["runc", "--root", str(root), "state", container_id], capture_output=True, text=True)
            if '"stopped"' in state.stdout:
                break
            time.sleep(0.005)
        runc(root, "delete", "--force", container_id)
    unmount(bundle / "rootfs")
    return elapsed


async def bench(scratch: Path, layer: Path, count: int) -> tuple[list[float], list[float], list[float]]:
    """Samples of the three, interleaved so that a busy machine slows them alike."""

    async def resolve(image: str) -> ImageRootfs:
        return ImageRootfs(layers=(layer,), config={}, image_id="sha256:bench")

    bridge = f"kyb{secrets.token_hex(4)}"
    cgroups = CgroupManager.detect()
    runtime = RuncRuntime(
        state_dir=scratch / "state",
        network=PodNetwork(state_dir=scratch / "network", bridge=bridge),
        cgroups=cgroups,
        image_resolver=resolve,
        id_prefix=PREFIX,
    )
    await runtime.start()
    pods: list[float] = []
    detached: list[float] = []
    foreground: list[float] = []
    try:
        # One pod first, untimed: the bridge, the IPAM store and the parent cgroups get made once.
        warm = await runtime.run_pod_sandbox(SandboxConfig(pod_uid="warm", name="warm", namespace="b", hostname="w"))
        await runtime.remove_pod_sandbox(warm.id)
        for index in range(count):
            sandbox_config = SandboxConfig(
                pod_uid=f"bench-{secrets.token_hex(4)}", name=f"bench-{index}", namespace="bench", hostname="bench"
            )
            started = time.perf_counter()
            sandbox = await runtime.run_pod_sandbox(sandbox_config)
            container_id = await runtime.create_container(sandbox.id, config(f"c{index}", scratch, "sleep", "600"))
            await runtime.start_container(container_id)
            pods.append(time.perf_counter() - started)
            await runtime.remove_pod_sandbox(sandbox.id)
            detached.append(bare_sample(scratch, layer, detach=True))
            foreground.append(bare_sample(scratch, layer, detach=False))
    finally:
        for sandbox in await runtime.list_pod_sandboxes():
            await runtime.remove_pod_sandbox(sandbox.id)
        await runtime.close()
        for pid in list(runtime._spawned):
            os.waitpid(pid, 0)
        subprocess.run(["ip", "link", "delete", bridge], stderr=subprocess.DEVNULL, check=False)
        if cgroups is not None:
            cgroups.remove_parent()
    return pods, detached, foreground


async def main(count: int) -> None:
    if os.geteuid() != 0 or shutil.which("runc") is None or not PodNetwork.available():
        print("the runc bench needs root, runc and the CNI plugins", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="kuberya-runc-bench-") as directory:
        scratch = Path(directory)
        layer = busybox_layer(scratch)
        print(f"container start, {count} runs each (busybox, cached image):")
        pods, detached, foreground = await bench(scratch, layer, count)
        pod_p50 = report("pod → Running (runc)", pods)
        bare_p50 = report("bare runc run -d", detached)
        floor_p50 = report("bare runc run (true)", foreground)
        print(f"  ratio pod/bare run -d: {pod_p50 / bare_p50:.2f}×   pod/bare run (true): {pod_p50 / floor_p50:.2f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=30)
    asyncio.run(main(parser.parse_args().count))
