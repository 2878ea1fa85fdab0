"""Where a DaemonSet's pods belong, decided without I/O as upstream's DaemonSet controller does.

* :func:`should_run` is upstream's ``NodeShouldRunDaemonPod``: a node *should run* the daemon pod
  when the template's ``nodeName`` (if any), ``nodeSelector`` and required node affinity select it
  and the pod — with the DaemonSet's default tolerations — tolerates its ``NoSchedule`` and
  ``NoExecute`` taints; a pod already there *should continue running* unless a ``NoExecute``
  taint is not tolerated. kuberya has no node lifecycle controller to write the condition taints,
  so a node that is not Ready counts as tainted ``node.kubernetes.io/not-ready:NoSchedule`` (as the
  scheduler counts it) and a cordoned one as ``node.kubernetes.io/unschedulable:NoSchedule`` —
  which every daemon pod tolerates, so ``kubectl cordon`` neither blocks nor evicts it.
* :func:`daemon_pod` is the pod created for one node: the template with upstream's default
  tolerations (``AddOrUpdateDaemonPodTolerations``), the ``controller-revision-hash`` and
  ``pod-template-generation`` labels, and a required node affinity on ``metadata.name`` so that the
  scheduler binds it to that node (``ReplaceDaemonSetPodNodeNameNodeAffinity``);
  :func:`target_node` reads the node back from a pod (``GetTargetNodeName``).
* :func:`pods_for_node` is ``podsShouldBeOnNode``: which node needs a pod, which pods go.
* :class:`FailedPodBackoff` is the ``flowcontrol.Backoff`` that keeps the controller from
  deleting and recreating a pod a node keeps failing in a tight loop.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kuberya.controllers import ownership
from kuberya.controllers.ownership import meta, owner_reference
from kuberya.controllers.pods import is_available, is_ready, phase
from kuberya.controllers.rollout import scaled_value
from kuberya.controllers.scheduling import (
    NOT_READY_TAINT,
    UNSCHEDULABLE_TAINT,
    is_ready_node,
    matches_node_affinity,
    tolerates,
)
from kuberya.controllers.wallclock import parse_time
from kuberya.meta.types import Obj

spec_of = ownership.spec
"""A workload's ``spec`` (empty when missing or malformed), as the modules of its controller read it."""

REVISION_HASH_LABEL = "controller-revision-hash"
"""``apps.DefaultDaemonSetUniqueLabelKey``: the template hash a pod was made from."""
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
"""``extensions.DaemonSetTemplateGenerationKey``: the template generation a pod was made from."""
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
NODE_NAME_FIELD = "metadata.name"

_EXISTS = "Exists"
DEFAULT_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": _EXISTS, "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": _EXISTS, "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": _EXISTS, "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": _EXISTS, "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": _EXISTS, "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": _EXISTS, "effect": "NoSchedule"},
)
"""What every daemon pod tolerates, in upstream's order; host-network pods also tolerate
:data:`NETWORK_UNAVAILABLE_TOLERATION`."""
NETWORK_UNAVAILABLE_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": _EXISTS,
    "effect": "NoSchedule",
}


def template_of(ds: Obj) -> dict[str, Any]:
    found: Any = spec_of(ds).get("template")
    return found if isinstance(found, dict) else {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


# ---- tolerations and node eligibility --------------------------------------------------------


def _same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``Toleration.MatchToleration``: same key, operator, value and effect."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def add_daemon_tolerations(pod_spec: dict[str, Any]) -> None:
    """``AddOrUpdateDaemonPodTolerations``: add (or replace the matching one with) each default toleration."""
    tolerations = [t for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    wanted = list(DEFAULT_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        wanted.append(NETWORK_UNAVAILABLE_TOLERATION)
    for toleration in wanted:
        for i, existing in enumerate(tolerations):
            if _same_toleration(existing, toleration):
                tolerations[i] = dict(toleration)
                break
        else:
            tolerations.append(dict(toleration))
    pod_spec["tolerations"] = tolerations


def node_taints(node: Obj) -> list[dict[str, Any]]:
    """The node's taints, plus the condition taints upstream's node lifecycle controller would add."""
    taints = [t for t in spec_of(node).get("taints") or [] if isinstance(t, dict)]
    keys = {t.get("key") for t in taints}
    if not is_ready_node(node) and NOT_READY_TAINT["key"] not in keys:
        taints.append(dict(NOT_READY_TAINT))
    if spec_of(node).get("unschedulable") and UNSCHEDULABLE_TAINT["key"] not in keys:
        taints.append(dict(UNSCHEDULABLE_TAINT))
    return taints


def _untolerated(
    taints: Iterable[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]], effects: set[str]
) -> bool:
    """``FindMatchingUntoleratedTaint`` restricted to ``effects``: is one such taint not tolerated?"""
    return any(taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations) for taint in taints)


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """``NodeShouldRunDaemonPod``: (should run a new daemon pod, should keep one already there)."""
    template_spec = copy.deepcopy(spec_of(template_of(ds)))
    wanted_node = template_spec.get("nodeName") or ""
    if wanted_node and wanted_node != name_of(node):
        return False, False
    add_daemon_tolerations(template_spec)
    pod = {"metadata": template_of(ds).get("metadata") or {}, "spec": template_spec}
    if not matches_node_affinity(pod, node):
        return False, False
    taints = node_taints(node)
    tolerations = template_spec["tolerations"]
    if _untolerated(taints, tolerations, {"NoSchedule", "NoExecute"}):
        return False, not _untolerated(taints, tolerations, {"NoExecute"})
    return True, True


# ---- the pod for a node ----------------------------------------------------------------------


def template_generation(ds: Obj) -> int | None:
    """``GetTemplateGeneration``: the deprecated annotation, or None when absent or unreadable."""
    value = (meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def node_name_affinity(affinity: Any, node_name: str) -> dict[str, Any]:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: require the node by name, keeping other affinities."""
    result: dict[str, Any] = copy.deepcopy(affinity) if isinstance(affinity, dict) else {}
    node_affinity = result.get("nodeAffinity")
    if not isinstance(node_affinity, dict):
        node_affinity = {}
        result["nodeAffinity"] = node_affinity
    term = {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        required = {}
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    required["nodeSelectorTerms"] = [term]
    return result


def daemon_pod(ds: Obj, node_name: str, *, hash_: str, owner_api_version: str = "apps/v1") -> Obj:
    """The pod ``ds`` creates for ``node_name`` (``CreatePodTemplate`` then ``GetPodFromTemplate``)."""
    template = copy.deepcopy(template_of(ds))
    tmeta = template.get("metadata") or {}
    pod_spec = template.get("spec") or {}
    add_daemon_tolerations(pod_spec)
    labels = dict(tmeta.get("labels") or {})
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = str(generation)
    if hash_:
        labels[REVISION_HASH_LABEL] = hash_
    pod_spec["affinity"] = node_name_affinity(pod_spec.get("affinity"), node_name)
    pod_meta: dict[str, Any] = {
        "generateName": f"{name_of(ds)}-",
        "namespace": meta(ds).get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(ds, api_version=owner_api_version, kind="DaemonSet")],
    }
    for key in ("annotations", "finalizers"):
        if tmeta.get(key):
            pod_meta[key] = tmeta[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def target_node(pod: Obj) -> str | None:
    """``GetTargetNodeName``: ``spec.nodeName``, or the one node a pending pod's affinity names."""
    spec = spec_of(pod)
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in (term or {}).get("matchFields") or []:
            if expr.get("key") == NODE_NAME_FIELD and expr.get("operator") == "In":
                values = expr.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None


def is_pod_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    """``IsPodUpdated``: the pod carries the current hash (or, for old pods, the template generation)."""
    labels = meta(pod).get("labels") or {}
    by_generation = generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(generation)
    return (bool(hash_) and labels.get(REVISION_HASH_LABEL) == hash_) or by_generation


def creation_order(pod: Obj) -> tuple[int, float, str]:
    """``podByCreationTimestampAndPhase``: scheduled pods first, then the oldest, then by name."""
    created = parse_time(meta(pod).get("creationTimestamp"))
    return (0 if spec_of(pod).get("nodeName") else 1, created.timestamp() if created else 0.0, name_of(pod))


# ---- update strategy numbers -----------------------------------------------------------------


def _rolling(ds: Obj) -> dict[str, Any] | None:
    strategy = spec_of(ds).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else None


def surge_count(ds: Obj, number_to_schedule: int) -> int:
    """``SurgeCount``: 0 unless a RollingUpdate asks for surge; percentages round up."""
    rolling = _rolling(ds)
    return 0 if rolling is None else scaled_value(rolling.get("maxSurge"), number_to_schedule, round_up=True)


def unavailable_count(ds: Obj, number_to_schedule: int) -> int:
    """``UnavailableCount``: 0 unless a RollingUpdate; percentages round up."""
    rolling = _rolling(ds)
    return 0 if rolling is None else scaled_value(rolling.get("maxUnavailable"), number_to_schedule, round_up=True)


def allows_surge(ds: Obj) -> bool:
    try:
        return surge_count(ds, 1) > 0
    except ValueError:
        return False


# ---- what to do on one node ------------------------------------------------------------------


@dataclass
class FailedPodBackoff:
    """``flowcontrol.Backoff`` (1 s doubling to 15 min) keyed by DaemonSet, generation and node."""

    initial: float = 1.0
    maximum: float = 900.0
    _entries: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (delay, last update)

    def in_backoff(self, key: str, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now - entry[1] < entry[0]

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry is not None else 0.0

    def next(self, key: str, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > 2 * self.maximum:
            self._entries[key] = (self.initial, now)
        else:
            self._entries[key] = (min(entry[0] * 2, self.maximum), now)


@dataclass
class NodePlan:
    """What :func:`pods_for_node` decided for one node."""

    create: bool = False
    delete: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message) to record on the DaemonSet."""
    retry_after: float | None = None
    """Look at the DaemonSet again this many seconds from now (a failed pod in backoff)."""


@dataclass(frozen=True)
class NodeContext:
    """What deciding for one node needs beyond the DaemonSet, the node and its pods."""

    hash_: str
    """The current template hash: pods labelled with it are up to date."""
    now: datetime.datetime
    """The wall-clock time availability is judged at."""
    backoff: FailedPodBackoff
    backoff_key: str
    """``<uid>/<observedGeneration>/<node>``, upstream's ``failedPodsBackoffKey``."""
    clock_now: float
    """The monotonic time the backoff counts in."""


def pods_for_node(ds: Obj, node: Obj, pods: Sequence[Obj] | None, ctx: NodeContext) -> NodePlan:
    """``podsShouldBeOnNode``: create a pod here, delete some of ``pods`` (the ones targeting ``node``)."""
    plan = NodePlan()
    run, keep = should_run(ds, node)
    namespace, node_name = meta(ds).get("namespace"), name_of(node)
    if run and not pods:
        plan.create = True
    elif keep:
        running: list[Obj] = []
        for pod in pods or []:
            if meta(pod).get("deletionTimestamp"):
                continue
            if phase(pod) == "Failed":
                # The kubelet may keep rejecting the pod: delete and recreate it no faster than the backoff.
                if ctx.backoff.in_backoff(ctx.backoff_key, ctx.clock_now):
                    plan.retry_after = ctx.backoff.delay(ctx.backoff_key)
                    continue
                ctx.backoff.next(ctx.backoff_key, ctx.clock_now)
                plan.events.append(
                    (
                        "Warning",
                        "FailedDaemonPod",
                        f"Found failed daemon pod {namespace}/{name_of(pod)} on node {node_name}, will try to kill it",
                    )
                )
                plan.delete.append(name_of(pod))
            elif phase(pod) == "Succeeded":
                plan.events.append(
                    (
                        "Normal",
                        "SucceededDaemonPod",
                        f"Found succeeded daemon pod {namespace}/{name_of(pod)} on node {node_name}, will try to "
                        "delete it",
                    )
                )
                plan.delete.append(name_of(pod))
            else:
                running.append(pod)
        running.sort(key=creation_order)
        if not allows_surge(ds):
            # One pod per node: keep the oldest; with none left the next sync creates one.
            plan.delete.extend(name_of(p) for p in running[1:])
        elif len(running) <= 1:
            plan.create = not running and run
        else:
            plan.delete.extend(_surge_excess(ds, running, ctx))
    elif pods:
        plan.delete.extend(name_of(p) for p in pods if not meta(p).get("deletionTimestamp"))
    return plan


def _surge_excess(ds: Obj, running: Sequence[Obj], ctx: NodeContext) -> list[str]:
    """With surge, keep the oldest new pod and the oldest old one until the new one is available."""
    min_ready = int(spec_of(ds).get("minReadySeconds") or 0)
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    excess: list[str] = []
    for pod in running:  # already oldest first
        if (meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL) == ctx.hash_:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        excess.append(name_of(pod))
    if (
        oldest_new is not None
        and oldest_old is not None
        and (not is_ready(oldest_old) or is_available(oldest_new, min_ready, ctx.now))
    ):
        excess.append(name_of(oldest_old))
    return excess
