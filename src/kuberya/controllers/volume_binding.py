"""The scheduler's volume plugins: ``VolumeRestrictions`` (ReadWriteOncePod) and ``VolumeBinding``.

As upstream's ``pkg/scheduler/framework/plugins/volumebinding`` (``binder.go``), for the claims a
pod uses through ``persistentVolumeClaim`` and generic ephemeral volumes:

* **PreFilter** (:func:`pod_claims`), before any node is tried: a claim missing, being deleted,
  or (ephemeral) not made for this pod keeps the pod off every node with that error; so does an
  unbound claim whose class is not ``WaitForFirstConsumer`` (a class that does not exist counts as
  immediate, as upstream): "pod has unbound immediate PersistentVolumeClaims" — the PV controller
  binds those. :func:`read_write_once_pod_conflict` is ``VolumeRestrictions``' PreFilter: a
  ``ReadWriteOncePod`` claim another scheduled pod uses.
* **Filter** (:func:`find_pod_volumes`), per node: a bound claim's volume must exist and its
  ``nodeAffinity`` select the node ("node(s) had volume node affinity conflict"); each unbound
  ``WaitForFirstConsumer`` claim, smallest request first, either takes the smallest matching
  Available volume the node can reach (a *binding*), or is to be *provisioned* there, which needs
  a class with a provisioner (not ``kubernetes.io/no-provisioner``) whose ``allowedTopologies``
  admit the node, and no ``selected-node`` naming another node ("node(s) didn't find available
  persistent volumes to bind").
* **PreBind** (:func:`bind_writes`, :func:`binding_progress`): the scheduler writes each binding's
  ``claimRef`` on the volume and ``volume.kubernetes.io/selected-node`` on each claim to
  provision, then binds the pod only once every claim is Bound, waiting at most
  :data:`BIND_TIMEOUT` seconds (upstream's ``bindTimeoutSeconds``) — its queue brings the pod back
  when a claim or volume changes, there is no polling.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberya.controllers import persistentvolume_matching as matching
from kuberya.controllers.ephemeral import claim_names, not_for_pod
from kuberya.controllers.ownership import meta
from kuberya.meta.types import Obj

Lookup = Callable[[str], Obj | None]

BIND_TIMEOUT = 600.0
UNBOUND_IMMEDIATE_CLAIMS = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
RWOP_CONFLICT = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"


@dataclass(slots=True)
class PodClaims:
    """The pod's claims as PreFilter sorted them."""

    bound: list[Obj] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)
    """Unbound claims of a ``WaitForFirstConsumer`` class: the scheduler's to bind."""


@dataclass(slots=True)
class VolumePlan:
    """What PreBind must do for the pod on one node."""

    bindings: list[tuple[Obj, Obj]] = field(default_factory=list)
    """(volume, claim): a static volume the scheduler chose for an unbound claim."""
    provisions: list[Obj] = field(default_factory=list)
    """Claims to be provisioned on the node."""

    @property
    def empty(self) -> bool:
        return not self.bindings and not self.provisions


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def is_delay_binding(claim: Obj, classes: Lookup) -> bool:
    """``IsDelayBindingMode``: a class that exists and binds ``WaitForFirstConsumer``."""
    name = matching.claim_class(claim)
    storage_class = classes(name) if name else None
    return storage_class is not None and storage_class.get("volumeBindingMode") == matching.WAIT_FOR_FIRST_CONSUMER


def pod_claims(pod: Obj, claims: Lookup, classes: Lookup) -> tuple[PodClaims, str]:
    """PreFilter: the pod's claims, and why they keep it off every node ("" when they do not)."""
    namespace = str(meta(pod).get("namespace") or "")
    found = PodClaims()
    immediate = False
    for name, ephemeral in claim_names(pod):
        claim = claims(f"{namespace}/{name}")
        if claim is None:
            return found, f'persistentvolumeclaim "{name}" not found'
        if meta(claim).get("deletionTimestamp"):
            return found, f'persistentvolumeclaim "{name}" is being deleted'
        if ephemeral and (problem := not_for_pod(claim, pod)):
            return found, problem
        if _spec(claim).get("volumeName"):
            found.bound.append(claim)
        elif is_delay_binding(claim, classes):
            found.delayed.append(claim)
        else:
            immediate = True
    return found, UNBOUND_IMMEDIATE_CLAIMS if immediate else ""


def read_write_once_pod_conflict(pod: Obj, claims: Lookup, pods: Iterable[Obj]) -> str:
    """``VolumeRestrictions`` PreFilter: a ReadWriteOncePod claim of the pod used by a scheduled pod."""
    namespace = str(meta(pod).get("namespace") or "")
    exclusive = set()
    for name, _ in claim_names(pod):
        claim = claims(f"{namespace}/{name}")
        if claim is not None and "ReadWriteOncePod" in matching.access_modes(claim):
            exclusive.add(name)
    if not exclusive:
        return ""
    for other in pods:
        if (
            meta(other).get("uid") == meta(pod).get("uid")
            or meta(other).get("namespace") != namespace
            or not _spec(other).get("nodeName")
            or (other.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        ):
            continue
        if any(name in exclusive for name, _ in claim_names(other)):
            return RWOP_CONFLICT
    return ""


def _topology_allows(storage_class: Obj, node: Obj) -> bool:
    """``MatchTopologySelectorTerms``: no terms admit every node; otherwise any term whose every key matches."""
    terms = storage_class.get("allowedTopologies") or []
    if not terms:
        return True
    labels = meta(node).get("labels") or {}
    for term in terms:
        expressions = (term or {}).get("matchLabelExpressions") or []
        if all(labels.get(e.get("key")) in (e.get("values") or []) for e in expressions if isinstance(e, Mapping)):
            return True
    return False


def _request_key(claim: Obj) -> Any:
    return matching.requested_storage(claim)


def find_pod_volumes(
    pod_volumes: PodClaims, node: Obj, *, volumes: Lookup, all_volumes: Iterable[Obj], classes: Lookup
) -> tuple[VolumePlan, list[str]]:
    """Filter on one node: what PreBind would do there, and why the node does not do (empty: it does)."""
    node_name = str(meta(node).get("name") or "")
    plan = VolumePlan()
    reasons: list[str] = []
    for claim in pod_volumes.bound:
        volume = volumes(str(_spec(claim).get("volumeName")))
        if volume is None:
            return plan, [PV_NOT_EXIST]
        if not matching.node_affinity_allows(volume, node):
            reasons.append(NODE_CONFLICT)
            break
    if reasons:
        return plan, reasons
    candidates = list(all_volumes)
    chosen: set[str] = set()
    for claim in sorted(pod_volumes.delayed, key=_request_key):
        selected = matching.annotations_of(claim).get(matching.ANN_SELECTED_NODE)
        if selected:
            if selected != node_name:
                return plan, [BIND_CONFLICT]
            plan.provisions.append(claim)
            continue
        volume = matching.find_matching_volume(claim, candidates, node=node, excluded=frozenset(chosen))
        if volume is not None:
            chosen.add(str(meta(volume).get("name")))
            plan.bindings.append((volume, claim))
            continue
        storage_class = classes(matching.claim_class(claim))
        provisioner = str((storage_class or {}).get("provisioner") or "")
        if storage_class is None or not provisioner or provisioner == matching.NO_PROVISIONER:
            return plan, [BIND_CONFLICT]
        if not _topology_allows(storage_class, node):
            return plan, [BIND_CONFLICT]
        plan.provisions.append(claim)
    return plan, []


def bind_writes(plan: VolumePlan, node_name: str) -> tuple[list[Obj], list[Obj]]:
    """PreBind's updates: (volumes with their new claimRef, claims with ``selected-node``), unchanged ones left out."""
    volumes: list[Obj] = []
    for volume, claim in plan.bindings:
        if matching.is_volume_bound_to_claim(volume, claim) and (matching.claim_ref(volume) or {}).get("uid"):
            continue
        updated = copy.deepcopy(volume)
        updated.setdefault("spec", {})["claimRef"] = matching.claim_reference(claim)
        meta(updated).setdefault("annotations", {})[matching.ANN_BOUND_BY_CONTROLLER] = "yes"
        volumes.append(updated)
    claims: list[Obj] = []
    for claim in plan.provisions:
        if matching.annotations_of(claim).get(matching.ANN_SELECTED_NODE) == node_name:
            continue
        updated = copy.deepcopy(claim)
        meta(updated).setdefault("annotations", {})[matching.ANN_SELECTED_NODE] = node_name
        claims.append(updated)
    return volumes, claims


def binding_progress(
    pod: Obj, node: Obj, *, provisioned: frozenset[str], claims: Lookup, volumes: Lookup
) -> tuple[bool, str]:
    """``checkBindings``: (every claim of the pod is fully bound on the node, the error that ends the wait).

    ``provisioned``: the names of the claims PreBind asked to be provisioned; one of them that
    lost its ``selected-node`` before it was bound will not be (the provisioner gave up on it).
    """
    namespace = str(meta(pod).get("namespace") or "")
    done = True
    for name, _ in claim_names(pod):
        claim = claims(f"{namespace}/{name}")
        if claim is None:
            return False, f'persistentvolumeclaim "{name}" not found'
        volume_name = str(_spec(claim).get("volumeName") or "")
        if not volume_name or matching.ANN_BIND_COMPLETED not in matching.annotations_of(claim):
            if (
                not volume_name
                and name in provisioned
                and matching.ANN_SELECTED_NODE not in matching.annotations_of(claim)
            ):
                return False, f'selectedNode annotation reset for PVC "{name}"'
            done = False
            continue
        volume = volumes(volume_name)
        if volume is None or not matching.is_volume_bound_to_claim(volume, claim):
            done = False
            continue
        if not matching.node_affinity_allows(volume, node):
            return False, f'pv "{volume_name}" node affinity doesn\'t match node "{meta(node).get("name")}"'
    return done, ""
