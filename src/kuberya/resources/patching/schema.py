"""Patch metadata of the built-in kinds: what upstream keeps in Go struct tags.

Upstream's strategic merge patch reads ``patchStrategy``/``patchMergeKey`` tags off the typed Go
structs (``k8s.io/api``); kuberya has no typed structs, so this module writes the same facts down as
a table keyed by kind and by the JSON path of the field, list positions left out
(``spec.template.spec.containers.ports`` names every container's ``ports``).

Anything not in the table has no strategy: maps merge key by key, lists are replaced whole — which
is exactly what upstream does for an untagged field. Kinds missing from :data:`KNOWN_KINDS` are
treated as custom resources (JSON merge patch semantics, atomic lists for server-side apply).

Sources (kubernetes/api): ``core/v1/types.go`` (PodSpec, Container, EphemeralContainerCommon,
PodStatus, ServiceSpec, NodeSpec/NodeStatus, NamespaceStatus, ServiceAccount), ``apps/v1/types.go``
(``DeploymentSpec.Strategy`` is ``patchStrategy:"retainKeys"``, status conditions by ``type``),
``batch/v1/types.go``, ``autoscaling/v2/types.go`` (``metrics`` untagged, i.e. replaced),
``apimachinery/pkg/apis/meta/v1/types.go`` (``ownerReferences`` by ``uid``, ``finalizers`` merge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strategy = Literal["", "merge", "replace"]


@dataclass(frozen=True, slots=True)
class PatchMeta:
    """What the struct tag of one field says."""

    strategy: Strategy = ""
    """``merge`` for lists merged by key (or, with no key, primitive lists merged as sets);
    ``replace`` for maps replaced whole; empty for the default (maps merge, lists replace)."""
    merge_key: str = ""
    """The ``patchMergeKey`` of a list of objects: ``name`` for containers."""
    retain_keys: bool = False
    """``retainKeys`` strategy: kubectl sends ``$retainKeys`` so keys the patch omits are cleared."""
    atomic: bool = False
    """``structType=atomic`` (e.g. ``LabelSelector``): server-side apply owns and replaces it whole.
    Strategic merge patch still merges it; upstream's tags say nothing there."""


NO_META = PatchMeta()

Path = tuple[str, ...]

_BY_NAME = PatchMeta("merge", "name")
_BY_TYPE = PatchMeta("merge", "type")
_SET = PatchMeta("merge")
_ATOMIC_MAP = PatchMeta(atomic=True)


def _at(prefix: str, fragment: dict[str, PatchMeta]) -> dict[str, PatchMeta]:
    return {f"{prefix}.{path}" if prefix else path: meta for path, meta in fragment.items()}


_OBJECT_META = {
    "ownerReferences": PatchMeta("merge", "uid"),
    "finalizers": _SET,
}

# Container and EphemeralContainerCommon carry the same tags.
_CONTAINER = {
    "ports": PatchMeta("merge", "containerPort"),
    "env": _BY_NAME,
    "volumeMounts": PatchMeta("merge", "mountPath"),
    "volumeDevices": PatchMeta("merge", "devicePath"),
    # resizePolicy, envFrom, command, args: untagged (replaced).
}

_POD_SPEC: dict[str, PatchMeta] = {
    "volumes": PatchMeta("merge", "name", retain_keys=True),
    "initContainers": _BY_NAME,
    "containers": _BY_NAME,
    "ephemeralContainers": _BY_NAME,
    "imagePullSecrets": _BY_NAME,
    "hostAliases": PatchMeta("merge", "ip"),
    "topologySpreadConstraints": PatchMeta("merge", "topologyKey"),
    "schedulingGates": _BY_NAME,
    "resourceClaims": PatchMeta("merge", "name", retain_keys=True),
    # tolerations, readinessGates: untagged (replaced).
    **_at("containers", _CONTAINER),
    **_at("initContainers", _CONTAINER),
    **_at("ephemeralContainers", _CONTAINER),
}

_POD_STATUS = {
    "conditions": _BY_TYPE,
    "podIPs": PatchMeta("merge", "ip"),
    "hostIPs": PatchMeta("merge", "ip"),
    "resourceClaimStatuses": PatchMeta("merge", "name", retain_keys=True),
    # containerStatuses, initContainerStatuses, ephemeralContainerStatuses: untagged (replaced).
}


def _template(prefix: str) -> dict[str, PatchMeta]:
    """Describe a PodTemplateSpec at ``prefix``: object metadata plus a pod spec."""
    return {**_at(f"{prefix}.metadata", _OBJECT_META), **_at(f"{prefix}.spec", _POD_SPEC)}


def _workload(*, extra: dict[str, PatchMeta] | None = None) -> dict[str, PatchMeta]:
    """Describe a controller: ``spec.selector`` (a LabelSelector), a pod template, status conditions."""
    return {
        "spec.selector": _ATOMIC_MAP,
        **_template("spec.template"),
        "status.conditions": _BY_TYPE,
        **(extra or {}),
    }


_BY_KIND: dict[str, dict[str, PatchMeta]] = {
    "Pod": {**_at("spec", _POD_SPEC), **_at("status", _POD_STATUS)},
    "PodTemplate": _template("template"),
    "Deployment": _workload(extra={"spec.strategy": PatchMeta(retain_keys=True)}),
    "ReplicaSet": _workload(),
    "StatefulSet": _workload(),
    "DaemonSet": _workload(),
    # ReplicationController's selector is a plain map, not a LabelSelector.
    "ReplicationController": {**_template("spec.template"), "status.conditions": _BY_TYPE},
    "Job": _workload(),
    "CronJob": {
        **_at("spec.jobTemplate.metadata", _OBJECT_META),
        "spec.jobTemplate.spec.selector": _ATOMIC_MAP,
        **_template("spec.jobTemplate.spec.template"),
    },
    "Service": {"spec.ports": PatchMeta("merge", "port"), "status.conditions": _BY_TYPE},
    "Node": {
        "spec.podCIDRs": _SET,
        "status.conditions": _BY_TYPE,
        "status.addresses": _BY_TYPE,
        # spec.taints, status.images, status.volumesAttached: untagged (replaced).
    },
    "Namespace": {"status.conditions": _BY_TYPE},
    "ServiceAccount": {"secrets": _BY_NAME},
    "PersistentVolumeClaim": {"status.conditions": _BY_TYPE},
    "PersistentVolume": {},
    # Endpoints.subsets and the HPA's spec.metrics/status.currentMetrics are untagged (replaced).
    "Endpoints": {},
    "HorizontalPodAutoscaler": {"status.conditions": _BY_TYPE},
    "PodDisruptionBudget": {"spec.selector": _ATOMIC_MAP, "status.conditions": _BY_TYPE},
}

# Built-in kinds with no tagged list beyond their ObjectMeta: still strategic, not merge, patches.
_PLAIN_KINDS = (
    "ConfigMap", "Secret", "Event", "LimitRange", "ResourceQuota", "Binding", "ComponentStatus",
    "EndpointSlice", "Ingress", "IngressClass", "NetworkPolicy", "Lease", "PriorityClass",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "Role", "ClusterRole", "RoleBinding",
    "ClusterRoleBinding", "ControllerRevision", "RuntimeClass", "Scale",
)  # fmt: skip


def _compile(table: dict[str, PatchMeta]) -> dict[Path, PatchMeta]:
    compiled = {tuple(path.split(".")): meta for path, meta in table.items()}
    compiled.update({("metadata", *path.split(".")): meta for path, meta in _OBJECT_META.items()})
    return compiled


_TABLES: dict[str, dict[Path, PatchMeta]] = {
    kind: _compile(table) for kind, table in {**{k: {} for k in _PLAIN_KINDS}, **_BY_KIND}.items()
}

KNOWN_KINDS = frozenset(_TABLES)
"""Kinds whose patch metadata is known; the rest are treated as custom resources."""


def is_known_kind(kind: str) -> bool:
    """Tell whether ``kind`` is built in, and so takes strategic merge patches."""
    return kind in _TABLES


def lookup(kind: str, path: Path) -> PatchMeta:
    """Return the patch metadata of the field at ``path`` (field names only, no list positions)."""
    table = _TABLES.get(kind)
    if table is None:
        return NO_META
    return table.get(path, NO_META)
