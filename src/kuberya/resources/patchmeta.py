"""Strategic-merge patch metadata: what upstream keeps in Go struct tags, as plain values.

Upstream's strategic merge patch reads ``patchStrategy``/``patchMergeKey`` tags off the typed Go
structs (``k8s.io/api``); kuberya has no typed structs, so each kind's spec writes the same facts
down as a table keyed by the JSON path of the field, list positions left out
(``spec.template.spec.containers.ports`` names every container's ``ports``). This module holds the
value type and the fragments several kinds share (ObjectMeta, PodSpec, a pod template); it imports
nothing of the patch engines, so the kind registry can load without them.

Sources (kubernetes/api): ``core/v1/types.go`` (PodSpec, Container, EphemeralContainerCommon,
PodStatus), ``apimachinery/pkg/apis/meta/v1/types.go`` (``ownerReferences`` by ``uid``,
``finalizers`` merge).
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

BY_NAME = PatchMeta("merge", "name")
BY_TYPE = PatchMeta("merge", "type")
SET = PatchMeta("merge")
ATOMIC_MAP = PatchMeta(atomic=True)


def at(prefix: str, fragment: dict[str, PatchMeta]) -> dict[str, PatchMeta]:
    """Move a fragment under ``prefix``: ``at("spec", POD_SPEC)``."""
    return {f"{prefix}.{path}" if prefix else path: meta for path, meta in fragment.items()}


OBJECT_META = {
    "ownerReferences": PatchMeta("merge", "uid"),
    "finalizers": SET,
}

# Container and EphemeralContainerCommon carry the same tags.
_CONTAINER = {
    "ports": PatchMeta("merge", "containerPort"),
    "env": BY_NAME,
    "volumeMounts": PatchMeta("merge", "mountPath"),
    "volumeDevices": PatchMeta("merge", "devicePath"),
    # resizePolicy, envFrom, command, args: untagged (replaced).
}

POD_SPEC: dict[str, PatchMeta] = {
    "volumes": PatchMeta("merge", "name", retain_keys=True),
    "initContainers": BY_NAME,
    "containers": BY_NAME,
    "ephemeralContainers": BY_NAME,
    "imagePullSecrets": BY_NAME,
    "hostAliases": PatchMeta("merge", "ip"),
    "topologySpreadConstraints": PatchMeta("merge", "topologyKey"),
    "schedulingGates": BY_NAME,
    "resourceClaims": PatchMeta("merge", "name", retain_keys=True),
    # tolerations, readinessGates: untagged (replaced).
    **at("containers", _CONTAINER),
    **at("initContainers", _CONTAINER),
    **at("ephemeralContainers", _CONTAINER),
}

POD_STATUS = {
    "conditions": BY_TYPE,
    "podIPs": PatchMeta("merge", "ip"),
    "hostIPs": PatchMeta("merge", "ip"),
    "resourceClaimStatuses": PatchMeta("merge", "name", retain_keys=True),
    # containerStatuses, initContainerStatuses, ephemeralContainerStatuses: untagged (replaced).
}


def template(prefix: str) -> dict[str, PatchMeta]:
    """Describe a PodTemplateSpec at ``prefix``: object metadata plus a pod spec."""
    return {**at(f"{prefix}.metadata", OBJECT_META), **at(f"{prefix}.spec", POD_SPEC)}


def workload(*, extra: dict[str, PatchMeta] | None = None) -> dict[str, PatchMeta]:
    """Describe a controller: ``spec.selector`` (a LabelSelector), a pod template, status conditions."""
    return {
        "spec.selector": ATOMIC_MAP,
        **template("spec.template"),
        "status.conditions": BY_TYPE,
        **(extra or {}),
    }
