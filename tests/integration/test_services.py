"""Services end to end: a real server, real kubectl, the controllers and the proxy in it.

Pods here name a node nobody runs (``spec.nodeName: elsewhere``) so that no node agent touches
them: the test plays the kubelet by patching ``pods/status`` itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.integration


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def get_json(cluster: Cluster, *args: str) -> Any:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: shop}}}}
spec:
  nodeName: elsewhere
  containers: [{{name: c, image: shop:v1, ports: [{{name: web, containerPort: {port}}}]}}]
"""


def make_pod(cluster: Cluster, ns: str, name: str, *, ip: str, ready: bool, port: int = 8080) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=POD.format(name=name, port=port))
    status = {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
    }
    cluster.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps(status))


def test_expose_gives_a_cluster_ip_service_with_upstream_columns(cluster: Cluster, namespace: str) -> None:
    k = lambda *a: cluster.kubectl(*a, "-n", namespace)  # noqa: E731
    k("create", "deployment", "payment", "--image=payment:v1", "--port=8080")
    k("expose", "deployment", "payment", "--port=80", "--target-port=8080")
    svc = get_json(cluster, "svc", "payment", "-n", namespace)
    assert svc["spec"]["clusterIP"].startswith("10.96.")
    assert svc["spec"]["selector"] == {"app": "payment"}
    header, row = k("get", "svc", "payment").stdout.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert row.split()[:5] == ["payment", "ClusterIP", svc["spec"]["clusterIP"], "<none>", "80/TCP"]


def test_endpoints_and_slices_follow_pod_readiness(cluster: Cluster, namespace: str) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("create", "service", "clusterip", "shop", "--tcp=80:web")
    k("patch", "service", "shop", "--type=merge", "-p", json.dumps({"spec": {"selector": {"app": "shop"}}}))
    make_pod(cluster, namespace, "shop-a", ip="10.88.200.2", ready=True)
    make_pod(cluster, namespace, "shop-b", ip="10.88.200.3", ready=False)
    make_pod(cluster, namespace, "shop-c", ip="10.88.200.4", ready=True, port=9090)

    def endpoints() -> Any:
        ep = get_json(cluster, "endpoints", "shop", "-n", namespace)
        if not ep or len(ep.get("subsets") or []) != 2:
            return None
        return ep

    ep = wait_for("Endpoints with two subsets", endpoints)
    by_port = {s["ports"][0]["port"]: s for s in ep["subsets"]}
    assert [a["ip"] for a in by_port[8080]["addresses"]] == ["10.88.200.2"]
    assert [a["ip"] for a in by_port[8080]["notReadyAddresses"]] == ["10.88.200.3"]
    assert [a["ip"] for a in by_port[9090]["addresses"]] == ["10.88.200.4"]
    ref = by_port[8080]["addresses"][0]["targetRef"]
    assert (ref["kind"], ref["name"], ref["namespace"]) == ("Pod", "shop-a", namespace)
    assert by_port[8080]["addresses"][0]["nodeName"] == "elsewhere"

    def slices() -> Any:
        found = get_json(cluster, "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=shop")
        items = (found or {}).get("items") or []
        return items if sum(len(s.get("endpoints") or []) for s in items) == 3 else None

    items = wait_for("EndpointSlices with three endpoints", slices)
    conditions = {e["addresses"][0]: e["conditions"] for s in items for e in s["endpoints"]}
    assert conditions["10.88.200.2"] == {"ready": True, "serving": True, "terminating": False}
    assert conditions["10.88.200.3"] == {"ready": False, "serving": False, "terminating": False}
    for s in items:
        assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
        assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"

    # Readiness flips: b moves from notReadyAddresses to addresses.
    cluster.kubectl("patch", "pod", "shop-b", "-n", namespace, "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}))  # fmt: skip

    def b_ready() -> bool:
        ep = get_json(cluster, "endpoints", "shop", "-n", namespace) or {}
        return any(a["ip"] == "10.88.200.3" for s in ep.get("subsets") or [] for a in s.get("addresses") or [])

    wait_for("shop-b ready in Endpoints", b_ready)
    described = k("describe", "service", "shop").stdout
    assert "10.88.200.2:8080" in described or "10.88.200.2" in described


def test_load_balancer_shows_external_ip(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "service", "loadbalancer", "front", "--tcp=18080:8080", "-n", namespace)

    def external_ip() -> Any:
        row = cluster.kubectl("get", "svc", "front", "-n", namespace).stdout.splitlines()[1].split()
        return row if row[3] == "127.0.0.1" else None

    row = wait_for("EXTERNAL-IP 127.0.0.1", external_ip)
    assert row[1] == "LoadBalancer" and row[4].startswith("18080:3")


class _Hello(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello from the backend\n")


@pytest.fixture
def backend() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_node_port_forwards_to_a_manual_endpoint_slice(cluster: Cluster, namespace: str, backend: int) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "manual"},
        "spec": {"type": "NodePort", "ports": [{"name": "web", "port": 80, "protocol": "TCP"}]},
    }
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "manual-1", "labels": {"kubernetes.io/service-name": "manual"}},
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": backend, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }
    for obj in (service, endpoint_slice):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
    node_port = get_json(cluster, "svc", "manual", "-n", namespace)["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767

    def answer() -> bytes | None:
        try:
            with socket.create_connection(("127.0.0.1", node_port), timeout=2) as conn:
                return conn.recv(100) or None
        except OSError:
            return None

    assert wait_for("an answer through the NodePort", answer) == b"hello from the backend\n"


NETNS_CLIENT = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
    print(conn.recv(100).decode().strip())
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (netns, veth, links)")
def test_a_pod_network_namespace_reaches_a_cluster_ip_through_its_default_route(backend: int) -> None:
    """The routing claim of kuberya.proxy.netdev, with a netns + veth of our own as the 'pod'."""
    import asyncio

    from kuberya.proxy.netdev import ServiceAddressDevice
    from kuberya.proxy.table import Endpoint, ServicePort
    from kuberya.proxy.userspace import UserspaceProxy

    suffix = uuid.uuid4().hex[:4]
    netns, host_if, pod_if = f"kuberya-t{suffix}", f"kuberya-h{suffix}", f"kuberya-p{suffix}"
    vip = "10.96.254.1"

    def sh(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True)

    async def scenario() -> str:
        device = ServiceAddressDevice(f"kuberya-s{suffix}")
        proxy = UserspaceProxy()
        try:
            await device.ensure()
            await device.sync([vip])
            entry = ServicePort(service="t/web", port_name="", protocol="TCP", cluster_ip=vip, port=80,
                                endpoints=(Endpoint("127.0.0.1", backend),))  # fmt: skip
            await proxy.apply({entry.key: entry}, node_port_hosts=(), cluster_ips=True)
            process = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", netns, sys.executable, "-c", NETNS_CLIENT, vip, "80",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 10)
            assert process.returncode == 0, err.decode()
            return out.decode().strip()
        finally:
            await proxy.close(drain=0.1)
            await device.release()

    sh("ip", "netns", "add", netns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        sh("ip", "link", "set", pod_if, "netns", netns)
        sh("ip", "addr", "add", "10.99.1.1/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", netns, "ip", "addr", "add", "10.99.1.2/30", "dev", pod_if)
        sh("ip", "netns", "exec", netns, "ip", "link", "set", pod_if, "up")
        sh("ip", "netns", "exec", netns, "ip", "route", "add", "default", "via", "10.99.1.1")
        assert asyncio.run(scenario()) == "hello from the backend"
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


UDP_ECHO = """
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = server.recvfrom(2048)
    server.sendto(b"echo " + data, peer)
"""

UDP_APP = """
apiVersion: v1
kind: Pod
metadata: {{name: udp-echo, labels: {{app: udp-echo}}}}
spec:
  containers:
  - name: echo
    image: udp-echo:v1
    command: [{python}, "-c", {script}, "5353"]
---
apiVersion: v1
kind: Service
metadata: {{name: udp-echo}}
spec:
  type: NodePort
  selector: {{app: udp-echo}}
  ports: [{{name: dns, port: 5300, targetPort: 5353, protocol: UDP}}]
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("nft"),
    reason="UDP Services are forwarded by nftables, as root",
)
def test_a_udp_service_answers_on_its_cluster_ip_and_says_its_node_port_is_not_served(
    cluster: Cluster, namespace: str
) -> None:
    k = lambda *a, **kw: cluster.kubectl(*a, "-n", namespace, **kw)  # noqa: E731
    k("apply", "-f", "-", input=UDP_APP.format(python=json.dumps(sys.executable), script=json.dumps(UDP_ECHO)))
    try:
        k("wait", "--for=condition=Ready", "pod/udp-echo", "--timeout=60s", timeout=90)
        cluster_ip = get_json(cluster, "svc", "udp-echo", "-n", namespace)["spec"]["clusterIP"]

        def echo() -> bytes | None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(0.5)
                try:
                    client.sendto(b"ping", (cluster_ip, 5300))
                    return client.recv(100)
                except OSError:  # not DNATed yet: refused by the local address, or no answer
                    return None

        assert wait_for("a UDP answer through the ClusterIP", echo) == b"echo ping"

        def warning() -> str | None:
            events = get_json(cluster, "events", "-n", namespace, "--field-selector", "reason=ProtocolNotProxied")
            messages = [
                e["message"] for e in (events or {}).get("items") or [] if e["involvedObject"]["name"] == "udp-echo"
            ]
            return messages[0] if messages else None

        assert "ClusterIP only" in wait_for("a warning that the UDP NodePort is not served", warning)
    finally:
        k("delete", "pod,service", "udp-echo", "--wait=true", "--timeout=60s", check=False, timeout=90)
