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

NodePorts are always served by the userspace proxy: kernel DNAT of ``127.0.0.1`` would need
``route_localnet``, a setting with a security history (CVE-2020-8558), and the userspace path
bounds connection draining.

UDP is forwarded by the kernel path only (ClusterIPs, as root with nftables); what a Service asks
for that is not served here — UDP without root, UDP NodePorts, SCTP — is logged and reported
once as a ``ProtocolNotProxied`` Warning event on the Service (:func:`unserved`).

On shutdown the listeners close, open connections get a short drain, and the nftables table
and the service addresses (and the link, when it is empty) are removed.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import shutil
from collections.abc import Sequence
from typing import Literal

from kuberya.client import ApiError, Clock, Informer, KubeClient, LoopClock
from kuberya.client.resources import ENDPOINTSLICES, EVENTS, SERVICES
from kuberya.client.tasks import start_task
from kuberya.proxy.kernel import NftablesDNAT
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
    path DNATs ClusterIPs; NodePorts on 127.0.0.1 are the userspace proxy's (see the module
    docstring), so a UDP NodePort is not reachable either. SCTP is not proxied at all.
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
    return None


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
        nft_table: str = "kuberya",
        device_name: str = DEVICE_NAME,
        drain_timeout: float = 30.0,
        shutdown_drain: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.node_ip = node_ip
        """The node's address, as published in LoadBalancer ingress."""
        self.node_port_hosts = (bind_nodeports_on,) if isinstance(bind_nodeports_on, str) else tuple(bind_nodeports_on)
        self.cluster_ips = can_manage_links() if cluster_ips is None else cluster_ips
        """Serve ClusterIPs on the host (needs root); by default whenever we are root."""
        if mode == "auto":
            mode = "nftables" if self.cluster_ips and shutil.which("nft") else "userspace"
        self.mode = mode
        """How ClusterIPs are forwarded: ``nftables`` (kernel DNAT) or ``userspace``."""
        self.kernel = (
            NftablesDNAT(table=nft_table, pod_cidr=pod_cidr) if self.cluster_ips and mode == "nftables" else None
        )
        self.shutdown_drain = shutdown_drain
        self._clock: Clock = clock or LoopClock()
        self.userspace = UserspaceProxy(drain_timeout=drain_timeout, clock=self._clock)
        self.podside = PodSideFrontends(self.userspace)
        """ClusterIPs inside rootless pods' namespaces: those pods' only way to a Service."""
        self.device = ServiceAddressDevice(device_name) if self.cluster_ips else None
        self.services = Informer(client, SERVICES, clock=self._clock)
        self.slices = Informer(client, ENDPOINTSLICES, label_selector=SERVICE_NAME_LABEL, clock=self._clock)
        self._dirty = asyncio.Event()
        for informer in (self.services, self.slices):
            informer.add_handlers(
                on_add=lambda _o: self._dirty.set(),
                on_update=lambda _o, _n: self._dirty.set(),
                on_delete=lambda _o: self._dirty.set(),
            )
        self.table: dict[str, ServicePort] = {}
        self._warned: set[tuple[str, str, str]] = set()
        """(service uid, port key, message) already reported: one event per cause, not one per sync."""

    async def run(self) -> None:
        if not self.cluster_ips:
            logger.warning(
                "proxy: not root: ClusterIPs are not reachable from the host; NodePorts are served on %s",
                ", ".join(self.node_port_hosts),
            )
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
                self.podside.start()
                start_task(self._sync_loop(), name="proxy-sync", group=group)
        finally:
            await self.shutdown()

    async def _sync_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except (LinkError, OSError, RuntimeError) as e:
                logger.error("proxy: applying the service table failed: %s; retrying", e)
                await self._clock.sleep(1.0)
                self._dirty.set()

    async def sync(self) -> None:
        """Rebuild the table from the caches and apply it."""
        table = build_table(self.services.list(), self.slices.list())
        if self.device is not None:
            # Every protocol's: a UDP ClusterIP without endpoints is then refused here, not routed out.
            ips = {e.cluster_ip for e in table.values() if e.cluster_ip}
            await self.device.ensure()
            await self.device.sync(ip for ip in ips if ip)
        if self.kernel is not None:
            await self.kernel.apply(table.values())
        await self.userspace.apply(
            table, node_port_hosts=self.node_port_hosts, cluster_ips=self.cluster_ips and self.kernel is None
        )
        await self.podside.apply(table)
        self.table = table
        for entry in table.values():
            why = unserved(entry, kernel=self.kernel is not None)
            if why is not None:
                await self._warn_once(entry, why)

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
        now = datetime.datetime.now(datetime.UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            # Upstream's naming (the object's name and the time in nanoseconds, in hex).
            "metadata": {"name": f"{name}.{int(now.timestamp() * 1e9):x}", "namespace": namespace},
            "involvedObject": {"kind": "Service", "apiVersion": "v1", "namespace": namespace, "name": name, "uid": uid},
            "type": "Warning",
            "reason": UNSERVED_REASON,
            "message": why,
            "source": {"component": "kuberya-proxy"},
            "reportingComponent": "kuberya-proxy",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.client.create(EVENTS, event, namespace=namespace)
        except ApiError as e:  # best effort: the log line above already says it
            logger.warning("proxy: cannot record the event for %s: %s", entry.service, e)

    async def shutdown(self) -> None:
        # Listeners first (no new connections), then let open ones finish, then the addresses.
        await self.podside.close()
        await self.userspace.close(drain=self.shutdown_drain)
        if self.kernel is not None:
            await self.kernel.remove()
        if self.device is not None:
            try:
                await self.device.release()
            except LinkError as e:
                logger.warning("proxy: could not remove the service addresses: %s", e)
