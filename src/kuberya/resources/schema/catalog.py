"""Which kinds have schemas, under which upstream definition names, served at which URLs.

This is the one table both halves of the schema package read: ``scripts/gen_schemas.py`` walks
the models reachable from :data:`ROOT_DEFINITIONS` to write ``definitions.json``, and
:mod:`kuberya.resources.schema.openapi` turns :data:`SERVED_RESOURCES` into the ``paths`` of
each group/version's OpenAPI v3 document. It describes the schemas, not the API server's
behaviour: the server keeps its own resource registry, and a resource missing here merely
has no schema (no strict checking, no ``kubectl explain``).
"""

from __future__ import annotations

from kuberya.resources.types import GroupVersionKind, ResourceType, SubresourceType

CORE = "io.k8s.api.core.v1"
APPS = "io.k8s.api.apps.v1"
AUTOSCALING_V1 = "io.k8s.api.autoscaling.v1"
AUTOSCALING_V2 = "io.k8s.api.autoscaling.v2"
DISCOVERY = "io.k8s.api.discovery.v1"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"

KNOWN_GROUP_VERSIONS: tuple[str, ...] = (
    "v1",
    "apps/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "discovery.k8s.io/v1",
)
"""The group/versions that get an OpenAPI v3 document, in discovery order."""


def _resource(
    group: str,
    version: str,
    resource: str,
    kind: str,
    *,
    namespaced: bool = True,
    status: bool = False,
    scale: bool = False,
) -> ResourceType:
    subresources: list[SubresourceType] = []
    if status:
        subresources.append(SubresourceType(name="status", kind=kind, group=group, version=version))
    if scale:
        subresources.append(SubresourceType(name="scale", kind="Scale", group="autoscaling", version="v1"))
    return ResourceType(
        group=group,
        version=version,
        resource=resource,
        kind=kind,
        singular=kind.lower(),
        namespaced=namespaced,
        subresources=tuple(subresources),
        has_status=status,
    )


SERVED_RESOURCES: tuple[ResourceType, ...] = (
    _resource("", "v1", "namespaces", "Namespace", namespaced=False, status=True),
    _resource("", "v1", "pods", "Pod", status=True),
    _resource("", "v1", "services", "Service", status=True),
    _resource("", "v1", "endpoints", "Endpoints"),
    _resource("", "v1", "configmaps", "ConfigMap"),
    _resource("", "v1", "secrets", "Secret"),
    _resource("", "v1", "events", "Event"),
    _resource("", "v1", "nodes", "Node", namespaced=False, status=True),
    _resource("", "v1", "serviceaccounts", "ServiceAccount"),
    _resource("", "v1", "resourcequotas", "ResourceQuota", status=True),
    _resource("", "v1", "limitranges", "LimitRange"),
    _resource("apps", "v1", "deployments", "Deployment", status=True, scale=True),
    _resource("apps", "v1", "replicasets", "ReplicaSet", status=True, scale=True),
    _resource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", status=True),
    _resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", status=True),
    _resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
)
"""Every resource that appears in a ``paths`` section, with its scope and subresources."""

_PACKAGES = {
    "": CORE,
    "apps": APPS,
    "discovery.k8s.io": DISCOVERY,
}


def definition_package(group: str, version: str) -> str:
    """``io.k8s.api.apps.v1`` for ``apps``/``v1``: the prefix of that GV's definition names."""
    if group == "autoscaling":
        return AUTOSCALING_V1 if version == "v1" else AUTOSCALING_V2
    return _PACKAGES[group]


def definition_name(gvk: GroupVersionKind) -> str:
    """Name a served kind's definition as upstream does: ``io.k8s.api.apps.v1.Deployment``."""
    return f"{definition_package(gvk.group, gvk.version)}.{gvk.kind}"


SCALE = f"{AUTOSCALING_V1}.Scale"
DELETE_OPTIONS = f"{META}.DeleteOptions"
STATUS = f"{META}.Status"

ROOT_DEFINITIONS: tuple[str, ...] = (
    *(definition_name(r.gvk) for r in SERVED_RESOURCES),
    *(definition_name(r.gvk) + "List" for r in SERVED_RESOURCES),
    SCALE,
    DELETE_OPTIONS,
    STATUS,
)
"""The definitions the generator starts from; everything they reference comes along."""
