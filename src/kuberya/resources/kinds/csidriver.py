"""storage.k8s.io/v1 CSIDriver: what a CSI driver asks of the cluster, cluster-scoped.

kuberya runs no CSI driver; the kind is served (defaulted, validated and printed as upstream's
``pkg/apis/storage/v1/defaults.go``, ``validateCSIDriverSpec``, ``printCSIDriver``) for the tools
and charts that list or create it. Nothing acts on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.kinds.storageclass import STORAGE_V1
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import duplicate, invalid, not_supported, required

FS_GROUP_POLICIES = ("File", "None", "ReadWriteOnceWithFSType")
LIFECYCLE_MODES = ("Ephemeral", "Persistent")
_MIN_TOKEN_SECONDS = 600
_MAX_TOKEN_SECONDS = 1 << 32


def _default(driver: JSONObject) -> None:
    """``SetDefaults_CSIDriver``."""
    spec = driver.get("spec")
    if not isinstance(spec, dict):
        spec = driver["spec"] = {}
    for key, value in (
        ("attachRequired", True),
        ("podInfoOnMount", False),
        ("storageCapacity", False),
        ("fsGroupPolicy", "ReadWriteOnceWithFSType"),
        ("requiresRepublish", False),
        ("seLinuxMount", False),
    ):
        if spec.get(key) is None:
            spec[key] = value
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def _token_requests(requests: Any) -> list[Cause]:
    causes: list[Cause] = []
    audiences: set[str] = set()
    for i, request in enumerate(requests or []):
        path = f"spec.tokenRequests[{i}]"
        audience = str((request or {}).get("audience") or "")
        if audience in audiences:
            causes.append(duplicate(f"{path}.audience", audience))
        audiences.add(audience)
        seconds = (request or {}).get("expirationSeconds")
        if isinstance(seconds, int) and seconds < _MIN_TOKEN_SECONDS:
            causes.append(
                invalid(f"{path}.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")
            )
        elif isinstance(seconds, int) and seconds > _MAX_TOKEN_SECONDS:
            causes.append(
                invalid(f"{path}.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds")
            )
    return causes


def _validate(driver: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = driver.get("spec") if isinstance(driver.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    causes: list[Cause] = []
    # upstream's field path says attachedRequired, and so does its message
    for key, path in (
        ("attachRequired", "spec.attachedRequired"),
        ("podInfoOnMount", "spec.podInfoOnMount"),
        ("requiresRepublish", "spec.requiresRepublish"),
        ("storageCapacity", "spec.storageCapacity"),
    ):
        if spec.get(key) is None:
            causes.append(required(path))
    policy = spec.get("fsGroupPolicy")
    if policy is None:
        causes.append(required("spec.fsGroupPolicy"))
    elif policy not in FS_GROUP_POLICIES:
        causes.append(not_supported("spec.fsGroupPolicy", policy, FS_GROUP_POLICIES))
    for mode in spec.get("volumeLifecycleModes") or []:
        if mode not in LIFECYCLE_MODES:
            causes.append(not_supported("spec.volumeLifecycleModes", mode, LIFECYCLE_MODES))
    causes += _token_requests(spec.get("tokenRequests"))
    if old is not None:
        old_spec = old.get("spec") or {}
        if spec.get("attachRequired") != old_spec.get("attachRequired"):
            causes.append(invalid("spec.attachedRequired", spec.get("attachRequired"), "field is immutable"))
        if spec.get("volumeLifecycleModes") != old_spec.get("volumeLifecycleModes"):
            causes.append(invalid("spec.volumeLifecycleModes", spec.get("volumeLifecycleModes"), "field is immutable"))
    return causes


def _warnings(driver: JSONObject, old: JSONObject | None) -> list[str]:
    del driver
    return [] if old is not None else ["kuberya runs no CSI drivers: this CSIDriver is stored, nothing acts on it"]


COLUMNS = (
    NAME,
    column(
        "AttachRequired", "boolean", "attachRequired indicates this CSI volume driver requires an attach operation."
    ),
    column(
        "PodInfoOnMount",
        "boolean",
        "podInfoOnMount indicates this CSI volume driver requires additional pod "
        "information (like podName, podUID, etc.) during mount operations, if set to true.",
    ),
    column(
        "StorageCapacity",
        "boolean",
        "storageCapacity indicates that the CSI volume driver wants pod scheduling "
        "to consider the storage capacity that the driver deployment will report by creating CSIStorageCapacity "
        "objects with capacity information, if set to true.",
    ),
    column(
        "TokenRequests",
        "string",
        "tokenRequests indicates the CSI driver needs pods' service account tokens it "
        "is mounting volume for to do necessary authentication.",
    ),
    column(
        "RequiresRepublish",
        "boolean",
        "requiresRepublish indicates the CSI driver wants `NodePublishVolume` "
        "being periodically called to reflect any possible change in the mounted volume.",
    ),
    column("Modes", "string", "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
    AGE,
)


def _print(driver: JSONObject, now: datetime) -> list[Any]:
    spec = driver.get("spec") or {}
    audiences = [str(t.get("audience", "")) for t in spec.get("tokenRequests") or [] if isinstance(t, dict)]
    modes = ",".join(spec.get("volumeLifecycleModes") or []) or "<none>"
    attach = spec.get("attachRequired")
    return [
        name(driver),
        True if attach is None else bool(attach),
        bool(spec.get("podInfoOnMount")),
        bool(spec.get("storageCapacity")),
        ",".join(audiences) if audiences else "<unset>",
        bool(spec.get("requiresRepublish")),
        modes,
        age(driver, now),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="storage.k8s.io",
            version="v1",
            resource="csidrivers",
            kind="CSIDriver",
            singular="csidriver",
            namespaced=False,
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": STORAGE_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    warnings=_warnings,
)
