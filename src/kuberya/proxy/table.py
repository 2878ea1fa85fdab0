"""The proxy's view of the cluster: which address:port leads to which endpoints. Pure, no I/O.

:func:`build_table` turns the cached Services and EndpointSlices into :class:`ServicePort`
entries, one per (Service, port), each with the frontends it is reached at and the endpoints
behind it. The proxies (userspace and kernel) only ever apply such a table, so every rule of
*what* is served lives here and is tested without sockets:

* frontends: ``clusterIP:port`` (not for headless Services), ``<nodeport host>:nodePort`` for
  NodePort and LoadBalancer Services, ``<ingress ip>:port`` for LoadBalancer Services whose status
  names one;
* endpoints come from every slice labelled ``kubernetes.io/service-name`` (ours or hand-made),
  matched to the service port by port *name*, as kube-proxy does; duplicates across slices are
  merged;
* as kube-proxy: new connections go to ready endpoints; when none is ready, to endpoints that
  are serving *and* terminating (a Service whose pods are all shutting down keeps answering
  until they are gone); not-ready endpoints get nothing;
* Services labelled ``service.kubernetes.io/service-proxy-name`` belong to another proxy (the
  cluster DNS serves its own ``kube-dns`` address) and ExternalName Services have no frontends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberya.meta.types import Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
DEFAULT_AFFINITY_TIMEOUT = 10800
"""Upstream's default ``sessionAffinityConfig.clientIP.timeoutSeconds`` (3 hours)."""


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one Service: where it is reached and what serves it."""

    service: str
    """``namespace/name``."""
    port_name: str
    protocol: str
    cluster_ip: str | None
    port: int
    node_port: int | None = None
    ingress_ips: tuple[str, ...] = ()
    affinity_timeout: float | None = None
    """Seconds a client IP sticks to its endpoint; None without ``sessionAffinity: ClientIP``."""
    endpoints: tuple[Endpoint, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.service}:{self.port_name}/{self.protocol}"

    def usable_endpoints(self) -> tuple[Endpoint, ...]:
        """Where new connections may go: the ready ones, else the serving-and-terminating ones."""
        ready = tuple(e for e in self.endpoints if e.ready)
        if ready:
            return ready
        return tuple(e for e in self.endpoints if e.serving and e.terminating)

    def frontends(self, *, node_port_hosts: Iterable[str], cluster_ips: bool) -> list[tuple[str, int]]:
        """The ``(host, port)`` pairs to accept connections on."""
        found: list[tuple[str, int]] = []
        if cluster_ips and self.cluster_ip:
            found.append((self.cluster_ip, self.port))
        if self.node_port:
            found.extend((host, self.node_port) for host in node_port_hosts)
        found.extend((ip, self.port) for ip in self.ingress_ips)
        return list(dict.fromkeys(found))


def _slice_endpoints(slices: Iterable[Obj], port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    found: dict[tuple[str, int], Endpoint] = {}
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        port = next(
            (
                p
                for p in slice_.get("ports") or []
                if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol and p.get("port")
            ),
            None,
        )
        if port is None:
            continue
        for ep in slice_.get("endpoints") or []:
            conditions = ep.get("conditions") or {}
            # Unset "ready" means ready (the API's documented reading); serving defaults to ready.
            ready = conditions.get("ready") is not False
            serving = conditions.get("serving", ready) is not False
            for ip in ep.get("addresses") or []:
                if not is_ipv4(ip):
                    continue  # a hand-made slice may say anything; only an address can be proxied to
                endpoint = Endpoint(str(ip), int(port["port"]), ready, serving, bool(conditions.get("terminating")))
                found.setdefault(endpoint.address, endpoint)
    return tuple(sorted(found.values()))


def is_ipv4(value: Any) -> bool:
    """Whether ``value`` is an IPv4 address (what an endpoint of an IPv4 slice must be)."""
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return False
    return True


def _affinity_timeout(spec: Mapping[str, Any]) -> float | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP")) or {}
    return float(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)


def service_ports(service: Obj, slices: Iterable[Obj]) -> list[ServicePort]:
    """The :class:`ServicePort` entries of one Service, given the slices labelled with its name."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    if (meta.get("labels") or {}).get(SERVICE_PROXY_NAME_LABEL) or spec.get("type") == "ExternalName":
        return []
    slices = list(slices)
    cluster_ip = spec.get("clusterIP")
    cluster_ip = str(cluster_ip) if cluster_ip and cluster_ip != "None" else None
    typ = spec.get("type") or "ClusterIP"
    ingress = tuple(
        str(i["ip"])
        for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if typ == "LoadBalancer" and isinstance(i, dict) and i.get("ip")
    )
    result = []
    for port in spec.get("ports") or []:
        name = str(port.get("name") or "")
        protocol = str(port.get("protocol") or "TCP")
        result.append(
            ServicePort(
                service=f"{meta.get('namespace')}/{meta.get('name')}",
                port_name=name,
                protocol=protocol,
                cluster_ip=cluster_ip,
                port=int(port.get("port") or 0),
                node_port=int(port["nodePort"])
                if typ in ("NodePort", "LoadBalancer") and port.get("nodePort")
                else None,
                ingress_ips=ingress,
                affinity_timeout=_affinity_timeout(spec),
                endpoints=_slice_endpoints(slices, name, protocol),
            )
        )
    return result


def build_table(services: Iterable[Obj], slices: Iterable[Obj]) -> dict[str, ServicePort]:
    """Every :class:`ServicePort` of the cluster, by :attr:`ServicePort.key`."""
    by_service: dict[str, list[Obj]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            by_service.setdefault(f"{meta.get('namespace')}/{name}", []).append(slice_)
    table: dict[str, ServicePort] = {}
    for service in services:
        meta = service.get("metadata") or {}
        for entry in service_ports(service, by_service.get(f"{meta.get('namespace')}/{meta.get('name')}", [])):
            table[entry.key] = entry
    return table
