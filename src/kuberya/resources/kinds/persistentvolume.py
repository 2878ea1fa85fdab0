"""core/v1 PersistentVolume: a piece of storage on the node, cluster-scoped, bound to at most one claim.

As upstream (``pkg/apis/core/v1/defaults.go``, ``ValidatePersistentVolume*``,
``pkg/registry/core/persistentvolume/strategy.go``, ``printPersistentVolume``):

* a new PV starts ``Pending`` with a ``lastPhaseTransitionTime`` whatever its body says; the PV
  controller makes it ``Available``, ``Bound``, ``Released`` or ``Failed`` through ``/status``
  (the status strategy, ``_prepare_status_update``, stamps ``lastPhaseTransitionTime`` on each
  phase change);
* defaults: reclaim policy ``Retain`` (a provisioner writes its class's policy), volume mode
  ``Filesystem``, a ``hostPath`` without ``type`` gets ``""`` (no check);
* validation: access modes, exactly one ``storage`` capacity that is positive, the reclaim policy,
  exactly one volume source, node affinity (required for ``local``), class name; on update the
  source, the volume mode and a set node affinity are fixed.

Which sources: kuberya serves one node, so it mounts ``hostPath`` and ``local`` volumes (both
validated as upstream). Every other source (nfs, csi, iscsi, the cloud disks…) is refused with a
422 that says so, rather than stored for a node that could never mount it.
"""

from __future__ import annotations

import copy
import posixpath
from datetime import datetime
from typing import Any

from kuberya.meta.quantity import format_quantity, is_binary_quantity
from kuberya.meta.timefmt import now_rfc3339
from kuberya.resources.kinds.persistentvolumeclaim import (
    ACCESS_MODES,
    STORAGE_CLASS_ANNOTATION,
    VOLUME_MODES,
    access_modes_causes,
    access_modes_text,
)
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required
from kuberya.resources.validation_storage import (
    STORAGE,
    basic_resource,
    node_selector,
    path_no_backsteps,
    quantity_or_none,
)

RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket")
PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
MOUNT_OPTIONS_ANNOTATION = "volume.beta.kubernetes.io/mount-options"
SERVED_SOURCES = ("hostPath", "local")
"""The sources a kuberya node can mount (bind mounts of a host directory)."""
UNSERVED_SOURCES = (
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "storageos",
    "csi",
)
"""Upstream's other PersistentVolumeSource members, in its validation order."""
SOURCES = SERVED_SOURCES + UNSERVED_SOURCES


def _default(pv: JSONObject) -> None:
    """``SetDefaults_PersistentVolume`` and ``SetDefaults_HostPathVolumeSource``."""
    spec = pv.get("spec")
    if not isinstance(spec, dict):
        spec = pv["spec"] = {}
    if not spec.get("persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    status = pv.get("status")
    if not isinstance(status, dict):
        status = pv["status"] = {}
    if not status.get("phase"):
        status["phase"] = "Pending"


def _prepare_create(pv: JSONObject) -> None:
    """The strategy's PrepareForCreate: a new volume is Pending, since now."""
    pv["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now_rfc3339()}


def _prepare_status_update(pv: JSONObject, old: JSONObject) -> None:
    """The status strategy's PrepareForUpdate: ``lastPhaseTransitionTime`` follows the phase.

    The phase unchanged and no time sent: the old time stays. The phase changed and the writer
    sent no time, or the old one: now.
    """
    status = pv.get("status")
    if not isinstance(status, dict):
        status = pv["status"] = {}
    old_status = old.get("status")
    if not isinstance(old_status, dict):
        old_status = {}
    old_time = old_status.get("lastPhaseTransitionTime")
    sent = status.get("lastPhaseTransitionTime")
    if status.get("phase") == old_status.get("phase"):
        if sent is None and old_time is not None:
            status["lastPhaseTransitionTime"] = old_time
    elif sent is None or sent == old_time:
        status["lastPhaseTransitionTime"] = now_rfc3339()


def _host_path(source: JSONObject, path: str) -> list[Cause]:
    """``validateHostPathVolumeSource``: a path without ``..``, a known type."""
    host_path = str(source.get("path") or "")
    if not host_path:
        return [required(f"{path}.path")]
    causes = path_no_backsteps(host_path, f"{path}.path")
    kind = source.get("type")
    if kind is not None and kind not in HOST_PATH_TYPES:
        causes.append(not_supported(f"{path}.type", kind, HOST_PATH_TYPES))
    return causes


def _local(source: JSONObject, path: str) -> list[Cause]:
    """``validateLocalVolumeSource``: an absolute path without ``..``."""
    local_path = str(source.get("path") or "")
    if not local_path:
        return [required(f"{path}.path")]
    causes: list[Cause] = []
    if not local_path.startswith("/"):
        causes.append(invalid(path, local_path, "must be an absolute path"))
    return causes + path_no_backsteps(local_path, f"{path}.path")


def _capacity(capacity: Any) -> list[Cause]:
    if not capacity:
        return [required("spec.capacity"), not_supported("spec.capacity", {}, (STORAGE,))]
    causes: list[Cause] = []
    if STORAGE not in capacity or len(capacity) > 1:
        causes.append(not_supported("spec.capacity", capacity, (STORAGE,)))
    for resource, value in capacity.items():
        field = f"spec.capacity[{resource}]"
        causes += basic_resource(value, field)
        number = quantity_or_none(value)
        if number is not None and number <= 0:
            causes.append(invalid(field, value, "must be greater than zero"))
    return causes


def _sources(spec: JSONObject, affinity_set: bool) -> list[Cause]:
    causes: list[Cause] = []
    found = 0
    for source in SOURCES:
        if spec.get(source) is None:
            continue
        path = f"spec.{source}"
        if found and source != "flexVolume":  # upstream never counts flexVolume as a second type
            causes.append(forbidden(path, "may not specify more than 1 volume type"))
            continue
        found += 1
        body = spec[source] if isinstance(spec[source], dict) else {}
        if source == "hostPath":
            causes += _host_path(body, path)
        elif source == "local":
            causes += _local(body, path)
            if not affinity_set:
                causes.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
        else:
            causes.append(
                forbidden(
                    path,
                    f"kuberya cannot mount {source} volumes: its one node serves hostPath and local "
                    "PersistentVolumes (or a claim of the local-path StorageClass)",
                )
            )
    if not found:
        causes.append(required("spec", "must specify a volume type"))
    return causes


def validate_pv_spec(spec: Any, annotations: JSONObject) -> list[Cause]:
    """``ValidatePersistentVolumeSpec`` (not inline) plus the mount-options annotation check."""
    if not isinstance(spec, dict):
        return [required("spec")]
    modes = spec.get("accessModes") or []
    causes = [required("spec.accessModes")] if not modes else []
    causes += access_modes_causes(modes, "spec.accessModes")
    causes += _capacity(spec.get("capacity"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        causes.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    affinity = spec.get("nodeAffinity")
    if affinity is not None:
        required_terms = affinity.get("required") if isinstance(affinity, dict) else None
        if required_terms is None:
            causes.append(required("spec.nodeAffinity.required", "must specify required node constraints"))
        else:
            causes += node_selector(required_terms, "spec.nodeAffinity.required")
    causes += _sources(spec, affinity is not None)
    host_path = spec.get("hostPath")
    recycles_root = isinstance(host_path, dict) and posixpath.normpath(str(host_path.get("path") or ".")) == "/"
    if recycles_root and policy == "Recycle":
        causes.append(
            forbidden("spec.persistentVolumeReclaimPolicy", "may not be 'recycle' for a hostPath mount of '/'")
        )
    class_name = spec.get("storageClassName") or ""
    if class_name:
        causes += [invalid("spec.storageClassName", class_name, msg) for msg in dns1123_subdomain_errors(class_name)]
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported("spec.volumeMode", mode, VOLUME_MODES))
    vac = spec.get("volumeAttributesClassName")
    if vac is not None:
        if vac == "":
            causes.append(required("spec.volumeAttributesClassName", "an empty string is disallowed"))
        else:
            causes += [invalid("spec.volumeAttributesClassName", vac, m) for m in dns1123_subdomain_errors(vac)]
        if spec.get("csi") is None:
            causes.append(required("spec.csi", "has to be specified when using volumeAttributesClassName"))
    if MOUNT_OPTIONS_ANNOTATION in annotations and any(spec.get(s) is not None for s in SERVED_SOURCES):
        causes.append(
            forbidden(
                f"metadata.annotations.{MOUNT_OPTIONS_ANNOTATION}", "may not specify mount options for this volume type"
            )
        )
    return causes


def _source_of(spec: JSONObject) -> JSONObject:
    return {k: spec[k] for k in SOURCES if spec.get(k) is not None}


def _validate_update(spec: JSONObject, old_spec: JSONObject) -> list[Cause]:
    """``ValidatePersistentVolumeUpdate``: the source, the volume mode, a set node affinity are fixed."""
    causes: list[Cause] = []
    new_source, old_source = _source_of(spec), _source_of(old_spec)
    # A CSI volume may gain a controllerExpandSecretRef it lacked (upstream's one exception).
    old_csi, new_csi = old_source.get("csi"), new_source.get("csi")
    if isinstance(old_csi, dict) and isinstance(new_csi, dict) and old_csi.get("controllerExpandSecretRef") is None:
        new_source = copy.deepcopy(new_source)
        new_source["csi"].pop("controllerExpandSecretRef", None)
    if new_source != old_source:
        causes.append(
            forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation")
        )
    if spec.get("volumeMode") != old_spec.get("volumeMode"):
        causes.append(invalid("volumeMode", spec.get("volumeMode"), "field is immutable"))
    if old_spec.get("nodeAffinity") is not None and spec.get("nodeAffinity") != old_spec.get("nodeAffinity"):
        causes.append(invalid("nodeAffinity", spec.get("nodeAffinity"), "field is immutable"))
    old_vac, new_vac = old_spec.get("volumeAttributesClassName"), spec.get("volumeAttributesClassName")
    if old_vac is not None and new_vac is None:
        causes.append(forbidden("spec.volumeAttributesClassName", "update from non-nil value to nil is forbidden"))
    return causes


def _validate(pv: JSONObject, old: JSONObject | None) -> list[Cause]:
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    spec = pv.get("spec")
    causes = validate_pv_spec(spec, annotations)
    if old is not None and isinstance(spec, dict):
        causes += _validate_update(spec, old.get("spec") or {})
    return causes


def _warnings(pv: JSONObject, old: JSONObject | None) -> list[str]:
    del old
    spec = pv.get("spec") or {}
    if spec.get("mountOptions") and any(spec.get(s) is not None for s in SERVED_SOURCES):
        return ["spec.mountOptions: kuberya bind-mounts hostPath and local volumes; the mount options are not applied"]
    return []


def volume_class(pv: JSONObject) -> str:
    """``GetPersistentVolumeClass``: the beta annotation, else ``spec.storageClassName``."""
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    if STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[STORAGE_CLASS_ANNOTATION])
    return str((pv.get("spec") or {}).get("storageClassName") or "")


def quantity_text(value: Any) -> str:
    """``Quantity.String()`` of a stored quantity; ``0`` when absent, as Go's zero value prints."""
    number = quantity_or_none(value)
    if number is None:
        return "0" if value is None else str(value)
    return format_quantity(number, binary=is_binary_quantity(value))


COLUMNS = (
    NAME,
    column(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources and capacity. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
    ),
    column(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
    ),
    column(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
    ),
    column(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
    ),
    column(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
    ),
    column("StorageClass", "string", "StorageClass of the pv"),
    column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    column(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy "
        "display in the CLI.",
    ),
    AGE,
    column(
        "VolumeMode",
        "string",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw "
        "block state. Value of Filesystem is implied when not included in spec.",
        priority=1,
    ),
)


def _print(pv: JSONObject, now: datetime) -> list[Any]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if isinstance(claim, dict) else ""
    phase = "Terminating" if (pv.get("metadata") or {}).get("deletionTimestamp") else status.get("phase", "")
    return [
        name(pv),
        quantity_text((spec.get("capacity") or {}).get(STORAGE)),
        access_modes_text(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        claim_text,
        volume_class(pv),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        age(pv, now),
        spec.get("volumeMode") or "<unset>",
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="persistentvolumes",
            kind="PersistentVolume",
            singular="persistentvolume",
            namespaced=False,
            short_names=("pv",),
            subresources=(status_of("PersistentVolume"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,  # client-go (the kube components, operators) may send it as protobuf
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    prepare_create=_prepare_create,
    prepare_status_update=_prepare_status_update,
    warnings=_warnings,
)

__all__ = ["ACCESS_MODES", "PHASES", "RECLAIM_POLICIES", "SPEC", "quantity_text", "volume_class"]
