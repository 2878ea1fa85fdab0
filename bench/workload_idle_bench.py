"""Idle RSS and CPU of the cluster with the workload controllers, against the tree before them.

Issue #13's figure: with one object of each new workload kind in place (a finished Job, a
suspended CronJob, a StatefulSet and a DaemonSet of one sleeping pod each, a PDB), the server's
idle RSS must grow less than 10 MB over the idle figure of the tree before those controllers.
Both servers run in this one invocation, one after the other, on the process runtime, from
source trees checked out with ``git worktree`` (the baseline) and this checkout (the candidate):

    .venv/bin/python bench/workload_idle_bench.py [--baseline 9b14ebe] [--settle 15] [--sample 30]

For each server: wait until ready, settle, then read ``VmRSS`` and the CPU time used over
``--sample`` seconds of idling; for the candidate, once empty and once more after the objects are
created and have settled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import cpu_seconds
from bench.up_bench import rss_kib

REPO = Path(__file__).resolve().parent.parent

BASELINE = "9b14ebe"
"""The last commit before the workload controllers (the end of the previous session)."""

OBJECTS = """
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: ["true"]}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec: {minAvailable: 1, selector: {matchLabels: {app: db}}}
"""


class Server:
    def __init__(self, source: Path, data_dir: Path) -> None:
        self.data_dir = data_dir
        env = {**os.environ, "PYTHONPATH": str(source / "src")}
        self.log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
        command = [sys.executable, "-m", "kuberya.server", "--data-dir", str(data_dir), "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--runtime", "process"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not (data_dir / "ready").exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"server from {source} did not start; see {self.log.name}")
            time.sleep(0.05)
        json.loads((data_dir / "ready").read_text())

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.data_dir / "kubeconfig")}
        out = subprocess.run(
            [str(REPO / ".venv/bin/kubectl"), *args], input=stdin, capture_output=True, text=True, env=env, check=True
        )
        return out.stdout

    def idle(self, settle: float, sample: float) -> tuple[float, float]:
        """(RSS in MiB, CPU in % of one core) after ``settle`` seconds, over ``sample`` seconds."""
        time.sleep(settle)
        before = cpu_seconds(self.process.pid)
        time.sleep(sample)
        cpu = (cpu_seconds(self.process.pid) - before) / sample * 100
        return rss_kib(self.process.pid)["VmRSS"] / 1024, cpu

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline", default=BASELINE, help="the git revision to compare with")
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--sample", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kuberya-idle-") as tmp:
        work = Path(tmp)
        tree = work / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.baseline], check=True)
        try:
            baseline = Server(tree, work / "baseline-data")
            try:
                base_rss, base_cpu = baseline.idle(args.settle, args.sample)
            finally:
                baseline.stop()
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
        candidate = Server(REPO, work / "candidate-data")
        try:
            empty_rss, empty_cpu = candidate.idle(args.settle, args.sample)
            candidate.kubectl("apply", "-f", "-", stdin=OBJECTS)
            candidate.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=60s")
            candidate.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
            candidate.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
            full_rss, full_cpu = candidate.idle(args.settle, args.sample)
        finally:
            candidate.stop()
    print(f"baseline {args.baseline} idle:                 RSS {base_rss:6.1f} MiB, CPU {base_cpu:.2f}%")
    print(f"this tree idle, no objects:            RSS {empty_rss:6.1f} MiB, CPU {empty_cpu:.2f}%")
    print(f"this tree idle, one of each workload:  RSS {full_rss:6.1f} MiB, CPU {full_cpu:.2f}%")
    print(
        f"growth over the baseline: {empty_rss - base_rss:+.1f} MiB empty, {full_rss - base_rss:+.1f} MiB with "
        f"the workloads (goal < 10 MB); CPU {full_cpu / base_cpu if base_cpu else float('inf'):.2f}x"
    )


if __name__ == "__main__":
    main()
