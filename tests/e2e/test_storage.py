"""Storage that keeps data, end to end: claims through the built-in ``local-path`` provisioner.

Each test starts a server of its own (process runtime), because what must hold is what outlives
the server: data written through a claim survives a container restart, the pod being deleted and
made again, ``kill -9`` of the server and ``down`` + ``up``; a StatefulSet's pods get their own
claims back across a rolling update; the reclaim policy decides whether a released volume's
directory goes (Delete) or stays (Retain).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.conftest import Cluster, start_server, stop_server
from tests.waiting import eventually

SERVER_ARGS = ("--runtime", "process", "--disable", "service-proxy,cluster-dns")

CLAIM = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 16Mi}}}}
{extra}
"""

# Appends a line per start, so the log counts the container's starts across everything.
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo start-$(cat /proc/sys/kernel/random/uuid) >> /data/log; sleep 3600"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: {claim}}}
"""


def get(cluster: Cluster, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-o", "json").stdout)


def running(cluster: Cluster, pod: str, after: str = "") -> tuple[str, int]:
    """Wait for ``pod``'s container to run (another one than ``after``); return its id and pid."""

    def check() -> tuple[str, int]:
        status = get(cluster, "pod", pod)["status"]
        state = status["containerStatuses"][0]
        assert state["state"].get("running"), state
        container_id = state["containerID"].split("://", 1)[1]
        assert container_id != after
        started = json.loads((cluster.data_dir / "runtime" / "containers" / container_id / "started.json").read_text())
        return container_id, int(started["pid"])

    return eventually(check, timeout=60, what=f"pod {pod} running")


def bound_volume(cluster: Cluster, claim: str) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        pvc = get(cluster, "pvc", claim)
        assert pvc["status"].get("phase") == "Bound", pvc["status"]
        return dict(get(cluster, "pv", pvc["spec"]["volumeName"]))

    return eventually(check, timeout=60, what=f"claim {claim} Bound")


def log_lines(cluster: Cluster, pod: str) -> list[str]:
    return cluster.kubectl("exec", pod, "--", "cat", "/data/log").stdout.split()


def test_claim_keeps_its_data_through_restarts_deletion_kill_and_down_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cluster = start_server(data, *SERVER_ARGS)
    try:
        cluster.kubectl("apply", "-f", "-", input=CLAIM.format(name="data", extra=""))
        pvc = get(cluster, "pvc", "data")
        assert pvc["spec"]["storageClassName"] == "local-path", "a claim without a class gets the default"
        assert pvc["status"]["phase"] == "Pending", "WaitForFirstConsumer: nothing is made before a pod"

        cluster.kubectl("apply", "-f", "-", input=POD.format(name="writer", claim="data"))
        container_id, pid = running(cluster, "writer")
        pv = bound_volume(cluster, "data")
        directory = Path(pv["spec"]["hostPath"]["path"])
        assert directory.parent == data / "volumes", "a local-path volume is a directory under the data dir"
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        eventually(lambda: len(log_lines(cluster, "writer")) == 1, what="the first start's line")
        assert (directory / "log").read_text().count("start-") == 1, "the pod wrote into the volume's directory"

        os.kill(pid, signal.SIGKILL)  # the container dies; the kubelet restarts it in the same pod
        running(cluster, "writer", after=container_id)
        eventually(lambda: len(log_lines(cluster, "writer")) == 2, timeout=60, what="the restart's line")

        cluster.kubectl("delete", "pod", "writer", "--grace-period=1")
        cluster.kubectl("apply", "-f", "-", input=POD.format(name="reader", claim="data"))
        running(cluster, "reader")
        eventually(lambda: len(log_lines(cluster, "reader")) == 3, what="a new pod reads the same volume")
        first = log_lines(cluster, "reader")

        cluster.process.send_signal(signal.SIGKILL)  # the server dies without a word
        cluster.process.wait()
    finally:
        stop_server(cluster)

    cluster = start_server(data, *SERVER_ARGS)
    try:
        assert bound_volume(cluster, "data")["metadata"]["name"] == pv["metadata"]["name"]
        eventually(lambda: log_lines(cluster, "reader")[:3] == first, timeout=60, what="the data after kill -9")
    finally:
        stop_server(cluster)

    cluster = start_server(data, *SERVER_ARGS)
    try:
        assert bound_volume(cluster, "data")["metadata"]["name"] == pv["metadata"]["name"]
        eventually(lambda: log_lines(cluster, "reader")[:3] == first, timeout=60, what="the data after down + up")

        # Reclaim Delete: once no pod uses the claim and it is deleted, the volume and its directory go.
        cluster.kubectl("delete", "pod", "reader", "--grace-period=1")
        cluster.kubectl("delete", "pvc", "data", "--timeout=60s", timeout=90)
        eventually(
            lambda: cluster.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode != 0,
            timeout=60,
            what="the PV deleted",
        )
        assert not directory.exists(), "reclaim Delete removes the volume's directory"
    finally:
        stop_server(cluster)


RETAIN_CLASS = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: keep}
provisioner: kuberya.io/local-path
reclaimPolicy: Retain
volumeBindingMode: Immediate
"""


def test_retain_keeps_the_directory_and_releases_the_volume(tmp_path: Path) -> None:
    cluster = start_server(tmp_path / "data", *SERVER_ARGS)
    try:
        cluster.kubectl("apply", "-f", "-", input=RETAIN_CLASS)
        cluster.kubectl("apply", "-f", "-", input=CLAIM.format(name="kept", extra="  storageClassName: keep"))
        pv = bound_volume(cluster, "kept")  # Immediate: bound with no pod at all
        directory = Path(pv["spec"]["hostPath"]["path"])
        assert directory.is_dir()
        (directory / "precious").write_text("keep me")
        cluster.kubectl("delete", "pvc", "kept", "--timeout=60s", timeout=90)

        def released() -> bool:
            return bool(get(cluster, "pv", pv["metadata"]["name"])["status"]["phase"] == "Released")

        eventually(released, timeout=60, what="the PV Released")
        time.sleep(1)  # a wrongly running deleter would have acted by now
        assert (directory / "precious").read_text() == "keep me", "Retain never deletes the data"
    finally:
        stop_server(cluster)


def test_unknown_class_stays_pending_with_an_event_naming_it(tmp_path: Path) -> None:
    cluster = start_server(tmp_path / "data", *SERVER_ARGS)
    try:
        cluster.kubectl("apply", "-f", "-", input=CLAIM.format(name="lost", extra="  storageClassName: nope"))

        def event() -> str:
            events = get(cluster, "events", "--field-selector", "involvedObject.name=lost")["items"]
            messages = " ".join(e["message"] for e in events)
            assert '"nope"' in messages, messages
            return messages

        eventually(event, timeout=30, what="an event naming the class")
        assert get(cluster, "pvc", "lost")["status"]["phase"] == "Pending"
        assert get(cluster, "pv")["items"] == [], "nothing half-made"
    finally:
        stop_server(cluster)


STATEFULSET = """
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{clusterIP: None, selector: {{app: web}}, ports: [{{port: 80}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: web
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        env: [{{name: ROUND, value: "{round}"}}]
        # The first start of each ordinal records who it was; later ones only add their round.
        command: [sh, -c, "[ -f /data/id ] || hostname > /data/id; echo $ROUND >> /data/rounds; sleep 3600"]
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 8Mi}}}}
"""


def test_statefulset_pods_keep_their_own_claims_across_a_rolling_update(tmp_path: Path) -> None:
    cluster = start_server(tmp_path / "data", *SERVER_ARGS)
    try:
        cluster.kubectl("apply", "-f", "-", input=STATEFULSET.format(round="one"))
        cluster.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=120)
        claims = {c["metadata"]["name"]: c for c in get(cluster, "pvc")["items"]}
        assert sorted(claims) == ["data-web-0", "data-web-1", "data-web-2"]
        assert all(c["status"]["phase"] == "Bound" for c in claims.values())
        volumes = {name: c["spec"]["volumeName"] for name, c in claims.items()}

        cluster.kubectl("apply", "-f", "-", input=STATEFULSET.format(round="two"))
        cluster.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=120)
        for ordinal in range(3):
            pod = f"web-{ordinal}"
            assert cluster.kubectl("exec", pod, "--", "cat", "/data/id").stdout.strip() == pod
            rounds = cluster.kubectl("exec", pod, "--", "cat", "/data/rounds").stdout.split()
            assert rounds[0] == "one" and rounds[-1] == "two", rounds
        after = {c["metadata"]["name"]: c["spec"]["volumeName"] for c in get(cluster, "pvc")["items"]}
        assert after == volumes, "a rolling update keeps every claim and its volume"
    finally:
        stop_server(cluster)
