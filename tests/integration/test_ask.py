"""``kuberya ask`` through the real command line against a real server (controllers, node agent, process runtime).

Each test gets its own namespace by giving the CLI a kubeconfig whose context names that namespace
— so the requests are typed exactly as a user would ("쿠버야 payment 앱을 3개 실행해줘"), with no
"in namespace" — and a stdin that is not a terminal, as in any script. Pods started from an image
alone cannot run on the process runtime (it needs a command), so the readiness test first creates
a runnable Deployment with kubectl and then asks to scale it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster

RUNNABLE = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment
spec:
  replicas: 2
  selector: {matchLabels: {app: payment}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: payment}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: payment
        image: payment:v1
        command: [python3, -m, http.server, "0", --bind, 127.0.0.1]
"""


class Ask:
    def __init__(self, cluster: Cluster, namespace: str, tmp: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.tmp = tmp
        doc = yaml.safe_load(cluster.kubeconfig.read_text())
        for entry in doc["contexts"]:
            entry["context"]["namespace"] = namespace
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(doc))
        (tmp / "home").mkdir(exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERYA_", "KUBECONFIG"))}
        return {**base, "HOME": str(self.tmp / "home"), "KUBECONFIG": str(self.kubeconfig),
                "KUBERYA_DATA_DIR": str(self.cluster.data_dir), **extra}  # fmt: skip

    def __call__(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from kuberya.cli.main import main; main()", *args],
            capture_output=True, text=True, env=self.env(**env), timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.cluster.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture
def ask(cluster: Cluster, namespace: str, tmp_path: Path) -> Ask:
    return Ask(cluster, namespace, tmp_path)


def test_run_app_in_korean_creates_a_deployment(ask: Ask) -> None:
    result = ask("ask", "--yes", "--no-wait", "쿠버야 payment 앱을 3개 실행해줘")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "→ payment 앱 3개 실행" in result.stdout
    assert "kubectl create deployment payment --image=payment:latest --replicas=3" in result.stdout
    deployment = ask.get("deployment", "payment")
    assert deployment is not None and deployment["spec"]["replicas"] == 3


def test_run_one_pod(ask: Ask) -> None:
    result = ask("ask", "--no-wait", "쿠버야 marvel-collection 파드 1개 실행해 줘")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "kubectl run marvel-collection" in result.stdout
    pod = ask.get("pod", "marvel-collection")
    assert pod is not None and pod["metadata"]["labels"] == {"run": "marvel-collection"}


def test_scale_waits_until_ready_then_down_stop_and_rollback(ask: Ask) -> None:
    ask.cluster.kubectl("apply", "-n", ask.namespace, "-f", "-", input=RUNNABLE)
    ask.cluster.kubectl("rollout", "status", "-n", ask.namespace, "deploy/payment", "--timeout=60s", timeout=90)

    result = ask("ask", "payment 5개로 늘려줘", "--timeout", "60s")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "payment 5개 준비 완료" in result.stdout
    deployment = ask.get("deployment", "payment")
    assert deployment is not None and deployment["status"].get("readyReplicas") == 5

    result = ask("ask", "--no-wait", "payment 3개로 줄여줘")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "5 → 3" in result.stdout

    ask.cluster.kubectl("set", "image", "-n", ask.namespace, "deploy/payment", "payment=payment:v2")
    result = ask("ask", "payment 롤백해줘", "--timeout", "60s")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "kubectl rollout undo deployment/payment" in result.stdout
    deployment = ask.get("deployment", "payment")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "payment:v1"

    result = ask("ask", "stop payment")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "payment scaled to zero" in result.stdout
    deployment = ask.get("deployment", "payment")
    assert deployment is not None and deployment["spec"]["replicas"] == 0


def test_delete_refuses_without_yes_and_without_a_terminal(ask: Ask) -> None:
    assert ask("ask", "--yes", "--no-wait", "run 1 payment app").returncode == 0
    result = ask("ask", "delete payment")
    assert result.returncode == 2
    assert "--yes" in result.stdout + result.stderr
    assert ask.get("deployment", "payment") is not None  # nothing deleted

    result = ask("ask", "--yes", "delete payment")
    assert result.returncode == 0, result.stderr + result.stdout
    deadline = time.monotonic() + 10
    while ask.get("deployment", "payment") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ask.get("deployment", "payment") is None


def test_dry_run_changes_nothing(ask: Ask) -> None:
    result = ask("ask", "--dry-run", "쿠버야 payment 앱을 3개 실행해줘")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "kubectl create deployment payment" in result.stdout
    assert ask.get("deployment", "payment") is None


def test_json_output_is_valid_json(ask: Ask) -> None:
    result = ask("ask", "-o", "json", "쿠버야 payment 앱을 3개 실행해줘")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["steps"][0]["operation"]["verb"] == "create"
    assert ask.get("deployment", "payment") is None

    result = ask("ask", "-o", "json", "--yes", "--no-wait", "run 2 payment apps")
    doc = json.loads(result.stdout)
    assert result.returncode == 0 and doc["results"][0]["result"] == "created"


def test_nonsense_exits_non_zero_with_suggestions(ask: Ask) -> None:
    result = ask("ask", "오늘 날씨 어때?")
    assert result.returncode != 0
    assert 'kuberya ask "' in result.stderr


def test_context_option_and_the_local_fallback(ask: Ask) -> None:
    assert ask("ask", "--yes", "--no-wait", "run 1 payment app").returncode == 0
    for args in (("ask", "--context", "kuberya", "show me the deployments"),
                 ("--context", "kuberya", "ask", "show me the deployments")):  # fmt: skip
        result = ask(*args)
        assert result.returncode == 0, result.stderr + result.stdout
        assert "payment" in result.stdout
    # No user kubeconfig at all: the data dir's own kubeconfig is used (its namespace: default).
    result = ask("ask", "파드 목록 보여줘", KUBECONFIG=str(ask.tmp / "missing"))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "$ kubectl get pods" in result.stdout
    result = ask("ask", "--context", "nowhere", "show me the pods")
    assert result.returncode == 1 and "no kubeconfig context named 'nowhere'" in result.stderr


# -- the workloads: Job, CronJob, StatefulSet, and the node ------------------------------------


def served(ask: Ask, resource: str) -> bool:
    result = ask.cluster.kubectl("api-resources", "-o", "name", check=False)
    return resource in result.stdout.split()


def test_a_job_runs_to_completion(ask: Ask) -> None:
    if not served(ask, "jobs.batch"):
        pytest.xfail("batch/v1 jobs are not served yet")
    result = ask("ask", "--yes", "hello 잡 한 번 실행해줘 -- sh -c 'echo hi; exit 0'")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "kubectl create job hello --image=hello:latest -- sh -c 'echo hi; exit 0'" in result.stdout
    assert "잡 hello 완료" in result.stdout  # ask waited for the Complete condition
    job = ask.get("job", "hello")
    assert job is not None and job["status"].get("succeeded") == 1
    pods = ask.cluster.kubectl("logs", "-n", ask.namespace, "job/hello")
    assert pods.stdout.strip() == "hi"


def test_a_cronjob_is_stored_with_the_schedule_said(ask: Ask) -> None:
    if not served(ask, "cronjobs.batch"):
        pytest.xfail("batch/v1 cronjobs are not served yet")
    result = ask("ask", "--yes", "매주 월요일 오전 9시 30분에 report 돌려줘 -- echo weekly")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "매주 월요일 09:30" in result.stdout
    assert "--schedule='30 9 * * 1'" in result.stdout
    cronjob = ask.get("cronjob", "report")
    assert cronjob is not None and cronjob["spec"]["schedule"] == "30 9 * * 1"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["echo", "weekly"]


def test_a_statefulset_comes_with_its_headless_service(ask: Ask) -> None:
    if not served(ask, "statefulsets.apps"):
        pytest.xfail("apps/v1 statefulsets are not served yet")
    result = ask("ask", "--yes", "run 2 redis in order on port 6379")
    assert result.returncode == 0, result.stderr + result.stdout
    service = ask.get("service", "redis")
    assert service is not None and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["port"] == 6379
    statefulset = ask.get("statefulset", "redis")
    assert statefulset is not None
    assert (statefulset["spec"]["serviceName"], statefulset["spec"]["replicas"]) == ("redis", 2)
    assert statefulset["spec"]["podManagementPolicy"] == "OrderedReady"


def test_cordon_and_uncordon_the_node(ask: Ask) -> None:
    nodes = json.loads(ask.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    name = nodes[0]["metadata"]["name"]
    try:
        result = ask("ask", "노드 cordon 해줘")
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"kubectl cordon {name}" in result.stdout
        node = json.loads(ask.cluster.kubectl("get", "node", name, "-o", "json").stdout)
        assert node["spec"].get("unschedulable") is True

        result = ask("ask", "uncordon the node")
        assert result.returncode == 0, result.stderr + result.stdout
        node = json.loads(ask.cluster.kubectl("get", "node", name, "-o", "json").stdout)
        assert not node["spec"].get("unschedulable")
    finally:
        ask.cluster.kubectl("uncordon", name, check=False)


def test_drain_is_refused_without_yes(ask: Ask) -> None:
    # A real drain would evict every other test's pods from the shared session node: only the refusal here.
    result = ask("ask", "노드 비워줘")
    assert result.returncode == 2, result.stderr + result.stdout
    assert "kubectl drain" in result.stdout
    node = json.loads(ask.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    assert not node["spec"].get("unschedulable")
