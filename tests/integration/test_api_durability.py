"""A write the API acknowledged survives ``kill -9`` of the server; a restart keeps every object."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from pathlib import Path

import yaml

from tests.conftest import VENV_KUBECTL, start_server, stop_server


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


OBJECTS = 120
KILL_POINTS = random.Random(20240607).sample(range(1, OBJECTS), 3)
"""After how many of a round's acknowledged objects the server is killed: fixed-seed random."""
SERVER_ARGS = ("--runtime", "process", "--disable", "service-proxy,cluster-dns", "--check-storage", "full")


def test_a_server_killed_at_any_point_starts_clean_with_every_acknowledged_write(tmp_path: Path) -> None:
    """Round after round, kubectl applies objects and the server is killed -9 mid-stream.

    Every restart runs the full storage check (any inconsistency would stop it), and what kubectl
    was told was created or configured is there afterwards, at least as new as acknowledged.
    """
    data = tmp_path / "data"
    acknowledged: dict[str, int] = {}
    """configmap name → the newest round whose apply of it kubectl reported."""
    for round_number, kill_after in enumerate(KILL_POINTS):
        manifest = tmp_path / f"round-{round_number}.yaml"
        manifest.write_text(
            yaml.safe_dump_all(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"c{n}", "namespace": "default"},
                    "data": {"round": str(round_number)},
                }
                for n in range(OBJECTS)
            )
        )
        cluster = start_server(data, *SERVER_ARGS)
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(data / "home")}
        applying = subprocess.Popen(
            [str(VENV_KUBECTL), "apply", "-f", str(manifest)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env,
        )  # fmt: skip
        try:
            assert applying.stdout is not None
            seen = 0
            for line in applying.stdout:
                # "configmap/c7 created" or "… configured": printed once the API answered.
                name, _, outcome = line.strip().partition(" ")
                if outcome in ("created", "configured"):
                    acknowledged[name.removeprefix("configmap/")] = round_number
                seen += 1
                if seen >= kill_after:
                    break
        finally:
            os.kill(cluster.pid, signal.SIGKILL)
            cluster.process.wait()
            applying.kill()
            applying.communicate()  # reaps it and closes its pipe
        assert seen >= kill_after, "kubectl ended before the kill point"
        (data / "ready").unlink(missing_ok=True)

    restarted = start_server(data, *SERVER_ARGS)
    try:
        listed = json.loads(restarted.kubectl("get", "--raw", "/api/v1/namespaces/default/configmaps").stdout)
        rounds = {item["metadata"]["name"]: int(item["data"]["round"]) for item in listed["items"]}
        lost = {name: done for name, done in acknowledged.items() if rounds.get(name, -1) < done}
        assert not lost, f"acknowledged writes lost (name: round): {lost}"
        list_revision = int(listed["metadata"]["resourceVersion"])
        assert all(int(item["metadata"]["resourceVersion"]) <= list_revision for item in listed["items"])
        restarted.kubectl("create", "configmap", "after", "-n", "default")
        after = json.loads(restarted.kubectl("get", "cm", "after", "-n", "default", "-o", "json").stdout)
        assert int(after["metadata"]["resourceVersion"]) > list_revision, "revisions go on after every kill"
    finally:
        stop_server(restarted)
