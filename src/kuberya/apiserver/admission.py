"""Admission: what happens to an object between the wire and the store.

Upstream splits this into a kind's *strategy* (PrepareForCreate/Update, generation, status
reset), *defaulting* and *validation*, plus admission plugins (namespace lifecycle, service IP
allocation). kuberya keeps that order in one place:

create:  server-owned metadata → kind preparation (status reset, stringData) → defaults
         → mutating plugins (default IngressClass, RuntimeClass, LimitRange defaults) → validation →
         LimitRange bounds
update:  carry over what the endpoint may not change (status on the main endpoint, everything
         but status on ``/status``) → defaults → validation against the old object →
         ``generation`` bumped when the spec changed.

The per-kind rules themselves are the kinds' specs (:mod:`kuberya.resources.kinds`, pure
functions); this module adds what needs the store: the namespace must exist and not be
terminating. Addresses (a Service's ClusterIP and NodePorts) are :mod:`.allocator`'s; quota
(:mod:`.quota`) is checked by the handlers under one lock with the write, like allocation.
"""

from __future__ import annotations

import secrets
import uuid

from kuberya.apiserver import errors, priority, rbac_escalation, runtimeclass
from kuberya.apiserver.allocator import AddressAllocator
from kuberya.apiserver.ingressclass import default_ingress_class
from kuberya.apiserver.limitranger import LimitRanger
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.quota import QuotaAdmission
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.storageadmission import admit_claim_resize, protect_storage_object
from kuberya.apiserver.storageclasses import default_storage_class
from kuberya.meta.timefmt import now_rfc3339
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

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
        self.allocator = AddressAllocator(store, settings)
        """The addresses kinds ask for (``KindSpec.allocate``); its lock spans allocation and write."""
        self.limit_ranger = LimitRanger(store)
        """LimitRange defaults and bounds (pods, claims), applied and checked on create."""
        self.quota = QuotaAdmission(store)
        """ResourceQuota checks; the handlers hold its guard across the check and the write."""

    # -- create -----------------------------------------------------------------------------

    async def prepare_create(self, rt: ResourceType, obj: JSONObject, *, request_version: str = "") -> None:
        """Admit a new object in storage version; ``request_version``: the apiVersion the client sent."""
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
        # A pod's phase and QoS class and a namespace's phase come from defaulting, which
        # runs next on the status reset above.
        kinds.spec_of(rt).prepare_create(obj)
        # Before defaulting, which would give every pod priority 0: a priority the client set must
        # still be told apart (kuberya.apiserver.priority).
        await priority.admit(self.store, rt, obj)
        kinds.apply_defaults(obj)
        # mutating admission plugins, then validation, then the validating ones (upstream's order)
        await default_ingress_class(self.store, rt, obj)
        await default_storage_class(self.store, rt, obj)
        protect_storage_object(rt, obj)
        await runtimeclass.admit(self.store, rt, obj)
        ranges = await self.limit_ranger.mutate(rt, obj)
        self.validate(rt, obj, old=None, request_version=request_version)
        self.limit_ranger.validate(rt, obj, ranges)
        rbac_escalation.confirm_write(rt, obj, None)  # no granting beyond the writer's own rights

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

    # -- update -----------------------------------------------------------------------------

    def prepare_update(
        self,
        rt: ResourceType,
        new: JSONObject,
        old: JSONObject,
        *,
        subresource: str = "",
        request_version: str = "",
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
            kinds.spec_of(rt).prepare_status_update(new, old)
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
            kinds.spec_of(rt).prepare_update(new, old)
            priority.keep_on_update(rt, new, old)
        kinds.apply_defaults(new)
        self.validate(rt, new, old=old, request_version=request_version)
        rbac_escalation.confirm_write(rt, new, old)
        if _spec_content(new) != _spec_content(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        return new

    async def admit_update(self, rt: ResourceType, new: JSONObject, old: JSONObject, *, subresource: str = "") -> None:
        """The validating admission plugins of an update that need the store, after :meth:`prepare_update`.

        Called by the handlers inside the write (``new`` is what :meth:`prepare_update` returned);
        a plugin raises to refuse. PersistentVolumeClaimResize reads the claim's StorageClass.
        """
        await admit_claim_resize(self.store, rt, new, old, subresource=subresource)

    def validate(self, rt: ResourceType, obj: JSONObject, *, old: JSONObject | None, request_version: str = "") -> None:
        causes = kinds.validate(obj, old=old, request_version=request_version)
        if causes:
            name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName", "")
            raise errors.invalid(rt.group, obj.get("kind", rt.kind), name, causes)
