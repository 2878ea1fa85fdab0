"""core/v1 PersistentVolumeClaim: a namespaced request for storage, bound to one PersistentVolume.

As upstream (``pkg/apis/core/v1/defaults.go``, ``ValidatePersistentVolumeClaim*``,
``pkg/registry/core/persistentvolumeclaim/strategy.go``, ``printPersistentVolumeClaim``):

* a new claim starts ``Pending`` with an empty status whatever its body says; the PV controller
  binds it (``spec.volumeName`` once, then ``status`` through ``/status``);
* the spec is fixed after creation except ``volumeName`` (settable once), the storage request
  and ``volumeAttributesClassName`` of a *bound* claim, and the move of a beta
  ``volume.beta.kubernetes.io/storage-class`` annotation (or a nil class) into
  ``storageClassName``. A bound claim's request may grow — whether its class allows that is the
  PersistentVolumeClaimResize admission plugin's call (:mod:`kuberya.apiserver.storageadmission`)
  — and may come back down only while it stays above ``status.capacity`` (upstream's
  RecoverVolumeExpansionFailure, on by default);
* ``/status`` writes: capacities are not negative, ``allocatedResources`` and
  ``allocatedResourceStatuses`` name ``storage`` (or a domain-prefixed resource) with known resize
  states. Upstream checks neither the phase nor the conditions of a claim, and neither does this.

The default class (:mod:`kuberya.apiserver.storageclasses`), the protection finalizer and the
resize check (:mod:`kuberya.apiserver.storageadmission`) are admission plugins, not the kind's.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kuberya.meta.quantity import parse_quantity
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.patchmeta import BY_TYPE
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation import validate_labels
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required
from kuberya.resources.validation_networking import label_selector_causes
from kuberya.resources.validation_storage import (
    basic_resource,
    claim_resource_key,
    quantity_or_none,
    storage_of,
)

ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
"""The supported access modes and how ``kubectl get`` abbreviates them (``GetAccessModesAsString``)."""
VOLUME_MODES = ("Block", "Filesystem")
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
"""The beta annotation that still wins over ``spec.storageClassName`` (``GetPersistentVolumeClaimClass``)."""
RESIZE_STATUSES = (
    "ControllerResizeInProgress",
    "ControllerResizeInfeasible",
    "NodeResizePending",
    "NodeResizeInProgress",
    "NodeResizeInfeasible",
)
_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
)


def access_modes_text(modes: Any) -> str:
    """``GetAccessModesAsString``: the abbreviations in upstream's fixed order, duplicates dropped."""
    present = set(modes or [])
    return ",".join(short for mode, short in ACCESS_MODES.items() if mode in present)


def access_modes_causes(modes: list[Any], path: str) -> list[Cause]:
    """Each mode supported; ``ReadWriteOncePod`` alone (claims and volumes alike)."""
    causes = [not_supported(path, mode, tuple(ACCESS_MODES)) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m in ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
        causes.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return causes


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


def _data_source(ref: Any, path: str) -> list[Cause]:
    """``validateDataSource``/``validateDataSourceRef``: name and kind; a core one is a claim."""
    if not isinstance(ref, dict):
        return []
    causes = [required(f"{path}.{key}") for key in ("name", "kind") if not ref.get(key)]
    group = ref.get("apiGroup") or ""
    if not group and ref.get("kind") != "PersistentVolumeClaim":
        causes.append(
            invalid(path, ref.get("kind", ""), "must be 'PersistentVolumeClaim' when referencing the default apiGroup")
        )
    causes += [invalid(f"{path}.apiGroup", group, msg) for msg in dns1123_subdomain_errors(group)] if group else []
    return causes


def validate_claim_spec(spec: Any, path: str) -> list[Cause]:
    """``ValidatePersistentVolumeClaimSpec``: access modes, selector, a positive request, class, mode, sources."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[Cause] = []
    modes = spec.get("accessModes") or []
    if not modes:
        causes.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    if spec.get("selector") is not None:
        causes.extend(label_selector_causes(spec["selector"], f"{path}.selector"))
    causes.extend(access_modes_causes(modes, f"{path}.accessModes"))
    causes.extend(_storage_request(spec, path))
    class_name = spec.get("storageClassName") or ""
    causes += (
        [invalid(f"{path}.storageClassName", class_name, msg) for msg in dns1123_subdomain_errors(class_name)]
        if class_name
        else []
    )
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported(f"{path}.volumeMode", mode, VOLUME_MODES))
    causes.extend(_data_source(spec.get("dataSource"), f"{path}.dataSource"))
    causes.extend(_data_source(spec.get("dataSourceRef"), f"{path}.dataSourceRef"))
    source, ref = spec.get("dataSource"), spec.get("dataSourceRef")
    if isinstance(source, dict) and isinstance(ref, dict):
        if ref.get("namespace"):
            causes.append(
                invalid(path, f"{path}.dataSource", "may not be specified when dataSourceRef.namespace is specified")
            )
        elif any(source.get(k) != ref.get(k) for k in ("apiGroup", "kind", "name")):
            causes.append(invalid(path, f"{path}.dataSource", "must match dataSourceRef"))
    vac = spec.get("volumeAttributesClassName") or ""
    causes += (
        [invalid(f"{path}.volumeAttributesClassName", vac, msg) for msg in dns1123_subdomain_errors(vac)] if vac else []
    )
    return causes


def validate_claim_template(template: Any, path: str) -> list[Cause]:
    """``ValidatePersistentVolumeClaimTemplate`` (an ephemeral volume's): labels and annotations only, a valid spec."""
    if not isinstance(template, dict):
        return [required(path)]
    meta = template.get("metadata") or {}
    causes = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    for key in meta:
        if key not in ("labels", "annotations"):
            causes.append(forbidden(f"{path}.metadata.{key}", "cannot be set"))
    return causes + validate_claim_spec(template.get("spec"), f"{path}.spec")


def _class_unchanged_but_moved(old: JSONObject, new: JSONObject) -> tuple[bool, bool]:
    """(upgrade from the beta annotation, upgrade from a nil class): upstream's two allowed class changes."""
    old_ann = (old.get("metadata") or {}).get("annotations") or {}
    new_ann = (new.get("metadata") or {}).get("annotations") or {}
    old_sc, new_sc = (old.get("spec") or {}).get("storageClassName"), (new.get("spec") or {}).get("storageClassName")
    from_annotation = (
        STORAGE_CLASS_ANNOTATION in old_ann
        and old_sc is None
        and new_sc is not None
        and new_sc == old_ann[STORAGE_CLASS_ANNOTATION]
        and (
            STORAGE_CLASS_ANNOTATION not in new_ann
            or new_ann[STORAGE_CLASS_ANNOTATION] == old_ann[STORAGE_CLASS_ANNOTATION]
        )
    )
    from_nil = (
        new_sc is not None
        and old_sc is None
        and (STORAGE_CLASS_ANNOTATION not in old_ann or new_sc == old_ann[STORAGE_CLASS_ANNOTATION])
    )
    return from_annotation, from_nil


def _validate_update(pvc: JSONObject, old: JSONObject) -> list[Cause]:
    """``ValidatePersistentVolumeClaimUpdate``: what a claim's spec may still change."""
    causes: list[Cause] = []
    spec, old_spec = copy.deepcopy(pvc.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
    if not old_spec.get("volumeName"):  # the binder sets volumeName once
        old_spec.pop("volumeName", None)
        if "volumeName" in spec:
            old_spec["volumeName"] = spec["volumeName"]
    from_annotation, from_nil = _class_unchanged_but_moved(old, pvc)
    if from_annotation:
        spec.pop("storageClassName", None)
    else:
        new_ann = ((pvc.get("metadata") or {}).get("annotations") or {}).get(STORAGE_CLASS_ANNOTATION, "")
        old_ann = ((old.get("metadata") or {}).get("annotations") or {}).get(STORAGE_CLASS_ANNOTATION, "")
        if new_ann != old_ann:
            causes.append(invalid(f"metadata.annotations.{STORAGE_CLASS_ANNOTATION}", new_ann, "field is immutable"))
        if from_nil:
            spec.pop("storageClassName", None)
    bound = (pvc.get("status") or {}).get("phase") == "Bound"
    if bound:
        requests = (spec.get("resources") or {}).get("requests")
        if isinstance(requests, dict):
            old_storage = ((old_spec.get("resources") or {}).get("requests") or {}).get("storage")
            requests.pop("storage", None)
            if old_storage is not None:
                requests["storage"] = old_storage
            old_requests = (old_spec.get("resources") or {}).get("requests")
            if isinstance(old_requests, dict):  # compare the other requests only
                old_requests.setdefault("storage", old_storage)
        if spec.get("volumeAttributesClassName") is not None:
            spec["volumeAttributesClassName"] = old_spec.get("volumeAttributesClassName")
            if spec["volumeAttributesClassName"] is None:
                spec.pop("volumeAttributesClassName")
    if spec != old_spec:
        causes.append(forbidden("spec", _SPEC_IMMUTABLE))
    new_size = storage_of(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    old_size = storage_of(((old.get("spec") or {}).get("resources") or {}).get("requests"))
    status_size = storage_of((old.get("status") or {}).get("capacity"))
    if new_size < old_size and new_size <= status_size:
        causes.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    new_mode, old_mode = (pvc.get("spec") or {}).get("volumeMode"), (old.get("spec") or {}).get("volumeMode")
    if new_mode != old_mode:
        causes.append(invalid("volumeMode", new_mode, "field is immutable"))
    old_vac = (old.get("spec") or {}).get("volumeAttributesClassName")
    new_vac = (pvc.get("spec") or {}).get("volumeAttributesClassName")
    if old_vac is not None and new_vac != old_vac:
        if new_vac is None:
            causes.append(forbidden("spec.volumeAttributesClassName", "update from non-nil value to nil is forbidden"))
        elif new_vac == "":
            causes.append(
                forbidden("spec.volumeAttributesClassName", "update from non-nil value to an empty string is forbidden")
            )
    return causes


def _validate_status(status: Any) -> list[Cause]:
    """``ValidatePersistentVolumeClaimStatusUpdate``'s checks of the status itself."""
    if not isinstance(status, dict):
        return []
    causes: list[Cause] = []
    for resource, value in (status.get("capacity") or {}).items():
        causes += basic_resource(value, f"status.capacity[{resource}]")
    for resource, state in (status.get("allocatedResourceStatuses") or {}).items():
        causes += claim_resource_key(str(resource), "status.allocatedResourceStatus")
        if state not in RESIZE_STATUSES:
            causes.append(not_supported("status.allocatedResourceStatus", resource, RESIZE_STATUSES))
    for resource, value in (status.get("allocatedResources") or {}).items():
        key_causes = claim_resource_key(str(resource), "status.allocatedResources")
        if key_causes:
            causes += key_causes
            continue
        causes += basic_resource(value, f"status.allocatedResources[{resource}]")
        if quantity_or_none(value) is None and value is not None:
            causes.append(invalid(f"status.allocatedResources[{resource}]", value, "must be a quantity"))
    return causes


def _validate(pvc: JSONObject, old: JSONObject | None) -> list[Cause]:
    causes = validate_claim_spec(pvc.get("spec"), "spec")
    if old is not None and isinstance(pvc.get("spec"), dict):
        causes += _validate_update(pvc, old)
        causes += _validate_status(pvc.get("status"))
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


def has_class(pvc: JSONObject) -> bool:
    """``PersistentVolumeClaimHasClass``: the beta annotation, or any ``storageClassName`` (``""`` too)."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    return STORAGE_CLASS_ANNOTATION in annotations or (pvc.get("spec") or {}).get("storageClassName") is not None


def _print(pvc: JSONObject, now: datetime) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if (pvc.get("metadata") or {}).get("deletionTimestamp") else status.get("phase", "")
    capacity = access_modes = ""
    if spec.get("volumeName"):  # only a bound claim shows what it got
        access_modes = access_modes_text(status.get("accessModes"))
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
