"""storage.k8s.io/v1 StorageClass: how claims of a class are provisioned and bound, cluster-scoped.

As upstream (``pkg/apis/storage/v1/defaults.go``, ``pkg/apis/storage/validation``,
``printStorageClass``): ``reclaimPolicy`` defaults to ``Delete`` and ``volumeBindingMode`` to
``Immediate``; the provisioner is a required qualified name; parameters, provisioner, reclaim
policy and binding mode never change once created. The class annotated
``storageclass.kubernetes.io/is-default-class: "true"`` prints as ``name (default)`` and is the
one the DefaultStorageClass admission plugin gives a claim that names none
(:mod:`kuberya.apiserver.storageclasses`, which also creates the built-in ``local-path``
classes at startup).

kuberya provisions for :data:`LOCAL_PATH_PROVISIONER` only; a class naming another provisioner
is stored with a Warning, since its claims can only bind to PersistentVolumes made by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.names import qualified_name_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import duplicate, forbidden, invalid, not_supported, required, too_long
from kuberya.resources.validation_storage import topology_selector_term

STORAGE_V1 = "io.k8s.api.storage.v1"

LOCAL_PATH_PROVISIONER = "kuberya.io/local-path"
"""The provisioner kuberya's node runs: a directory under the data dir per volume."""
NO_PROVISIONER = "kubernetes.io/no-provisioner"
"""Upstream's name for a class of pre-made (static, local) volumes only."""
IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
_MAX_PARAMETERS = 512
_MAX_PARAMETERS_SIZE = 256 * (1 << 10)


def is_default(sc: JSONObject) -> bool:
    """``IsDefaultAnnotation``: the GA or the beta annotation says ``"true"``."""
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return annotations.get(IS_DEFAULT_CLASS) == "true" or annotations.get(BETA_IS_DEFAULT_CLASS) == "true"


def _default(sc: JSONObject) -> None:
    """``SetDefaults_StorageClass``."""
    if sc.get("reclaimPolicy") is None:
        sc["reclaimPolicy"] = "Delete"
    if sc.get("volumeBindingMode") is None:
        sc["volumeBindingMode"] = "Immediate"


def _parameters(params: Any) -> list[Cause]:
    """``validateParameters``: at most 512 keys, none empty, 256 kB in all."""
    if not isinstance(params, dict):
        return []
    if len(params) > _MAX_PARAMETERS:
        return [too_long("parameters", _MAX_PARAMETERS)]
    causes = [invalid("parameters", key, "field can not be empty.") for key in params if not key]
    if sum(len(k) + len(str(v)) for k, v in params.items()) > _MAX_PARAMETERS_SIZE:
        causes.append(too_long("parameters", _MAX_PARAMETERS_SIZE))
    return causes


def _validate(sc: JSONObject, old: JSONObject | None) -> list[Cause]:
    causes: list[Cause] = []
    provisioner = str(sc.get("provisioner") or "")
    if not provisioner:
        causes.append(required("provisioner"))
    else:
        causes += [invalid("provisioner", provisioner, msg) for msg in qualified_name_errors(provisioner.lower())]
    causes += _parameters(sc.get("parameters"))
    policy = sc.get("reclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        causes.append(not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
    mode = sc.get("volumeBindingMode")
    if mode is None:
        causes.append(required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        causes.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    seen: list[Any] = []
    for i, term in enumerate(sc.get("allowedTopologies") or []):
        causes += topology_selector_term(term, f"allowedTopologies[{i}]")
        if term in seen:
            causes.append(duplicate(f"allowedTopologies[{i}]", term))
        seen.append(term)
    if old is not None:
        if (sc.get("parameters") or {}) != (old.get("parameters") or {}):
            causes.append(forbidden("parameters", "updates to parameters are forbidden."))
        if sc.get("provisioner") != old.get("provisioner"):
            causes.append(forbidden("provisioner", "updates to provisioner are forbidden."))
        if sc.get("reclaimPolicy") != old.get("reclaimPolicy"):
            causes.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        if sc.get("volumeBindingMode") != old.get("volumeBindingMode"):
            causes.append(invalid("volumeBindingMode", sc.get("volumeBindingMode"), "field is immutable"))
    return causes


def _warnings(sc: JSONObject, old: JSONObject | None) -> list[str]:
    provisioner = sc.get("provisioner")
    if old is None and provisioner not in (LOCAL_PATH_PROVISIONER, NO_PROVISIONER):
        return [
            f"kuberya provisions volumes for {LOCAL_PATH_PROVISIONER} only: claims of class "
            f"{(sc.get('metadata') or {}).get('name', '')} bind only to PersistentVolumes made beforehand"
        ]
    return []


COLUMNS = (
    NAME,
    column("Provisioner", "string", "provisioner indicates the type of the provisioner."),
    column(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage "
        "class. Defaults to Delete.",
    ),
    column(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, "
        "VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling "
        "feature.",
    ),
    column(
        "AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."
    ),
    AGE,
)


def _print(sc: JSONObject, now: datetime) -> list[Any]:
    label = name(sc) + (" (default)" if is_default(sc) else "")
    return [
        label,
        sc.get("provisioner", ""),
        sc.get("reclaimPolicy") or "Delete",
        sc.get("volumeBindingMode") or "Immediate",
        bool(sc.get("allowVolumeExpansion")),
        age(sc, now),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="storage.k8s.io",
            version="v1",
            resource="storageclasses",
            kind="StorageClass",
            singular="storageclass",
            namespaced=False,
            short_names=("sc",),
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": STORAGE_V1},
    protobuf=True,  # client-go (external provisioners, operators) may send it as protobuf
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    warnings=_warnings,
)
