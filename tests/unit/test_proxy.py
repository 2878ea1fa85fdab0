"""The proxy: table building (pure), balancing, and the userspace proxy with local echo servers."""

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.proxy.balancer import Balancer
from kuberya.proxy.kernel import NftablesDNAT, RouteLocalnet
from kuberya.proxy.table import Endpoint, ServicePort, build_table
from kuberya.proxy.userspace import UserspaceProxy

Obj = dict[str, Any]


def svc(name: str = "web", **spec: Any) -> Obj:
    spec.setdefault("clusterIP", "10.96.0.20")
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def eps(service: str, *endpoints: tuple[str, dict[str, bool]], port: int = 8080, name: str = "http") -> Obj:
    return {
        "metadata": {"name": f"{service}-x", "namespace": "ns", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": name, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": cond} for ip, cond in endpoints],
    }


OTHER_PROXY = {"service.kubernetes.io/service-proxy-name": "other"}
READY = {"ready": True, "serving": True, "terminating": False}
NOT_READY = {"ready": False, "serving": False, "terminating": False}
TERMINATING = {"ready": False, "serving": True, "terminating": True}


# -- the table ------------------------------------------------------------------------------------


def test_table_frontends_and_endpoints() -> None:
    table = build_table(
        [
            svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]),
            svc("headless", clusterIP="None"),
            svc("ext", type="ExternalName"),
            {**svc("dns"), "metadata": {"name": "dns", "namespace": "ns", "labels": OTHER_PROXY}},
        ],
        [eps("web", ("10.88.0.2", READY), ("10.88.0.3", NOT_READY)), eps("web", ("10.88.0.2", READY))],
    )
    assert sorted(table) == ["ns/headless:http/TCP", "ns/web:http/TCP"]
    web = table["ns/web:http/TCP"]
    assert web.frontends(node_port_hosts=["127.0.0.1"], cluster_ips=True) == [
        ("10.96.0.20", 80),
        ("127.0.0.1", 30080),
    ]
    assert web.frontends(node_port_hosts=["127.0.0.1"], cluster_ips=False) == [("127.0.0.1", 30080)]
    assert [e.address for e in web.usable_endpoints()] == [("10.88.0.2", 8080)], "merged, not-ready left out"
    assert table["ns/headless:http/TCP"].frontends(node_port_hosts=[], cluster_ips=True) == []


def test_terminating_serving_endpoints_are_used_only_when_nothing_is_ready() -> None:
    entry = build_table([svc()], [eps("web", ("10.88.0.2", TERMINATING), ("10.88.0.3", NOT_READY))])["ns/web:http/TCP"]
    assert [e.ip for e in entry.usable_endpoints()] == ["10.88.0.2"]
    entry = build_table([svc()], [eps("web", ("10.88.0.2", TERMINATING), ("10.88.0.4", READY))])["ns/web:http/TCP"]
    assert [e.ip for e in entry.usable_endpoints()] == ["10.88.0.4"]


def test_load_balancer_ingress_and_affinity() -> None:
    service = svc(type="LoadBalancer", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
                  ports=[{"name": "http", "port": 8081, "nodePort": 30081}])  # fmt: skip
    service["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    entry = build_table([service], [])["ns/web:http/TCP"]
    assert entry.affinity_timeout == 60
    assert entry.frontends(node_port_hosts=["127.0.0.1"], cluster_ips=False) == [
        ("127.0.0.1", 30081),
        ("127.0.0.1", 8081),
    ]


def test_balancer_round_robin_and_client_ip_affinity() -> None:
    clock = FakeClock()
    b = Balancer(clock)
    e = [Endpoint("10.0.0.1", 80), Endpoint("10.0.0.2", 80), Endpoint("10.0.0.3", 80)]
    assert [b.pick(e, client_ip="c").ip for _ in range(4)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"]  # type: ignore[union-attr]
    sticky = Balancer(clock)
    first = sticky.pick(e, client_ip="a", affinity_timeout=10)
    assert all(sticky.pick(e, client_ip="a", affinity_timeout=10) == first for _ in range(5))
    assert sticky.pick(e, client_ip="b", affinity_timeout=10) != first
    clock.advance(11)
    assert sticky.pick(e, client_ip="a", affinity_timeout=10) != first, "expired: balanced afresh"
    gone = [x for x in e if x != first]
    assert sticky.pick(gone, client_ip="a", affinity_timeout=10) in gone
    assert b.pick([], client_ip="a") is None


# -- the userspace proxy --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Backend:
    """An echo server that first says its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> "Backend":
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(f"{self.name}\n".encode())
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def entry(
    node_port: int, *backends: Backend, affinity: float | None = None, ready: bool = True
) -> dict[str, ServicePort]:
    port = ServicePort(
        service="ns/web", port_name="http", protocol="TCP", cluster_ip="10.96.0.20", port=80,
        node_port=node_port, affinity_timeout=affinity,
        endpoints=tuple(Endpoint("127.0.0.1", b.port, ready=ready) for b in backends),
    )  # fmt: skip
    return {port.key: port}


async def ask(port: int, payload: bytes = b"ping") -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        name = (await reader.readline()).decode().strip()
        writer.write(payload)
        await writer.drain()
        echoed = await reader.readexactly(len(payload))
        return name, echoed
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def backends() -> AsyncIterator[list[Backend]]:
    started = [await Backend(n).start() for n in ("a", "b", "c")]
    yield started
    for b in started:
        await b.stop()


async def test_node_port_round_robin_over_ready_endpoints(backends: list[Backend]) -> None:
    proxy = UserspaceProxy()
    node_port = free_port()
    try:
        await proxy.apply(entry(node_port, *backends), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        assert proxy.listening == [("127.0.0.1", node_port)]
        answers = [await ask(node_port) for _ in range(6)]
        assert [a[0] for a in answers] == ["a", "b", "c", "a", "b", "c"]
        assert all(a[1] == b"ping" for a in answers)
        big = bytes(range(256)) * 4096  # 1 MiB through the splice, flow control included
        assert (await ask(node_port, big))[1] == big
    finally:
        await proxy.close(drain=0.1)


async def test_client_ip_affinity_sticks(backends: list[Backend]) -> None:
    proxy = UserspaceProxy()
    node_port = free_port()
    try:
        await proxy.apply(entry(node_port, *backends, affinity=60), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        names = {(await ask(node_port))[0] for _ in range(5)}
        assert len(names) == 1
    finally:
        await proxy.close(drain=0.1)


async def test_no_ready_endpoint_resets_and_a_dead_one_is_skipped(backends: list[Backend]) -> None:
    proxy = UserspaceProxy()
    node_port = free_port()
    try:
        await proxy.apply(entry(node_port, *backends, ready=False), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", node_port)
        assert await reader.read() == b""
        writer.close()
        dead = Backend("dead")
        dead.port = free_port()  # nobody listens there
        await proxy.apply(entry(node_port, dead, backends[1]), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        assert {(await ask(node_port))[0] for _ in range(3)} == {"b"}
    finally:
        await proxy.close(drain=0.1)


async def test_a_removed_endpoint_gets_no_new_connections_and_old_ones_drain(backends: list[Backend]) -> None:
    clock = FakeClock()
    proxy = UserspaceProxy(clock=clock, drain_timeout=30)
    node_port = free_port()
    a, b, _ = backends
    try:
        await proxy.apply(entry(node_port, a), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", node_port)
        assert await reader.readline() == b"a\n"
        await proxy.apply(entry(node_port, b), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        assert (await ask(node_port))[0] == "b", "new connections go to the new endpoint"
        writer.write(b"still here")
        assert await reader.readexactly(10) == b"still here", "the old connection goes on while draining"
        clock.advance(31)
        assert await reader.read() == b"", "cut once the drain timeout is over"
        writer.close()
        assert proxy.connections() == {}
    finally:
        await proxy.close(drain=0.1)


async def test_listeners_follow_the_table(backends: list[Backend]) -> None:
    proxy = UserspaceProxy()
    first, second = free_port(), free_port()
    try:
        await proxy.apply(entry(first, backends[0]), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        await proxy.apply(entry(second, backends[0]), node_port_hosts=["127.0.0.1"], cluster_ips=False)
        assert proxy.listening == [("127.0.0.1", second)]
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", first)
        await proxy.apply({}, node_port_hosts=["127.0.0.1"], cluster_ips=False)
        assert proxy.listening == []
    finally:
        await proxy.close(drain=0.1)


def test_nftables_ruleset_dnats_cluster_ips_to_usable_endpoints_in_our_own_table() -> None:
    from kuberya.proxy.kernel import render_ruleset

    two = ServicePort(service="ns/web", port_name="http", protocol="TCP", cluster_ip="10.96.0.20", port=80,
                      endpoints=(Endpoint("10.88.0.2", 8080), Endpoint("10.88.0.3", 8080),
                                 Endpoint("10.88.0.4", 8080, ready=False)))  # fmt: skip
    one = ServicePort(service="ns/db", port_name="", protocol="TCP", cluster_ip="10.96.0.21", port=5432,
                      endpoints=(Endpoint("10.88.0.5", 5432),))  # fmt: skip
    empty = ServicePort(service="ns/none", port_name="", protocol="TCP", cluster_ip="10.96.0.22", port=80)
    udp = ServicePort(service="ns/dns", port_name="", protocol="UDP", cluster_ip="10.96.0.23", port=53,
                      endpoints=(Endpoint("10.88.0.6", 5353),))  # fmt: skip
    script = render_ruleset([two, one, empty, udp], table="kuberya-x", pod_cidr="10.88.0.0/16")
    assert script.startswith("add table ip kuberya-x\ndelete table ip kuberya-x\ntable ip kuberya-x {")
    rule = "ip daddr 10.96.0.20 tcp dport 80 dnat ip to numgen inc mod 2 map"
    assert f"{rule} {{ 0 : 10.88.0.2 . 8080, 1 : 10.88.0.3 . 8080 }}" in script
    assert "ip daddr 10.96.0.21 tcp dport 5432 dnat ip to 10.88.0.5:5432" in script
    assert "10.96.0.22" not in script, "no endpoints: no rule (the local address refuses)"
    assert "ip daddr 10.96.0.23 udp dport 53 dnat ip to 10.88.0.6:5353" in script
    assert "ct status dnat ip saddr 10.88.0.0/16 masquerade" in script


def test_a_cluster_ip_with_session_affinity_is_left_to_the_userspace_proxy() -> None:
    from kuberya.proxy.kernel import render_ruleset

    endpoints = (Endpoint("10.88.0.2", 8080), Endpoint("10.88.0.3", 8080))
    sticky = ServicePort(service="ns/web", port_name="", protocol="TCP", cluster_ip="10.96.0.20", port=80,
                         affinity_timeout=10800, endpoints=endpoints)  # fmt: skip
    assert "10.96.0.20" not in render_ruleset([sticky], table="kuberya-x")
    # The kernel would balance every connection afresh; userspace keeps the client on its endpoint.
    assert sticky.frontends(node_port_hosts=(), cluster_ips=True) == [("10.96.0.20", 80)]


def test_what_is_not_served_is_said_per_protocol_and_path() -> None:
    from kuberya.proxy.serviceproxy import unserved

    def port(protocol: str, **kw: Any) -> ServicePort:
        return ServicePort(service="ns/s", port_name="p", protocol=protocol, cluster_ip="10.96.0.30", port=53, **kw)

    assert unserved(port("TCP", node_port=30053), kernel=False) is None
    assert unserved(port("UDP"), kernel=True) is None, "a UDP ClusterIP is DNATed by the kernel"
    assert "needs root" in (unserved(port("UDP"), kernel=False) or "")
    assert "ClusterIP only" in (unserved(port("UDP", node_port=30053), kernel=True) or "")
    assert "not served" in (unserved(port("SCTP"), kernel=True) or "")
    assert "without sessionAffinity" in (unserved(port("UDP", affinity_timeout=60.0), kernel=True) or "")
    assert unserved(port("TCP", affinity_timeout=60.0), kernel=True) is None, "TCP affinity: userspace keeps it"


async def test_a_user_hears_once_that_a_udp_service_is_not_served_without_the_kernel_path() -> None:
    from kuberya.client.fake import FakeApiClient
    from kuberya.client.resources import EVENTS
    from kuberya.proxy.serviceproxy import UNSERVED_REASON, ServiceProxy

    client = FakeApiClient()
    proxy = ServiceProxy(client, cluster_ips=False, clock=FakeClock())
    service = svc(ports=[{"name": "dns", "port": 53, "protocol": "UDP"}])
    service["metadata"]["uid"] = "u-1"
    proxy.services.store.add(service)
    try:
        await proxy.sync()
        await proxy.sync()
        events = (await client.list(EVENTS, namespace="ns"))["items"]
        assert [(e["type"], e["reason"], e["involvedObject"]["name"]) for e in events] == [
            ("Warning", UNSERVED_REASON, "web")
        ]
        assert "UDP" in events[0]["message"] and proxy.userspace.listening == []
    finally:
        await proxy.shutdown()


async def test_service_proxy_serves_node_ports_from_its_caches(backends: list[Backend]) -> None:
    from kuberya.client.fake import FakeApiClient
    from kuberya.proxy.serviceproxy import ServiceProxy

    node_port = free_port()
    proxy = ServiceProxy(FakeApiClient(), cluster_ips=False, clock=FakeClock())
    assert proxy.mode == "userspace" and proxy.kernel is None and proxy.device is None
    proxy.services.store.add(svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": node_port}]))
    slice_ = eps("web", ("127.0.0.1", READY), port=backends[2].port)
    proxy.slices.store.add(slice_)
    try:
        await proxy.sync()
        assert proxy.userspace.listening == [("127.0.0.1", node_port)]
        assert (await ask(node_port))[0] == "c"
    finally:
        await proxy.shutdown()


# -- loopback frontends through the kernel (NodePorts on 127.0.0.1) -------------------------------


def test_loopback_frontends_are_dnated_on_output_only_with_masquerade_and_the_localnet_guard() -> None:
    from kuberya.proxy.kernel import render_ruleset

    web = ServicePort(service="ns/web", port_name="http", protocol="TCP", cluster_ip="10.96.0.20", port=80,
                      node_port=30080, ingress_ips=("127.0.0.1", "192.0.2.9"),
                      endpoints=(Endpoint("10.88.0.2", 8080), Endpoint("10.88.0.3", 8080)))  # fmt: skip
    idle = ServicePort(service="ns/idle", port_name="", protocol="TCP", cluster_ip="10.96.0.21", port=81,
                       node_port=30081)  # fmt: skip
    script = render_ruleset([web, idle], table="kuberya-x", loopback=[web, idle], node_port_hosts=["127.0.0.1"],
                            bridge="kuberya0")  # fmt: skip
    localhost = script.split("chain localhost {")[1].split("\n  }")[0]
    targets = "{ 0 : 10.88.0.2 . 8080, 1 : 10.88.0.3 . 8080 }"
    assert f"ip daddr 127.0.0.1 tcp dport 30080 dnat ip to numgen inc mod 2 map {targets}" in localhost
    assert f"ip daddr 127.0.0.1 tcp dport 80 dnat ip to numgen inc mod 2 map {targets}" in localhost, "LB ingress"
    assert "192.0.2.9" not in script, "a non-loopback ingress address stays with the userspace proxy"
    assert "30081" not in script, "no endpoints: no rule, the host refuses"
    output = script.split("chain output {")[1].split("}")[0]
    prerouting = script.split("chain prerouting {")[1].split("}")[0]
    assert "jump localhost" in output and "localhost" not in prerouting, "never for packets from the bridge"
    assert 'ct status dnat ip saddr 127.0.0.0/8 oifname "kuberya0" masquerade' in script
    # kube-proxy's CVE-2020-8558 rule; "ct status != dnat" would compare the whole word and drop replies.
    assert 'iifname "kuberya0" ip daddr 127.0.0.0/8 ct status & dnat == 0 counter drop' in script
    assert "type filter hook input" in script.split("chain localnet_guard {")[1]

    plain = render_ruleset([web], table="kuberya-x", pod_cidr="10.88.0.0/16")
    assert "tcp dport 30080" not in plain and "localnet_guard" not in plain and "127.0.0.0/8 oifname" not in plain


def test_the_kernel_takes_a_loopback_frontend_only_where_it_keeps_what_the_user_sees() -> None:
    import ipaddress

    from kuberya.proxy.kernel import serves_on_loopback

    bridge = [ipaddress.IPv4Network("10.88.0.0/16")]

    def port(*ips: str, protocol: str = "TCP", affinity: float | None = None) -> ServicePort:
        return ServicePort(service="ns/s", port_name="", protocol=protocol, cluster_ip="10.96.0.30", port=80,
                           node_port=30080, affinity_timeout=affinity,
                           endpoints=tuple(Endpoint(ip, 8080) for ip in ips))  # fmt: skip

    assert serves_on_loopback(port("10.88.0.2", "127.0.0.1"), bridge_networks=bridge)
    assert serves_on_loopback(port(), bridge_networks=bridge), "no endpoint: the kernel refuses, as kube-proxy"
    assert not serves_on_loopback(port("192.0.2.7"), bridge_networks=bridge), "a loopback source can't go there"
    assert not serves_on_loopback(port("10.88.0.2"), bridge_networks=[]), "no bridge (yet): not a pod address"
    assert not serves_on_loopback(port("10.88.0.2", affinity=60), bridge_networks=bridge), "affinity: userspace"
    assert not serves_on_loopback(port("10.88.0.2", protocol="UDP"), bridge_networks=bridge)


async def test_a_host_listener_on_a_loopback_frontend_is_noticed() -> None:
    from kuberya.proxy.serviceproxy import someone_listens

    server = await asyncio.start_server(lambda r, w: w.close(), "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert someone_listens("127.0.0.1", port), "a wildcard listener takes 127.0.0.1 too"
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert not someone_listens("127.0.0.1", port), "closed (a TIME_WAIT left behind does not count)"


def test_route_localnet_is_only_ever_set_on_a_kuberya_bridge(tmp_path: Any) -> None:
    from kuberya.proxy.kernel import RouteLocalnet

    with pytest.raises(ValueError, match="kuberya's own bridge"):
        RouteLocalnet("all", proc=tmp_path)
    setting = RouteLocalnet("kuberya0", proc=tmp_path)
    assert not setting.exists() and not setting.enabled()
    (tmp_path / "kuberya0").mkdir()
    (tmp_path / "kuberya0" / "route_localnet").write_text("0\n")
    setting.set(True)
    assert setting.enabled() and (tmp_path / "kuberya0" / "route_localnet").read_text() == "1\n"
    setting.set(False)
    assert not setting.enabled()


class FakeKernel(NftablesDNAT):
    """The real :class:`NftablesDNAT` with ``nft`` and ``/proc/sys`` swapped for a temp dir; keeps the scripts."""

    def __init__(self, tmp_path: Any, *, writable: bool = True) -> None:
        proc = tmp_path / "proc"
        (proc / "kuberya0").mkdir(parents=True)
        if writable:
            (proc / "kuberya0" / "route_localnet").write_text("0\n")
        else:  # a write fails even as root
            (proc / "kuberya0" / "route_localnet").mkdir()
        super().__init__(table="kuberya-t", localnet=RouteLocalnet("kuberya0", proc=proc),
                         lock_file=tmp_path / "lock")  # fmt: skip
        self.scripts: list[str] = []

        async def bridge_networks() -> list[ipaddress.IPv4Network]:
            return [ipaddress.IPv4Network("10.88.0.0/16")]

        self.localnet.networks = bridge_networks  # type: ignore[method-assign]

    async def _load(self, script: str) -> None:
        self.scripts.append(script)

    async def remove(self) -> None:
        pass


async def test_node_ports_served_by_the_kernel_are_not_bound_by_the_userspace_proxy(
    backends: list[Backend], tmp_path: Any
) -> None:
    from kuberya.client.fake import FakeApiClient
    from kuberya.proxy.serviceproxy import ServiceProxy

    kernel_port, sticky_port = free_port(), free_port()
    proxy = ServiceProxy(FakeApiClient(), cluster_ips=False, clock=FakeClock())
    proxy.kernel = fake = FakeKernel(tmp_path)
    proxy.services.store.add(svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": kernel_port}]))
    proxy.services.store.add(svc("sticky", type="NodePort", sessionAffinity="ClientIP",
                                 ports=[{"name": "http", "port": 80, "nodePort": sticky_port}]))  # fmt: skip
    proxy.slices.store.add(eps("web", ("127.0.0.1", READY), port=backends[0].port))
    proxy.slices.store.add(eps("sticky", ("127.0.0.1", READY), port=backends[1].port))
    try:
        await proxy.sync()
        localhost = fake.scripts[-1].split("chain localhost {")[1].split("\n  }")[0]
        assert f"dport {kernel_port} " in localhost, "the kernel DNATs the NodePort"
        assert f"dport {sticky_port} " not in localhost, "affinity keeps the userspace balancer"
        assert proxy.userspace.listening == [("127.0.0.1", sticky_port)]
        assert fake.localnet.enabled()
        assert (await ask(sticky_port))[0] == "b"
    finally:
        await proxy.shutdown()


async def test_node_ports_fall_back_to_userspace_when_route_localnet_cannot_be_set(
    backends: list[Backend], tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from kuberya.client.fake import FakeApiClient
    from kuberya.proxy.serviceproxy import ServiceProxy

    node_port = free_port()
    proxy = ServiceProxy(FakeApiClient(), cluster_ips=False, clock=FakeClock())
    proxy.kernel = fake = FakeKernel(tmp_path, writable=False)
    proxy.services.store.add(svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": node_port}]))
    proxy.slices.store.add(eps("web", ("127.0.0.1", READY), port=backends[2].port))
    try:
        await proxy.sync()
        assert not fake.serve_loopback and "localhost {\n    \n  }" in fake.scripts[-1], "no loopback rule left"
        assert proxy.userspace.listening == [("127.0.0.1", node_port)]
        assert (await ask(node_port))[0] == "c"
        await proxy.sync()
        said = [r.getMessage() for r in caplog.records if "route_localnet" in r.getMessage()]
        assert len(said) == 1, said
        assert said[0].startswith("proxy: cannot set net.ipv4.conf.kuberya0.route_localnet: ")
        assert said[0].endswith(": NodePorts are served in userspace")
    finally:
        await proxy.shutdown()
