"""The cluster domain's records, read from the Service and EndpointSlice caches (CoreDNS's ``kubernetes`` plugin).

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

:meth:`ClusterRecords.resolve` is pure over the two informer caches: no I/O, no sockets. A
malformed Service or slice has no records, and is logged once (per uid and problem), not once per
query.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kuberya.client import Informer, malformed
from kuberya.meta.types import Obj
from kuberya.proxy.dns import wire
from kuberya.proxy.dns.wire import TTL
from kuberya.proxy.table import SERVICE_NAME_LABEL, is_ipv4

if TYPE_CHECKING:
    import dns.rcode
    import dns.rrset

logger = logging.getLogger(__name__)

SERVICE_INDEX = "service"
"""EndpointSlices by ``namespace/service``."""


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def slice_service(slice_: Obj) -> Iterable[str]:
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace')}/{name}"] if name else []


class ClusterRecords:
    """The records of one cluster domain over the Service and (service-labelled) EndpointSlice informers."""

    def __init__(self, services: Informer, slices: Informer, *, domain: str) -> None:
        self.services = services
        self.slices = slices
        self.slices.add_index(SERVICE_INDEX, slice_service)
        self.domain = domain
        self._warned: set[tuple[str, str]] = set()
        """(uid, message) of the malformed objects already logged: once each, not once per query."""

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
                records = [wire.rrset(name, A, ip)] if qtype in (A, ANY) else []
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
            wanted = [ip for host, ip in self._endpoints(service) if host == labels[0] or dashed(ip) == labels[0]]
            if not wanted:
                return None
            return [wire.rrset(name, A, *wanted)] if qtype in (A, ANY) else []
        if len(labels) != 2:
            return None
        if spec.get("type") == "ExternalName":
            target = str(spec.get("externalName") or "")
            return [wire.rrset(name, CNAME, target)] if target else []
        if qtype not in (A, ANY):
            return []
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            return [wire.rrset(service_name, A, str(spec["clusterIP"]))]
        ips = sorted({ip for _, ip in self._endpoints(service)}, key=ipaddress.IPv4Address)
        return [wire.rrset(service_name, A, *ips)] if ips else []

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
                f"{host or dashed(ip)}.{service_name}" for host, ip in self._endpoints(service, port_name=port_name)
            ]
        return [wire.rrset(name, SRV, *(f"0 100 {int(port['port'])} {t}" for t in targets))] if targets else []

    def _endpoints(self, service: Obj, *, port_name: str | None = None) -> list[tuple[str, str]]:
        """``(hostname, ip)`` of the Service's ready endpoints (all, with publishNotReadyAddresses)."""
        meta = service.get("metadata") or {}
        publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        found: dict[str, str] = {}
        for slice_ in self.slices.by_index(SERVICE_INDEX, f"{meta.get('namespace')}/{meta.get('name')}"):
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
        return wire.rrset(zone, SOA, f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {TTL}")
