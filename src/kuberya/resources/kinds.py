"""The registry of every kind kuberya serves: which group/version/resource, with which verbs.

Discovery, routing, storage keys and the Table printers all start here. The list mirrors what an
upstream v1.32 API server advertises for the same resources (``kubectl api-resources -o wide``),
because kubectl decides what it may do from discovery alone: a missing ``deployments/scale`` entry
breaks ``kubectl scale``, a missing short name breaks ``kubectl get deploy``.

One resource may be served in several versions (HPA: ``autoscaling/v2`` and ``autoscaling/v1``).
Each version is its own :class:`ResourceType`; the ones that are not the storage version name it in
``storage_version`` and the API server converts through :mod:`kuberya.resources.conversion`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kuberya.resources.types import ResourceType, SubresourceType

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")

_STATUS_VERBS = ("get", "patch", "update")


def _status(kind: str) -> SubresourceType:
    return SubresourceType(name="status", kind=kind, verbs=_STATUS_VERBS)


# The Scale body is always autoscaling/v1, whatever group its parent lives in: client-go's
# ScaleForResource reads the group/version from this very entry.
_SCALE = SubresourceType(name="scale", kind="Scale", group="autoscaling", version="v1", verbs=_STATUS_VERBS)

ALL_RESOURCE_TYPES: tuple[ResourceType, ...] = (
    # ---- core/v1 -------------------------------------------------------------------------------
    ResourceType(
        group="",
        version="v1",
        resource="namespaces",
        kind="Namespace",
        singular="namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=NO_COLLECTION_DELETE,
        subresources=(_status("Namespace"),),
        has_status=True,
    ),
    ResourceType(
        group="",
        version="v1",
        resource="pods",
        kind="Pod",
        singular="pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        subresources=(
            _status("Pod"),
            SubresourceType(name="log", kind="Pod", verbs=("get",)),
            SubresourceType(name="exec", kind="PodExecOptions", verbs=("create", "get")),
            SubresourceType(name="attach", kind="PodAttachOptions", verbs=("create", "get")),
            SubresourceType(name="portforward", kind="PodPortForwardOptions", verbs=("create", "get")),
        ),
        has_status=True,
    ),
    ResourceType(
        group="",
        version="v1",
        resource="services",
        kind="Service",
        singular="service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        subresources=(_status("Service"),),
        has_status=True,
    ),
    ResourceType(
        group="",
        version="v1",
        resource="endpoints",
        kind="Endpoints",
        singular="endpoints",
        namespaced=True,
        short_names=("ep",),
    ),
    ResourceType(
        group="",
        version="v1",
        resource="configmaps",
        kind="ConfigMap",
        singular="configmap",
        namespaced=True,
        short_names=("cm",),
    ),
    ResourceType(group="", version="v1", resource="secrets", kind="Secret", singular="secret", namespaced=True),
    ResourceType(
        group="",
        version="v1",
        resource="events",
        kind="Event",
        singular="event",
        namespaced=True,
        short_names=("ev",),
    ),
    ResourceType(
        group="",
        version="v1",
        resource="nodes",
        kind="Node",
        singular="node",
        namespaced=False,
        short_names=("no",),
        subresources=(_status("Node"),),
        has_status=True,
    ),
    ResourceType(
        group="",
        version="v1",
        resource="serviceaccounts",
        kind="ServiceAccount",
        singular="serviceaccount",
        namespaced=True,
        short_names=("sa",),
    ),
    ResourceType(
        group="",
        version="v1",
        resource="resourcequotas",
        kind="ResourceQuota",
        singular="resourcequota",
        namespaced=True,
        short_names=("quota",),
        subresources=(_status("ResourceQuota"),),
        has_status=True,
    ),
    ResourceType(
        group="",
        version="v1",
        resource="limitranges",
        kind="LimitRange",
        singular="limitrange",
        namespaced=True,
        short_names=("limits",),
    ),
    # ---- apps/v1 -------------------------------------------------------------------------------
    ResourceType(
        group="apps",
        version="v1",
        resource="deployments",
        kind="Deployment",
        singular="deployment",
        namespaced=True,
        short_names=("deploy",),
        categories=("all",),
        subresources=(_SCALE, _status("Deployment")),
        has_status=True,
    ),
    ResourceType(
        group="apps",
        version="v1",
        resource="replicasets",
        kind="ReplicaSet",
        singular="replicaset",
        namespaced=True,
        short_names=("rs",),
        categories=("all",),
        subresources=(_SCALE, _status("ReplicaSet")),
        has_status=True,
    ),
    # ---- autoscaling: v2 is preferred and stored; v1 is converted on the way in and out --------
    ResourceType(
        group="autoscaling",
        version="v2",
        resource="horizontalpodautoscalers",
        kind="HorizontalPodAutoscaler",
        singular="horizontalpodautoscaler",
        namespaced=True,
        short_names=("hpa",),
        categories=("all",),
        subresources=(_status("HorizontalPodAutoscaler"),),
        has_status=True,
    ),
    ResourceType(
        group="autoscaling",
        version="v1",
        resource="horizontalpodautoscalers",
        kind="HorizontalPodAutoscaler",
        singular="horizontalpodautoscaler",
        namespaced=True,
        short_names=("hpa",),
        categories=("all",),
        subresources=(_status("HorizontalPodAutoscaler"),),
        storage_version="v2",
        has_status=True,
    ),
    # ---- discovery.k8s.io/v1 -------------------------------------------------------------------
    ResourceType(
        group="discovery.k8s.io",
        version="v1",
        resource="endpointslices",
        kind="EndpointSlice",
        singular="endpointslice",
        namespaced=True,
    ),
)


@dataclass(frozen=True)
class APIGroup:
    """A named API group and the versions it serves, the preferred version first."""

    name: str
    versions: tuple[str, ...]

    @property
    def preferred_version(self) -> str:
        return self.versions[0]


# Stable group order for /apis: upstream lists apps first, then the rest roughly by age.
_GROUP_ORDER = ("apps", "autoscaling", "discovery.k8s.io")
# Preferred version first, as /apis and aggregated discovery must list them.
_VERSION_ORDER = {"autoscaling": ("v2", "v1")}

_BY_GVR: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.resource): rt for rt in ALL_RESOURCE_TYPES
}
_STORAGE_BY_KIND: dict[tuple[str, str], ResourceType] = {
    (rt.group, rt.kind): rt for rt in ALL_RESOURCE_TYPES if not rt.storage_version
}


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    """Return the type served at ``/apis/{group}/{version}/{resource}`` (core: group ``""``), or None."""
    return _BY_GVR.get((group, version, resource))


def for_kind(group: str, kind: str) -> ResourceType | None:
    """Return the storage-version type for a kind: ``("autoscaling", "HorizontalPodAutoscaler")`` → v2."""
    return _STORAGE_BY_KIND.get((group, kind))


def storage_type(rt: ResourceType) -> ResourceType:
    """Return the type objects of ``rt`` are stored as: ``rt`` itself unless it names another version."""
    if not rt.storage_version:
        return rt
    stored = lookup(rt.group, rt.storage_version, rt.resource)
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
    result = []
    for name in ordered:
        preferred = _VERSION_ORDER.get(name, ())
        vs = [v for v in preferred if v in versions[name]] + [v for v in versions[name] if v not in preferred]
        result.append(APIGroup(name=name, versions=tuple(vs)))
    return tuple(result)


def resources_in(group: str, version: str) -> tuple[ResourceType, ...]:
    """Every type served in one group/version, in registry order (that of ``api-resources``)."""
    return tuple(rt for rt in ALL_RESOURCE_TYPES if rt.group == group and rt.version == version)
