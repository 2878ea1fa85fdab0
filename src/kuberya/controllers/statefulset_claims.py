"""``persistentVolumeClaimRetentionPolicy``: which owner references a StatefulSet's claims carry.

A claim made from a ``volumeClaimTemplates`` entry outlives its pod by default (Retain/Retain):
nobody owns it, so the garbage collector never deletes it. The policy changes that through owner
references alone, as upstream's ``claimOwnerMatchesSetAndPod`` / ``updateClaimOwnerRefForSetAndPod``:

* ``whenDeleted: Delete`` — the claim is owned by the set, so deleting the set deletes it;
* ``whenScaled: Delete`` — the claim of a pod scaled away (ordinal out of range) is owned by that
  pod, so it goes when the pod does; a claim of a pod still in range is not.

Both owners are plain references (no ``controller``): the claim has no controller of its own.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.controllers.statefulset_pods import in_ordinal_range, retention_policy
from kuberya.meta.types import Obj

DELETE = "Delete"


def _refers_to(ref: Any, owner: Obj) -> bool:
    return isinstance(ref, dict) and ref.get("uid") == meta(owner).get("uid") and bool(meta(owner).get("uid"))


def has_owner_ref(claim: Obj, owner: Obj) -> bool:
    return any(_refers_to(ref, owner) for ref in meta(claim).get("ownerReferences") or [])


def has_stale_owner_ref(claim: Obj, pod: Obj) -> bool:
    """``hasStaleOwnerRef``: a reference to a pod of this name, but another (or no) uid: an old pod's claim."""
    for ref in meta(claim).get("ownerReferences") or []:
        if (
            isinstance(ref, dict)
            and ref.get("kind") == "Pod"
            and ref.get("apiVersion") == "v1"
            and ref.get("name") == meta(pod).get("name")
            and ref.get("uid") != meta(pod).get("uid")
        ):
            return True
    return False


def _wanted(sts: Obj, pod: Obj) -> tuple[bool, bool]:
    """Whether the claim of ``pod`` should be owned by (the set, the pod)."""
    when_deleted, when_scaled = retention_policy(sts)
    scaled_down = not in_ordinal_range(pod, sts)
    by_pod = when_scaled == DELETE and scaled_down
    by_set = when_deleted == DELETE and not by_pod
    return by_set, by_pod


def claim_owners_match(claim: Obj, sts: Obj, pod: Obj) -> bool:
    """``claimOwnerMatchesSetAndPod``: the claim already has exactly the owners the policy wants."""
    by_set, by_pod = _wanted(sts, pod)
    return has_owner_ref(claim, sts) == by_set and has_owner_ref(claim, pod) == by_pod


def _reference(owner: Obj, *, api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": meta(owner).get("name"), "uid": meta(owner).get("uid")}


def owner_refs_for(claim: Obj, sts: Obj, pod: Obj) -> list[dict[str, Any]]:
    """``updateClaimOwnerRefForSetAndPod``: the claim's owner references as the policy wants them."""
    by_set, by_pod = _wanted(sts, pod)
    refs = [
        copy.deepcopy(r)
        for r in meta(claim).get("ownerReferences") or []
        if not _refers_to(r, sts) and not _refers_to(r, pod)
    ]
    if by_set:
        refs.append(_reference(sts, api_version="apps/v1", kind="StatefulSet"))
    if by_pod and meta(pod).get("uid"):  # a pod not yet created cannot own anything
        refs.append(_reference(pod, api_version="v1", kind="Pod"))
    return refs
