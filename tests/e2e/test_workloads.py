"""Workloads that run and heal, end to end with real kubectl and the process runtime.

Each pod runs ``python3 -m http.server`` (the process runtime uses the pod's command; the image
name is recorded only). As root every pod has its own network namespace, so replicas can all
listen on 8080.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import Cluster
from tests.waiting import eventually

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: {image}
        command: [python3, -m, http.server, "8080"]
        env: [{{name: VERSION, value: "{image}"}}]
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
"""


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict]:  # type: ignore[type-arg]
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    return list(json.loads(out)["items"])


def ready(pod: dict) -> bool:  # type: ignore[type-arg]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def test_deployment_lifecycle(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("apply", "-f", "-", input=WEB.format(name="web", replicas=3, image="payment:v1"))
    k("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    running = pods(cluster, namespace, "app=web")
    assert len(running) == 3 and all(ready(p) for p in running)
    assert all(p["status"]["phase"] == "Running" and p["status"].get("podIP") for p in running)

    k("scale", "deploy/web", "--replicas=5")
    k("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert len(pods(cluster, namespace, "app=web")) == 5
    k("scale", "deploy/web", "--replicas=2")
    eventually(lambda: len(pods(cluster, namespace, "app=web")) == 2, what="scale down to 2", timeout=30)

    k("set", "image", "deploy/web", "web=payment:v2")
    k("annotate", "deploy/web", "kubernetes.io/change-cause=v2 rollout", "--overwrite")
    k("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    images = {p["spec"]["containers"][0]["image"] for p in pods(cluster, namespace, "app=web")}
    eventually(
        lambda: {p["spec"]["containers"][0]["image"] for p in pods(cluster, namespace, "app=web")} == {"payment:v2"},
        what="old pods gone",
        timeout=30,
    )
    history = k("rollout", "history", "deploy/web").stdout
    assert "1 " in history and "2 " in history
    k("rollout", "undo", "deploy/web")
    k("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    eventually(
        lambda: {p["spec"]["containers"][0]["image"] for p in pods(cluster, namespace, "app=web")} == {"payment:v1"},
        what="rolled back to v1",
        timeout=30,
    )
    k("rollout", "restart", "deploy/web")
    k("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    k("wait", "--for=condition=Available", "deploy/web", "--timeout=30s", timeout=60)
    del images

    victim = pods(cluster, namespace, "app=web")[0]["metadata"]["name"]
    started = time.monotonic()
    k("delete", "pod", victim, timeout=60)
    assert time.monotonic() - started < 10, "kubectl delete pod must return promptly"
    eventually(
        lambda: (
            len([p for p in pods(cluster, namespace, "app=web") if ready(p)]) == 2
            and victim not in [p["metadata"]["name"] for p in pods(cluster, namespace, "app=web")]
        ),
        what="the deleted pod to be replaced",
        timeout=30,
    )

    k("delete", "deploy", "web", timeout=60)
    eventually(lambda: pods(cluster, namespace, "app=web") == [], what="pods collected", timeout=30)
    assert k("get", "rs", "-o", "name").stdout.strip() == ""


CRASHER = """
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo run-$(date +%s%N); exit 3"]
"""


def test_crashing_container_restarts_with_backoff_and_previous_logs(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("apply", "-f", "-", input=CRASHER)

    def restarted_twice() -> bool:
        pod = json.loads(k("get", "pod", "crasher", "-o", "json").stdout)
        statuses = pod.get("status", {}).get("containerStatuses", [])
        return bool(statuses) and statuses[0]["restartCount"] >= 2

    eventually(restarted_twice, timeout=60, what="two restarts")
    pod = json.loads(k("get", "pod", "crasher", "-o", "json").stdout)
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 3
    table = k("get", "pod", "crasher").stdout
    assert "CrashLoopBackOff" in table or "Error" in table or "Running" in table
    previous = k("logs", "crasher", "--previous").stdout
    assert previous.startswith("run-")


LIVENESS = """
apiVersion: v1
kind: Pod
metadata: {name: sick}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "touch /tmp/kuberya-healthy-$POD_UID; sleep 3600"]
    env: [{name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]
    livenessProbe:
      exec: {command: [sh, -c, "test -f /tmp/kuberya-healthy-$POD_UID"]}
      periodSeconds: 1
      failureThreshold: 2
"""


def test_liveness_failure_restarts_the_container(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("apply", "-f", "-", input=LIVENESS)
    eventually(lambda: ready(json.loads(k("get", "pod", "sick", "-o", "json").stdout)), what="sick ready", timeout=30)
    uid = json.loads(k("get", "pod", "sick", "-o", "json").stdout)["metadata"]["uid"]
    Path(f"/tmp/kuberya-healthy-{uid}").unlink()

    def restarted() -> bool:
        pod = json.loads(k("get", "pod", "sick", "-o", "json").stdout)
        return pod["status"]["containerStatuses"][0]["restartCount"] >= 1

    eventually(restarted, timeout=30, what="liveness restart")
    events = k("get", "events", "--field-selector", "involvedObject.name=sick", "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert "Unhealthy" in reasons and "Killing" in reasons
    Path(f"/tmp/kuberya-healthy-{uid}").unlink(missing_ok=True)


def test_exec_and_logs_follow(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    cluster.kubectl(
        "-n",
        namespace,
        "run",
        "talker",
        "--image=busybox",
        "--command",
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done",
    )
    eventually(
        lambda: json.loads(k("get", "pod", "talker", "-o", "json").stdout)["status"].get("phase") == "Running",
        what="talker running",
        timeout=30,
    )
    result = cluster.kubectl("-n", namespace, "exec", "talker", "--", "sh", "-c", "echo inside; exit 4", check=False)
    assert result.returncode == 4 and "inside" in result.stdout
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir / "home")}
    proc = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "kubectl"), "logs", "-f", "talker", "-n", namespace],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert all(line.startswith("tick-") for line in lines), lines
