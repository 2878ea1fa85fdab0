"""core/v1 PersistentVolumeClaim, as a placeholder: served, defaulted and validated, never bound.

A claim asks for storage; upstream's PV controller binds it to a PersistentVolume (provisioned
by a StorageClass) and the kubelet mounts it. kuberya has no volume binding yet (that comes with
the storage issue), so a claim stays ``Pending`` — and the scheduler, as upstream's VolumeBinding
plugin does for an unbound immediate claim, does not place a pod that uses one
(:mod:`kuberya.controllers.scheduling`). StatefulSets still create their claims from
``volumeClaimTemplates``, so everything up to binding behaves as upstream.

Defaults, validation and the Table follow upstream (``pkg/apis/core/v1/defaults.go``,
``ValidatePersistentVolumeClaim``/``…Update``, ``printPersistentVolumeClaim``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.meta.quantity import parse_quantity
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.patchmeta import BY_TYPE
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required

ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
"""The supported access modes and how ``kubectl get`` abbreviates them (``GetAccessModesAsString``)."""
VOLUME_MODES = ("Block", "Filesystem")
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
"""The beta annotation that still wins over ``spec.storageClassName`` (``GetPersistentVolumeClaimClass``)."""


def default_claim_spec(spec: JSONObject) -> None:
    """``SetDefaults_PersistentVolumeClaimSpec``: a claim without a volume mode wants a filesystem."""
    if not spec.get("volumeMode"):
        spec["volumeMode"] = "Filesystem"


def default_claim(pvc: JSONObject) -> None:
    """``SetDefaults_PersistentVolumeClaim``: the spec's defaults, and ``phase: Pending``."""
    spec = pvc.get("spec")
    if not isinstance(spec, dict):
        spec = pvc["spec"] = {}
    default_claim_spec(spec)
    status = pvc.get("status")
    if not isinstance(status, dict):
        status = pvc["status"] = {}
    if not status.get("phase"):
        status["phase"] = "Pending"


def reset_status(pvc: JSONObject) -> None:
    """A created claim starts unbound whatever its body says (the strategy's PrepareForCreate)."""
    pvc["status"] = {}


def _storage_request(spec: JSONObject, path: str) -> list[Cause]:
    requests = ((spec.get("resources") or {}).get("requests")) or {}
    if "storage" not in requests:
        return [required(f"{path}.resources[storage]")]
    try:
        value = parse_quantity(requests["storage"])
    except (TypeError, ValueError):
        return [invalid(f"{path}.resources[storage]", requests["storage"], "must be a quantity")]
    if value <= 0:
        return [invalid(f"{path}.resources[storage]", requests["storage"], "must be greater than zero")]
    return []


def validate_claim_spec(spec: Any, path: str) -> list[Cause]:
    """``ValidatePersistentVolumeClaimSpec``: access modes, a positive storage request, the volume mode."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[Cause] = []
    modes = spec.get("accessModes") or []
    if not modes:
        causes.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(not_supported(f"{path}.accessModes", mode, tuple(ACCESS_MODES)))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    causes.extend(_storage_request(spec, path))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported(f"{path}.volumeMode", mode, VOLUME_MODES))
    return causes


def _spec_without_mutable(spec: JSONObject, old: JSONObject) -> JSONObject:
    # What may change: the binder sets volumeName once; requests may grow (expansion); the
    # volume attributes class may change. Everything else is fixed at creation.
    masked = {k: v for k, v in spec.items() if k not in ("resources", "volumeAttributesClassName")}
    if not old.get("volumeName"):
        masked.pop("volumeName", None)
    return masked


def _validate(pvc: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = pvc.get("spec")
    causes = validate_claim_spec(spec, "spec")
    if old is not None and isinstance(spec, dict):
        old_spec = old.get("spec") or {}
        if _spec_without_mutable(spec, old_spec) != _spec_without_mutable(old_spec, old_spec):
            causes.append(
                forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
                    "for bound claims",
                )
            )
    return causes


COLUMNS = (
    NAME,
    column("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
    column("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim."),
    column("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
    column(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
    ),
    column("StorageClass", "string", "StorageClass of the pvc"),
    column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE,
    column(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when "
        "not included in claim spec.",
        priority=1,
    ),
)


def storage_class(pvc: JSONObject) -> str:
    """``GetPersistentVolumeClaimClass``: the beta annotation, else ``spec.storageClassName``."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[STORAGE_CLASS_ANNOTATION])
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


def _print(pvc: JSONObject, now: datetime) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if (pvc.get("metadata") or {}).get("deletionTimestamp") else status.get("phase", "")
    capacity = access_modes = ""
    if spec.get("volumeName"):  # only a bound claim shows what it got
        access_modes = ",".join(ACCESS_MODES[m] for m in ACCESS_MODES if m in (status.get("accessModes") or []))
        capacity = str((status.get("capacity") or {}).get("storage", ""))
    return [
        name(pvc),
        phase,
        spec.get("volumeName", ""),
        capacity,
        access_modes,
        storage_class(pvc),
        spec.get("volumeAttributesClassName") or "<unset>",
        age(pvc, now),
        spec.get("volumeMode") or "<unset>",
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="persistentvolumeclaims",
            kind="PersistentVolumeClaim",
            singular="persistentvolumeclaim",
            namespaced=True,
            short_names=("pvc",),
            subresources=(status_of("PersistentVolumeClaim"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,  # client-go (and kube components) may send it as protobuf
    defaults=default_claim,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    patch_meta={"status.conditions": BY_TYPE},
    prepare_create=reset_status,
)
