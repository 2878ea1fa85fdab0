"""The cluster DNS: names of Services and pods for pods, everything else from the host's resolvers.

Answers, as CoreDNS's ``kubernetes`` plugin does for the cluster domain (``cluster.local``):

=========================================  ==================================================
``<svc>.<ns>.svc.<domain>`` A               the ClusterIP; for a headless Service the ready
                                            endpoints' addresses (all of them with
                                            ``publishNotReadyAddresses``)
``<host>.<svc>.<ns>.svc.<domain>`` A        a headless endpoint by ``hostname`` or dashed IP
``<svc>.<ns>.svc.<domain>`` CNAME           an ExternalName Service's ``externalName``
``_<port>._<proto>.<svc>.<ns>.svc…`` SRV    named ports: ``<svc>.<ns>.svc.<domain>`` (one
                                            record per endpoint for headless Services)
``<a-b-c-d>.<ns>.pod.<domain>`` A           ``a.b.c.d`` (CoreDNS's ``pods insecure``)
anything else in the domain                 NXDOMAIN (NOERROR without answers when the name
                                            exists with other types), with the zone's SOA
=========================================  ==================================================

Bare ``<svc>`` and ``<svc>.<ns>`` are the resolver's job: pods get the search path
(:func:`~kuberya.client.servicelinks.pod_dns_config`). Names outside the cluster domain are
relayed, bytes in and bytes out, to the nameservers of the host's ``resolv.conf`` — the only
place we forward to; a stub on 127.0.0.x (systemd-resolved) is used as it is. Our own listen
addresses are never used as upstreams (that would loop).

The wire format is dnspython's. Only the header and the first question of a query are read (EDNS
options are ignored, and a relayed query is never re-encoded); answer names are lower case. A UDP
answer past 512 bytes keeps as many records as fit and sets TC, as CoreDNS does, so that resolvers
retry over TCP and those that never do (musl before 1.2.4) still get some addresses.

dnspython is imported on the first query, not at start-up: it is ~1.7 MB of an idle cluster's
memory, and only pods ask the cluster DNS anything. That one query waits ~35 ms for the import,
done in a worker thread so that the event loop — the API server's too — keeps serving meanwhile.

:meth:`ClusterDNS.resolve` is pure over the informer caches; the sockets around it are thin
(UDP, and TCP with its two-byte length prefix). As a component (:meth:`ClusterDNS.run`) it also
makes sure the ``kube-system/kube-dns`` Service exists at the well-known ClusterIP, labelled
``service.kubernetes.io/service-proxy-name`` so that the service proxy leaves that address to
us, and — as root — puts that address on the ``kuberya-svc`` link to listen on it.

Pods on the rootless network (:mod:`kuberya.runtime.rootless`) cannot reach the host's
addresses: their namespace has loopback and the service range, made local to it, and nothing
else. So the cluster DNS also answers *inside* each of them, on UDP and TCP
``<cluster DNS IP>:53``, on sockets the namespace's holder makes
(:class:`~kuberya.proxy.podnamespaces.PodNamespaces`, given by the server: those namespaces belong to this
process, where the rootless network lives), with the same :meth:`ClusterDNS.answer` as on the
host. Binding port 53 there needs no privilege on the host: the server's user owns the pod's user
namespace, so it holds ``CAP_NET_BIND_SERVICE`` in it. The runtime waits for these listeners
(``delay_namespace_ready``) before the pod's containers start, so
their first query is not refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kuberya.client import AlreadyExistsError, Clock, Informer, KubeClient, LoopClock, malformed
from kuberya.client.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from kuberya.client.servicelinks import CLUSTER_DNS_IP, CLUSTER_DOMAIN, pod_dns_config, render_resolv_conf
from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.proxy.netdev import LinkError, ServiceAddressDevice, can_manage_links
from kuberya.proxy.podnamespaces import NamespaceSockets, PodNamespaces
from kuberya.proxy.table import SERVICE_NAME_LABEL, SERVICE_PROXY_NAME_LABEL, is_ipv4

if TYPE_CHECKING:
    # At run time each function imports what it uses of dnspython (see the module docstring).
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

logger = logging.getLogger(__name__)

Obj = dict[str, Any]

__all__ = ["ClusterDNS", "pod_dns_config", "read_upstreams", "render_resolv_conf"]

TTL = 5
"""Seconds answers may be cached: short, as CoreDNS's default 5, since pods come and go."""
UPSTREAM_TIMEOUT = 2.0
UDP_LIMIT = 512
"""The largest UDP answer (RFC 1035 §4.2.1): EDNS buffer sizes in queries are not honoured."""
DNS_SERVICE = ("kube-system", "kube-dns")
POD_SIDE_RETRY_MAX = 5.0
"""Longest wait between tries to listen inside a pod namespace (its holder did not answer, say)."""


def read_upstreams(resolv_conf: Path) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf (missing file: none)."""
    try:
        text = resolv_conf.read_text()
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            with contextlib.suppress(ValueError):
                found.append(str(ipaddress.ip_address(parts[1].split("%", 1)[0])))
    return found


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


class ClusterDNS:
    """A DNS server for the cluster domain that forwards every other name to the host's resolvers."""

    def __init__(
        self,
        client: KubeClient,
        *,
        listen: list[tuple[str, int]] | None = None,
        upstream_resolv_conf: Path = Path("/etc/resolv.conf"),
        domain: str = CLUSTER_DOMAIN,
        cluster_dns_ip: str = CLUSTER_DNS_IP,
        node_ip: str = "127.0.0.1",
        manage_service: bool = True,
        pod_namespaces: PodNamespaces | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        root = can_manage_links()
        self.listen = (
            list(listen) if listen is not None else ([(cluster_dns_ip, 53)] if root else [("127.0.0.1", 5353)])
        )
        """Where to answer; by default the kube-dns ClusterIP as root, 127.0.0.1:5353 otherwise."""
        self.domain = domain.strip(".").lower()
        self.cluster_dns_ip = cluster_dns_ip
        self.node_ip = node_ip
        self.manage_service = manage_service
        self.upstreams = read_upstreams(upstream_resolv_conf)
        self.upstream_port = 53
        self._clock: Clock = clock or LoopClock()
        self.services = Informer(client, SERVICES, clock=self._clock)
        self.slices = Informer(client, ENDPOINTSLICES, label_selector=SERVICE_NAME_LABEL, clock=self._clock)
        self.slices.add_index("service", _slice_service)
        self.device = ServiceAddressDevice() if root and any(h == cluster_dns_ip for h, _ in self.listen) else None
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.Server] = []
        self.bound: list[tuple[str, int]] = []
        """The addresses actually listened on (port 0 resolved), UDP and TCP alike."""
        self.pod_namespaces = pod_namespaces
        """Also answer inside every rootless pod namespace of this process (see the module docstring)."""
        self.pod_side_address = (cluster_dns_ip, 53)
        """Where, inside a pod namespace: the address its resolv.conf names."""
        self._pod_side: dict[str, _PodSide] = {}
        """Namespace path → what answers inside it."""
        self._stop_watching: Callable[[], None] | None = None
        self._answering = asyncio.Event()
        """Set by :meth:`start`: the caches are synced, an answer is worth giving."""
        self._warned: set[tuple[str, str]] = set()
        """(uid, message) of the malformed objects already logged: once each, not once per query."""

    # -- answering ------------------------------------------------------------------------------

    def in_domain(self, name: str) -> bool:
        return name == self.domain or name.endswith(f".{self.domain}")

    def resolve(self, name: str, qtype: int) -> tuple[dns.rcode.Rcode, list[dns.rrset.RRset]]:
        """``(rcode, answers)`` for a lower-case name in the cluster domain (see the module docstring)."""
        import dns.rcode
        from dns.rdatatype import ANY, A

        labels = name[: -len(self.domain) - 1].split(".") if name != self.domain else []
        records: list[dns.rrset.RRset] | None = None
        if len(labels) >= 3 and labels[-1] == "svc":
            records = self._service_records(name, labels[:-1], qtype)
        elif len(labels) == 3 and labels[-1] == "pod":
            ip = labels[0].replace("-", ".")
            with contextlib.suppress(ValueError):
                ipaddress.IPv4Address(ip)
                records = [_rrset(name, A, ip)] if qtype in (A, ANY) else []
        elif len(labels) <= 2 and (not labels or labels[-1] in ("svc", "pod")):
            records = []  # the zone's own structure exists, without records
        if records is None:
            return dns.rcode.NXDOMAIN, []
        return dns.rcode.NOERROR, records

    def _service_records(self, name: str, labels: list[str], qtype: int) -> list[dns.rrset.RRset] | None:
        # labels: [..., svc, ns]; SRV: [_port, _proto, svc, ns]; endpoint: [host, svc, ns].
        from dns.rdatatype import ANY, CNAME, A

        namespace = labels[-1]
        if len(labels) == 1:
            return [] if self._namespace_has_services(namespace) else None
        if len(labels) == 4 and labels[0].startswith("_") and labels[1].startswith("_"):
            return self._srv(name, labels[2], namespace, labels[0][1:], labels[1][1:].upper(), qtype)
        service = self._service(f"{namespace}/{labels[-2]}")
        if service is None:
            return None
        spec = service.get("spec") or {}
        service_name = f"{labels[-2]}.{namespace}.svc.{self.domain}"
        if len(labels) == 3:
            wanted = [ip for host, ip in self._endpoints(service) if host == labels[0] or _dashed(ip) == labels[0]]
            if not wanted:
                return None
            return [_rrset(name, A, *wanted)] if qtype in (A, ANY) else []
        if len(labels) != 2:
            return None
        if spec.get("type") == "ExternalName":
            target = str(spec.get("externalName") or "")
            return [_rrset(name, CNAME, target)] if target else []
        if qtype not in (A, ANY):
            return []
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            return [_rrset(service_name, A, str(spec["clusterIP"]))]
        ips = sorted({ip for _, ip in self._endpoints(service)}, key=ipaddress.IPv4Address)
        return [_rrset(service_name, A, *ips)] if ips else []

    def _srv(
        self, name: str, svc: str, namespace: str, port_name: str, proto: str, qtype: int
    ) -> list[dns.rrset.RRset] | None:
        from dns.rdatatype import ANY, SRV

        service = self._service(f"{namespace}/{svc}")
        if service is None:
            return None
        spec = service.get("spec") or {}
        port = next(
            (
                p
                for p in spec.get("ports") or []
                if p.get("name") == port_name and (p.get("protocol") or "TCP") == proto
            ),
            None,
        )
        if port is None:
            return None
        if qtype not in (SRV, ANY):
            return []
        service_name = f"{svc}.{namespace}.svc.{self.domain}"
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            targets = [service_name]
        else:
            targets = [
                f"{host or _dashed(ip)}.{service_name}" for host, ip in self._endpoints(service, port_name=port_name)
            ]
        return [_rrset(name, SRV, *(f"0 100 {int(port['port'])} {t}" for t in targets))] if targets else []

    def _endpoints(self, service: Obj, *, port_name: str | None = None) -> list[tuple[str, str]]:
        """``(hostname, ip)`` of the Service's ready endpoints (all, with publishNotReadyAddresses)."""
        meta = service.get("metadata") or {}
        publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        found: dict[str, str] = {}
        for slice_ in self.slices.by_index("service", f"{meta.get('namespace')}/{meta.get('name')}"):
            if not self._readable(slice_, malformed.ENDPOINT_SLICE) or slice_.get("addressType", "IPv4") != "IPv4":
                continue
            if port_name is not None and not any((p.get("name") or "") == port_name for p in slice_.get("ports") or []):
                continue
            for ep in slice_.get("endpoints") or []:
                if not publish_all and (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in ep.get("addresses") or []:
                    if is_ipv4(ip):  # a hand-made slice may say anything; an A record cannot
                        found.setdefault(str(ip), str(ep.get("hostname") or ""))
        return sorted(((host, ip) for ip, host in found.items()), key=lambda e: ipaddress.IPv4Address(e[1]))

    def _service(self, key: str) -> Obj | None:
        """The cached Service at ``key``, if it can be read: a malformed one has no records."""
        service = self.services.get(key)
        return service if service is not None and self._readable(service, malformed.SERVICE) else None

    def _readable(self, obj: Obj, shape: malformed.Shape) -> bool:
        try:
            malformed.check(obj, shape)
        except malformed.MalformedObjectError as exc:
            meta = obj.get("metadata") or {}
            key = (str(meta.get("uid") or ""), str(exc))
            if key not in self._warned:
                self._warned.add(key)
                logger.warning(
                    "dns: %s %s/%s has no records: %s", obj.get("kind"), meta.get("namespace"), meta.get("name"), exc
                )
            return False
        return True

    def _namespace_has_services(self, namespace: str) -> bool:
        return any((s.get("metadata") or {}).get("namespace") == namespace for s in self.services.list())

    def soa(self) -> dns.rrset.RRset:
        from dns.rdatatype import SOA

        zone = self.domain
        return _rrset(zone, SOA, f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {TTL}")

    async def answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query message (None: drop it)."""
        if not _dnspython_loaded:
            await asyncio.to_thread(_load_dnspython)
        import dns.exception
        import dns.rcode
        import dns.rdataclass

        try:
            query = _read_query(data)
        except dns.exception.DNSException:
            return _error_reply(data, dns.rcode.FORMERR)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if not self.in_domain(name):
            return await self.forward(data, tcp=tcp)
        if question.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
            return _reply(query, dns.rcode.REFUSED, authoritative=True).to_wire()
        rcode, answers = self.resolve(name, question.rdtype)
        response = _reply(query, rcode, authoritative=True)
        response.answer = answers
        response.authority = [self.soa()] if not answers else []
        return _to_wire(response, tcp=tcp)

    # -- forwarding -----------------------------------------------------------------------------

    async def forward(self, data: bytes, *, tcp: bool) -> bytes | None:
        for upstream in self.upstreams:
            if (upstream, self.upstream_port) in self.bound or (upstream, self.upstream_port) in self.listen:
                continue  # ourselves: forwarding there would loop
            try:
                async with asyncio.timeout(UPSTREAM_TIMEOUT):
                    return await (
                        _forward_tcp(upstream, self.upstream_port, data)
                        if tcp
                        else _forward_udp(upstream, self.upstream_port, data)
                    )
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
                logger.debug("dns: upstream %s failed: %s", upstream, e)
        import dns.rcode

        return _error_reply(data, dns.rcode.SERVFAIL)

    # -- serving --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every address of :attr:`listen` (UDP and TCP)."""
        loop = asyncio.get_running_loop()
        if self.device is not None:
            await self.device.ensure()
            await self.device.sync([self.cluster_dns_ip])
        for host, port in self.listen:
            try:
                server = await asyncio.start_server(self._serve_tcp, host, port, reuse_address=True)
                bound_port = server.sockets[0].getsockname()[1] if port == 0 else port
                self._servers.append(server)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UDPServer(self), local_addr=(host, bound_port)
                )
            except OSError as e:
                # Another cluster DNS on this host (a second kuberya) has it: the others still serve.
                logger.error("dns: cannot listen on %s:%d: %s", host, port, e.strerror or e)
                continue
            self._transports.append(transport)
            self.bound.append((host, bound_port))
            logger.info("dns: answering for %s on %s:%d (udp, tcp)", self.domain, host, bound_port)
        self._answering.set()

    async def stop(self) -> None:
        self._answering.clear()
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        pod_sides = [self._pod_side.pop(netns_path) for netns_path in list(self._pod_side)]
        for pod_side in pod_sides:
            pod_side.close()
        await cancel_and_wait(*(p.task for p in pod_sides if p.task is not None))
        for transport in self._transports:
            transport.close()
        for server in self._servers:
            server.close()
        self._transports.clear()
        self._servers.clear()
        if self.device is not None:
            try:
                await self.device.release()
            except LinkError as e:
                logger.warning("dns: could not remove %s: %s", self.cluster_dns_ip, e)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = await self.answer(await reader.readexactly(length), tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- inside rootless pod namespaces -------------------------------------------------------------

    def follow_pod_namespaces(self) -> None:
        """Answer inside every rootless pod namespace of this process, those there now included.

        May be called before :meth:`start`: the listeners are made once it has run, and pods wait
        for them (so a pod made while the caches sync does not start without its DNS).
        """
        if self._stop_watching is None and self.pod_namespaces is not None:
            self._stop_watching = self.pod_namespaces.watch_socket_factories(self._namespace_changed)

    def listening_in(self, netns_path: str) -> tuple[str, int] | None:
        """The address answered on (UDP and TCP) inside the namespace, once it is."""
        pod_side = self._pod_side.get(netns_path)
        return pod_side.bound if pod_side is not None else None

    def _namespace_changed(self, netns_path: str, factory: NamespaceSockets | None) -> None:
        old = self._pod_side.pop(netns_path, None)
        if old is not None:
            old.close()  # at once: its sockets would keep a dying namespace alive
        if factory is None:
            return
        pod_side = _PodSide()
        pod_side.task = start_task(self._listen_inside(netns_path, factory, pod_side), name="dns-pod-namespace")
        self._pod_side[netns_path] = pod_side
        assert self.pod_namespaces is not None  # only a followed source tells us of namespaces
        self.pod_namespaces.delay_namespace_ready(netns_path, pod_side.task)

    async def _listen_inside(self, netns_path: str, factory: NamespaceSockets, pod_side: _PodSide) -> None:
        await self._answering.wait()
        loop = asyncio.get_running_loop()
        host, port = self.pod_side_address
        delay = 0.1
        while True:
            try:
                udp = await factory.make_socket(socket.AF_INET, socket.SOCK_DGRAM)
                pod_side.sockets.append(udp)
                udp.bind((host, port))
                bound = udp.getsockname()[:2]
                tcp = await factory.make_socket(socket.AF_INET)
                pod_side.sockets.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(bound)
                tcp.listen(128)
                pod_side.transport, _ = await loop.create_datagram_endpoint(lambda: _UDPServer(self), sock=udp)
                pod_side.server = await asyncio.start_server(self._serve_tcp, sock=tcp)
                pod_side.sockets.clear()  # the transport and server own them now
                pod_side.bound = (str(bound[0]), int(bound[1]))
                logger.debug("dns: answering inside pod %s on %s:%d", factory.pod_ip or netns_path, *bound)
                return
            except OSError as e:
                pod_side.close_listeners()
                level = logging.WARNING if delay == 0.1 else logging.DEBUG
                logger.log(level, "dns: cannot answer inside pod %s on %s:%d: %s; retrying",
                           factory.pod_ip or netns_path, host, port, e)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, POD_SIDE_RETRY_MAX)

    async def run(self) -> None:
        """Make sure the kube-dns Service exists, then answer until cancelled."""
        if self.pod_namespaces is not None:
            self.follow_pod_namespaces()
        try:
            async with asyncio.TaskGroup() as group:
                start_task(self.services.run(), name="dns-services-informer", group=group)
                start_task(self.slices.run(), name="dns-slices-informer", group=group)
                await asyncio.gather(self.services.has_synced.wait(), self.slices.has_synced.wait())
                if self.manage_service:
                    await self.ensure_service()
                await self.start()
        finally:
            await self.stop()

    async def ensure_service(self) -> None:
        """Create ``kube-system/kube-dns`` at the well-known ClusterIP, with Endpoints at the node."""
        namespace, name = DNS_SERVICE
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", SERVICE_PROXY_NAME_LABEL: "kuberya-dns"}
        ports = [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ]
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"clusterIP": self.cluster_dns_ip, "ports": ports},
        }
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "subsets": [
                {
                    "addresses": [{"ip": self.node_ip}],
                    "ports": [{"name": p["name"], "port": 53, "protocol": p["protocol"]} for p in ports],
                }
            ],
        }
        for ref, body in ((SERVICES, service), (ENDPOINTS, endpoints)):
            with contextlib.suppress(AlreadyExistsError):
                await self.client.create(ref, body, namespace=namespace)


@dataclass
class _PodSide:
    """What answers inside one pod namespace: a UDP transport and a TCP server on the same address."""

    task: asyncio.Task[None] | None = None
    transport: asyncio.BaseTransport | None = None
    server: asyncio.Server | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    """Made but not yet handed to a transport or server."""
    bound: tuple[str, int] | None = None

    def close_listeners(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.server is not None:
            self.server.close()
            self.server = None
        self.bound = None

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.close_listeners()


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDNS) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport: cast.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reply(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            reply = await self.server.answer(data, tcp=False)
        except Exception:
            logger.exception("dns: answering a query from %s failed", addr[0])
            import dns.rcode

            reply = _error_reply(data, dns.rcode.SERVFAIL)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._pending:
            task.cancel()


class _UDPClient(asyncio.DatagramProtocol):
    def __init__(self, ident: bytes) -> None:
        self.ident = ident
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data[:2] == self.ident and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _forward_udp(upstream: str, port: int, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _UDPClient(data[:2]), remote_addr=(upstream, port)
    )
    try:
        transport.sendto(data)
        return await protocol.reply
    finally:
        transport.close()


async def _forward_tcp(upstream: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(upstream, port)
    try:
        writer.write(struct.pack("!H", len(data)) + data)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(length)
    finally:
        writer.close()


# -- the wire format (dnspython) -----------------------------------------------------------------

_DNSPYTHON_MODULES = (
    "dns.exception",
    "dns.flags",
    "dns.message",
    "dns.name",
    "dns.opcode",
    "dns.rcode",
    "dns.rdataclass",
    "dns.rdatatype",
    "dns.rrset",
)
_dnspython_loaded = False
"""Whether :func:`_load_dnspython` has run (a local import of a loaded module is a dict lookup)."""
_dnspython_loading = threading.Lock()
"""Queries that arrive together import once: two threads importing dnspython's circular modules at
the same time could each find the other's half-initialised module."""


def _load_dnspython() -> None:
    """Import what answering uses of dnspython: the first query calls it in a worker thread."""
    global _dnspython_loaded
    with _dnspython_loading:
        for module in _DNSPYTHON_MODULES:
            importlib.import_module(module)
        _dnspython_loaded = True


def _rrset(name: str, rdtype: dns.rdatatype.RdataType, *rdatas: str) -> dns.rrset.RRset:
    """An IN RRset of ``rdatas`` in presentation format; every name in it is absolute."""
    import dns.name
    import dns.rdataclass
    import dns.rrset

    owner = dns.name.from_text(name)
    return dns.rrset.from_text_list(
        owner, TTL, dns.rdataclass.IN, rdtype, rdatas, origin=dns.name.root, relativize=False
    )


def _read_query(data: bytes) -> dns.message.Message:
    """A query's header and question section (raises :class:`dns.exception.DNSException`)."""
    import dns.exception
    import dns.flags
    import dns.message

    query = dns.message.from_wire(data, question_only=True)
    if query.flags & dns.flags.QR or not query.question:
        # A response, or no question. Raised as the class, as dnspython does: its __init__ is untyped.
        raise dns.exception.FormError
    return query


def _reply(query: dns.message.Message, rcode: dns.rcode.Rcode, *, authoritative: bool = False) -> dns.message.Message:
    """A reply to ``query`` echoing its ID, opcode, RD and first question; RA, as we recurse by forwarding."""
    import dns.flags
    import dns.message

    response = dns.message.make_response(query, recursion_available=True)
    response.question = query.question[:1]
    if authoritative:
        response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    return response


def _to_wire(response: dns.message.Message, *, tcp: bool) -> bytes:
    """``response`` in wire format: records in our order (dnspython shuffles them unless told not to)."""
    import dns.rrset

    if tcp:
        return response.to_wire(want_shuffle=False)
    # dnspython truncates whole RRsets; one record per RRset keeps as many records as fit (see the docstring).
    response.answer = [
        dns.rrset.from_rdata(rrset.name, rrset.ttl, rdata) for rrset in response.answer for rdata in rrset
    ]
    return response.to_wire(max_size=UDP_LIMIT, prefer_truncation=True, want_shuffle=False)


def _error_reply(data: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A bare error reply echoing the query's ID and question, or None if even its header is unreadable."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.opcode

    try:
        return _reply(_read_query(data), rcode).to_wire()
    except dns.exception.DNSException:
        if len(data) < 12:
            return None
    flags = int.from_bytes(data[2:4], "big")
    response = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    response.flags = dns.flags.QR | dns.flags.Flag(flags & dns.flags.RD)
    response.set_opcode(dns.opcode.from_flags(flags))
    response.set_rcode(rcode)
    return response.to_wire()


def _slice_service(slice_: Obj) -> Iterable[str]:
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace')}/{name}"] if name else []
