"""Chaos: kill -9 container processes and delete pods at random during a rollout; it converges."""

from __future__ import annotations

import json
import os
import random
import signal
import time

from tests.conftest import Cluster
from tests.e2e.test_workloads import WEB, pods, ready
from tests.waiting import eventually


def container_pid(cluster: Cluster, pod: dict) -> int | None:  # type: ignore[type-arg]
    statuses = pod.get("status", {}).get("containerStatuses") or []
    if not statuses or "://" not in statuses[0].get("containerID", ""):
        return None
    container_id = statuses[0]["containerID"].split("://", 1)[1]
    started = cluster.data_dir / "runtime" / "containers" / container_id / "started.json"
    try:
        return int(json.loads(started.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_rollout_converges_under_chaos(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("apply", "-f", "-", input=WEB.format(name="chaos", replicas=4, image="payment:v1"))
    k("rollout", "status", "deploy/chaos", "--timeout=90s", timeout=120)

    k("set", "image", "deploy/chaos", "web=payment:v2")
    rng = random.Random(20261128)  # seeded: a failure can be replayed
    kills = deletes = 0
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        current = pods(cluster, namespace, "app=chaos")
        if current:
            victim = rng.choice(current)
            if rng.random() < 0.5:
                pid = container_pid(cluster, victim)
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills += 1
                    except ProcessLookupError:
                        pass
            else:
                k("delete", "pod", victim["metadata"]["name"], "--wait=false", check=False)
                deletes += 1
        time.sleep(rng.uniform(0.3, 1.0))
    assert kills and deletes, (kills, deletes)

    k("rollout", "status", "deploy/chaos", "--timeout=120s", timeout=150)

    def converged() -> bool:
        dep = json.loads(k("get", "deploy", "chaos", "-o", "json").stdout)
        status = dep.get("status", {})
        current = [p for p in pods(cluster, namespace, "app=chaos") if not p["metadata"].get("deletionTimestamp")]
        return (
            status.get("observedGeneration") == dep["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("readyReplicas") == status.get("replicas") == 4
            and len(current) == 4
            and all(ready(p) and p["spec"]["containers"][0]["image"] == "payment:v2" for p in current)
        )

    eventually(converged, timeout=90, what="the deployment to converge after the chaos")
    replica_sets = json.loads(k("get", "rs", "-o", "json").stdout)["items"]
    active = [rs for rs in replica_sets if rs["spec"].get("replicas", 0) > 0]
    assert len(active) == 1
    k("delete", "deploy", "chaos", timeout=60)
