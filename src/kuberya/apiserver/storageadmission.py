"""Storage admission plugins: StorageObjectInUseProtection and PersistentVolumeClaimResize.

As upstream's ``plugin/pkg/admission/storage``:

* **StorageObjectInUseProtection** (mutating, on create): every new PersistentVolumeClaim gets the
  finalizer ``kubernetes.io/pvc-protection`` and every new PersistentVolume
  ``kubernetes.io/pv-protection`` (once, whatever the body already has). The protection
  controllers (:mod:`kuberya.controllers.pvc_protection`, :mod:`kuberya.controllers.pv_protection`)
  remove them when the object may go: a claim no pod uses, a volume that is not Bound.
* **PersistentVolumeClaimResize** (validating, on update of the main endpoint): a claim's
  ``spec.resources.requests.storage`` may grow only while the claim is Bound and its class — the
  same before and after, and existing — says ``allowVolumeExpansion: true``; otherwise Forbidden
  with upstream's message. Shrinking is the kind's validation's (``field can not be less than
  status.capacity``, :mod:`kuberya.resources.kinds.persistentvolumeclaim`).

The default StorageClass plugin is :mod:`.storageclasses`.
"""

from __future__ import annotations

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.resources import kinds
from kuberya.resources.kinds.persistentvolumeclaim import storage_class
from kuberya.resources.types import JSONObject, ResourceType
from kuberya.resources.validation_storage import storage_of

PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"

ONLY_BOUND = "Only bound persistent volume claims can be expanded"
RESIZE_NOT_ALLOWED = (
    "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
)

_PROTECTED = {
    ("", "persistentvolumeclaims"): PVC_PROTECTION_FINALIZER,
    ("", "persistentvolumes"): PV_PROTECTION_FINALIZER,
}


def protect_storage_object(rt: ResourceType, obj: JSONObject) -> None:
    """StorageObjectInUseProtection: add the kind's protection finalizer to a new claim or volume."""
    finalizer = _PROTECTED.get((rt.group, rt.resource))
    if finalizer is None:
        return
    meta = obj.setdefault("metadata", {})
    finalizers = meta.get("finalizers")
    if not isinstance(finalizers, list):
        finalizers = meta["finalizers"] = []
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def _requested(claim: JSONObject) -> object:
    return ((claim.get("spec") or {}).get("resources") or {}).get("requests")


async def admit_claim_resize(
    store: ObjectStore, rt: ResourceType, new: JSONObject, old: JSONObject, *, subresource: str = ""
) -> None:
    """PersistentVolumeClaimResize (see the module docstring); raises Forbidden."""
    if (rt.group, rt.resource) != ("", "persistentvolumeclaims") or subresource:
        return
    if storage_of(_requested(new)) <= storage_of(_requested(old)):
        return
    name = str((new.get("metadata") or {}).get("name") or "")
    if (old.get("status") or {}).get("phase") != "Bound":
        raise _forbidden(name, ONLY_BOUND)
    if not await _class_allows_resize(store, storage_class(new), storage_class(old)):
        raise _forbidden(name, RESIZE_NOT_ALLOWED)


async def _class_allows_resize(store: ObjectStore, new_class: str, old_class: str) -> bool:
    """``allowResize``: one class before and after, existing, with ``allowVolumeExpansion: true``."""
    if not new_class or new_class != old_class:
        return False
    class_type = kinds.lookup("storage.k8s.io", "v1", "storageclasses")
    if class_type is None:
        return False
    found = await store.get_or_none(class_type, None, new_class)
    return found is not None and found.get("allowVolumeExpansion") is True


def _forbidden(name: str, reason: str) -> errors.StatusError:
    """``admission.NewForbidden``: the resource, the name, then why."""
    return errors.forbidden(
        f'persistentvolumeclaims "{name}" is forbidden: {reason}',
        details={"name": name, "kind": "persistentvolumeclaims"},
    )
