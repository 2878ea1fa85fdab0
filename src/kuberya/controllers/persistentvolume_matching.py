"""Which PersistentVolume a claim may bind to: upstream's ``FindMatchingVolume`` and its helpers.

Shared by the PV controller (:mod:`kuberya.controllers.persistentvolume`, no node: it never binds a
``WaitForFirstConsumer`` claim to an unclaimed volume) and the scheduler's volume binding
(the scheduler's volume binding, with the node it is trying, whose labels the volume's
``nodeAffinity`` must select). Pure functions over plain objects, no I/O.

The rules, as ``component-helpers/storage/volume`` and the controller's ``index.go``:

* a volume pre-bound to the claim (``claimRef`` naming it, without a uid or with the claim's) wins
  outright, if it is big enough, of the same volumeMode and not being deleted;
* otherwise the *smallest* Available volume of the claim's class that is at least the request, of
  the same volumeMode, whose labels the claim's ``selector`` selects, and not claimed by another;
* volumes are searched by access-mode set: first those whose modes are the fewest that still
  include every mode the claim asks for (``allPossibleMatchingAccessModes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.meta.labels import SelectorError, matches, node_selector_requirement
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
"""The class as annotation, from before ``storageClassName``: it still wins when set, as upstream."""

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def annotations_of(obj: Obj) -> dict[str, Any]:
    found = meta(obj).get("annotations")
    return found if isinstance(found, dict) else {}


def claim_class(claim: Obj) -> str:
    """``GetPersistentVolumeClaimClass``: the beta annotation, else ``spec.storageClassName``, else ""."""
    if ANN_BETA_STORAGE_CLASS in annotations_of(claim):
        return str(annotations_of(claim)[ANN_BETA_STORAGE_CLASS])
    return str(_spec(claim).get("storageClassName") or "")


def volume_class(volume: Obj) -> str:
    """``GetPersistentVolumeClass``: the same for a volume."""
    if ANN_BETA_STORAGE_CLASS in annotations_of(volume):
        return str(annotations_of(volume)[ANN_BETA_STORAGE_CLASS])
    return str(_spec(volume).get("storageClassName") or "")


def requested_storage(claim: Obj) -> Fraction:
    requests = (_spec(claim).get("resources") or {}).get("requests") or {}
    return parse_quantity(requests.get("storage", 0))


def volume_capacity(volume: Obj) -> Fraction:
    return parse_quantity((_spec(volume).get("capacity") or {}).get("storage", 0))


def volume_mode_mismatch(claim: Obj, volume: Obj) -> bool:
    """``CheckVolumeModeMismatches``: both default to Filesystem."""
    return (_spec(claim).get("volumeMode") or "Filesystem") != (_spec(volume).get("volumeMode") or "Filesystem")


def claim_ref(volume: Obj) -> dict[str, Any] | None:
    ref = _spec(volume).get("claimRef")
    return ref if isinstance(ref, dict) else None


def is_volume_bound_to_claim(volume: Obj, claim: Obj) -> bool:
    """``IsVolumeBoundToClaim``: the volume's claimRef names the claim (and its uid, when it has one)."""
    ref = claim_ref(volume)
    if ref is None:
        return False
    if ref.get("name") != meta(claim).get("name") or ref.get("namespace") != meta(claim).get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta(claim).get("uid")


def claim_reference(claim: Obj) -> dict[str, Any]:
    """``reference.GetReference`` of a claim: what a volume's ``claimRef`` holds once bound to it."""
    ref = {
        "kind": "PersistentVolumeClaim",
        "namespace": meta(claim).get("namespace"),
        "name": meta(claim).get("name"),
        "uid": meta(claim).get("uid"),
        "apiVersion": "v1",
        "resourceVersion": meta(claim).get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


def access_modes(obj: Obj) -> list[str]:
    return [str(m) for m in _spec(obj).get("accessModes") or []]


def check_access_modes(claim: Obj, volume: Obj) -> bool:
    """``CheckAccessModes``: the volume offers every mode the claim asks for."""
    offered = set(access_modes(volume))
    return all(mode in offered for mode in access_modes(claim))


def _term_selects(term: Mapping[str, Any], labels: Mapping[str, Any], name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects nothing, as upstream's NodeSelector
    try:
        return all(node_selector_requirement(r).matches(labels) for r in expressions) and all(
            node_selector_requirement(r).matches({"metadata.name": name}) for r in fields
        )
    except SelectorError:
        return False


def node_affinity_allows(volume: Obj, node: Obj) -> bool:
    """``CheckNodeAffinity``: a volume without required node affinity may be used anywhere."""
    required = (_spec(volume).get("nodeAffinity") or {}).get("required")
    if not isinstance(required, dict):
        return True
    labels = meta(node).get("labels") or {}
    name = str(meta(node).get("name") or "")
    return any(_term_selects(term, labels, name) for term in required.get("nodeSelectorTerms") or [])


def find_matching_volume(
    claim: Obj,
    volumes: Iterable[Obj],
    *,
    node: Obj | None = None,
    excluded: frozenset[str] = frozenset(),
    delay_binding: bool = False,
) -> Obj | None:
    """``FindMatchingVolume``: the pre-bound volume, or the smallest one that fits (see the module docstring).

    With ``node`` (the scheduler's path) the volume's node affinity must select it and the access
    modes are checked here; without it (the PV controller's) a ``delay_binding`` claim is matched
    only to a volume pre-bound to it. Raises :class:`SelectorError` for a malformed claim selector.
    """
    requested = requested_storage(claim)
    requested_class = claim_class(claim)
    selector = _spec(claim).get("selector")
    if selector is not None:
        matches(selector, {})  # a malformed selector raises here, once, not per volume
    smallest: Obj | None = None
    smallest_size = Fraction(0)
    for volume in volumes:
        name = str(meta(volume).get("name") or "")
        if name in excluded:
            continue
        bound_to_claim = is_volume_bound_to_claim(volume, claim)
        if claim_ref(volume) is not None and not bound_to_claim:
            continue
        size = volume_capacity(volume)
        if size < requested or volume_mode_mismatch(claim, volume) or meta(volume).get("deletionTimestamp"):
            continue
        affinity_ok = node is None or node_affinity_allows(volume, node)
        if bound_to_claim:
            # A pre-bound volume the node cannot reach means no volume for this claim on this node.
            return volume if affinity_ok else None
        if node is None and delay_binding:
            continue  # the scheduler binds it, once it has picked a node
        if (volume.get("status") or {}).get("phase") != "Available":
            continue
        if selector is not None and not matches(selector, meta(volume).get("labels") or {}):
            continue
        if volume_class(volume) != requested_class or not affinity_ok:
            continue
        if node is not None and not check_access_modes(claim, volume):
            continue
        if smallest is None or size < smallest_size:
            smallest, smallest_size = volume, size
    return smallest


def find_best_match(claim: Obj, volumes: Iterable[Obj], *, delay_binding: bool) -> Obj | None:
    """``findBestMatchForClaim``: :func:`find_matching_volume` over the volumes of each access-mode set.

    The sets tried are those including every mode the claim asks for, fewest modes first (a claim
    for ReadWriteOnce takes a ReadWriteOnce volume before a ReadWriteOnce+ReadOnlyMany one).
    """
    wanted = set(access_modes(claim))
    by_modes: dict[frozenset[str], list[Obj]] = {}
    for volume in volumes:
        by_modes.setdefault(frozenset(access_modes(volume)), []).append(volume)
    candidates = sorted((modes for modes in by_modes if wanted <= modes), key=lambda m: (len(m), sorted(m)))
    for modes in candidates:
        if (found := find_matching_volume(claim, by_modes[modes], delay_binding=delay_binding)) is not None:
            return found
    return None
