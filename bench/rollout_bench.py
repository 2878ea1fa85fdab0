"""Benchmark a rollout under load (issue §7): requests, failures and latency; proxy vs direct.

The scenario is the zero-downtime test's (``tests/e2e/test_zero_downtime.py``): a kuberya
server with the process runtime, three replicas of ``tests/e2e/apps/graceful_http.py`` behind
a NodePort Service, and a bounded load — 4 clients per path, half a new connection per request,
half keep-alive — through ``kubectl set image`` + ``rollout status`` + ``rollout undo`` +
``rollout status``. Goal: 0 failures.

Then, with the rollout done, the same load with no pause for ``--seconds`` per path (in
``--rounds`` interleaved slices, see :func:`steady_throughput`): the
NodePort on 127.0.0.1 (nftables DNAT as root, the userspace proxy otherwise), the ClusterIP
(nftables DNAT; root only) and a direct connection to one pod's IP (root only: pod IPs are
reachable from the host only with the bridge). Goal: through the proxy ≥ 0.7× the direct
throughput. To compare with another version of the proxy, run this with
``PYTHONPATH=<that version's src>``: the server inherits the environment. All traffic goes to
loopback and to the pods this run created; everything is deleted at the end.

    .venv/bin/python bench/rollout_bench.py [--seconds 6] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import start_server, stop_server
from tests.e2e.apps.rollout_load import Load, Result
from tests.e2e.test_zero_downtime import remove, run_rollout_under_load, targets

NAME = "web"
NAMESPACE = "bench-rollout"


def steady_throughput(
    paths: dict[str, tuple[str, int]], *, seconds: float, clients: int, rounds: int
) -> dict[str, dict[str, object]]:
    """Each path's load in ``rounds`` interleaved slices (the order rotating), merged per path.

    Interleaving keeps the ratios honest on a shared machine: a burst of other work lands on a
    slice of every path instead of on the whole of one.
    """
    merged = {path: Result() for path in paths}
    names = list(paths)
    for round_ in range(rounds):
        for path in names[round_ % len(names) :] + names[: round_ % len(names)]:
            host, port = paths[path]
            load = Load(host, port, clients=clients, max_seconds=seconds / rounds, max_requests=200_000)
            part = load.run_for(seconds / rounds)
            total = merged[path]
            total.requests += part.requests
            total.failures += part.failures
            total.stale_retries += part.stale_retries
            total.versions.update(part.versions)
            total.latencies.extend(part.latencies)
            total.errors.update(part.errors)
            total.seconds += part.seconds
    return {path: result.summary() for path, result in merged.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per path, for the throughput runs")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices per path (see steady_throughput)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    report: dict[str, object] = {}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="kuberya-rollout-bench-") as tmp:
        cluster = start_server(Path(tmp) / "cluster", "--runtime", "process")
        try:
            cluster.kubectl("create", "namespace", NAMESPACE)
            try:
                rollout = run_rollout_under_load(cluster, NAMESPACE, NAME)
                failures = sum(r.failures for r in rollout.values())
                report["rollout"] = {path: r.summary() for path, r in rollout.items()}
                for path, r in rollout.items():
                    print(f"rollout via {path:9}: {r.summary()}")
                    for line in r.failure_log[:10]:
                        print(f"    {line}")

                service = json.loads(cluster.kubectl("get", "service", NAME, "-n", NAMESPACE, "-o", "json").stdout)
                paths = targets(service)
                if os.geteuid() == 0:
                    pods = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)["items"]
                    ip = next(p["status"]["podIP"] for p in pods if p["status"].get("podIP"))
                    paths["direct"] = (ip, 8080)
                throughput = steady_throughput(paths, seconds=args.seconds, clients=args.clients, rounds=args.rounds)
                for path, summary in throughput.items():
                    print(f"steady via {path:9}: {summary}")
                report["steady"] = throughput
                if "direct" in throughput:
                    direct = float(throughput["direct"]["rps"])  # type: ignore[arg-type]
                    ratios = {p: round(float(t["rps"]) / direct, 2) for p, t in throughput.items() if p != "direct"}  # type: ignore[arg-type]
                    report["ratio_to_direct"] = ratios
                    print(f"throughput vs direct: {ratios} (goal >= 0.7)")
            finally:
                remove(cluster, NAMESPACE, NAME)
                cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        finally:
            stop_server(cluster)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
