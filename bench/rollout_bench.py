"""Benchmark a rollout under load (issue §7): requests, failures and latency; proxy vs direct.

The scenario is the zero-downtime test's (``tests/e2e/test_zero_downtime.py``): a kuberya
server with the process runtime, three replicas of ``tests/e2e/apps/graceful_http.py`` behind
a NodePort Service, and a bounded load — 4 clients per path, half a new connection per request,
half keep-alive — through ``kubectl set image`` + ``rollout status`` + ``rollout undo`` +
``rollout status``. Goal: 0 failures.

Then, with the rollout done, the same load with no pause for ``--seconds`` per path: the
NodePort (userspace proxy on 127.0.0.1), the ClusterIP (nftables DNAT; root only) and a direct
connection to one pod's IP (root only: pod IPs are reachable from the host only with the
bridge). Goal: through the proxy ≥ 0.7× the direct throughput. All traffic goes to loopback
and to the pods this run created; everything is deleted at the end.

    .venv/bin/python bench/rollout_bench.py [--seconds 5] [--json OUT]
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
from tests.e2e.apps.rollout_load import Load
from tests.e2e.test_zero_downtime import remove, run_rollout_under_load, targets

NAME = "web"
NAMESPACE = "bench-rollout"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per path, for the throughput runs")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kuberya-rollout-bench-") as tmp:
        cluster = start_server(Path(tmp) / "cluster", "--runtime", "process")
        try:
            cluster.kubectl("create", "namespace", NAMESPACE)
            try:
                rollout = run_rollout_under_load(cluster, NAMESPACE, NAME)
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
                throughput = {}
                for path, (host, port) in paths.items():
                    load = Load(host, port, clients=args.clients, max_seconds=args.seconds, max_requests=200_000)
                    result = load.run_for(args.seconds)
                    throughput[path] = result.summary()
                    print(f"steady via {path:9}: {throughput[path]}")
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
    failures = sum(int(r["failures"]) for r in report["rollout"].values())  # type: ignore[union-attr]
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
