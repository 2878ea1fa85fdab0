"""Zero downtime through a rollout and its undo: not one failed request (issue §5).

Three replicas of a small HTTP server (``apps/graceful_http.py``: answers its version, finishes
what is in flight on SIGTERM) sit behind a NodePort Service. A bounded load runs on 127.0.0.1's
NodePort — the userspace proxy, which works without root — and, as root, on the ClusterIP too
(nftables DNAT), through ``kubectl set image`` + ``rollout status`` + ``rollout undo`` +
``rollout status``. Half the clients open a connection per request, half keep one alive.

What makes it pass is ordering, not luck: a terminating pod leaves the EndpointSlices (the
proxy stops sending it new connections) before the node agent sends SIGTERM, and a new pod is
sent traffic only once its readiness probe passes. The app has no preStop hook on purpose.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.conftest import Cluster
from tests.e2e.apps.rollout_load import Load, Result

APP = Path(__file__).parent / "apps" / "graceful_http.py"

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {name}}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: web
        image: graceful:v1
        command: [{python}, {app}, "8080"]
        env:
        - name: VERSION
          valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['pod-template-hash']"}}}}
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  type: NodePort
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def deploy(cluster: Cluster, namespace: str, name: str) -> dict:  # type: ignore[type-arg]
    """The app, rolled out; returns the Service."""
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    manifest = MANIFEST.format(name=name, python=json.dumps(sys.executable), app=json.dumps(str(APP)))
    k("apply", "-f", "-", input=manifest)
    k("rollout", "status", f"deploy/{name}", "--timeout=90s", timeout=120)
    return dict(json.loads(k("get", "service", name, "-o", "json").stdout))


def wait_answering(host: str, port: int, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Load(host, port, clients=1).run_for(0.3).failures == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{host}:{port} does not answer")


def roll_and_undo(cluster: Cluster, namespace: str, name: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("set", "image", f"deploy/{name}", "web=graceful:v2")
    k("rollout", "status", f"deploy/{name}", "--timeout=120s", timeout=150)
    k("rollout", "undo", f"deploy/{name}")
    k("rollout", "status", f"deploy/{name}", "--timeout=120s", timeout=150)


def remove(cluster: Cluster, namespace: str, name: str) -> None:
    """Delete the app and wait for its pods to be gone (their processes outlive the server)."""
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("delete", "deployment,service", name, "--wait=true", "--timeout=60s", check=False, timeout=90)
    k("delete", "pods", "-l", f"app={name}", "--wait=true", "--timeout=60s", check=False, timeout=90)


def targets(service: dict) -> dict[str, tuple[str, int]]:  # type: ignore[type-arg]
    """Where to send the load: the NodePort always, the ClusterIP when this host can reach it (root)."""
    spec = service["spec"]
    found = {"nodeport": ("127.0.0.1", int(spec["ports"][0]["nodePort"]))}
    if os.geteuid() == 0 and spec.get("clusterIP") not in (None, "", "None"):
        found["clusterip"] = (spec["clusterIP"], int(spec["ports"][0]["port"]))
    return found


def run_rollout_under_load(cluster: Cluster, namespace: str, name: str) -> dict[str, Result]:
    """The scenario shared with ``bench/rollout_bench.py``: deploy, load, roll, undo, results per path."""
    service = deploy(cluster, namespace, name)
    paths = targets(service)
    for host, port in paths.values():
        wait_answering(host, port)
    budget = 20_000 // len(paths)
    loads = {
        path: Load(host, port, clients=4, max_seconds=60, max_requests=budget, pause=0.004).start()
        for path, (host, port) in paths.items()
    }
    try:
        time.sleep(1.0)
        roll_and_undo(cluster, namespace, name)
        time.sleep(1.0)
    finally:
        results = {path: load.stop() for path, load in loads.items()}
    return results


def test_rollout_and_undo_lose_no_request(cluster: Cluster, namespace: str) -> None:
    try:
        results = run_rollout_under_load(cluster, namespace, "web")
    finally:
        remove(cluster, namespace, "web")
    for path, result in results.items():
        summary = result.summary()
        print(f"{path}: {summary}")
        assert result.requests > 100, (path, summary)
        assert result.failures == 0, (path, summary, result.failure_log)
        assert len(result.versions) >= 2, (path, summary)  # the new version served, then the old again
