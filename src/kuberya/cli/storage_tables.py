"""``kubectl get pvc|pv|sc``'s default columns, computed from the objects, for ``kuberya ask`` lists.

The CLI is a client of the API and may not import the server's kind modules, so this restates
upstream's printers (``printPersistentVolumeClaim``, ``printPersistentVolume``,
``printStorageClass`` in ``pkg/printers/internalversion/printers.go``) for the columns kubectl
shows without ``-o wide``: a list from ``ask`` then reads like ``kubectl get`` against any cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
"""The access modes in the fixed order ``GetAccessModesAsString`` abbreviates them."""
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
"""The beta annotation that still wins over ``storageClassName`` (``GetPersistentVolume(Claim)Class``)."""
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)

PVC_HEADERS = ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
PV_HEADERS = [
    "NAME",
    "CAPACITY",
    "ACCESS MODES",
    "RECLAIM POLICY",
    "STATUS",
    "CLAIM",
    "STORAGECLASS",
    "VOLUMEATTRIBUTESCLASS",
    "REASON",
    "AGE",
]
SC_HEADERS = ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]

Age = Callable[[dict[str, Any]], str]
"""The AGE cell of an object (the caller's clock)."""


def access_modes(modes: Any) -> str:
    present = set(modes or [])
    return ",".join(short for mode, short in ACCESS_MODES.items() if mode in present)


def _class_of(obj: dict[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION])
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def _phase(obj: dict[str, Any]) -> str:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((obj.get("status") or {}).get("phase") or "")


def claim_row(pvc: dict[str, Any], age: Age) -> list[str]:
    """A claim shows the capacity and modes it got only once bound (``spec.volumeName`` set)."""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    capacity = modes = ""
    if spec.get("volumeName"):
        capacity = str((status.get("capacity") or {}).get("storage", ""))
        modes = access_modes(status.get("accessModes"))
    return [
        str((pvc.get("metadata") or {}).get("name") or ""),
        _phase(pvc),
        str(spec.get("volumeName") or ""),
        capacity,
        modes,
        _class_of(pvc),
        str(spec.get("volumeAttributesClassName") or "<unset>"),
        age(pvc),
    ]


def volume_row(pv: dict[str, Any], age: Age) -> list[str]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if isinstance(claim, dict) else ""
    return [
        str((pv.get("metadata") or {}).get("name") or ""),
        str((spec.get("capacity") or {}).get("storage", "0")),
        access_modes(spec.get("accessModes")),
        str(spec.get("persistentVolumeReclaimPolicy") or ""),
        _phase(pv),
        claim_text,
        _class_of(pv),
        str(spec.get("volumeAttributesClassName") or "<unset>"),
        str(status.get("reason") or ""),
        age(pv),
    ]


def class_row(sc: dict[str, Any], age: Age) -> list[str]:
    """The default class prints as ``name (default)``; unset policies print as the API defaults them."""
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    name = str((sc.get("metadata") or {}).get("name") or "")
    if any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    return [
        name,
        str(sc.get("provisioner") or ""),
        str(sc.get("reclaimPolicy") or "Delete"),
        str(sc.get("volumeBindingMode") or "Immediate"),
        "true" if sc.get("allowVolumeExpansion") else "false",
        age(sc),
    ]


TABLES: dict[str, tuple[list[str], Callable[[dict[str, Any], Age], list[str]]]] = {
    "persistentvolumeclaims": (PVC_HEADERS, claim_row),
    "persistentvolumes": (PV_HEADERS, volume_row),
    "storageclasses": (SC_HEADERS, class_row),
}
"""The storage resources ``ask`` lists: their headers and how one object becomes a row."""
