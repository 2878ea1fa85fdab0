"""storage.k8s.io/v1 VolumeAttachment: a CSI attacher's record of a volume attached to a node.

kuberya attaches no CSI volumes, so nothing writes one; the kind is served (validated and
printed as upstream's ``ValidateVolumeAttachment``/``…V1``/``…Update``,
``printVolumeAttachment``, with its status subresource) for the tools that list it. Upstream
defaults nothing in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.csinode import driver_name_causes
from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec, status_of
from kuberya.resources.kinds.storageclass import STORAGE_V1
from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, required, too_long

_MAX_METADATA_SIZE = 256 * (1 << 10)
_MAX_ERROR_MESSAGE = 1024
_ONE_SOURCE = "must specify exactly one of inlineVolumeSpec and persistentVolumeName"


def _reset_status(attachment: JSONObject) -> None:
    attachment["status"] = {"attached": False}


def _default(attachment: JSONObject) -> None:
    # Upstream's status is a struct and ``attached`` is not omitempty, so every stored
    # VolumeAttachment carries ``status.attached``; the official clients' model requires it.
    status = attachment.get("status")
    if status is None:
        attachment["status"] = {"attached": False}
    elif isinstance(status, dict):
        status.setdefault("attached", False)


def _source(source: Any) -> list[Cause]:
    source = source if isinstance(source, dict) else {}
    inline, pv_name = source.get("inlineVolumeSpec"), source.get("persistentVolumeName")
    if inline is None and pv_name is None:
        return [required("spec.source", _ONE_SOURCE)]
    if inline is not None and pv_name is not None:
        return [forbidden("spec.source", _ONE_SOURCE)]
    if pv_name is not None:
        if not pv_name:
            return [required("spec.source.persistentVolumeName", "must specify non empty persistentVolumeName")]
        return [invalid("spec.source.persistentVolumeName", pv_name, m) for m in dns1123_subdomain_errors(pv_name)]
    # an inline spec is a CSI volume's; kuberya has none to validate it against beyond that
    if not isinstance(inline, dict) or inline.get("csi") is None:
        return [required("spec.source.inlineVolumeSpec.csi", "has to be specified in the context of inline volumes")]
    return []


def _status(status: Any) -> list[Cause]:
    if not isinstance(status, dict):
        return []
    causes: list[Cause] = []
    metadata = status.get("attachmentMetadata") or {}
    if sum(len(k) + len(str(v)) for k, v in metadata.items()) > _MAX_METADATA_SIZE:
        causes.append(too_long("status.attachmentMetadata", _MAX_METADATA_SIZE))
    for key in ("attachError", "detachError"):
        message = str((status.get(key) or {}).get("message") or "")
        if len(message) > _MAX_ERROR_MESSAGE:
            causes.append(too_long(f"status.{key}.message", _MAX_ERROR_MESSAGE))
    return causes


def _validate(attachment: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = attachment.get("spec") if isinstance(attachment.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    causes = driver_name_causes(str(spec.get("attacher") or ""), "spec.attacher")
    causes += _source(spec.get("source"))
    node_name = str(spec.get("nodeName") or "")
    if not node_name:
        causes.append(required("spec.nodeName"))
    else:
        causes += [invalid("spec.nodeName", node_name, msg) for msg in dns1123_subdomain_errors(node_name)]
    causes += _status(attachment.get("status"))
    if old is not None and spec != (old.get("spec") or {}):
        causes.append(invalid("spec", spec, "field is immutable"))
    return causes


COLUMNS = (
    NAME,
    column(
        "Attacher",
        "string",
        "attacher indicates the name of the volume driver that MUST handle this request.",
        fmt="name",
    ),
    column("PV", "string", "persistentVolumeName represents the name of the persistent volume to attach."),
    column("Node", "string", "nodeName represents the node that the volume should be attached to."),
    column("Attached", "boolean", "attached indicates the volume is successfully attached."),
    AGE,
)


def _print(attachment: JSONObject, now: datetime) -> list[Any]:
    spec, status = attachment.get("spec") or {}, attachment.get("status") or {}
    return [
        name(attachment),
        spec.get("attacher", ""),
        (spec.get("source") or {}).get("persistentVolumeName") or "",
        spec.get("nodeName", ""),
        bool(status.get("attached")),
        age(attachment, now),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="storage.k8s.io",
            version="v1",
            resource="volumeattachments",
            kind="VolumeAttachment",
            singular="volumeattachment",
            namespaced=False,
            verbs=ALL_VERBS,
            subresources=(status_of("VolumeAttachment"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": STORAGE_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    prepare_create=_reset_status,
)
