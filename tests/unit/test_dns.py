"""The cluster DNS: answers for each name form, the wire format over UDP and TCP, forwarding."""

import asyncio
import socket
import struct
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import ENDPOINTS, SERVICES
from kuberya.proxy.dns import ClusterDNS, read_upstreams
from kuberya.runtime import nsconnect
from kuberya.runtime.nsconnect import (
    SocketFactory,
    namespace_ready,
    register_socket_factory,
    unregister_socket_factory,
)

Obj = dict[str, Any]


def service(name: str, ns: str = "default", **spec: Any) -> Obj:
    spec.setdefault("clusterIP", "10.96.0.20")
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def slice_(service_name: str, *endpoints: tuple[str, bool, str | None], ns: str = "default") -> Obj:
    return {
        "metadata": {
            "name": f"{service_name}-a",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}, **({"hostname": host} if host else {})}
            for ip, ready, host in endpoints
        ],
    }


def make_dns(tmp_path: Path, *, upstreams: str = "") -> ClusterDNS:
    conf = tmp_path / "resolv.conf"
    conf.write_text(upstreams)
    server = ClusterDNS(
        FakeApiClient(), listen=[("127.0.0.1", 0)], upstream_resolv_conf=conf, manage_service=False, clock=FakeClock()
    )
    server.services.store.add(service("web"))
    server.services.store.add(service("db", clusterIP="None"))
    server.services.store.add(service("ext", type="ExternalName", externalName="example.org", clusterIP=None))
    server.slices.store.add(
        slice_("db", ("10.88.0.3", True, "db-0"), ("10.88.0.2", True, None), ("10.88.0.9", False, None))
    )
    return server


A, AAAA, CNAME, SRV = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.SRV
NOERROR, NXDOMAIN, SERVFAIL, FORMERR = dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.FORMERR


def ips(rrsets: list[dns.rrset.RRset]) -> list[str]:
    return [rdata.address for rrset in rrsets if rrset.rdtype == A for rdata in rrset]


def test_service_names_resolve_to_cluster_ips_and_headless_to_ready_pods(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    rcode, answers = server.resolve("web.default.svc.cluster.local", A)
    assert rcode == NOERROR and ips(answers) == ["10.96.0.20"]
    rcode, answers = server.resolve("db.default.svc.cluster.local", A)
    assert ips(answers) == ["10.88.0.2", "10.88.0.3"], "ready endpoints only, in address order"
    assert ips(server.resolve("db-0.db.default.svc.cluster.local", A)[1]) == ["10.88.0.3"]
    assert ips(server.resolve("10-88-0-2.db.default.svc.cluster.local", A)[1]) == ["10.88.0.2"]
    assert ips(server.resolve("10-88-7-1.default.pod.cluster.local", A)[1]) == ["10.88.7.1"]
    [cname] = server.resolve("ext.default.svc.cluster.local", A)[1]
    assert cname.rdtype == CNAME and [r.target for r in cname] == [dns.name.from_text("example.org")]


def test_unknown_names_are_nxdomain_and_known_names_without_that_type_are_nodata(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    assert server.resolve("nope.default.svc.cluster.local", A) == (NXDOMAIN, [])
    assert server.resolve("web.nowhere.svc.cluster.local", A) == (NXDOMAIN, [])
    assert server.resolve("web.default.cluster.local", A) == (NXDOMAIN, [])
    assert server.resolve("web.default.svc.cluster.local", AAAA) == (NOERROR, [])
    assert server.resolve("default.svc.cluster.local", A) == (NOERROR, [])
    assert server.resolve("not-an-ip.default.pod.cluster.local", A) == (NXDOMAIN, [])


def test_srv_for_named_ports(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    [srv] = server.resolve("_http._tcp.web.default.svc.cluster.local", SRV)[1]
    assert [(r.priority, r.weight, r.port, r.target) for r in srv] == [
        (0, 100, 80, dns.name.from_text("web.default.svc.cluster.local"))
    ]
    [srv] = server.resolve("_http._tcp.db.default.svc.cluster.local", SRV)[1]
    targets = [r.target.to_text(omit_final_dot=True) for r in srv]
    assert targets == ["10-88-0-2.db.default.svc.cluster.local", "db-0.db.default.svc.cluster.local"]
    assert server.resolve("_nope._tcp.web.default.svc.cluster.local", SRV) == (NXDOMAIN, [])


def query(name: str, qtype: dns.rdatatype.RdataType = A, ident: int = 0x1234) -> dns.message.Message:
    q = dns.message.make_query(name, qtype)
    q.id = ident
    return q


def parse_answer(data: bytes) -> tuple[int, dns.rcode.Rcode, list[str]]:
    reply = dns.message.from_wire(data)
    return reply.id, reply.rcode(), ips(reply.answer)


async def test_udp_and_tcp_answers_on_the_wire(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    await server.start()
    try:
        host, port = server.bound[0]
        reply = await dns.asyncquery.udp(query("WEB.default.svc.cluster.local"), host, port=port, timeout=2)
        assert (reply.id, reply.rcode(), ips(reply.answer)) == (0x1234, NOERROR, ["10.96.0.20"])
        assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.TC
        reader, writer = await asyncio.open_connection(host, port)
        for name, expected in (("db.default.svc.cluster.local", ["10.88.0.2", "10.88.0.3"]), ("x.cluster.local", [])):
            writer.write(query(name, ident=7).to_wire(prepend_length=True))  # two queries on one connection
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            ident, rcode, found = parse_answer(await reader.readexactly(length))
            assert (ident, found) == (7, expected)
            assert rcode == (NOERROR if expected else NXDOMAIN)
        writer.close()
        await writer.wait_closed()
        reply = await dns.asyncquery.udp(query("nope.default.svc.cluster.local"), host, port=port, timeout=2)
        [soa] = reply.authority
        assert reply.rcode() == NXDOMAIN and not reply.answer, "NXDOMAIN, with the zone's SOA"
        assert (soa.name, soa.rdtype) == (dns.name.from_text("cluster.local"), dns.rdatatype.SOA)
    finally:
        await server.stop()


async def test_a_big_udp_answer_is_truncated_for_a_tcp_retry(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    server.slices.store.add(slice_("db", *[(f"10.88.1.{i}", True, None) for i in range(1, 100)]))
    q = query("db.default.svc.cluster.local").to_wire()
    data = await server.answer(q, tcp=False)
    assert data is not None and len(data) <= 512
    reply = dns.message.from_wire(data)
    assert reply.flags & dns.flags.TC, "TC set"
    found = ips(reply.answer)
    assert 0 < len(found) < 99 and found == [f"10.88.1.{i}" for i in range(1, len(found) + 1)], "as many as fit"
    data = await server.answer(q, tcp=True)
    assert data is not None and len(ips(dns.message.from_wire(data).answer)) == 99


async def test_other_names_go_to_the_host_upstream_over_udp_and_tcp(tmp_path: Path) -> None:
    def reply_to(data: bytes, ip: str) -> bytes:
        q = dns.message.from_wire(data)
        reply = dns.message.make_response(q)
        reply.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", ip))
        return reply.to_wire()

    class Upstream(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(reply_to(data, "192.0.2.77"), addr)  # type: ignore[attr-defined]

    async def tcp_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        reply = reply_to(await reader.readexactly(length), "192.0.2.78")
        writer.write(struct.pack("!H", len(reply)) + reply)
        writer.close()

    loop = asyncio.get_running_loop()
    # The upstream listens on one port number for UDP and TCP; a free UDP port may be taken for
    # TCP by something else on the machine, so try a few.
    for attempt in range(20):
        transport, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(tcp_upstream, "127.0.0.1", port)
            break
        except OSError:
            transport.close()
            if attempt == 19:
                raise
    server = make_dns(tmp_path, upstreams="# host\nnameserver 127.0.0.1\noptions edns0\n")
    server.upstream_port = port
    try:
        reply = await server.answer(query("example.org", ident=99).to_wire(), tcp=False)
        assert reply is not None and parse_answer(reply) == (99, NOERROR, ["192.0.2.77"])
        reply = await server.answer(query("example.org", ident=98).to_wire(), tcp=True)
        assert reply is not None and parse_answer(reply) == (98, NOERROR, ["192.0.2.78"])
        server.upstreams = []
        reply = await server.answer(query("example.org").to_wire(), tcp=False)
        assert reply is not None and parse_answer(reply)[1] == SERVFAIL
    finally:
        transport.close()
        tcp.close()
        await tcp.wait_closed()


def test_read_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "r"
    conf.write_text("search example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0 # zone\nnameserver junk\n")
    assert read_upstreams(conf) == ["127.0.0.53", "fe80::1"]
    assert read_upstreams(tmp_path / "missing") == []


async def test_malformed_queries_get_formerr_or_nothing(tmp_path: Path) -> None:
    server = make_dns(tmp_path)
    assert await server.answer(b"\x00", tcp=False) is None
    reply = await server.answer(b"\x12\x34\x01\x00" + b"\x00" * 8, tcp=False)  # no question
    assert reply is not None and reply[:2] == b"\x12\x34" and reply[3] & 0xF == FORMERR
    reply = await server.answer(query("web.default.svc.cluster.local").to_wire()[:-3], tcp=False)  # cut short
    assert reply is not None and reply[:2] == b"\x12\x34" and reply[3] & 0xF == FORMERR


async def test_the_kube_dns_service_is_made_once(tmp_path: Path) -> None:
    client = FakeApiClient()
    dns = ClusterDNS(client, listen=[("127.0.0.1", 0)], upstream_resolv_conf=tmp_path / "none")
    await dns.ensure_service()
    await dns.ensure_service()
    svc = client.stored(SERVICES, "kube-dns", namespace="kube-system")
    assert svc is not None and svc["spec"]["clusterIP"] == "10.96.0.10"
    assert svc["metadata"]["labels"]["service.kubernetes.io/service-proxy-name"] == "kuberya-dns"
    ep = client.stored(ENDPOINTS, "kube-dns", namespace="kube-system")
    assert ep is not None and ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]


class HostSocketFactory(SocketFactory):
    """A stand-in for a namespace holder: its sockets are the host's (the test's loopback)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"), pod_ip="127.1.0.9")

    async def make_socket(
        self, family: socket.AddressFamily, kind: socket.SocketKind = socket.SOCK_STREAM
    ) -> socket.socket:
        sock = socket.socket(family, kind)
        sock.setblocking(False)
        return sock


async def test_answers_inside_each_pod_namespace_once_synced(tmp_path: Path) -> None:
    """A rootless pod's namespace gets UDP and TCP listeners; its pods wait for them; they go with it."""
    server = make_dns(tmp_path)
    server.pod_namespaces = nsconnect  # as the server hands it over
    server.pod_side_address = ("127.0.0.1", 0)
    netns_path = f"/proc/test-{id(server)}/ns/net"
    server.follow_pod_namespaces()
    register_socket_factory(netns_path, HostSocketFactory())  # a sandbox made while the caches sync
    try:
        await asyncio.sleep(0.05)
        assert server.listening_in(netns_path) is None  # nothing is answered before the caches are synced
        waiting = asyncio.ensure_future(namespace_ready(netns_path, timeout=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # ... and the pod waits for it
        await server.start()
        assert await waiting
        address = server.listening_in(netns_path)
        assert address is not None
        host, port = address
        reply = await dns.asyncquery.udp(query("web.default.svc.cluster.local"), host, port=port, timeout=2)
        assert (reply.rcode(), ips(reply.answer)) == (NOERROR, ["10.96.0.20"])
        reply = await dns.asyncquery.tcp(query("db.default.svc.cluster.local"), host, port=port, timeout=2)
        assert ips(reply.answer) == ["10.88.0.2", "10.88.0.3"]

        unregister_socket_factory(netns_path)  # the sandbox went: so do its listeners, at once
        assert server.listening_in(netns_path) is None
        with pytest.raises(OSError):
            await asyncio.open_connection(host, port)
    finally:
        unregister_socket_factory(netns_path)
        await server.stop()


def test_dnspython_is_not_loaded_until_the_first_query() -> None:
    """An idle cluster does not pay dnspython's ~2.6 MB (the idle-memory goal): it loads on first use."""
    import subprocess
    import sys

    probe = "import sys, kuberya.proxy.dns; print(any(m == 'dns' or m.startswith('dns.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_statefulset_pods_resolve_by_hostname_under_their_headless_service(tmp_path: Path) -> None:
    # The EndpointSlice controller names an endpoint after its pod's hostname when the pod's
    # subdomain is the Service (a StatefulSet's web-0 under serviceName web).
    server = make_dns(tmp_path)
    server.services.store.add(service("web", ns="shop", clusterIP="None"))
    server.slices.store.add(slice_("web", ("10.88.1.5", True, "web-0"), ("10.88.1.6", False, "web-1"), ns="shop"))
    assert ips(server.resolve("web-0.web.shop.svc.cluster.local", A)[1]) == ["10.88.1.5"]
    assert server.resolve("web-1.web.shop.svc.cluster.local", A) == (NXDOMAIN, []), "not ready: not published"
    assert ips(server.resolve("web.shop.svc.cluster.local", A)[1]) == ["10.88.1.5"]
    # publishNotReadyAddresses (what StatefulSets of peers that must find each other use):
    server.services.store.add(service("web", ns="shop", clusterIP="None", publishNotReadyAddresses=True))
    assert ips(server.resolve("web-1.web.shop.svc.cluster.local", A)[1]) == ["10.88.1.6"]
    assert ips(server.resolve("web.shop.svc.cluster.local", A)[1]) == ["10.88.1.5", "10.88.1.6"]
