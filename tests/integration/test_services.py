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
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually


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

    ep = eventually(endpoints, what="Endpoints with two subsets")
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

    items = eventually(slices, what="EndpointSlices with three endpoints")
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

    eventually(b_ready, what="shop-b ready in Endpoints")
    described = k("describe", "service", "shop").stdout
    assert "10.88.200.2:8080" in described or "10.88.200.2" in described


def test_load_balancer_shows_external_ip(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "service", "loadbalancer", "front", "--tcp=18080:8080", "-n", namespace)

    def external_ip() -> Any:
        row = cluster.kubectl("get", "svc", "front", "-n", namespace).stdout.splitlines()[1].split()
        return row if row[3] == "127.0.0.1" else None

    row = eventually(external_ip, what="EXTERNAL-IP 127.0.0.1")
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

    assert eventually(answer, what="an answer through the NodePort") == b"hello from the backend\n"


NETNS_CLIENT = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
    print(conn.recv(100).decode().strip())
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (links)")
def test_the_proxy_and_the_dns_making_the_service_link_at_once_both_get_it() -> None:
    """Both call ensure() as a server starts: the one that lost the race used to crash ("File exists")."""
    import asyncio

    from kuberya.proxy.netdev import ServiceAddressDevice

    name = f"kuberya-e{uuid.uuid4().hex[:4]}"

    async def race() -> None:
        await asyncio.gather(*(ServiceAddressDevice(name).ensure() for _ in range(3)))

    try:
        asyncio.run(race())
        state = subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True, text=True).stdout
        assert "UP" in state.split(">")[0], state
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


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

        assert eventually(echo, what="a UDP answer through the ClusterIP") == b"echo ping"

        def warning() -> str | None:
            events = get_json(cluster, "events", "-n", namespace, "--field-selector", "reason=ProtocolNotProxied")
            messages = [
                e["message"] for e in (events or {}).get("items") or [] if e["involvedObject"]["name"] == "udp-echo"
            ]
            return messages[0] if messages else None

        assert "ClusterIP only" in eventually(warning, what="a warning that the UDP NodePort is not served")
    finally:
        k("delete", "pod,service", "udp-echo", "--wait=true", "--timeout=60s", check=False, timeout=90)


# -- NodePorts on 127.0.0.1 through the kernel (root, nftables) ------------------------------------

TCP_HELLO = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
while True:
    conn, peer = server.accept()
    conn.sendall(("hello " + peer[0] + "\\n").encode())
    conn.close()
"""

HELLO_APP = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  containers:
  - name: hello
    image: hello:v1
    command: [{python}, "-c", {script}, "8080"]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  type: NodePort
  selector: {{app: {name}}}
  ports: [{{name: web, port: 80, targetPort: 8080}}]
"""

BRIDGE = "kuberya0"
ROUTE_LOCALNET = f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet"
needs_kernel_path = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("nft"),
    reason="the kernel NodePort path needs root and nftables",
)


def cluster_table(cluster: Cluster) -> str:
    """The cluster's nftables table: ``kuberya-<hash of data dir>-p<server pid>`` (kuberya.server.components)."""
    import hashlib

    return f"kuberya-{hashlib.sha256(str(cluster.data_dir).encode()).hexdigest()[:8]}-p{cluster.process.pid}"


def nft(*args: str) -> str:
    return subprocess.run(["nft", *args], capture_output=True, text=True).stdout


def deploy_hello(cluster: Cluster, namespace: str, name: str) -> tuple[str, int]:
    """A pod on the bridge answering ``hello <peer address>``, behind a NodePort: its (pod IP, nodePort)."""
    app = HELLO_APP.format(name=name, python=json.dumps(sys.executable), script=json.dumps(TCP_HELLO))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=app)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}", "--timeout=60s", timeout=90)
    pod_ip = get_json(cluster, "pod", name, "-n", namespace)["status"]["podIP"]
    node_port = int(get_json(cluster, "svc", name, "-n", namespace)["spec"]["ports"][0]["nodePort"])
    return pod_ip, node_port


def hello(port: int, host: str = "127.0.0.1") -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            return conn.recv(100).decode().strip() or None
    except OSError:
        return None


def pod_netns(pod_ip: str) -> str:
    """The network namespace holding ``pod_ip`` (only kuberya's, ``kuberya-*``, are looked at)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for name in (line.split()[0] for line in listing.splitlines() if line.startswith("kuberya-")):
        addresses = subprocess.run(["ip", "-n", name, "-4", "-o", "addr"], capture_output=True, text=True).stdout
        if f" {pod_ip}/" in addresses:
            return name
    raise AssertionError(f"no kuberya network namespace holds {pod_ip}")


@needs_kernel_path
def test_a_node_port_on_127_0_0_1_is_dnated_by_the_kernel_and_pods_cannot_reach_host_loopback(
    cluster: Cluster, namespace: str
) -> None:
    from kuberya.proxy.serviceproxy import someone_listens

    pod_ip, node_port = deploy_hello(cluster, namespace, "hello")
    bridge_ip = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE], capture_output=True,
                               text=True, check=True).stdout.split()[3].split("/")[0]  # fmt: skip
    # The pod sees the bridge's address: 127.0.0.1 was masqueraded (it would answer its own loopback).
    assert eventually(lambda: hello(node_port), what="an answer through the NodePort") == f"hello {bridge_ip}"
    table = cluster_table(cluster)
    localhost = nft("list", "chain", "ip", table, "localhost")
    assert f"ip daddr 127.0.0.1 tcp dport {node_port} dnat to {pod_ip}:8080" in localhost  # as nft lists it
    assert not someone_listens("127.0.0.1", node_port), "no userspace listener: the kernel is the path"
    with open(ROUTE_LOCALNET) as setting:
        assert setting.read().strip() == "1"
    for scope in ("all", "default"):
        with open(f"/proc/sys/net/ipv4/conf/{scope}/route_localnet") as setting:
            assert setting.read().strip() == "0", f"route_localnet must never be set on {scope}"

    # CVE-2020-8558: with route_localnet on the bridge, a pod that routes 127.0.0.0/8 to its gateway
    # (as root in its own namespace, which a pod with NET_ADMIN is) sends packets for the host's
    # loopback across the bridge. Without the guard this reaches the listener below (tried by hand,
    # docs/DECISIONS.md); with it the SYN is dropped on arrival, counted by the guard rule.
    server = socketserver.TCPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret_port = server.server_address[1]
    netns = pod_netns(pod_ip)
    attack = f"""
set -e
ip route del 127.0.0.0/8 dev lo table local || true
ip route del local 127.0.0.1 dev lo table local || true
ip route add 127.0.0.0/8 via {bridge_ip}
for conf in /proc/sys/net/ipv4/conf/*; do echo 1 > $conf/route_localnet; echo 1 > $conf/accept_local; done
exec {sys.executable} -c '
import socket
try:
    socket.create_connection(("127.0.0.1", {secret_port}), timeout=3).recv(100); print("reached")
except OSError as e:
    print("blocked", e)
'
"""

    def dropped() -> int:
        guard = nft("list", "chain", "ip", table, "localnet_guard")
        return int(guard.split("counter packets ")[1].split()[0])

    before = dropped()
    try:
        outcome = subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", attack], capture_output=True, text=True,
                                 timeout=20)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.stdout.startswith("blocked"), outcome.stdout + outcome.stderr
    assert dropped() > before, "the SYN reached the host and the guard dropped it (not lost on the way)"
    assert hello(node_port) == f"hello {bridge_ip}", "our own NodePort flows still pass the guard"
    cluster.kubectl("delete", "-n", namespace, "pod,service", "hello", "--wait=false")


@needs_kernel_path
def test_stopping_the_server_removes_its_table_and_route_localnet_when_no_other_cluster_needs_it(
    tmp_path: Any,
) -> None:
    from tests.conftest import start_server, stop_server

    own = start_server(tmp_path / "cluster", "--runtime", "process")
    try:
        own.kubectl("create", "namespace", "np")
        _, node_port = deploy_hello(own, "np", "hello")
        table = cluster_table(own)
        assert eventually(lambda: hello(node_port), what="an answer through the NodePort")
        assert f"dport {node_port} " in nft("list", "chain", "ip", table, "localhost")
    finally:
        stop_server(own)
    assert table not in nft("list", "tables"), "the rules go with the table"
    # Several clusters share the bridge: the setting stays exactly while some table still guards it.
    others = [line for line in nft("list", "chains", "ip").splitlines() if "localnet_guard" in line]
    with open(ROUTE_LOCALNET) as setting:
        assert setting.read().strip() == ("1" if others else "0"), others


NAME_SERVER = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
while True:
    conn, _ = server.accept()
    conn.sendall((socket.gethostname() + "\\n").encode())  # the pod's name: its own UTS namespace
    conn.close()
"""

STICKY_APP = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: sticky}}}}
spec:
  containers:
  - name: hello
    image: hello:v1
    command: [{python}, "-c", {script}, "8080"]
"""

STICKY_SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: sticky}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: roundrobin}
spec:
  selector: {app: sticky}
  ports: [{port: 80, targetPort: 8080}]
"""


@needs_kernel_path
def test_session_affinity_on_a_cluster_ip_keeps_a_client_on_one_pod(cluster: Cluster, namespace: str) -> None:
    for name in ("sticky-a", "sticky-b"):
        app = STICKY_APP.format(name=name, python=json.dumps(sys.executable), script=json.dumps(NAME_SERVER))
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=app)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=STICKY_SERVICES)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/sticky-a", "pod/sticky-b",
                    "--timeout=60s", timeout=90)  # fmt: skip
    addresses = {name: get_json(cluster, "svc", name, "-n", namespace)["spec"]["clusterIP"]
                 for name in ("sticky", "roundrobin")}  # fmt: skip

    def ready_endpoints(service: str) -> int:
        subsets = get_json(cluster, "endpoints", service, "-n", namespace).get("subsets") or []
        return sum(len(s.get("addresses") or []) for s in subsets)

    for service in addresses:
        eventually(lambda s=service: ready_endpoints(s) == 2, what=f"both pods behind {service}")  # type: ignore[misc]
    # Without affinity the kernel alternates between the pods: both answer.
    eventually(
        lambda: {hello(80, addresses["roundrobin"]) for _ in range(6)} == {"sticky-a", "sticky-b"},
        what="both pods through the round-robin ClusterIP",
    )
    # With it, every connection from this host lands on the pod the first one did.
    first = eventually(lambda: hello(80, addresses["sticky"]), what="an answer through the sticky ClusterIP")
    assert first in ("sticky-a", "sticky-b")
    assert [hello(80, addresses["sticky"]) for _ in range(12)] == [first] * 12
    cluster.kubectl("delete", "-n", namespace, "pod,service", "--all", "--wait=false")
