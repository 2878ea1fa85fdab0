"""Network addresses the API server hands out: a Service's ClusterIP and NodePorts.

Upstream allocates them in the Service REST storage, from bitmaps kept in etcd. kuberya has one
API server, so the allocated set is simply every stored Service's addresses, read under
:attr:`AddressAllocator.lock`; the writer holds the same lock until its object is stored, so two
Services written at once cannot take one address. The Service kind's spec calls
:meth:`AddressAllocator.allocate_service` through its ``allocate`` hook.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.settings import APIServerSettings
from kuberya.resources import kinds
from kuberya.resources.types import Cause, JSONObject


class AddressAllocator:
    """Allocates ClusterIPs from the service CIDR and NodePorts from the node port range."""

    def __init__(self, store: ObjectStore, settings: APIServerSettings) -> None:
        self.store = store
        self.lock = asyncio.Lock()
        """Held across allocation and the write that stores what was allocated."""
        self._service_network = ipaddress.ip_network(settings.service_cidr)
        self._node_port_range = settings.node_port_range

    async def allocate_service(self, obj: JSONObject, *, old: JSONObject | None) -> None:
        """Give a Service its ClusterIP and NodePorts (upstream's service REST allocators).

        Callers hold :attr:`lock` across allocation *and* the write, so two Services
        created at once cannot take one address.
        """
        spec = obj.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        services = await self._all_services()
        if old is not None:
            old_spec = old.get("spec", {})
            if "clusterIP" not in spec and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
                spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
        if svc_type == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        elif spec.get("clusterIP") in (None, ""):
            spec["clusterIP"] = self._free_cluster_ip(services, exclude=obj)
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec["clusterIP"] != "None":
            self._check_requested_cluster_ip(spec["clusterIP"], services, obj)
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        else:
            spec.setdefault("clusterIPs", ["None"])
        if svc_type in ("NodePort", "LoadBalancer"):
            used = {
                p.get("nodePort")
                for s in services
                if s["metadata"]["uid"] != obj["metadata"].get("uid")
                for p in s.get("spec", {}).get("ports", [])
                if p.get("nodePort")
            }
            old_ports = {p.get("port"): p.get("nodePort") for p in (old or {}).get("spec", {}).get("ports", [])}
            low, high = self._node_port_range
            for port in spec.get("ports", []):
                if not port.get("nodePort") and old_ports.get(port.get("port")):
                    port["nodePort"] = old_ports[port.get("port")]
                if port.get("nodePort"):
                    if port["nodePort"] in used:
                        raise _invalid(
                            obj["metadata"]["name"],
                            "spec.ports[].nodePort",
                            f"Invalid value: {port['nodePort']}: provided port is already allocated",
                        )
                    used.add(port["nodePort"])
                    continue
                candidates = [n for n in range(low, high + 1) if n not in used]
                if not candidates:
                    raise errors.internal_error("no free NodePort left in the node port range")
                port["nodePort"] = secrets.choice(candidates)
                used.add(port["nodePort"])
        else:
            for port in spec.get("ports", []):
                port.pop("nodePort", None)

    async def _all_services(self) -> list[JSONObject]:
        svc_type = kinds.lookup("", "v1", "services")
        assert svc_type is not None
        page = await self.store.list(svc_type, selection=ObjectFilter())
        return page.items

    def _free_cluster_ip(self, services: list[JSONObject], *, exclude: JSONObject) -> str:
        used = {s.get("spec", {}).get("clusterIP") for s in services}
        # The first address is the `kubernetes` Service's, as upstream reserves it.
        for offset, address in enumerate(self._service_network.hosts()):
            if offset == 0 and exclude["metadata"].get("name") != "kubernetes":
                continue
            if str(address) not in used:
                return str(address)
        raise errors.internal_error(f"no free ClusterIP left in {self._service_network}")

    def _check_requested_cluster_ip(self, ip: str, services: list[JSONObject], obj: JSONObject) -> None:
        name = obj["metadata"]["name"]
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise _invalid(
                name,
                "spec.clusterIPs[0]",
                f'Invalid value: "{ip}": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
            ) from None
        if address not in self._service_network:
            raise _invalid(
                name,
                "spec.clusterIPs",
                f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: the provided IP '
                f"({ip}) is not in the valid range. The range of valid IPs is {self._service_network}",
            )
        for s in services:
            if s.get("spec", {}).get("clusterIP") == ip and s["metadata"]["uid"] != obj["metadata"].get("uid"):
                raise _invalid(
                    name,
                    "spec.clusterIPs",
                    f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided IP is already allocated',
                )


def _invalid(name: str, field: str, message: str) -> errors.StatusError:
    """The 422 for an address a Service asked for and cannot have."""
    return errors.invalid("", "Service", name, [Cause(field=field, reason="FieldValueInvalid", message=message)])
