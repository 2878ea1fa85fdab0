"""The built-in StorageClasses, and the DefaultStorageClass admission plugin.

kuberya ships a dynamic provisioner, as every local cluster does (k3s: local-path, kind:
standard): :mod:`kuberya.node.provisioner` makes each volume a directory under the data dir. Its
classes are created at start when missing, as the built-in PriorityClasses are: ``local-path``,
the default (``WaitForFirstConsumer``: the directory is made once the first pod using the claim
has a node), and ``local-path-immediate`` for those who want a claim bound before any pod.

As upstream's plugin (``plugin/pkg/admission/storage/storageclass/setdefault``): on create only,
a claim with no class at all (neither ``spec.storageClassName``, not even ``""``, nor the beta
annotation) gets the default class; when several are marked default, the newest wins (ties by name).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from kuberya.apiserver import errors
from kuberya.apiserver.ingressclass import newest_default
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.resources import kinds
from kuberya.resources.kinds import persistentvolumeclaim, storageclass
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.admission import Admission

PROVISIONER = "kuberya.io/local-path"
DEFAULT_CLASS = "local-path"
IMMEDIATE_CLASS = "local-path-immediate"


def builtin_classes() -> list[JSONObject]:
    def make(name: str, mode: str, annotations: dict[str, str]) -> JSONObject:
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": mode,
            "allowVolumeExpansion": True,
        }

    return [
        make(DEFAULT_CLASS, "WaitForFirstConsumer", {storageclass.IS_DEFAULT_CLASS: "true"}),
        make(IMMEDIATE_CLASS, "Immediate", {}),
    ]


def _class_type() -> ResourceType | None:
    return kinds.lookup("storage.k8s.io", "v1", "storageclasses")


async def ensure_builtin_classes(store: ObjectStore, admission: Admission) -> None:
    """Create the built-in classes that are missing (a deleted one comes back at the next start)."""
    rt = _class_type()
    if rt is None:
        return
    for sc in builtin_classes():
        if await store.get_or_none(rt, None, sc["metadata"]["name"]) is not None:
            continue
        await admission.prepare_create(rt, sc)
        with contextlib.suppress(errors.StatusError):  # created meanwhile
            await store.create(rt, sc)


def default_class(classes: list[JSONObject]) -> str:
    """``GetDefaultClass``: the newest class marked default (either annotation), ties by name."""
    return newest_default(classes, storageclass.is_default)


async def default_storage_class(store: ObjectStore, rt: ResourceType, claim: JSONObject) -> None:
    """Give a new claim that names no class at all the default class."""
    if (rt.group, rt.resource) != ("", "persistentvolumeclaims") or persistentvolumeclaim.has_class(claim):
        return
    class_type = _class_type()
    if class_type is None:
        return
    name = default_class((await store.list(class_type, selection=ObjectFilter())).items)
    if name:
        claim.setdefault("spec", {})["storageClassName"] = name
