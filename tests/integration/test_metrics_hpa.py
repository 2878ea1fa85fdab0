"""``kubectl top`` and the HPA on a real cluster: the node agent's samples, the metrics API, the autoscaler.

One server for the module, with the process runtime (the pods are host processes) and the HPA's
sync period shortened to 2 s through the hidden ``KUBERYA_HPA_SYNC_PERIOD`` so that a scale-up and a
scale-down fit in well under a minute. The load is a bounded Python busy loop in the pod, stopped
early by a file the test creates (the process runtime shares the host's filesystem).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, start_server, stop_server
from tests.waiting import eventually

BURN_SECONDS = 40
"""The longest a pod burns CPU, whatever happens to the test."""


@pytest.fixture(scope="module")
def hpa_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    previous = os.environ.get("KUBERYA_HPA_SYNC_PERIOD")
    os.environ["KUBERYA_HPA_SYNC_PERIOD"] = "2"
    try:
        cluster = start_server(tmp_path_factory.mktemp("kuberya-hpa"), "--runtime", "process")
    finally:
        if previous is None:
            del os.environ["KUBERYA_HPA_SYNC_PERIOD"]
        else:
            os.environ["KUBERYA_HPA_SYNC_PERIOD"] = previous
    yield cluster
    stop_server(cluster)


@pytest.fixture
def ns(hpa_cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    hpa_cluster.kubectl("create", "namespace", name)
    yield name
    hpa_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def burner(name: str, namespace: str, stop_file: Path, *, cpu_request: str = "50m") -> str:
    script = (
        "import os, time\n"
        f"end = time.time() + {BURN_SECONDS}\n"
        f"while time.time() < end and not os.path.exists({str(stop_file)!r}): pass\n"
        "time.sleep(3600)\n"
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "burn",
                            "image": "python:3",
                            "command": ["python3", "-c", script],
                            "resources": {"requests": {"cpu": cpu_request, "memory": "32Mi"}},
                        }
                    ],
                },
            },
        },
    }
    return json.dumps(deployment)


def test_kubectl_top_pods_and_node(hpa_cluster: Cluster, ns: str, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    stop.touch()  # no load: an idle pod still has memory
    hpa_cluster.kubectl("apply", "-f", "-", input=burner("idle", ns, stop))
    hpa_cluster.kubectl("rollout", "status", "deployment/idle", "-n", ns, "--timeout=30s")

    def top() -> str:
        result = hpa_cluster.kubectl("top", "pods", "-n", ns, "--no-headers", check=False)
        return result.stdout if result.returncode == 0 else ""

    eventually(top, what="kubectl top pods shows the pod", timeout=20, interval=0.5)
    name, cpu, memory = top().split()
    assert name.startswith("idle-")
    assert cpu.endswith("m") and int(cpu[:-1]) >= 0
    assert (memory.endswith("Mi") and int(memory[:-2]) > 0) or memory.endswith("Ki")

    selected = hpa_cluster.kubectl("top", "pods", "-n", ns, "-l", "app=idle", "--no-headers").stdout
    assert selected.split()[0] == name
    assert "No resources found" in hpa_cluster.kubectl("top", "pods", "-n", ns, "-l", "app=nothing").stderr

    node = hpa_cluster.kubectl("top", "node", "--no-headers").stdout.split()
    assert node[0] and node[1].endswith("m") and node[2].endswith("%")

    raw = json.loads(
        hpa_cluster.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}").stdout
    )
    assert raw["kind"] == "PodMetrics" and raw["metadata"]["labels"]["app"] == "idle"
    assert raw["timestamp"].endswith("Z") and raw["window"].endswith("s")
    assert [c["name"] for c in raw["containers"]] == ["burn"]


def test_hpa_scales_up_under_load_and_back_down(hpa_cluster: Cluster, ns: str, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    hpa_cluster.kubectl("apply", "-f", "-", input=burner("burn", ns, stop))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "burn", "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burn"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }
    started = time.monotonic()
    hpa_cluster.kubectl("apply", "-f", "-", input=json.dumps(hpa))

    def replicas() -> int:
        out = hpa_cluster.kubectl("get", "deployment", "burn", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout
        return int(out or 0)

    eventually(lambda: replicas() > 1, what="scale-up under load", timeout=30, interval=0.5)
    up = time.monotonic() - started
    row = hpa_cluster.kubectl("get", "hpa", "burn", "-n", ns, "--no-headers").stdout
    assert "cpu: " in row and "%/50%" in row
    events = hpa_cluster.kubectl("get", "events", "-n", ns, "--field-selector", "reason=SuccessfulRescale").stdout
    assert "cpu resource utilization (percentage of request) above target" in events

    stop.touch()
    stopped = time.monotonic()
    eventually(lambda: replicas() == 1, what="scale-down once the load stopped", timeout=30, interval=0.5)
    down = time.monotonic() - stopped
    status = json.loads(hpa_cluster.kubectl("get", "hpa", "burn", "-n", ns, "-o", "json").stdout)["status"]
    conditions = {c["type"]: c["reason"] for c in status["conditions"]}
    assert conditions["ScalingActive"] == "ValidMetricFound"
    assert status["lastScaleTime"]
    print(f"\nHPA: scale-up {up:.1f}s after the HPA was created; scale-down {down:.1f}s after the load stopped "
          f"(total {time.monotonic() - started:.1f}s; stop at {stopped - started:.1f}s)")  # fmt: skip
