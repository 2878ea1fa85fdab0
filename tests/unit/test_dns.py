"""The cluster DNS: answers for each name form, the wire format over UDP and TCP, forwarding."""

import asyncio
import ipaddress
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import ENDPOINTS, SERVICES
from kuberya.proxy import dnswire as wire
from kuberya.proxy.dns import ClusterDNS, read_upstreams

pytestmark = pytest.mark.unit

Obj = dict[str, Any]


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    yield
    me = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not me and not t.done()] == []


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
    dns = ClusterDNS(
        FakeApiClient(), listen=[("127.0.0.1", 0)], upstream_resolv_conf=conf, manage_service=False, clock=FakeClock()
    )
    dns.services.store.add(service("web"))
    dns.services.store.add(service("db", clusterIP="None"))
    dns.services.store.add(service("ext", type="ExternalName", externalName="example.org", clusterIP=None))
    dns.slices.store.add(
        slice_("db", ("10.88.0.3", True, "db-0"), ("10.88.0.2", True, None), ("10.88.0.9", False, None))
    )
    return dns


def ips(records: list[wire.Record]) -> list[str]:
    return [str(ipaddress.IPv4Address(r.rdata)) for r in records if r.rtype == wire.A]


def test_service_names_resolve_to_cluster_ips_and_headless_to_ready_pods(tmp_path: Path) -> None:
    dns = make_dns(tmp_path)
    rcode, answers = dns.resolve("web.default.svc.cluster.local", wire.A)
    assert rcode == wire.NOERROR and ips(answers) == ["10.96.0.20"]
    rcode, answers = dns.resolve("db.default.svc.cluster.local", wire.A)
    assert ips(answers) == ["10.88.0.2", "10.88.0.3"], "ready endpoints only, in address order"
    assert ips(dns.resolve("db-0.db.default.svc.cluster.local", wire.A)[1]) == ["10.88.0.3"]
    assert ips(dns.resolve("10-88-0-2.db.default.svc.cluster.local", wire.A)[1]) == ["10.88.0.2"]
    assert ips(dns.resolve("10-88-7-1.default.pod.cluster.local", wire.A)[1]) == ["10.88.7.1"]
    [cname] = dns.resolve("ext.default.svc.cluster.local", wire.A)[1]
    assert cname.rtype == wire.CNAME and cname.rdata == wire.encode_name("example.org")


def test_unknown_names_are_nxdomain_and_known_names_without_that_type_are_nodata(tmp_path: Path) -> None:
    dns = make_dns(tmp_path)
    assert dns.resolve("nope.default.svc.cluster.local", wire.A) == (wire.NXDOMAIN, [])
    assert dns.resolve("web.nowhere.svc.cluster.local", wire.A) == (wire.NXDOMAIN, [])
    assert dns.resolve("web.default.cluster.local", wire.A) == (wire.NXDOMAIN, [])
    assert dns.resolve("web.default.svc.cluster.local", wire.AAAA) == (wire.NOERROR, [])
    assert dns.resolve("default.svc.cluster.local", wire.A) == (wire.NOERROR, [])
    assert dns.resolve("not-an-ip.default.pod.cluster.local", wire.A) == (wire.NXDOMAIN, [])


def test_srv_for_named_ports(tmp_path: Path) -> None:
    dns = make_dns(tmp_path)
    [srv] = dns.resolve("_http._tcp.web.default.svc.cluster.local", wire.SRV)[1]
    assert srv.rdata == wire.srv_rdata(0, 100, 80, "web.default.svc.cluster.local")
    records = dns.resolve("_http._tcp.db.default.svc.cluster.local", wire.SRV)[1]
    targets = [wire.read_name(r.rdata, 6)[0] for r in records]
    assert targets == ["10-88-0-2.db.default.svc.cluster.local", "db-0.db.default.svc.cluster.local"]
    assert dns.resolve("_nope._tcp.web.default.svc.cluster.local", wire.SRV) == (wire.NXDOMAIN, [])


def query(name: str, qtype: int = wire.A, ident: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + wire.encode_name(name) + struct.pack("!HH", qtype, 1)


def parse_answer(data: bytes) -> tuple[int, int, list[str]]:
    ident, flags, _qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    _, offset = wire.read_name(data, 12)
    offset += 4
    found = []
    for _ in range(an):
        _, offset = wire.read_name(data, offset)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == wire.A:
            found.append(str(ipaddress.IPv4Address(data[offset : offset + length])))
        offset += length
    return ident, flags & 0xF, found


async def test_udp_and_tcp_answers_on_the_wire(tmp_path: Path) -> None:
    dns = make_dns(tmp_path)
    await dns.start()
    try:
        host, port = dns.bound[0]
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.setblocking(False)
            await loop.sock_connect(udp, (host, port))
            await loop.sock_sendall(udp, query("WEB.default.svc.cluster.local"))
            reply = await asyncio.wait_for(loop.sock_recv(udp, 4096), 2)
        assert parse_answer(reply) == (0x1234, wire.NOERROR, ["10.96.0.20"])
        reader, writer = await asyncio.open_connection(host, port)
        for name, expected in (("db.default.svc.cluster.local", ["10.88.0.2", "10.88.0.3"]), ("x.cluster.local", [])):
            q = query(name, ident=7)
            writer.write(struct.pack("!H", len(q)) + q)
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            ident, rcode, found = parse_answer(await reader.readexactly(length))
            assert (ident, found) == (7, expected)
            assert rcode == (wire.NOERROR if expected else wire.NXDOMAIN)
        writer.close()
        await writer.wait_closed()
    finally:
        await dns.stop()


def test_a_big_udp_answer_is_truncated_for_a_tcp_retry(tmp_path: Path) -> None:
    dns = make_dns(tmp_path)
    dns.slices.store.add(slice_("db", *[(f"10.88.1.{i}", True, None) for i in range(1, 100)]))
    question = wire.parse_query(query("db.default.svc.cluster.local"))
    _, answers = dns.resolve(question.name, wire.A)
    data = wire.build_response(question, answers=answers, limit=wire.UDP_LIMIT)
    assert len(data) <= 512 and struct.unpack("!H", data[2:4])[0] & 0x0200, "TC set"


async def test_other_names_go_to_the_host_upstream_over_udp_and_tcp(tmp_path: Path) -> None:
    upstream_answer = b""

    class Upstream(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            nonlocal upstream_answer
            question = wire.parse_query(data)
            upstream_answer = wire.build_response(
                question, answers=[wire.Record(question.name, wire.A, 60, wire.a_rdata("192.0.2.77"))]
            )
            self.transport.sendto(upstream_answer, addr)  # type: ignore[attr-defined]

    async def tcp_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        question = wire.parse_query(await reader.readexactly(length))
        reply = wire.build_response(
            question, answers=[wire.Record(question.name, wire.A, 60, wire.a_rdata("192.0.2.78"))]
        )
        writer.write(struct.pack("!H", len(reply)) + reply)
        writer.close()

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    tcp = await asyncio.start_server(tcp_upstream, "127.0.0.1", port)
    dns = make_dns(tmp_path, upstreams="# host\nnameserver 127.0.0.1\noptions edns0\n")
    dns.upstream_port = port
    try:
        reply = await dns.answer(query("example.org", ident=99), tcp=False)
        assert reply is not None and parse_answer(reply) == (99, wire.NOERROR, ["192.0.2.77"])
        reply = await dns.answer(query("example.org", ident=98), tcp=True)
        assert reply is not None and parse_answer(reply) == (98, wire.NOERROR, ["192.0.2.78"])
        dns.upstreams = []
        reply = await dns.answer(query("example.org"), tcp=False)
        assert reply is not None and parse_answer(reply)[1] == wire.SERVFAIL
    finally:
        transport.close()
        tcp.close()
        await tcp.wait_closed()


def test_read_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "r"
    conf.write_text("search example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0 # zone\nnameserver junk\n")
    assert read_upstreams(conf) == ["127.0.0.53", "fe80::1"]
    assert read_upstreams(tmp_path / "missing") == []


def test_malformed_queries_get_formerr_or_nothing() -> None:
    assert wire.error_response(b"\x00", wire.FORMERR) is None
    reply = wire.error_response(b"\x12\x34\x01\x00" + b"\x00" * 8, wire.FORMERR)
    assert reply is not None and reply[:2] == b"\x12\x34" and reply[3] & 0xF == wire.FORMERR


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
