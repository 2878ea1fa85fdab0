"""The cluster DNS as a component: CoreDNS's ``kubernetes`` and ``forward`` plugins in one server.

A query for the cluster domain is answered from the informer caches
(:mod:`~kuberya.proxy.dns.records`), any other is relayed to the host's resolvers
(:mod:`~kuberya.proxy.dns.forward`); both reach the sockets (:mod:`~kuberya.proxy.dns.listeners`)
through one :meth:`ClusterDNS.answer`, in dnspython's wire format (:mod:`~kuberya.proxy.dns.wire`).

As a component (:meth:`ClusterDNS.run`) it also makes sure the ``kube-system/kube-dns`` Service
exists at the well-known ClusterIP, labelled ``service.kubernetes.io/service-proxy-name`` so that
the service proxy leaves that address to us, and — as root — puts that address on the
``kuberya-svc`` link to listen on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kuberya.client import AlreadyExistsError, Clock, KubeClient, LoopClock, SharedInformerFactory
from kuberya.client.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from kuberya.client.servicelinks import CLUSTER_DNS_IP, CLUSTER_DOMAIN
from kuberya.client.tasks import start_task
from kuberya.meta.handover import PodNamespaces
from kuberya.proxy.dns import forward, wire
from kuberya.proxy.dns.forward import read_upstreams
from kuberya.proxy.dns.listeners import PodNamespaceListeners, UDPServer, tcp_handler
from kuberya.proxy.dns.records import ClusterRecords
from kuberya.proxy.netdev import LinkError, ServiceAddressDevice, can_manage_links
from kuberya.proxy.table import SERVICE_NAME_LABEL, SERVICE_PROXY_NAME_LABEL

if TYPE_CHECKING:
    import dns.rcode
    import dns.rrset

logger = logging.getLogger(__name__)

DNS_SERVICE = ("kube-system", "kube-dns")


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
        informers: SharedInformerFactory | None = None,
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
        shared = informers or SharedInformerFactory(client, clock=self._clock)
        self.services = shared.informer(SERVICES)
        self.slices = shared.informer(ENDPOINTSLICES, label_selector=SERVICE_NAME_LABEL)
        self.records = ClusterRecords(self.services, self.slices, domain=self.domain)
        self.device = ServiceAddressDevice() if root and any(h == cluster_dns_ip for h, _ in self.listen) else None
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.Server] = []
        self.bound: list[tuple[str, int]] = []
        """The addresses actually listened on (port 0 resolved), UDP and TCP alike."""
        self.pod_namespaces = pod_namespaces
        """Also answer inside every rootless pod namespace of this process (:mod:`kuberya.proxy.dns.listeners`)."""
        self.pod_side_address = (cluster_dns_ip, 53)
        """Where, inside a pod namespace: the address its resolv.conf names."""
        self._pod_side: PodNamespaceListeners | None = None
        self._answering = asyncio.Event()
        """Set by :meth:`start`: the caches are synced, an answer is worth giving."""

    # -- answering ------------------------------------------------------------------------------

    def in_domain(self, name: str) -> bool:
        return self.records.in_domain(name)

    def resolve(self, name: str, qtype: int) -> tuple[dns.rcode.Rcode, list[dns.rrset.RRset]]:
        """``(rcode, answers)`` for a lower-case name in the cluster domain (:meth:`ClusterRecords.resolve`)."""
        return self.records.resolve(name, qtype)

    def soa(self) -> dns.rrset.RRset:
        return self.records.soa()

    async def answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query message (None: drop it)."""
        if not wire.loaded():
            await asyncio.to_thread(wire.load_dnspython)
        import dns.exception
        import dns.rcode
        import dns.rdataclass

        try:
            query = wire.read_query(data)
        except dns.exception.DNSException:
            return wire.error_reply(data, dns.rcode.FORMERR)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if not self.in_domain(name):
            return await self.forward(data, tcp=tcp)
        if question.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
            return wire.reply(query, dns.rcode.REFUSED, authoritative=True).to_wire()
        rcode, answers = self.resolve(name, question.rdtype)
        response = wire.reply(query, rcode, authoritative=True)
        response.answer = answers
        response.authority = [self.soa()] if not answers else []
        return wire.to_wire(response, tcp=tcp)

    async def forward(self, data: bytes, *, tcp: bool) -> bytes | None:
        return await forward.forward(
            data, upstreams=self.upstreams, port=self.upstream_port, ourselves={*self.bound, *self.listen}, tcp=tcp
        )

    # -- serving --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every address of :attr:`listen` (UDP and TCP)."""
        loop = asyncio.get_running_loop()
        if self.device is not None:
            await self.device.ensure()
            await self.device.sync([self.cluster_dns_ip])
        for host, port in self.listen:
            try:
                server = await asyncio.start_server(tcp_handler(self.answer), host, port, reuse_address=True)
                bound_port = server.sockets[0].getsockname()[1] if port == 0 else port
                self._servers.append(server)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: UDPServer(self.answer), local_addr=(host, bound_port)
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
        if self._pod_side is not None:
            await self._pod_side.close()
            self._pod_side = None
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

    # -- inside rootless pod namespaces -------------------------------------------------------------

    def follow_pod_namespaces(self) -> None:
        """Answer inside every rootless pod namespace of this process, those there now included.

        May be called before :meth:`start`: the listeners are made once it has run, and pods wait
        for them (so a pod made while the caches sync does not start without its DNS).
        """
        if self._pod_side is None and self.pod_namespaces is not None:
            self._pod_side = PodNamespaceListeners(
                self.pod_namespaces, address=self.pod_side_address, answer=self.answer, answering=self._answering
            )
            self._pod_side.follow()

    def listening_in(self, netns_path: str) -> tuple[str, int] | None:
        """The address answered on (UDP and TCP) inside the namespace, once it is."""
        return self._pod_side.listening_in(netns_path) if self._pod_side is not None else None

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
