"""A database left by an older kuberya holds malformed objects: the server's components cope.

The objects are written straight into the storage backend (as an older kuberya, without the
write-time decoding, could have left them), then a real server is started on that data dir. Its
controllers must say once, as Warning events, what they cannot act on, keep reconciling a valid
Deployment, and not fill the log with retries.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from kuberya.storage import SQLiteBackend
from tests.conftest import start_server, stop_server

STAMP = "2025-01-01T00:00:00Z"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": STAMP, "generation": 1}


def _deployment(name: str, replicas: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    }


SEEDS: dict[str, dict[str, Any]] = {
    "/registry/apps/deployments/default/bad": _deployment("bad", "three"),
    "/registry/apps/deployments/default/good": _deployment("good", 1),
    "/registry/core/services/default/badsvc": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("badsvc"),
        "spec": {"selector": "a", "ports": [{"port": "x"}], "clusterIP": "10.96.0.77"},
    },
    "/registry/core/pods/default/badpod": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("badpod"),
        "spec": {"containers": [{"name": 1}]},
        "status": {"phase": "Pending"},
    },
}


async def _seed(path: Path) -> None:
    store = SQLiteBackend(path)
    await store.start()
    try:
        for key, obj in SEEDS.items():
            await store.create(key, json.dumps(obj).encode())
    finally:
        await store.close()


def _warnings(cluster: Any) -> dict[str, list[dict[str, Any]]]:
    events = json.loads(cluster.kubectl("get", "events", "-n", "default", "-o", "json").stdout)["items"]
    found: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e.get("type") == "Warning" and e.get("reason") == "FailedSync":
            found.setdefault(e["involvedObject"]["name"], []).append(e)
    return found


def test_malformed_stored_objects_get_one_warning_and_the_rest_is_reconciled(tmp_path: Path) -> None:
    data_dir = tmp_path / "kuberya"
    data_dir.mkdir()
    asyncio.run(_seed(data_dir / "state.db"))
    cluster = start_server(data_dir, "--runtime", "process")
    try:
        deadline = time.monotonic() + 30
        warned: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline:
            warned = _warnings(cluster)
            if {"bad", "badsvc", "badpod"} <= set(warned):
                break
            time.sleep(0.5)
        assert {"bad", "badsvc", "badpod"} <= set(warned), warned
        assert "spec.replicas" in warned["bad"][0]["message"]
        assert "spec.containers[0].name" in warned["badpod"][0]["message"]
        # The valid Deployment next to them is rolled out as usual.
        deadline = time.monotonic() + 30
        rs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            listing = cluster.kubectl("get", "replicasets", "-n", "default", "-l", "app=good", "-o", "json").stdout
            rs = json.loads(listing)["items"]
            if rs:
                break
            time.sleep(0.5)
        assert [r["spec"]["replicas"] for r in rs] == [1]
        # ...and its pod runs: a malformed Service of its namespace (service links) must not stop it.
        deadline = time.monotonic() + 30
        phases: list[str] = []
        while time.monotonic() < deadline:
            listing = cluster.kubectl("get", "pods", "-n", "default", "-l", "app=good", "-o", "json").stdout
            phases = [p.get("status", {}).get("phase", "") for p in json.loads(listing)["items"]]
            if phases == ["Running"]:
                break
            time.sleep(0.5)
        assert phases == ["Running"]
        time.sleep(3)  # long enough for a retry storm to show, were there one
        again = _warnings(cluster)
        assert len(again["bad"]) == 1, "one Event (a repeat raises its count)"
        assert again["bad"][0].get("count", 1) <= 3, "the retries back off"
        log = (data_dir / "server.log").read_text()
        assert log.count("default/bad'") <= 5, "no retry storm in the log"
        assert "Traceback" not in log
        assert cluster.process.poll() is None, "the server is still up"
    finally:
        stop_server(cluster)
