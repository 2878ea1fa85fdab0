"""A long schemathesis campaign against a real kuberya server, with a random (or given) seed.

The CI tier (``tests/fuzz``) runs a few derandomized examples per operation; this runs for
minutes with a fresh seed each time and reports the operations covered, the examples run and
every distinct 5xx, dropped connection, client-model rejection or refused write that changed
the store (see ``tests/fuzz/harness.py``), each with the shortest request that showed it.

    .venv/bin/python bench/fuzz_campaign.py --minutes 10 [--seed 1234] [--json report.json]

Exits 1 when anything was found. Rerun with the printed seed to replay a campaign.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_server, stop_server
from tests.fuzz import harness, seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="total time to fuzz for")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    parser.add_argument("--max-examples", type=int, default=200, help="per operation, mode and round")
    parser.add_argument("--json", type=Path, default=None, help="also write the findings here")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}, {args.minutes} minutes", flush=True)

    with tempfile.TemporaryDirectory(prefix="kuberya-fuzz-") as tmp:
        data_dir = Path(tmp)
        cluster = start_server(
            data_dir, "--runtime", "process", "--storage", "memory://", "--disable", harness.COMPONENTS
        )
        try:
            session = harness.admin_session(cluster.kubeconfig, data_dir / "client")
            seeds.create_seed_objects(session, cluster.url)
            schema = harness.fuzzable(harness.served_schema(session, cluster.url))
            operations = sum(1 for item in schema["paths"].values() for method in item if method != "parameters")
            fuzzer = harness.Fuzzer(session, cluster.url, server_log=data_dir / "server.log")
            deadline = time.monotonic() + args.minutes * 60
            rounds = 0
            # Rounds over every operation, each with its own seed, until the time is spent.
            while time.monotonic() < deadline:
                remaining = deadline - time.monotonic()
                fuzzer.fuzz(
                    schema,
                    max_examples=args.max_examples,
                    seconds_per_operation=max(remaining / operations, 0.2),
                    seed=seed + rounds,
                )
                rounds += 1
                print(f"round {rounds}: {fuzzer.campaign.examples} examples so far", flush=True)
        finally:
            stop_server(cluster)
    campaign = fuzzer.campaign
    print(f"seed {seed}, {rounds} rounds, {operations} operations served")
    print(campaign.report())
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "seed": seed,
                    "operations_served": operations,
                    "operations_covered": len(campaign.operations),
                    "examples": campaign.examples,
                    "statuses": campaign.statuses,
                    "findings": [
                        {
                            "check": f.check,
                            "status": f.status,
                            "detail": f.detail,
                            "where": f.where,
                            "count": f.count,
                            "operations": sorted(f.operations),
                            "reproducer": f.reproducer,
                        }
                        for f in campaign.findings.values()
                    ],
                },
                indent=2,
            )
        )
    return 1 if campaign.findings else 0


if __name__ == "__main__":
    sys.exit(main())
