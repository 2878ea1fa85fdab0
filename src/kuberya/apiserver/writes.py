"""Shared steps of the writing verbs: typed decoding, patches, field managers, warnings.

Used by :mod:`.handlers` (create, update, patch, apply), :mod:`.deletion` and :mod:`.scale`. The
patch engines and schemas load on first use (see ``request.read_body`` for why): a server that only
serves reads and watches never imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.resources.types import Cause, JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.resources.schema.decode import Decoded

SCALE_DEFINITION = "io.k8s.api.autoscaling.v1.Scale"
DELETE_OPTIONS_DEFINITION = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"


def record_update_manager(old: JSONObject | None, new: JSONObject, **kwargs: Any) -> None:
    from kuberya.resources.patching import record_update_manager as record

    record(old, new, **kwargs)


def decode_or_refuse(rt: ResourceType, obj: JSONObject, *, patched: bool = False) -> Decoded:
    """Typed decoding of a whole ``rt`` object (in place); a wrong type is refused, as upstream.

    A body that does not decode is a 400 BadRequest; the result of a patch that does not
    decode is a 422 Invalid naming the field, as upstream's patcher answers.
    """
    from kuberya.resources.schema.decode import DecodeError, decode_object

    try:
        return decode_object(rt.api_version, rt.kind, obj)
    except DecodeError as e:
        if patched:
            meta = obj.get("metadata")
            name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
            cause = Cause(field=e.field or "patch", reason="FieldValueInvalid", message=e.message)
            raise errors.invalid(rt.group, rt.kind, name, [cause]) from e
        raise errors.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {e.message}',
            causes=[Cause(field=e.field, reason="FieldValueInvalid", message=e.message)],
        ) from e


def decode_definition_or_refuse(definition: str, value: JSONObject, *, what: str) -> None:
    """Typed decoding of a body that is no stored kind (``Scale``, ``DeleteOptions``)."""
    from kuberya.resources.schema.decode import DecodeError, decode_definition

    try:
        decode_definition(definition, value)
    except DecodeError as e:
        raise errors.bad_request(
            f"{what} cannot be handled: {e.message}",
            causes=[Cause(field=e.field, reason="FieldValueInvalid", message=e.message)],
        ) from e


PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply-cbor",
}


def field_manager(request: web.Request, *, required: bool = False) -> str:
    manager = request.query.get("fieldManager", "")
    if manager:
        if len(manager) > 128:
            raise errors.bad_request("fieldManager: Too long: must have at most 128 bytes")
        return manager
    if required:
        raise errors.bad_request(
            "PATCH, application/apply-patch+yaml requests require fieldManager to be set, e.g. ?fieldManager=my-tool"
        )
    # Upstream derives the manager from the User-Agent's program name.
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/")[0] or "unknown"


MAX_WARNING_LENGTH = 256
"""Characters of one warning kept (upstream truncates each warning the same way)."""
MAX_WARNINGS_BYTES = 4096
"""Bytes of ``Warning`` headers one response carries at most (upstream: 4 KiB)."""


def warning_headers(warnings: list[str] | None) -> dict[str, str]:
    """RFC 7234 ``Warning: 299 - "text"`` values, made safe to send.

    Warnings quote what a client sent (unknown field names), so control characters and
    non-ASCII are escaped (a raw one would make the HTTP layer refuse the whole response) and the
    total is bounded.
    """
    if not warnings:
        return {}
    values: list[str] = []
    size = 0
    for warning in warnings:
        text = "".join(c if " " <= c < "\x7f" else f"\\u{ord(c):04x}" for c in warning[:MAX_WARNING_LENGTH])
        value = '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if size + len(value) > MAX_WARNINGS_BYTES:
            break
        values.append(value)
        size += len(value) + 2
    return {"Warning": ", ".join(values)}


def required_cause(field: str, message: str = "Required value") -> Cause:
    return Cause(field=field, reason="FieldValueRequired", message=message)


def invalid_cause(field: str, message: str) -> Cause:
    return Cause(field=field, reason="FieldValueInvalid", message=message)


def apply_patch(patch_type: str, original: JSONObject, body: Any, *, kind: str) -> Any:
    from kuberya.resources.patching import PatchError, json_merge_patch, json_patch, strategic_merge_patch

    try:
        if patch_type == "json":
            if not isinstance(body, list):
                raise errors.bad_request("a JSON patch must be a list of operations")
            return json_patch(original, body)
        if patch_type == "merge":
            return json_merge_patch(original, body)
        if not isinstance(body, dict):
            raise errors.bad_request("a strategic merge patch must be an object")
        return strategic_merge_patch(original, body, kind=kind)
    except PatchError as e:
        raise errors.StatusError(422, "Invalid", str(e)) from e
