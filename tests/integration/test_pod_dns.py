"""Service names resolve in process-runtime pods: on the root pod bridge and on the rootless network.

A pod asks its resolver for a bare Service name (``socket.gethostbyname('payment')``, what
``http://payment:8080`` does): its own ``/etc/resolv.conf`` names the cluster DNS and the
namespace's search path, and the cluster DNS answers with the Service's ClusterIP. On the bridge
the cluster DNS listens on the host's ``10.96.0.10``; a rootless pod's namespace reaches nothing
of the host, so there the cluster DNS answers inside the pod's own namespace. ``kubectl exec``
sees the pod's files too. The only name looked up is the Service's, answered by the cluster DNS
itself: nothing is forwarded anywhere.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberya.runtime.network import PodNetwork
from kuberya.runtime.rootless import RootlessNetwork
from tests.conftest import Cluster, start_server, stop_server

RESOLVER = (
    "import socket, time\n"
    "for attempt in range(10):\n"
    "    try:\n"
    "        print('resolved', socket.gethostbyname('payment'), flush=True)\n"
    "        break\n"
    "    except OSError as e:\n"
    "        print('failed', e, flush=True)\n"
    "        time.sleep(0.5)\n"
    "print(open('/etc/resolv.conf').read(), flush=True)\n"
    "time.sleep(3600)\n"
)


@pytest.fixture(scope="module")
def rootless_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not RootlessNetwork.available():
        pytest.skip("needs unshare, nsenter and user namespaces")
    cluster = start_server(tmp_path_factory.mktemp("kuberya-rootless"), "--runtime", "process", "--rootless-network")
    try:
        yield cluster
    finally:
        stop_server(cluster)


@pytest.fixture(params=["bridge", "rootless"])
def any_cluster(request: pytest.FixtureRequest) -> Cluster:
    """The session's cluster (the process runtime: as root, on the pod bridge), or a rootless one."""
    if request.param == "bridge":
        cluster: Cluster = request.getfixturevalue("cluster")
        if os.geteuid() != 0 or not PodNetwork.available():
            pytest.skip("the session cluster's pods have no network namespace of their own (needs root)")
        return cluster
    rootless: Cluster = request.getfixturevalue("rootless_cluster")
    return rootless


def bridged(cluster: Cluster) -> bool:
    return "--rootless-network" not in cluster.process.args  # type: ignore[operator]


def cluster_dns_is_ours(cluster: Cluster) -> bool:
    """On the host's 10.96.0.10:53, the first kuberya to bind it answers: another cluster may hold it."""
    return "dns: cannot listen on 10.96.0.10:53" not in (cluster.data_dir / "server.log").read_text(errors="replace")


def test_a_pod_resolves_a_service_by_its_name(any_cluster: Cluster) -> None:
    k = any_cluster.kubectl
    namespace = f"dns-{uuid.uuid4().hex[:8]}"
    k("create", "namespace", namespace)
    try:
        k("create", "service", "clusterip", "payment", "--tcp=8080:8080", "-n", namespace)
        cluster_ip = json.loads(k("get", "svc", "payment", "-n", namespace, "-o", "json").stdout)["spec"]["clusterIP"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client", "namespace": namespace},
            "spec": {"containers": [{"name": "client", "image": "client:v1", "command": ["python3", "-c", RESOLVER]}]},
        }
        k("apply", "-f", "-", input=json.dumps(pod))
        k("wait", "--for=condition=Ready", "pod/client", "-n", namespace, "--timeout=60s", timeout=90)
        if bridged(any_cluster) and not cluster_dns_is_ours(any_cluster):  # known by now: the DNS has started
            pytest.skip("another kuberya on this machine answers on 10.96.0.10:53")

        deadline = time.monotonic() + 30
        logs: list[str] = []
        while time.monotonic() < deadline:
            logs = k("logs", "client", "-n", namespace, check=False).stdout.splitlines()
            if any(line.startswith("nameserver") for line in logs):
                break
            time.sleep(0.3)
        assert f"resolved {cluster_ip}" in logs, logs
        assert "failed" not in " ".join(logs)  # the first query already had an answer
        assert "nameserver 10.96.0.10" in logs
        assert f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local" in logs
        assert "options ndots:5" in logs

        # kubectl exec joins the container's namespaces: the pod's hosts file, hostname and resolver.
        pod_ip = json.loads(k("get", "pod", "client", "-n", namespace, "-o", "json").stdout)["status"]["podIP"]
        hosts = k("exec", "client", "-n", namespace, "--", "cat", "/etc/hosts").stdout
        assert hosts.startswith("# Kubernetes-managed hosts file.") and f"{pod_ip}\tclient" in hosts.splitlines()
        assert k("exec", "client", "-n", namespace, "--", "hostname").stdout.strip() == "client"
        lookup = "import socket; print(socket.gethostbyname('payment'))"
        assert k("exec", "client", "-n", namespace, "--", "python3", "-c", lookup).stdout.strip() == cluster_ip
    finally:
        k("delete", "namespace", namespace, "--wait=false", check=False)


def test_the_hosts_own_files_are_untouched(any_cluster: Cluster) -> None:
    """Only the pods see their files: the host keeps its own resolv.conf and hosts."""
    before = {path: Path(path).read_bytes() for path in ("/etc/hosts", "/etc/resolv.conf")}
    test_a_pod_resolves_a_service_by_its_name(any_cluster)
    assert {path: Path(path).read_bytes() for path in before} == before
