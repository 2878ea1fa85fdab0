"""The node agent with the process runtime, through real kubectl: Ready, probes, restarts, deletion."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually


@pytest.fixture(autouse=True)
def delete_pods_after(cluster: Cluster, namespace: str) -> Iterator[None]:
    """Containers outlive the server (by design): stop this test's pods before the session ends."""
    yield
    cluster.kubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=60s", check=False)


def get_pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def free_port() -> int:
    return random.randint(20000, 40000)


def test_kubectl_run_becomes_ready_and_deletes_quickly(cluster: Cluster, namespace: str) -> None:
    port = free_port()
    cluster.kubectl(
        "run", "web", "-n", namespace, "--image=python:3", "--command", "--",
        "python3", "-m", "http.server", str(port),
    )  # fmt: skip
    pod = eventually(lambda: (p := get_pod(cluster, namespace, "web")) and ready(p) and p, timeout=30)
    status = pod["status"]
    assert status["phase"] == "Running"
    assert status["podIP"] and status["hostIP"]
    cs = status["containerStatuses"][0]
    assert cs["containerID"].startswith("process://") and cs["ready"] and cs["restartCount"] == 0
    table = cluster.kubectl("get", "pods", "-n", namespace).stdout
    assert "1/1" in table and "Running" in table
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"] if e["source"].get("component") == "kubelet"}
    assert {"Pulled", "Created", "Started"} <= reasons
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "web", "-n", namespace)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"kubectl delete took {elapsed:.2f}s"
    assert get_pod(cluster, namespace, "web") == {}


def test_readiness_probe_http_get(cluster: Cluster, namespace: str) -> None:
    port = free_port()
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probed"},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": ["python3", "-m", "http.server", str(port)],
                    "ports": [{"name": "http", "containerPort": port}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                    "livenessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 5,
                                      "initialDelaySeconds": 2},
                }
            ]
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    pod = eventually(lambda: (p := get_pod(cluster, namespace, "probed")) and ready(p) and p, timeout=30)
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    time.sleep(3)  # the liveness probe (TCP) keeps passing
    assert get_pod(cluster, namespace, "probed")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_liveness_failure_restarts_with_events(cluster: Cluster, namespace: str) -> None:
    port = free_port()
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sick"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": ["python3", "-m", "http.server", str(port)],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 1,
                                      "failureThreshold": 2, "initialDelaySeconds": 1},
                }
            ],
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    eventually(
        lambda: (
            (get_pod(cluster, namespace, "sick").get("status") or {})
            .get("containerStatuses", [{}])[0]
            .get("restartCount", 0)
            >= 1
        ),
        timeout=30,
    )
    events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    messages = {(e["reason"], e["message"]) for e in events}
    assert ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") in messages
    assert ("Killing", "Container web failed liveness probe, will be restarted") in messages


def test_crashing_container_goes_into_crash_loop_backoff(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "run", "crash", "-n", namespace, "--image=busybox", "--command", "--", "sh", "-c", "echo boom; exit 3"
    )

    def crash_looping() -> str | None:
        table = cluster.kubectl("get", "pods", "-n", namespace, "crash").stdout
        return table if "CrashLoopBackOff" in table else None

    table = eventually(crash_looping, timeout=30)
    cs = get_pod(cluster, namespace, "crash")["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 1
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=crash pod=crash_")
    assert "0/1" in table
    assert "boom" in cluster.kubectl("logs", "crash", "-n", namespace, "--previous").stdout


def test_env_from_configmap_and_succeeded_phase(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "conf", "-n", namespace, "--from-literal=GREETING=hello")
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "once"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "job",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo $(GREETING) $POD_NAME"],
                    "envFrom": [{"configMapRef": {"name": "conf"}}],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    pod = eventually(
        lambda: (p := get_pod(cluster, namespace, "once")) and p["status"].get("phase") == "Succeeded" and p, timeout=30
    )
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert cluster.kubectl("logs", "once", "-n", namespace).stdout.strip() == "hello once"
