"""Benchmark the service proxy: userspace (asyncio) vs kernel (nftables DNAT) vs direct, same run.

Goal (issue §7): through the proxy, ≥ 0.7× the throughput of a direct connection to the pod,
and a p99 to compare.

Setup (root only; everything is ours and removed at the end): a network namespace
``kuberya-bench`` joined to the host by a veth pair (host 10.99.0.1, pod 10.99.0.2), a backend
process inside it on 10.99.0.2:8080, the link ``kuberya-benchsv`` holding a ClusterIP
10.96.250.2 that a separate userspace-proxy *process* listens on (and on a NodePort on
127.0.0.1), and an nftables table ``ip kuberya-bench`` made by kuberya's own
:func:`kuberya.proxy.kernel.render_ruleset` that DNATs ClusterIP 10.96.250.1:80 and a second
NodePort on 127.0.0.1 to the backend — the latter with ``route_localnet`` on the host end of the
veth (which stands in for the pod bridge; the setting goes with the link) and the localnet guard.
Traffic goes only to those addresses. Paths:

* ``direct``: the backend's address;
* ``kernel`` / ``userspace``: the ClusterIPs;
* ``np-kernel`` / ``np-userspace``: ``127.0.0.1:<nodePort>``, as ``kubectl``'s users reach a NodePort.

Workloads, each bounded by a request count and a time limit, run on every path in turn, in
``--rounds`` interleaved rounds (the order rotating each round) whose medians are reported, so
that other work on the machine weighs on every path alike:

* ``connect``: a new TCP connection per request (send ``GET 1024``, read 1 KiB), 20 at a time —
  connection setup dominates, as for HTTP without keep-alive;
* ``stream``: 4 connections each reading 32 MiB — bytes per second through the splice.

The backend answers one request per connection and closes first, as an HTTP/1.0 server does, so
TIME_WAIT is kept on the server side. When clients closed first, tens of thousands of TIME_WAIT
entries from the host to the backend's one address made connecting slow (the kernel scans for a
free ephemeral port), and only for the paths sharing that address (direct, and the userspace
proxy's backend side): back-to-back runs showed "direct" at a tenth of "kernel".

    sudo .venv/bin/python bench/proxy_bench.py [--requests 5000] [--seconds 10] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from kuberya.proxy.kernel import RouteLocalnet, render_ruleset
from kuberya.proxy.table import Endpoint, ServicePort

NETNS = "kuberya-bench"
VETH_HOST, VETH_POD = "kuberya-bv0", "kuberya-bv1"
HOST_IP, POD_IP, BACKEND_PORT = "10.99.0.1", "10.99.0.2", 8080
KERNEL_VIP, USERSPACE_VIP, SERVICE_PORT = "10.96.250.1", "10.96.250.2", 80
DEVICE = "kuberya-benchsv"
TABLE = "kuberya-bench"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


NODE_PORTS = {"np-kernel": _free_port(), "np-userspace": _free_port()}
"""Loopback ports free when the bench starts (its NodePorts; kuberya's range is not needed here)."""

BACKEND = """
import asyncio, sys
async def handle(reader, writer):
    try:
        n = int((await reader.readline()).split()[1])
        chunk = b"x" * min(n, 1 << 20)
        while n > 0:
            writer.write(chunk[:n]); n -= len(chunk)
            await writer.drain()
    except (ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()  # one request per connection, server closes first (see the module docstring)
async def main():
    server = await asyncio.start_server(handle, sys.argv[1], int(sys.argv[2]), backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

PROXY = """
import asyncio, sys
from kuberya.proxy.table import Endpoint, ServicePort
from kuberya.proxy.userspace import UserspaceProxy
async def main():
    proxy = UserspaceProxy()
    vip, port, ip, target, node_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    entry = ServicePort(service="bench/web", port_name="", protocol="TCP", cluster_ip=vip, port=port,
                        node_port=node_port, endpoints=(Endpoint(ip, target),))
    await proxy.apply({entry.key: entry}, node_port_hosts=("127.0.0.1",), cluster_ips=True)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def sh(*args: str, check: bool = True) -> None:
    subprocess.run(args, check=check, capture_output=True)


def setup() -> list[subprocess.Popen[bytes]]:
    teardown(quiet=True)
    sh("ip", "netns", "add", NETNS)
    sh("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_POD)
    sh("ip", "link", "set", VETH_POD, "netns", NETNS)
    sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", VETH_HOST)
    sh("ip", "link", "set", VETH_HOST, "up")
    for cmd in (
        ("ip", "addr", "add", f"{POD_IP}/24", "dev", VETH_POD),
        ("ip", "link", "set", VETH_POD, "up"),
        ("ip", "link", "set", "lo", "up"),
        ("ip", "route", "add", "default", "via", HOST_IP),
    ):
        sh("ip", "netns", "exec", NETNS, *cmd)
    try:
        sh("ip", "link", "add", DEVICE, "type", "dummy")
    except subprocess.CalledProcessError:
        sh("ip", "link", "add", DEVICE, "type", "bridge")
    sh("ip", "link", "set", DEVICE, "up")
    # Both service addresses are local, as the proxy makes them (kuberya.proxy.netdev).
    sh("ip", "addr", "add", f"{USERSPACE_VIP}/32", "dev", DEVICE)
    sh("ip", "addr", "add", f"{KERNEL_VIP}/32", "dev", DEVICE)
    # The proxy's own rules: the ClusterIP, and the NodePort on 127.0.0.1 with its masquerade and guard.
    entry = ServicePort(service="bench/web", port_name="", protocol="TCP", cluster_ip=KERNEL_VIP, port=SERVICE_PORT,
                        node_port=NODE_PORTS["np-kernel"], endpoints=(Endpoint(POD_IP, BACKEND_PORT),))  # fmt: skip
    ruleset = render_ruleset([entry], table=TABLE, loopback=[entry], node_port_hosts=["127.0.0.1"], bridge=VETH_HOST)
    subprocess.run(["nft", "-f", "-"], input=ruleset.encode(), check=True)
    RouteLocalnet(VETH_HOST).set(True)  # after the guard is in place, as the proxy does
    backend = subprocess.Popen(
        ["ip", "netns", "exec", NETNS, sys.executable, "-c", BACKEND, POD_IP, str(BACKEND_PORT)],
        stdout=subprocess.PIPE,
    )
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROXY,
            USERSPACE_VIP,
            str(SERVICE_PORT),
            POD_IP,
            str(BACKEND_PORT),
            str(NODE_PORTS["np-userspace"]),
        ],
        stdout=subprocess.PIPE,
    )
    for process in (backend, proxy):
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            teardown([backend, proxy])
            raise RuntimeError("a helper process did not start")
    return [backend, proxy]


def teardown(processes: Sequence[subprocess.Popen[bytes]] = (), *, quiet: bool = False) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)
    sh("nft", "delete", "table", "ip", TABLE, check=False)
    sh("ip", "link", "del", DEVICE, check=False)
    sh("ip", "link", "del", VETH_HOST, check=False)
    sh("ip", "netns", "del", NETNS, check=False)


async def connect_workload(
    host: str, port: int, *, requests: int, seconds: float, concurrency: int = 20
) -> tuple[list[float], int, float]:
    """Latencies of the requests that succeeded, the error count, and the seconds it all took."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    remaining = requests

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"GET 1024\n")
                await reader.readexactly(1024)
                await reader.read()  # the server's FIN: it closes first
                writer.close()
                await writer.wait_closed()
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


async def stream_workload(host: str, port: int, *, seconds: float, streams: int = 4, size: int = 32 << 20) -> float:
    """MiB per second read through ``streams`` connections at once."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {size}\n".encode())
        got = 0
        deadline = time.perf_counter() + seconds
        while got < size and time.perf_counter() < deadline:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        writer.close()
        return got

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(one() for _ in range(streams))))
    return total / (1 << 20) / (time.perf_counter() - started)


async def measure(requests: int, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    """Every path, round after round, in a rotating order; each figure is the median of its rounds.

    Interleaving is what keeps the ratios honest on a shared 2-core machine: a burst of someone
    else's work lands on one round of every path rather than on the whole of one path.
    """
    paths = {
        "direct": (POD_IP, BACKEND_PORT),
        "kernel": (KERNEL_VIP, SERVICE_PORT),
        "userspace": (USERSPACE_VIP, SERVICE_PORT),
        "np-kernel": ("127.0.0.1", NODE_PORTS["np-kernel"]),
        "np-userspace": ("127.0.0.1", NODE_PORTS["np-userspace"]),
    }
    for host, port in paths.values():
        await connect_workload(host, port, requests=100, seconds=2)  # warm up (conntrack, caches)
    names = list(paths)
    rates: dict[str, list[float]] = {name: [] for name in names}
    throughput: dict[str, list[float]] = {name: [] for name in names}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            host, port = paths[name]
            done, failed, elapsed = await connect_workload(
                host, port, requests=requests // rounds, seconds=seconds / rounds
            )
            rates[name].append(len(done) / elapsed)
            latencies[name].extend(done)
            errors[name] += failed
            throughput[name].append(await stream_workload(host, port, seconds=seconds / rounds))
    results: dict[str, dict[str, float]] = {}
    for name in names:
        ordered = sorted(latencies[name])
        results[name] = {
            "requests": len(ordered),
            "errors": errors[name],
            "rps": statistics.median(rates[name]),
            "p50_ms": ordered[len(ordered) // 2] * 1000 if ordered else 0.0,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000 if ordered else 0.0,
            "mib_per_s": statistics.median(throughput[name]),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="per path, over all rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="per path and workload, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per path (see measure())")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("proxy_bench needs root (a network namespace, a veth pair and an nftables table)")
    processes = setup()
    try:
        results = asyncio.run(measure(args.requests, args.seconds, args.rounds))
    finally:
        teardown(processes)
    direct = results["direct"]
    print(f"{'path':<12} {'conn/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'MiB/s':>8}   vs direct: conn/s  p99  MiB/s")
    for name, r in results.items():
        print(
            f"{name:<12} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['mib_per_s']:8.0f}"
            f"   {r['rps'] / direct['rps']:10.2f}× {r['p99_ms'] / direct['p99_ms']:4.2f}×"
            f" {r['mib_per_s'] / direct['mib_per_s']:5.2f}×" + (f"  ({r['errors']:.0f} errors)" if r["errors"] else "")
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
