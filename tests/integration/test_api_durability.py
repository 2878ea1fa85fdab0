"""A write the API acknowledged survives ``kill -9`` of the server; a restart keeps every object."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.integration


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cluster = start_server(data, "--runtime", "process", "--disable", "service-proxy,cluster-dns")
    try:
        cluster.kubectl("create", "namespace", "keep")
        acknowledged = []
        for i in range(15):
            cluster.kubectl("create", "configmap", f"c{i}", "-n", "keep", f"--from-literal=i={i}")
            acknowledged.append(f"c{i}")
        cluster.kubectl("create", "deployment", "web", "-n", "keep", "--image=payment:v1", "--replicas=2")
        before = json.loads(cluster.kubectl("get", "--raw", "/api/v1/namespaces/keep/configmaps").stdout)
        rv_before = int(before["metadata"]["resourceVersion"])
    finally:
        os.kill(cluster.pid, signal.SIGKILL)
        cluster.process.wait()
    (data / "ready").unlink(missing_ok=True)
    restarted = start_server(data, "--runtime", "process", "--disable", "service-proxy,cluster-dns")
    try:
        after = json.loads(restarted.kubectl("get", "--raw", "/api/v1/namespaces/keep/configmaps").stdout)
        names = {item["metadata"]["name"] for item in after["items"]}
        assert set(acknowledged) <= names
        assert {i["metadata"]["uid"] for i in after["items"]} == {i["metadata"]["uid"] for i in before["items"]}
        assert int(after["metadata"]["resourceVersion"]) >= rv_before
        restarted.kubectl("get", "deploy", "web", "-n", "keep")
        # Revisions keep increasing after the restart.
        restarted.kubectl("create", "configmap", "after", "-n", "keep")
        rv = json.loads(restarted.kubectl("get", "cm", "after", "-n", "keep", "-o", "json").stdout)
        assert int(rv["metadata"]["resourceVersion"]) > rv_before
    finally:
        stop_server(restarted)
