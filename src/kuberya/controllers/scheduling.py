"""Whether a pod fits a node, decided without I/O as the default scheduler's filter plugins do.

The filters run in upstream's order and a node fails at the first one that rejects it, with that
plugin's reasons:

1. ``NodeUnschedulable`` — ``spec.unschedulable`` without a toleration: "node(s) were unschedulable";
2. ``TaintToleration`` — a ``NoSchedule``/``NoExecute`` taint the pod does not tolerate: "node(s) had
   untolerated taint {key: value}". A node that is not Ready counts as tainted
   ``node.kubernetes.io/not-ready:NoSchedule`` (upstream's node lifecycle controller adds that taint);
3. ``NodeAffinity`` — ``nodeSelector`` and required node affinity: "node(s) didn't match Pod's node
   affinity/selector";
4. ``NodeResourcesFit`` — the pod's requests plus those of the pods already on the node against
   ``status.allocatable``: "Too many pods", "Insufficient cpu", "Insufficient memory"…

Before any node is tried, :func:`unbound_claim` stands in for ``VolumeBinding``'s PreFilter: a pod
whose claims (``persistentVolumeClaim`` and generic ephemeral volumes) are missing, being deleted
or unbound without waiting for a first consumer fits no node. After the filters above,
:func:`volume_failures` is ``VolumeBinding``'s Filter: a bound claim's volume must exist and its
node affinity select the node ("node(s) had volume node affinity conflict").

A pod's requests are upstream's ``PodRequests``: the sum over containers, at least the largest
init container (restartable "sidecar" init containers add to both), plus ``spec.overhead``. CPU is
counted in millicores, everything else in whole units (bytes for memory), rounded up.
:func:`fit_error` renders the reasons as upstream's ``FitError``:
``0/1 nodes are available: 1 Insufficient cpu.``
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.controllers.persistentvolume_matching import node_affinity_allows
from kuberya.meta.labels import SelectorError, node_selector_requirement
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj

Resources = dict[str, int]

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
UNSCHEDULABLE = "node(s) were unschedulable"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
TOO_MANY_PODS = "Too many pods"


def to_units(resource: str, value: Any) -> int:
    """Scheduler units: millicores for ``cpu``, whole units (bytes…) otherwise, rounded up."""
    quantity = parse_quantity(value)
    return math.ceil(quantity * 1000) if resource == "cpu" else math.ceil(quantity)


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    # The API defaults missing requests to the limits; a pod stored without that still counts them.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: to_units(name, value) for name, value in merged.items()}


def _add(total: Resources, more: Mapping[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + value


def _max(total: Resources, other: Mapping[str, int]) -> None:
    for name, value in other.items():
        total[name] = max(total.get(name, 0), value)


def pod_requests(pod: Obj) -> Resources:
    """Upstream's ``PodRequests`` (see the module docstring)."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        _add(total, _container_requests(container))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, requests)
            _max(init_peak, sidecars)
        else:
            step = dict(sidecars)
            _add(step, requests)
            _max(init_peak, step)
    _add(total, sidecars)
    _max(total, init_peak)
    _add(total, {name: to_units(name, v) for name, v in (spec.get("overhead") or {}).items()})
    return total


def is_ready_node(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """``Toleration.ToleratesTaint``: effect and key when given; Equal compares values, Exists does not."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def _tolerated(pod: Obj, taint: Mapping[str, Any]) -> bool:
    return any(tolerates(t, taint) for t in (pod.get("spec") or {}).get("tolerations") or [])


def _taints(node: Obj) -> list[dict[str, Any]]:
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    if not is_ready_node(node) and not any(t.get("key") == NOT_READY_TAINT["key"] for t in taints):
        taints.append(dict(NOT_READY_TAINT))
    return taints


def _term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects nothing
    labels = meta(node).get("labels") or {}
    field_values = {"metadata.name": str(meta(node).get("name") or "")}
    try:
        return all(node_selector_requirement(r).matches(labels) for r in expressions) and all(
            node_selector_requirement(r).matches(field_values) for r in fields
        )
    except SelectorError:
        return False


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    """``nodeSelector`` (every label) and required node affinity (any term) both hold."""
    spec = pod.get("spec") or {}
    labels = meta(node).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not required:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def fit_failures(pod: Obj, node: Obj, *, requested: Mapping[str, int], pod_count: int) -> list[str]:
    """Why ``pod`` does not fit ``node`` (empty when it fits), given what the node already runs."""
    if (node.get("spec") or {}).get("unschedulable") and not _tolerated(pod, UNSCHEDULABLE_TAINT):
        return [UNSCHEDULABLE]
    for taint in _taints(node):
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(pod, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if not matches_node_affinity(pod, node):
        return [AFFINITY_MISMATCH]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    reasons = []
    if "pods" in allocatable and pod_count + 1 > to_units("pods", allocatable["pods"]):
        reasons.append(TOO_MANY_PODS)
    for name, want in sorted(pod_requests(pod).items()):
        if want == 0:
            continue
        available = to_units(name, allocatable[name]) if name in allocatable else 0
        if requested.get(name, 0) + want > available:
            reasons.append(f"Insufficient {name}")
    return reasons


UNBOUND_IMMEDIATE_CLAIMS = "pod has unbound immediate PersistentVolumeClaims"


SELECTED_NODE = "volume.kubernetes.io/selected-node"
"""The claim annotation naming the node a WaitForFirstConsumer claim is to be provisioned for."""


def claim_names(pod: Obj) -> list[str]:
    """The claims the pod's volumes use, ``persistentVolumeClaim`` ones and generic ephemeral ones.

    An ephemeral volume's claim is ``<pod>-<volume>``, made by the ephemeral volume controller.
    """
    names: list[str] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if isinstance(source := volume.get("persistentVolumeClaim"), dict):
            names.append(str(source.get("claimName") or ""))
        elif isinstance(volume.get("ephemeral"), dict):
            names.append(f"{meta(pod).get('name')}-{volume.get('name')}")
    return names


def delayed_claims(
    pod: Obj, claim: Callable[[str], Obj | None], storage_class: Callable[[str], Obj | None]
) -> list[Obj]:
    """The pod's unbound claims whose class binds them only for a first consumer (WaitForFirstConsumer)."""
    namespace = str(meta(pod).get("namespace") or "")
    delayed: list[Obj] = []
    for name in claim_names(pod):
        found = claim(f"{namespace}/{name}")
        if found is None or (found.get("spec") or {}).get("volumeName"):
            continue
        annotations = meta(found).get("annotations") or {}
        class_name = annotations.get("volume.beta.kubernetes.io/storage-class")
        if class_name is None:
            class_name = (found.get("spec") or {}).get("storageClassName")
        cls = storage_class(str(class_name)) if class_name else None
        if cls is not None and cls.get("volumeBindingMode") == "WaitForFirstConsumer":
            delayed.append(found)
    return delayed


def unbound_claim(pod: Obj, claim: Callable[[str], Obj | None], *, delayed: Iterable[Obj] = ()) -> str:
    """``VolumeBinding`` PreFilter: why the pod's claims keep it off every node ("" when they do not).

    ``claim`` looks a cached PersistentVolumeClaim up by ``namespace/name``. A claim that is
    missing or being deleted is named (``persistentvolumeclaim "data-web-0" not found``); a claim
    not bound to a volume (no ``spec.volumeName``) gives upstream's message for unbound immediate
    claims.
    """
    namespace = str(meta(pod).get("namespace") or "")
    waiting = {str(meta(c).get("name")) for c in delayed}
    unbound = False
    for name in claim_names(pod):
        found = claim(f"{namespace}/{name}")
        if found is None:
            return f'persistentvolumeclaim "{name}" not found'
        if meta(found).get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if not (found.get("spec") or {}).get("volumeName") and name not in waiting:
            unbound = True
    return UNBOUND_IMMEDIATE_CLAIMS if unbound else ""


VOLUME_NODE_AFFINITY_CONFLICT = "node(s) had volume node affinity conflict"
BOUND_TO_MISSING_VOLUME = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"


def volume_failures(
    pod: Obj, node: Obj, claim: Callable[[str], Obj | None], volume: Callable[[str], Obj | None]
) -> list[str]:
    """``VolumeBinding`` Filter: why the pod's bound claims keep it off ``node`` (empty when they do not).

    Each bound claim's volume must exist and its ``spec.nodeAffinity.required`` (any term) must
    select the node (``CheckNodeAffinity``).
    ``claim`` looks a cached claim up by ``namespace/name``, ``volume`` a cached PersistentVolume by
    name. Unbound claims are :func:`unbound_claim`'s (immediate) or the scheduler's (delayed).
    """
    namespace = str(meta(pod).get("namespace") or "")
    conflict = False
    for name in claim_names(pod):
        found = claim(f"{namespace}/{name}")
        volume_name = str(((found or {}).get("spec") or {}).get("volumeName") or "")
        if not volume_name:
            continue
        pv = volume(volume_name)
        if pv is None:
            return [BOUND_TO_MISSING_VOLUME]
        if not node_affinity_allows(pv, node):
            conflict = True
    return [VOLUME_NODE_AFFINITY_CONFLICT] if conflict else []


def prefilter_error(total_nodes: int, message: str) -> str:
    """``FitError.Error()`` when a PreFilter rejected the pod: ``0/N nodes are available: <message>.``"""
    return f"0/{total_nodes} nodes are available: {message}."


def fit_error(total_nodes: int, reasons_per_node: Iterable[list[str]]) -> str:
    """Upstream's ``FitError.Error()``: ``0/N nodes are available: <count reason>, ….``"""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    histogram: Counter[str] = Counter()
    for reasons in reasons_per_node:
        histogram.update(reasons)
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."


def allocation_score(node: Obj, requested: Mapping[str, int]) -> float:
    """How full the node's cpu and memory are (0–2): the emptiest node is preferred (LeastAllocated)."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    score = 0.0
    for name in ("cpu", "memory"):
        capacity = to_units(name, allocatable[name]) if name in allocatable else 0
        if capacity > 0:
            score += requested.get(name, 0) / capacity
    return score
