"""Patch metadata of the built-in kinds: what upstream keeps in Go struct tags.

Upstream's strategic merge patch reads ``patchStrategy``/``patchMergeKey`` tags off the typed Go
structs (``k8s.io/api``); kuberya has no typed structs, so the facts are written down as tables
keyed by the JSON path of the field (:mod:`kuberya.resources.patchmeta`). A served kind's table is
its ``KindSpec.patch_meta``; this module adds the built-in kinds kuberya does not serve yet, whose
patches a client may still compute (``kubectl apply`` of a Job manifest).

Anything not in the table has no strategy: maps merge key by key, lists are replaced whole — which
is exactly what upstream does for an untagged field. Kinds missing from :data:`KNOWN_KINDS` are
treated as custom resources (JSON merge patch semantics, atomic lists for server-side apply).

Sources (kubernetes/api): ``apps/v1/types.go``, ``batch/v1/types.go``, ``core/v1/types.go``
(PersistentVolumeClaimStatus), ``policy/v1/types.go``.
"""

from __future__ import annotations

from kuberya.resources import kinds
from kuberya.resources.patchmeta import (
    ATOMIC_MAP,
    BY_TYPE,
    NO_META,
    OBJECT_META,
    PatchMeta,
    Strategy,
    at,
    template,
    workload,
)

__all__ = ["KNOWN_KINDS", "NO_META", "PatchMeta", "Path", "Strategy", "is_known_kind", "lookup"]

Path = tuple[str, ...]

_UNSERVED: dict[str, dict[str, PatchMeta]] = {
    "PodTemplate": template("template"),
    "StatefulSet": workload(),
    "DaemonSet": workload(),
    # ReplicationController's selector is a plain map, not a LabelSelector.
    "ReplicationController": {**template("spec.template"), "status.conditions": BY_TYPE},
    "Job": workload(),
    "CronJob": {
        **at("spec.jobTemplate.metadata", OBJECT_META),
        "spec.jobTemplate.spec.selector": ATOMIC_MAP,
        **template("spec.jobTemplate.spec.template"),
    },
    "PersistentVolumeClaim": {"status.conditions": BY_TYPE},
    "PersistentVolume": {},
    "PodDisruptionBudget": {"spec.selector": ATOMIC_MAP, "status.conditions": BY_TYPE},
}

# Built-in kinds with no tagged list beyond their ObjectMeta: still strategic, not merge, patches.
_PLAIN_KINDS = (
    "Binding", "ComponentStatus", "Ingress", "IngressClass", "NetworkPolicy", "Lease", "PriorityClass",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "Role", "ClusterRole", "RoleBinding",
    "ClusterRoleBinding", "ControllerRevision", "RuntimeClass", "Scale",
)  # fmt: skip


def _compile(table: dict[str, PatchMeta]) -> dict[Path, PatchMeta]:
    compiled = {tuple(path.split(".")): meta for path, meta in table.items()}
    compiled.update({("metadata", *path.split(".")): meta for path, meta in OBJECT_META.items()})
    return compiled


_TABLES: dict[str, dict[Path, PatchMeta]] = {
    kind: _compile(table)
    for kind, table in {
        **{k: {} for k in _PLAIN_KINDS},
        **_UNSERVED,
        **{spec.kind: dict(spec.patch_meta) for spec in kinds.REGISTRY},
    }.items()
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
