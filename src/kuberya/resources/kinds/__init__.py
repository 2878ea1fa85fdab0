"""The registry of every kind kuberya serves, built from one :class:`KindSpec` module per kind.

Discovery, routing, storage keys, the schema catalog, the codecs and the Table printers all start
here. Adding a kind is one module in this package plus one line in :data:`REGISTRY`.

The resource types mirror what an upstream v1.32 API server advertises for the same resources
(``kubectl api-resources -o wide``), because kubectl decides what it may do from discovery alone:
a missing ``deployments/scale`` entry breaks ``kubectl scale``, a missing short name breaks
``kubectl get deploy``.

One resource may be served in several versions (HPA: ``autoscaling/v2`` and ``autoscaling/v1``).
Each version is its own :class:`ResourceType`; the ones that are not the storage version name it in
``storage_version`` and the API server converts through :mod:`kuberya.resources.conversion`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from kuberya.resources.kinds import (
    accessreview,
    clusterrole,
    clusterrolebinding,
    configmap,
    controllerrevision,
    cronjob,
    csidriver,
    csinode,
    daemonset,
    deployment,
    endpoints,
    endpointslice,
    event,
    horizontalpodautoscaler,
    ingress,
    ingressclass,
    job,
    lease,
    limitrange,
    namespace,
    networkpolicy,
    node,
    persistentvolume,
    persistentvolumeclaim,
    pod,
    poddisruptionbudget,
    podtemplate,
    priorityclass,
    replicaset,
    replicationcontroller,
    resourcequota,
    role,
    rolebinding,
    runtimeclass,
    secret,
    selfsubjectreview,
    service,
    serviceaccount,
    statefulset,
    storageclass,
    tokenreview,
    volumeattachment,
)
from kuberya.resources.kinds.spec import ALL_VERBS, NO_COLLECTION_DELETE, KindSpec
from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.selectors import FieldSelector, SelectorError
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation import validate_metadata

__all__ = [
    "ALL_RESOURCE_TYPES",
    "ALL_VERBS",
    "NO_COLLECTION_DELETE",
    "REGISTRY",
    "APIGroup",
    "KindSpec",
    "api_groups",
    "apply_defaults",
    "convert",
    "for_kind",
    "lookup",
    "resources_in",
    "spec_for_kind",
    "spec_of",
    "storage_type",
    "stored_field_selector",
    "validate",
]

REGISTRY: tuple[KindSpec, ...] = (
    # ---- core/v1 -------------------------------------------------------------------------------
    namespace.SPEC,
    pod.SPEC,
    service.SPEC,
    endpoints.SPEC,
    configmap.SPEC,
    secret.SPEC,
    event.SPEC,
    podtemplate.SPEC,
    replicationcontroller.SPEC,
    node.SPEC,
    serviceaccount.SPEC,
    resourcequota.SPEC,
    limitrange.SPEC,
    persistentvolumeclaim.SPEC,
    persistentvolume.SPEC,
    # ---- apps/v1 -------------------------------------------------------------------------------
    deployment.SPEC,
    replicaset.SPEC,
    statefulset.SPEC,
    controllerrevision.SPEC,
    daemonset.SPEC,
    # ---- autoscaling: v2 is preferred and stored; v1 is converted on the way in and out --------
    horizontalpodautoscaler.SPEC,
    # ---- batch/v1 ------------------------------------------------------------------------------
    cronjob.SPEC,
    job.SPEC,
    # ---- discovery.k8s.io/v1 -------------------------------------------------------------------
    endpointslice.SPEC,
    # ---- networking.k8s.io/v1 -------------------------------------------------------------------
    ingressclass.SPEC,
    ingress.SPEC,
    networkpolicy.SPEC,
    # ---- policy/v1 -----------------------------------------------------------------------------
    poddisruptionbudget.SPEC,
    # ---- coordination.k8s.io/v1 ----------------------------------------------------------------
    lease.SPEC,
    # ---- node.k8s.io/v1 ------------------------------------------------------------------------
    runtimeclass.SPEC,
    # ---- rbac.authorization.k8s.io/v1 ----------------------------------------------------------
    clusterrolebinding.SPEC,
    clusterrole.SPEC,
    rolebinding.SPEC,
    role.SPEC,
    # ---- authentication.k8s.io/v1, authorization.k8s.io/v1: create-only reviews, never stored -
    selfsubjectreview.SPEC,
    tokenreview.SPEC,
    accessreview.LOCAL_SUBJECT_ACCESS_REVIEW,
    accessreview.SELF_SUBJECT_ACCESS_REVIEW,
    accessreview.SELF_SUBJECT_RULES_REVIEW,
    accessreview.SUBJECT_ACCESS_REVIEW,
    # ---- scheduling.k8s.io/v1 ------------------------------------------------------------------
    priorityclass.SPEC,
    # ---- storage.k8s.io/v1 --------------------------------------------------------------------
    csidriver.SPEC,
    csinode.SPEC,
    storageclass.SPEC,
    volumeattachment.SPEC,
)
"""Every served kind, in the order of ``kubectl api-resources``."""

ALL_RESOURCE_TYPES: tuple[ResourceType, ...] = tuple(rt for spec in REGISTRY for rt in spec.resource_types)


@dataclass(frozen=True)
class APIGroup:
    """A named API group and the versions it serves, the preferred version first."""

    name: str
    versions: tuple[str, ...]

    @property
    def preferred_version(self) -> str:
        return self.versions[0]


# Stable group order for /apis, upstream's (a group not listed comes after, by name).
_GROUP_ORDER = ("apps", "autoscaling", "batch", "scheduling.k8s.io", "discovery.k8s.io")

_BY_GVR: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.resource): rt for rt in ALL_RESOURCE_TYPES
}
_STORAGE_BY_KIND: dict[tuple[str, str], ResourceType] = {(spec.group, spec.kind): spec.storage for spec in REGISTRY}
# Kind names are unique across the served groups, as they are upstream for the built-in kinds.
_SPEC_BY_KIND: dict[str, KindSpec] = {spec.kind: spec for spec in REGISTRY}


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    """Return the type served at ``/apis/{group}/{version}/{resource}`` (core: group ``""``), or None."""
    return _BY_GVR.get((group, version, resource))


def for_kind(group: str, kind: str) -> ResourceType | None:
    """Return the storage-version type for a kind: ``("autoscaling", "HorizontalPodAutoscaler")`` → v2."""
    return _STORAGE_BY_KIND.get((group, kind))


def spec_for_kind(kind: str) -> KindSpec | None:
    """Return the spec of a served kind by name, or None (a custom resource, a typo)."""
    return _SPEC_BY_KIND.get(kind)


def spec_of(rt: ResourceType) -> KindSpec:
    """Return the spec ``rt`` is a version of."""
    return _SPEC_BY_KIND[rt.kind]


def storage_type(rt: ResourceType) -> ResourceType:
    """Return the type objects of ``rt`` are stored as: ``rt`` itself unless it names another version."""
    if not rt.storage_version:
        return rt
    group = rt.group if rt.storage_group is None else rt.storage_group
    stored = lookup(group, rt.storage_version, rt.resource)
    if stored is None:  # a registry bug, not a user error
        raise LookupError(f"{rt.group_resource} names storage version {rt.storage_version}, not served")
    return stored


def api_groups() -> tuple[APIGroup, ...]:
    """Return the named groups (not core ``""``) in a stable order, each with its preferred version first."""
    versions: dict[str, list[str]] = {}
    for rt in ALL_RESOURCE_TYPES:
        if rt.group and rt.version not in versions.setdefault(rt.group, []):
            versions[rt.group].append(rt.version)
    ordered = [g for g in _GROUP_ORDER if g in versions] + sorted(g for g in versions if g not in _GROUP_ORDER)
    # Each kind lists its preferred version first, so registry order is preference order.
    return tuple(APIGroup(name=name, versions=tuple(versions[name])) for name in ordered)


def resources_in(group: str, version: str) -> tuple[ResourceType, ...]:
    """Every type served in one group/version, in registry order (that of ``api-resources``)."""
    return tuple(rt for rt in ALL_RESOURCE_TYPES if rt.group == group and rt.version == version)


def convert(obj: JSONObject, *, to_api_version: str) -> JSONObject:
    """Return a new object equal to ``obj`` in ``to_api_version``; ``obj`` is not modified."""
    out = copy.deepcopy(obj)
    source, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    spec = _SPEC_BY_KIND.get(kind)
    if source != to_api_version and spec is not None and len(spec.resource_types) > 1:
        conversion = spec.conversions.get((source, to_api_version))
        if conversion is None:
            raise ValueError(f"cannot convert {kind} from {source} to {to_api_version}")
        out = conversion(out)
    out["apiVersion"] = to_api_version
    return out


def stored_field_selector(rt: ResourceType, selector: FieldSelector) -> FieldSelector:
    """Return ``selector``, sent to ``rt``, in the stored version's labels (``regarding.name``).

    ``regarding.name`` becomes ``involvedObject.name``; a stored label that ``rt`` names otherwise
    (``involvedObject.name`` sent to events.k8s.io) is not one of ``rt``'s.
    """
    labels = _SPEC_BY_KIND[rt.kind].field_labels.get(rt.api_version)
    if not labels:
        return selector
    renamed = set(labels.values()) - set(labels)
    for term in selector.terms:
        if term.field in renamed:
            raise SelectorError(f"field label not supported: {term.field}")
    return FieldSelector(tuple(dataclasses.replace(t, field=labels.get(t.field, t.field)) for t in selector.terms))


def apply_defaults(obj: JSONObject) -> None:
    """Default ``obj`` in place if it is a served kind in its storage version (else leave it)."""
    spec = _SPEC_BY_KIND.get(obj.get("kind", ""))
    if spec is not None and obj.get("apiVersion", "") == spec.storage.api_version:
        spec.defaults(obj)


def validate(obj: JSONObject, *, old: JSONObject | None = None, request_version: str = "") -> list[Cause]:
    """Return every problem with ``obj`` (and with the change from ``old``, for an update).

    ``request_version`` is the apiVersion the client wrote in, when it differs from the stored one.
    """
    spec = _SPEC_BY_KIND.get(obj.get("kind", ""))
    name_rule = spec.name_rule if spec is not None else dns1123_subdomain_errors
    causes = validate_metadata(obj.get("metadata") or {}, name_rule=name_rule)
    if spec is not None and spec.validate is not None:
        causes.extend(spec.validate(obj, old))
    if spec is not None and spec.validate_request is not None and request_version:
        causes.extend(spec.validate_request(request_version, obj, old))
    return causes
