"""Admission: what happens to an object between the wire and the store.

Upstream splits this into a kind's *strategy* (PrepareForCreate/Update, generation, status
reset), *defaulting* and *validation*, plus admission plugins (namespace lifecycle, service IP
allocation). kuberya keeps that order in one place:

create:  server-owned metadata → kind preparation (status reset, stringData, IPs) → defaults
         → validation
update:  carry over what the endpoint may not change (status on the main endpoint, everything
         but status on ``/status``) → defaults → validation against the old object →
         ``generation`` bumped when the spec changed.

The per-kind rules themselves live in :mod:`kuberya.resources` (pure functions); this module
adds what needs the store: the namespace must exist and not be terminating, and Services get
their ClusterIP and NodePorts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import uuid
from datetime import UTC, datetime

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.settings import APIServerSettings
from kuberya.resources import kinds
from kuberya.resources.defaults import apply_defaults, secret_string_data_to_data
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation import validate

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Upstream's ``utilrand.String`` alphabet: no vowels, so generated names never spell words."""

SERVER_OWNED_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
    "generation",
    "selfLink",
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    return prefix[:58] + "".join(secrets.choice(GENERATE_NAME_ALPHABET) for _ in range(5))


def _spec_content(obj: JSONObject) -> JSONObject:
    """Everything a generation counts: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Admission:
    """Prepares, defaults and validates objects on their way into the store."""

    def __init__(self, store: ObjectStore, settings: APIServerSettings) -> None:
        self.store = store
        self.settings = settings
        self._allocation_lock = asyncio.Lock()
        self._service_network = ipaddress.ip_network(settings.service_cidr)

    # -- create -----------------------------------------------------------------------------

    async def prepare_create(self, rt: ResourceType, obj: JSONObject) -> None:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for field in SERVER_OWNED_METADATA:
            meta.pop(field, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generated_name(meta["generateName"])
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        if rt.namespaced:
            await self.check_namespace_accepts_content(meta.get("namespace", ""), rt, meta.get("name", ""))
        if rt.has_status:
            obj.pop("status", None)
        self._prepare_kind_for_create(obj)
        apply_defaults(obj)
        self.validate(rt, obj, old=None)

    async def check_namespace_accepts_content(self, namespace: str, rt: ResourceType, name: str) -> None:
        ns_type = kinds.lookup("", "v1", "namespaces")
        assert ns_type is not None
        ns = await self.store.get_or_none(ns_type, None, namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{rt.group_resource} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                details={
                    "kind": rt.resource,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _prepare_kind_for_create(self, obj: JSONObject) -> None:
        # A pod's phase and QoS class and a namespace's phase come from defaulting, which
        # runs next on the status reset above.
        kind = obj.get("kind")
        if kind == "Secret":
            secret_string_data_to_data(obj)
        elif kind in ("Deployment", "ReplicaSet", "HorizontalPodAutoscaler"):
            obj["status"] = {}

    async def allocate_service_addresses(self, obj: JSONObject, *, old: JSONObject | None = None) -> None:
        """Give a Service its ClusterIP and NodePorts (upstream's service REST allocators).

        Callers hold :attr:`allocation_lock` across allocation *and* the write, so two Services
        created at once cannot take one address.
        """
        if obj.get("kind") != "Service":
            return
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
            low, high = self.settings.node_port_range
            for port in spec.get("ports", []):
                if not port.get("nodePort") and old_ports.get(port.get("port")):
                    port["nodePort"] = old_ports[port.get("port")]
                if port.get("nodePort"):
                    if port["nodePort"] in used:
                        raise errors.invalid(
                            "",
                            "Service",
                            obj["metadata"]["name"],
                            [
                                _cause(
                                    "spec.ports[].nodePort",
                                    "FieldValueInvalid",
                                    f"Invalid value: {port['nodePort']}: provided port is already allocated",
                                )
                            ],
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

    @property
    def allocation_lock(self) -> asyncio.Lock:
        return self._allocation_lock

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
            raise errors.invalid(
                "",
                "Service",
                name,
                [
                    _cause(
                        "spec.clusterIPs[0]",
                        "FieldValueInvalid",
                        f'Invalid value: "{ip}": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
                    )
                ],
            ) from None
        if address not in self._service_network:
            raise errors.invalid(
                "",
                "Service",
                name,
                [
                    _cause(
                        "spec.clusterIPs",
                        "FieldValueInvalid",
                        f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: the provided IP '
                        f"({ip}) is not in the valid range. The range of valid IPs is {self._service_network}",
                    )
                ],
            )
        for s in services:
            if s.get("spec", {}).get("clusterIP") == ip and s["metadata"]["uid"] != obj["metadata"].get("uid"):
                raise errors.invalid(
                    "",
                    "Service",
                    name,
                    [
                        _cause(
                            "spec.clusterIPs",
                            "FieldValueInvalid",
                            f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: '
                            "provided IP is already allocated",
                        )
                    ],
                )

    # -- update -----------------------------------------------------------------------------

    def prepare_update(
        self, rt: ResourceType, new: JSONObject, old: JSONObject, *, subresource: str = ""
    ) -> JSONObject:
        """Return what may be written: the endpoint's part of ``new`` over ``old``."""
        old_meta = old["metadata"]
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if subresource == "status":
            result = {**old, "status": new.get("status", old.get("status"))}
            result["metadata"] = dict(old_meta)
            new = result
        else:
            if rt.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            for field in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            meta["name"] = old_meta["name"]
            if new.get("kind") == "Secret":
                secret_string_data_to_data(new)
            if new.get("kind") == "Namespace":
                new["status"] = old.get("status", {"phase": "Active"})
        apply_defaults(new)
        self.validate(rt, new, old=old)
        if _spec_content(new) != _spec_content(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        return new

    def validate(self, rt: ResourceType, obj: JSONObject, *, old: JSONObject | None) -> None:
        causes = validate(obj, old=old)
        if causes:
            name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName", "")
            raise errors.invalid(rt.group, obj.get("kind", rt.kind), name, causes)


def _cause(field: str, reason: str, message: str) -> Cause:
    return Cause(field=field, reason=reason, message=message)
