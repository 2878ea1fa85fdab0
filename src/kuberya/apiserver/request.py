"""What a request asks for: the resource path, its query, its body, the answer's format.

Kubernetes paths are ambiguous to a plain router (``/api/v1/namespaces/x/status`` is the
status of namespace ``x``, ``/api/v1/namespaces/x/pods`` the pods in it), so one parser
resolves them against the kinds registry, as upstream's ``RequestInfoFactory`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter
from kuberya.meta import gojson
from kuberya.resources import kinds
from kuberya.resources.selectors import SelectorError, parse_field_selector, parse_label_selector
from kuberya.resources.types import JSONObject, ResourceType

TABLE_MARKER = "as=Table"


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """A parsed ``/api…`` or ``/apis…`` path below a group/version."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str


def parse_resource_path(group: str, version: str, rest: list[str]) -> ResourcePath | None:
    """Resolve the segments after ``/api/v1`` or ``/apis/<group>/<version>``; None if unknown."""
    if len(rest) >= 3 and rest[0] == "namespaces":
        rt = kinds.lookup(group, version, rest[2])
        if rt is not None and rt.namespaced and len(rest) <= 5:
            return ResourcePath(rt, rest[1], rest[3] if len(rest) > 3 else None, rest[4] if len(rest) > 4 else "")
    if not rest or len(rest) > 3:
        return None
    rt = kinds.lookup(group, version, rest[0])
    if rt is None:
        return None
    name = rest[1] if len(rest) > 1 else None
    if rt.namespaced and name is not None:
        return None  # a namespaced resource addressed without its namespace
    return ResourcePath(rt, None, name, rest[2] if len(rest) > 2 else "")


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def query_int(request: web.Request, name: str, default: int = 0) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {raw!r} is not an integer") from None


MAX_RESOURCE_VERSION = (1 << 64) - 1


def resource_version(request: web.Request) -> str:
    """The ``resourceVersion`` query parameter: empty, or a uint64 as upstream's ListOptions parse."""
    raw = request.query.get("resourceVersion", "")
    if raw == "":
        return raw
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_RESOURCE_VERSION:
        raise errors.bad_request(f'invalid resource version "{raw}": must be a non-negative integer')
    return str(int(raw))


def list_options(request: web.Request) -> None:
    """Refuse list and watch options that do not parse (upstream decodes ListOptions first: 400)."""
    resource_version(request)
    for name in ("limit", "timeoutSeconds"):
        raw = request.query.get(name, "")
        if raw and not (raw.lstrip("-").isdigit() and -(1 << 63) <= int(raw) < (1 << 63)):
            raise errors.bad_request(f"invalid value for {name}: {raw!r} is not a 64-bit integer")


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def field_validation(request: web.Request) -> str:
    value = request.query.get("fieldValidation", "Warn") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"'
        )
    return value


def wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(TABLE_MARKER in part and "g=meta.k8s.io" in part for part in accept.split(","))


def aggregated_discovery_version(request: web.Request) -> str | None:
    """``v2`` or ``v2beta1`` when the client asks for aggregated discovery first, else None."""
    for part in request.headers.get("Accept", "").split(","):
        params = {p.strip() for p in part.split(";")}
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params:
            for version in ("v2", "v2beta1"):
                if f"v={version}" in params:
                    return version
        elif part.strip().split(";")[0] in ("application/json", "*/*"):
            return None
    return None


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()


PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


YAML_TYPES = frozenset({"application/yaml", "application/apply-patch+yaml", "application/x-yaml", "text/yaml"})
JSON_TYPES = frozenset(
    {
        "application/json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "",
    }
)


async def read_body(request: web.Request) -> Any:
    """Decode a request body from JSON, YAML or Kubernetes protobuf into JSON values.

    The parsers (:mod:`kuberya.resources.bodies`) read as upstream's do: duplicate keys are
    remembered for ``fieldValidation``, nesting is bounded, YAML is read as its JSON form. The
    YAML and protobuf decoders are imported on first use: they cost ~80 ms of import time that
    ``kuberya up`` should not wait for (the server warms them up once it is ready).
    """
    raw = await request.read()
    kind = media_type(request)
    if not raw.strip():
        raise errors.bad_request("the request body is empty: send the object as JSON or YAML")
    if kind == PROTOBUF_CONTENT_TYPE:
        from kuberya.resources.protobuf import ProtobufDecodeError, decode_object

        try:
            return decode_object(raw)
        except ProtobufDecodeError as e:
            raise errors.bad_request(str(e)) from e
    if kind not in YAML_TYPES and kind not in JSON_TYPES:
        raise errors.unsupported_media_type(kind)
    from kuberya.resources.bodies import BodyError, parse_json, parse_yaml

    try:
        return parse_yaml(raw) if kind in YAML_TYPES else parse_json(raw)
    except BodyError as e:
        raise errors.bad_request(f"the request body is not valid {kind or 'JSON'}: {e}") from e


PATCH_MEDIA_TYPES = frozenset({"application/merge-patch+json", "application/strategic-merge-patch+json",
                               "application/json-patch+json", "application/apply-patch+yaml"})  # fmt: skip
OBJECT_TYPES = (JSON_TYPES | YAML_TYPES | {PROTOBUF_CONTENT_TYPE}) - PATCH_MEDIA_TYPES
"""What a create or an update may be sent as (upstream: no patch media types on POST/PUT)."""


async def read_object(request: web.Request) -> JSONObject:
    """A whole object for POST or PUT; a patch media type there is a 415, as upstream."""
    kind = media_type(request)
    if kind not in OBJECT_TYPES:
        raise errors.unsupported_media_type(kind)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise errors.bad_request(f"the request body must be a JSON/YAML object, not {type(body).__name__}")
    return body


def json_response(
    body: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=gojson.encode(body),
        status=status,
        headers={"Content-Type": content_type, **(headers or {})},
    )


def selection_from_query(request: web.Request, rt: ResourceType, namespace: str | None) -> ObjectFilter:
    """The label and field selectors of a list, watch or deletecollection, checked for ``rt``."""
    try:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = kinds.stored_field_selector(rt, parse_field_selector(request.query.get("fieldSelector", "")))
        fields.validate_for(rt.kind)
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e
    return ObjectFilter(
        namespace=namespace,
        labels=None if labels.empty else labels,
        fields=None if fields.empty else fields,
    )
