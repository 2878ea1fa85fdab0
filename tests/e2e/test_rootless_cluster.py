"""A cluster whose pods have the rootless network: three replicas on one port, behind a NodePort.

The server is started with the hidden ``--rootless-network`` (this machine runs the tests as root,
where the bridge would be chosen): each pod gets its own user + network namespace and a 127.1.x.y
address, so three replicas all listen on 8080, pass their httpGet readiness probe on their pod IP
and answer through a NodePort on 127.0.0.1 served by the userspace proxy.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from kuberya.runtime.rootless import RootlessNetwork
from tests.conftest import Cluster, start_server, stop_server

pytestmark = [
    pytest.mark.skipif(not RootlessNetwork.available(), reason="needs unshare, nsenter and user namespaces"),
]

SERVER = (
    "import http.server, os\n"
    "class Who(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['HOSTNAME'].encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), Who).serve_forever()\n"
)

MANIFESTS = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "who"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "who"}},
            "template": {
                "metadata": {"labels": {"app": "who"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "who",
                            "image": "who:v1",
                            "command": ["python3", "-c", SERVER],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "who"},
        "spec": {"type": "NodePort", "selector": {"app": "who"}, "ports": [{"port": 8080, "targetPort": "http"}]},
    },
]


@pytest.fixture
def rootless_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_server(tmp_path / "kuberya", "--runtime", "process", "--rootless-network")
    try:
        yield cluster
    finally:
        stop_server(cluster)


def processes_naming(path: Path) -> list[int]:
    """Live processes whose command line names ``path`` (namespace holders, shims of one cluster)."""
    marker = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def holders_of(data_dir: Path) -> list[int]:
    """This cluster's rootless namespace holders."""
    return processes_naming(data_dir / "runtime" / "rootless-network")


def test_three_replicas_on_one_port_behind_a_node_port(rootless_cluster: Cluster) -> None:
    k = rootless_cluster.kubectl
    for manifest in MANIFESTS:
        k("apply", "-f", "-", input=json.dumps(manifest))
    k("rollout", "status", "deploy/who", "--timeout=60s", timeout=90)
    pods = json.loads(k("get", "pods", "-l", "app=who", "-o", "json").stdout)["items"]
    assert len(pods) == 3
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and all(ip_address(ip) in ip_network("127.1.0.0/16") for ip in ips)
    names = {p["metadata"]["name"] for p in pods}
    assert len(holders_of(rootless_cluster.data_dir)) == 3

    node_port = json.loads(k("get", "svc", "who", "-o", "json").stdout)["spec"]["ports"][0]["nodePort"]
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while seen != names and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node_port}/", timeout=5) as response:
                seen.add(response.read().decode())
        except OSError:
            time.sleep(0.2)
    assert seen == names

    stop_server(rootless_cluster)  # stops every pod: holders end with their sandboxes
    deadline = time.monotonic() + 10
    while holders_of(rootless_cluster.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not holders_of(rootless_cluster.data_dir)


CALLER = (
    "import os, time, urllib.request\n"
    "url = f\"http://{os.environ['WHO_SERVICE_HOST']}:{os.environ['WHO_SERVICE_PORT']}/\"\n"
    "for _ in range(30):\n"
    "    try:\n"
    "        print('answer', urllib.request.urlopen(url, timeout=5).read().decode(), flush=True)\n"
    "    except OSError as e:\n"
    "        print('failed', e, flush=True)\n"
    "    time.sleep(0.1)\n"
    "time.sleep(3600)\n"
)


def test_a_rootless_pod_reaches_a_service_by_its_cluster_ip(rootless_cluster: Cluster) -> None:
    """A rootless pod's one way out: ``WHO_SERVICE_HOST:WHO_SERVICE_PORT``, spread over the replicas."""
    k = rootless_cluster.kubectl
    for manifest in MANIFESTS:
        k("apply", "-f", "-", input=json.dumps(manifest))
    k("rollout", "status", "deploy/who", "--timeout=60s", timeout=90)
    names = {p["metadata"]["name"] for p in json.loads(k("get", "pods", "-l", "app=who", "-o", "json").stdout)["items"]}
    caller = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "caller"},
        "spec": {"containers": [{"name": "caller", "image": "caller:v1", "command": ["python3", "-c", CALLER]}]},
    }
    k("apply", "-f", "-", input=json.dumps(caller))
    deadline = time.monotonic() + 60
    answers: list[str] = []
    while time.monotonic() < deadline:
        logs = k("logs", "caller", check=False).stdout.splitlines()
        answers = [line.split(" ", 1)[1] for line in logs if line.startswith("answer ")]
        if len(answers) + sum(line.startswith("failed") for line in logs) >= 30:
            break
        time.sleep(0.5)
    assert len(answers) == 30, logs
    assert set(answers) == names  # every replica answered: the Service balanced, not one pod's relay
