"""The service proxy component: Services + EndpointSlices in, listening sockets out.

Two informers (Services, and every EndpointSlice labelled with a service name — ours and
hand-made ones alike) mark the table dirty on any change; one loop rebuilds the whole table
(:func:`~kuberya.proxy.table.build_table`) and applies it, so the proxy is level-triggered
and a burst of events costs one rebuild.

Where services are reachable:

* NodePorts (and LoadBalancer ingress addresses) on ``bind_nodeports_on`` — ``127.0.0.1`` only,
  unless the operator passes other addresses explicitly: a NodePort on every interface would
  expose a developer's services to their network;
* ClusterIPs inside the network namespace of every rootless pod (:mod:`kuberya.proxy.podside`),
  which has no other way to a Service;
* ClusterIPs, as root, on the ``kuberya-svc`` link (:mod:`kuberya.proxy.netdev`), which makes
  them reachable from the host and from pods on the bridge. Without root ClusterIPs are not
  reachable from the host at all, and the proxy says so once at start.

How connections are forwarded (``mode``), chosen by the figures in ``docs/DECISIONS.md``:

* ``nftables`` (the default as root, where ``nft`` exists): ClusterIPs are DNATed by the kernel
  (:mod:`kuberya.proxy.kernel`), at the speed of a direct connection; the addresses still sit on
  ``kuberya-svc`` so that a ClusterIP without endpoints is refused locally instead of being
  routed out to the network;
* ``userspace`` (the default otherwise): ClusterIPs are served by the asyncio proxy
  (:mod:`kuberya.proxy.userspace`) too.

Loopback frontends (NodePorts on ``127.0.0.1``, LoadBalancer ingress ``127.0.0.1:port``) follow
the same choice: with ``nftables`` the kernel DNATs them too (``route_localnet`` on the pod bridge
only, with kube-proxy's CVE-2020-8558 guard; :mod:`kuberya.proxy.kernel`), and the userspace
proxy does not bind them, so a NodePort without endpoints is refused by the host as kube-proxy
rejects it. The userspace proxy keeps a Service port's loopback frontends where the kernel path
would change what the user sees: ``sessionAffinity: ClientIP`` (no affinity in the kernel path),
an endpoint neither on loopback nor on the pod bridge (a loopback source cannot be routed there),
a port some host process already listens on (DNAT would take its traffic; userspace fails to bind
and says so), and NodePorts bound on non-loopback addresses (``bind_nodeports_on``). Where
``route_localnet`` cannot be written the proxy says so once and leaves all of them to userspace.
For the same reason a TCP ClusterIP with ``sessionAffinity: ClientIP`` is served by the userspace
proxy even in ``nftables`` mode (:func:`kuberya.proxy.kernel.render_rule` leaves it out).

UDP is forwarded by the kernel path only (ClusterIPs, as root with nftables); what a Service asks
for that is not served here — UDP without root, UDP NodePorts, SCTP — is logged and reported
once as a ``ProtocolNotProxied`` Warning event on the Service (:func:`unserved`).

On shutdown the listeners close, open connections get a short drain, and the nftables table
and the service addresses (and the link, when it is empty) are removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import errno
import ipaddress
import logging
import shutil
import socket
from collections.abc import Sequence
from typing import Literal

from kuberya.client import ApiError, Clock, KubeClient, LoopClock, SharedInformerFactory, malformed
from kuberya.client.events import EventCorrelator
from kuberya.client.resources import ENDPOINTSLICES, SERVICES
from kuberya.client.tasks import start_task
from kuberya.meta.handover import EndpointPublisher, PodNamespaces
from kuberya.meta.timefmt import format_time
from kuberya.meta.types import Obj
from kuberya.proxy.kernel import (
    LOOPBACK,
    POD_BRIDGE,
    LocalnetUnavailable,
    NftablesDNAT,
    RouteLocalnet,
    is_loopback,
    serves_on_loopback,
    within,
)
from kuberya.proxy.netdev import DEVICE_NAME, LinkError, ServiceAddressDevice, can_manage_links
from kuberya.proxy.podside import PodSideFrontends
from kuberya.proxy.table import SERVICE_NAME_LABEL, ServicePort, build_table
from kuberya.proxy.userspace import UserspaceProxy

logger = logging.getLogger(__name__)


UNSERVED_REASON = "ProtocolNotProxied"


def unserved(entry: ServicePort, *, kernel: bool) -> str | None:
    """What of ``entry`` this proxy does not serve and why, or None when it serves all of it.

    TCP is served everywhere. UDP is forwarded by the kernel only (nftables DNAT, as root): a
    userspace UDP proxy would need a socket per client flow and idle timeouts of its own, for a
    protocol kuberya's users rarely expose beyond the cluster DNS, which serves itself. The kernel
    path DNATs ClusterIPs and only the TCP NodePorts on 127.0.0.1 (see the module docstring), and
    the userspace proxy is TCP-only, so a UDP NodePort is not reachable either. SCTP is not
    proxied at all.
    """
    port = f"port {entry.port_name or entry.port}/{entry.protocol}"
    if entry.protocol == "TCP":
        return None
    if entry.protocol != "UDP":
        return f"{port} is not served: kuberya's proxy forwards TCP and (as root, with nftables) UDP only"
    if not kernel:
        return (
            f"{port} is not served: UDP Services are forwarded by nftables, which needs root and the nft command; "
            "without them only TCP is proxied"
        )
    if entry.node_port or entry.ingress_ips:
        return f"{port} is served on its ClusterIP only: NodePorts and LoadBalancer addresses are TCP-only here"
    if entry.affinity_timeout is not None:
        return f"{port} is served without sessionAffinity: client affinity is kept for TCP ports only here"
    return None


def _without_loopback_frontends(entry: ServicePort) -> ServicePort:
    """``entry`` as the userspace proxy sees it once the kernel serves its loopback frontends."""
    return dataclasses.replace(
        entry, node_port=None, ingress_ips=tuple(ip for ip in entry.ingress_ips if not is_loopback(ip))
    )


def someone_listens(host: str, port: int) -> bool:
    """Whether a socket of this host already holds ``host:port`` (or the wildcard with that port).

    A bind with ``SO_REUSEADDR`` fails against a listener or a socket bound without that option,
    not against TIME_WAIT; NodePorts (30000–32767) lie below the ephemeral range (32768+), so in
    practice that is a listener. It costs microseconds: reading ``/proc/net/tcp`` instead took
    60 ms with 19,000 entries there, on the event loop the whole server shares, and made the
    proxy miss the node agent's 0.25 s propagation window in ``test_zero_downtime``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


class ServiceProxy:
    """Serves every Service's NodePorts (and, as root, ClusterIPs) from this host."""

    def __init__(
        self,
        client: KubeClient,
        *,
        node_ip: str = "127.0.0.1",
        bind_nodeports_on: str | Sequence[str] = "127.0.0.1",
        cluster_ips: bool | None = None,
        mode: Literal["auto", "nftables", "userspace"] = "auto",
        pod_cidr: str = "10.88.0.0/16",
        pod_bridge: str = POD_BRIDGE,
        nft_table: str = "kuberya",
        device_name: str = DEVICE_NAME,
        drain_timeout: float = 30.0,
        shutdown_drain: float = 2.0,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        pod_namespaces: PodNamespaces | None = None,
        offered: EndpointPublisher | None = None,
    ) -> None:
        self.client = client
        self.offered = offered
        """Where the endpoint IPs offered for new connections go after each apply (the node agent waits on them)."""
        self.node_ip = node_ip
        """The node's address, as published in LoadBalancer ingress."""
        self.node_port_hosts = (bind_nodeports_on,) if isinstance(bind_nodeports_on, str) else tuple(bind_nodeports_on)
        self.cluster_ips = can_manage_links() if cluster_ips is None else cluster_ips
        """Serve ClusterIPs on the host (needs root); by default whenever we are root."""
        if mode == "auto":
            mode = "nftables" if self.cluster_ips and shutil.which("nft") else "userspace"
        self.mode = mode
        """How ClusterIPs are forwarded: ``nftables`` (kernel DNAT) or ``userspace``."""
        # Loopback frontends go to the kernel only when every NodePort is on loopback (the default).
        loopback_hosts = all(is_loopback(host) for host in self.node_port_hosts)
        self.kernel = (
            NftablesDNAT(
                table=nft_table, pod_cidr=pod_cidr, localnet=RouteLocalnet(pod_bridge) if loopback_hosts else None
            )
            if self.cluster_ips and mode == "nftables"
            else None
        )
        self.shutdown_drain = shutdown_drain
        self._clock: Clock = clock or LoopClock()
        self.userspace = UserspaceProxy(drain_timeout=drain_timeout, clock=self._clock)
        self.podside = PodSideFrontends(self.userspace, pod_namespaces) if pod_namespaces is not None else None
        """ClusterIPs inside rootless pods' namespaces: those pods' only way to a Service."""
        self.device = ServiceAddressDevice(device_name) if self.cluster_ips else None
        shared = informers or SharedInformerFactory(client, clock=self._clock)
        self.services = shared.informer(SERVICES)
        self.slices = shared.informer(ENDPOINTSLICES, label_selector=SERVICE_NAME_LABEL)
        self._dirty = asyncio.Event()
        for informer in (self.services, self.slices):
            informer.add_handlers(
                on_add=lambda _o: self._dirty.set(),
                on_update=lambda _o, _n: self._dirty.set(),
                on_delete=lambda _o: self._dirty.set(),
            )
        self.table: dict[str, ServicePort] = {}
        self._bridge_networks: list[ipaddress.IPv4Network] = []
        """The pod bridge's subnets, as last read (see :meth:`_kernel_loopback`)."""
        self._warned: set[tuple[str, str, str]] = set()
        """(service uid, port key, message) already reported: one event per cause, not one per sync."""
        self._events = EventCorrelator(client, component="kuberya-proxy")

    async def run(self) -> None:
        if not self.cluster_ips:
            logger.warning(
                "proxy: not root: ClusterIPs are not reachable from the host; NodePorts are served on %s",
                ", ".join(self.node_port_hosts),
            )
        elif self.kernel is None or not self.kernel.serve_loopback:
            why = "no nftables path" if self.kernel is None else "they are not all on loopback"
            logger.info("proxy: NodePorts on %s are served in userspace (%s)", ", ".join(self.node_port_hosts), why)
        try:
            async with asyncio.TaskGroup() as group:
                start_task(self.services.run(), name="proxy-services-informer", group=group)
                start_task(self.slices.run(), name="proxy-slices-informer", group=group)
                await asyncio.gather(self.services.has_synced.wait(), self.slices.has_synced.wait())
                if self.kernel is not None:
                    try:
                        await self.kernel.collect_stale()
                    except (RuntimeError, ValueError) as e:
                        logger.warning("proxy: could not look for stale nftables tables: %s", e)
                if self.podside is not None:
                    self.podside.start()
                start_task(self._sync_loop(), name="proxy-sync", group=group)
        finally:
            await self.shutdown()

    async def _sync_loop(self) -> None:
        failing = ""  # the message of the current run of failures: logged once, not every second
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except (LinkError, OSError, RuntimeError, *malformed.READ_ERRORS) as e:
                # Read errors too: a field the shapes do not check must cost a retry, not the proxy.
                if str(e) != failing:
                    failing = str(e)
                    logger.error("proxy: applying the service table failed: %s; retrying", e)
                else:
                    logger.debug("proxy: applying the service table failed again: %s", e)
                await self._clock.sleep(1.0)
                self._dirty.set()
            else:
                failing = ""

    async def sync(self) -> None:
        """Rebuild the table from the caches and apply it."""
        # An object stored malformed (by an older kuberya) is left out of the table, not allowed
        # to stop every other Service from being served; it is reported once below.
        services, invalid = malformed.partition(self.services.list(), malformed.SERVICE)
        slices, invalid_slices = malformed.partition(self.slices.list(), malformed.ENDPOINT_SLICE)
        table = build_table(services, slices)
        if self.device is not None:
            # Every protocol's: a UDP ClusterIP without endpoints is then refused here, not routed out.
            ips = {e.cluster_ip for e in table.values() if e.cluster_ip}
            await self.device.ensure()
            await self.device.sync(ip for ip in ips if ip)
        userspace_table = table
        if self.kernel is not None:
            loopback = await self._kernel_loopback(table)
            try:
                await self.kernel.apply(table.values(), loopback=loopback, node_port_hosts=self.node_port_hosts)
            except LocalnetUnavailable as e:
                logger.warning("proxy: %s: NodePorts are served in userspace", e)
                self.kernel.serve_loopback = False
                loopback = []
                await self.kernel.apply(table.values())
            # The userspace proxy must not also bind what the kernel serves.
            userspace_table = {**table, **{e.key: _without_loopback_frontends(e) for e in loopback}}
        # ClusterIPs with sessionAffinity stay in userspace even with the kernel path (kernel.render_rule).
        affinity = frozenset(
            e.key for e in table.values() if e.protocol == "TCP" and e.affinity_timeout is not None and e.cluster_ip
        )
        await self.userspace.apply(
            userspace_table,
            node_port_hosts=self.node_port_hosts,
            cluster_ips=self.cluster_ips and self.kernel is None,
            cluster_ip_keys=affinity if self.cluster_ips else frozenset(),
        )
        if self.podside is not None:
            await self.podside.apply(table)
        self.table = table
        if self.offered is not None:
            self.offered.publish(e.ip for entry in table.values() for e in entry.usable_endpoints())
        for entry in table.values():
            why = unserved(entry, kernel=self.kernel is not None)
            if why is not None:
                await self._warn_once(entry, why)
        for obj, error in [*invalid, *invalid_slices]:
            await self._warn_invalid(obj, error)

    async def _kernel_loopback(self, table: dict[str, ServicePort]) -> list[ServicePort]:
        """The entries whose loopback frontends the kernel serves this time (see the module docstring)."""
        if self.kernel is None or not self.kernel.serve_loopback:
            return []
        # Pod addresses are in the bridge's subnet; it is read again only when an endpoint is outside it.
        known = (LOOPBACK, *self._bridge_networks)
        if not all(within(e.ip, known) for entry in table.values() for e in entry.endpoints):
            self._bridge_networks = await self.kernel.localnet.networks()
        ours = set(self.userspace.listening)
        return [
            entry
            for entry in table.values()
            if serves_on_loopback(entry, bridge_networks=self._bridge_networks)
            # A host listener on a frontend is someone else's: DNAT would take its traffic.
            and not any(
                someone_listens(*frontend)
                for frontend in entry.frontends(node_port_hosts=self.node_port_hosts, cluster_ips=False)
                if is_loopback(frontend[0]) and frontend not in ours
            )
        ]

    async def _warn_once(self, entry: ServicePort, why: str) -> None:
        """Say, as a Warning event on the Service (``kubectl describe``), what of it is not served."""
        namespace, name = entry.service.split("/", 1)
        service = self.services.get(entry.service)
        uid = str(((service or {}).get("metadata") or {}).get("uid") or "")
        key = (uid, entry.key, why)
        if service is None or key in self._warned:
            return
        self._warned.add(key)
        logger.warning("proxy: service %s: %s", entry.service, why)
        await self._record(
            {"kind": "Service", "apiVersion": "v1", "namespace": namespace, "name": name, "uid": uid},
            UNSERVED_REASON,
            why,
        )

    async def _warn_invalid(self, obj: Obj, error: malformed.MalformedObjectError) -> None:
        """Say once, as a Warning event on it, why a Service or EndpointSlice is not served."""
        meta = obj.get("metadata") or {}
        message = malformed.describe(obj, error)
        key = (str(meta.get("uid") or ""), "", message)
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning(
            "proxy: %s %s/%s not served: %s", obj.get("kind"), meta.get("namespace"), meta.get("name"), error
        )
        involved = {
            "kind": obj.get("kind"),
            "apiVersion": obj.get("apiVersion"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        }
        await self._record(involved, malformed.REASON, message)

    async def _record(self, involved: Obj, reason: str, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        try:
            # Upstream names an Event after the object and the time in nanoseconds.
            await self._events.write(
                involved,
                type="Warning",
                reason=reason,
                message=message,
                stamp=format_time(now),
                name_ns=int(now.timestamp() * 1e9),
            )
        except ApiError as e:  # best effort: the log line above already says it
            logger.warning(
                "proxy: cannot record the event for %s/%s: %s", involved.get("namespace"), involved.get("name"), e
            )

    async def shutdown(self) -> None:
        if self.offered is not None:
            self.offered.stop()
        # Listeners first (no new connections), then let open ones finish, then the addresses.
        if self.podside is not None:
            await self.podside.close()
        await self.userspace.close(drain=self.shutdown_drain)
        if self.kernel is not None:
            await self.kernel.remove()
        if self.device is not None:
            try:
                await self.device.release()
            except LinkError as e:
                logger.warning("proxy: could not remove the service addresses: %s", e)
