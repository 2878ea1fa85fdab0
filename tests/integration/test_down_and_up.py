"""`kuberya down` stops the pods; `kuberya down --keep-pods` leaves them for the next `up` to adopt."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import Cluster, start_server, stop_server

POD = """
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
"""


def running_container(cluster: Cluster) -> tuple[str, int]:
    """Wait for the pod to run; return its containerID and the pid of its process."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pod = json.loads(cluster.kubectl("get", "pod", "sleeper", "-o", "json").stdout)
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if statuses and statuses[0].get("state", {}).get("running"):
            container_id = statuses[0]["containerID"].split("://", 1)[1]
            started_file = cluster.data_dir / "runtime" / "containers" / container_id / "started.json"
            if not started_file.exists():  # the status still names a container of the last run
                time.sleep(0.2)
                continue
            started = json.loads(started_file.read_text())
            return statuses[0]["containerID"], int(started["pid"])
        time.sleep(0.2)
    raise AssertionError("the pod did not start")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def test_down_stops_pods_and_keep_pods_keeps_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cluster = start_server(data, "--runtime", "process", "--disable", "service-proxy,cluster-dns")
    try:
        cluster.kubectl("apply", "-f", "-", input=POD)
        first_id, first_pid = running_container(cluster)
    finally:
        stop_server(cluster)
    assert not alive(first_pid), "kuberya down must stop the pods' containers"

    cluster = start_server(data, "--runtime", "process", "--disable", "service-proxy,cluster-dns")
    try:
        second_id, second_pid = running_container(cluster)
        assert second_id != first_id, "the next up starts the pod again"
        (data / "keep-pods").write_text("")  # what `kuberya down --keep-pods` writes
    finally:
        stop_server(cluster)
    assert alive(second_pid), "--keep-pods leaves the containers running"

    cluster = start_server(data, "--runtime", "process", "--disable", "service-proxy,cluster-dns")
    try:
        third_id, third_pid = running_container(cluster)
        assert (third_id, third_pid) == (second_id, second_pid), "the running container is adopted, not restarted"
        cluster.kubectl("delete", "pod", "sleeper", "--grace-period=1")
    finally:
        stop_server(cluster)
    assert not alive(third_pid)
