"""The I/O-free half of the client: what HTTP request each API call is, and what options it takes.

Each ``prepare_*`` function turns a call (``get``, ``list``, ``patch``…) into a
:class:`PreparedRequest` (method, path, query, headers, body) without touching the network, so
the mapping from the Kubernetes API's conventions to HTTP is tested on its own, as lightkube's
``prepare_request`` is. :class:`kuberya.client.ApiClient` only sends what these return.

The keyword options of every verb are declared here once, as ``TypedDict`` s (:class:`ListOptions`,
:class:`PatchOptions`…). The :class:`~kuberya.client.interface.KubeClient` protocol, both clients
and these builders take them as ``**options: Unpack[...]`` (PEP 692): callers still pass plain
keywords, mypy still refuses a keyword a verb does not take, and a new option is added in one place.
An option left out means its default (``dry_run`` False, ``allow_bookmarks`` True, the rest unset).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Required, TypedDict, Unpack

from kuberya.client.resources import ResourceRef

PatchType = Literal["merge", "strategic", "json", "apply"]
PropagationPolicy = Literal["Background", "Foreground", "Orphan"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

JSON = "application/json"


# -- the options of each verb ----------------------------------------------------------------------


class _Scoped(TypedDict, total=False):
    namespace: str | None
    """The namespace of a namespaced resource (a write may take it from ``metadata.namespace``
    instead); ignored for a cluster-scoped one. ``list`` and ``watch`` without it span all."""


class GetOptions(_Scoped, total=False):
    subresource: str | None


class _Selected(_Scoped, total=False):
    label_selector: str | None
    field_selector: str | None


class ListOptions(_Selected, total=False):
    resource_version: str | None
    limit: int | None
    continue_: str | None
    """The ``continue`` token of the previous page (a Python keyword, hence the underscore)."""


class WatchOptions(_Selected, total=False):
    resource_version: Required[str]
    """Stream the changes after this one (a list's ``metadata.resourceVersion``)."""
    timeout_seconds: int | None
    allow_bookmarks: bool


class WriteOptions(_Scoped, total=False):
    """The options of ``create`` and ``update_status``."""

    field_manager: str | None
    dry_run: bool


class UpdateOptions(WriteOptions, total=False):
    subresource: str | None


class PatchOptions(UpdateOptions, total=False):
    patch_type: Required[PatchType]
    force: bool | None
    """Server-side apply only: take the fields other managers own."""


class DeleteOptions(_Scoped, total=False):
    propagation_policy: PropagationPolicy | None
    grace_period_seconds: int | None
    preconditions: Mapping[str, str] | None
    """``uid`` and/or ``resourceVersion`` the object must still have."""
    dry_run: bool


class RawOptions(TypedDict, total=False):
    """The options of ``raw``, a request of any path (a subresource no verb above covers)."""

    params: Sequence[tuple[str, str]]
    body: Any
    """JSON-encoded unless ``bytes``."""
    content_type: str
    """Of the body: ``application/json`` unless given."""


# -- building requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    """Query parameters in order (a name may repeat)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


def check_options(verb: str, options: Mapping[str, object], declared: type[Mapping[str, object]]) -> None:
    """Refuse a keyword ``verb`` does not take, or a missing required one, as a Python signature would.

    mypy already refuses these in typed code; this keeps untyped callers (tests, scripts) from having
    a misspelt option silently ignored.
    """
    if unknown := sorted(options.keys() - declared.__annotations__.keys()):
        raise TypeError(f"{verb}() got an unexpected keyword argument {unknown[0]!r}")
    if missing := sorted(getattr(declared, "__required_keys__", frozenset()) - options.keys()):
        raise TypeError(f"{verb}() missing a required keyword argument: {missing[0]!r}")


def _params(**values: str | int | bool | None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        out.append((name, "true" if value is True else str(value)))
    return tuple(out)


def _write_params(options: WriteOptions, **more: str | int | bool | None) -> tuple[tuple[str, str], ...]:
    dry_run = "All" if options.get("dry_run") else None
    return _params(fieldManager=options.get("field_manager"), **more, dryRun=dry_run)


def _json_body(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = body.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _namespace_of(ref: ResourceRef, body: Mapping[str, Any], namespace: str | None) -> str | None:
    if not ref.namespaced:
        return None
    ns = namespace or _meta(body).get("namespace")
    if not ns:
        raise ValueError(f"{ref.group_resource} is namespaced: give a namespace or metadata.namespace")
    return str(ns)


def _require_namespace(ref: ResourceRef, namespace: str | None) -> str | None:
    if ref.namespaced and not namespace:
        raise ValueError(f"{ref.group_resource} is namespaced: give a namespace")
    return namespace if ref.namespaced else None


def prepare_get(ref: ResourceRef, name: str, **options: Unpack[GetOptions]) -> PreparedRequest:
    check_options("get", options, GetOptions)
    namespace = _require_namespace(ref, options.get("namespace"))
    path = ref.path(name, namespace=namespace, subresource=options.get("subresource"))
    return PreparedRequest("GET", path, headers={"Accept": JSON})


def prepare_list(ref: ResourceRef, **options: Unpack[ListOptions]) -> PreparedRequest:
    check_options("list", options, ListOptions)
    params = _params(
        labelSelector=options.get("label_selector"),
        fieldSelector=options.get("field_selector"),
        resourceVersion=options.get("resource_version"),
        limit=options.get("limit"),
        **{"continue": options.get("continue_")},
    )
    return PreparedRequest("GET", ref.path(namespace=options.get("namespace")), params, {"Accept": JSON})


def prepare_watch(ref: ResourceRef, **options: Unpack[WatchOptions]) -> PreparedRequest:
    check_options("watch", options, WatchOptions)
    params = _params(
        watch=True,
        resourceVersion=options["resource_version"] or None,
        labelSelector=options.get("label_selector"),
        fieldSelector=options.get("field_selector"),
        timeoutSeconds=options.get("timeout_seconds"),
        allowWatchBookmarks=options.get("allow_bookmarks", True),
    )
    return PreparedRequest("GET", ref.path(namespace=options.get("namespace")), params, {"Accept": JSON})


def prepare_create(ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[WriteOptions]) -> PreparedRequest:
    check_options("create", options, WriteOptions)
    path = ref.path(namespace=_namespace_of(ref, body, options.get("namespace")))
    headers = {"Accept": JSON, "Content-Type": JSON}
    return PreparedRequest("POST", path, _write_params(options), headers, _json_body(body))


def prepare_update(ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[UpdateOptions]) -> PreparedRequest:
    check_options("update", options, UpdateOptions)
    name = _meta(body).get("name")
    if not name:
        raise ValueError(f"an update of {ref.group_resource} needs metadata.name")
    namespace = _namespace_of(ref, body, options.get("namespace"))
    path = ref.path(str(name), namespace=namespace, subresource=options.get("subresource"))
    headers = {"Accept": JSON, "Content-Type": JSON}
    return PreparedRequest("PUT", path, _write_params(options), headers, _json_body(body))


def prepare_patch(
    ref: ResourceRef, name: str, body: Mapping[str, Any] | Sequence[Any], **options: Unpack[PatchOptions]
) -> PreparedRequest:
    check_options("patch", options, PatchOptions)
    patch_type = options["patch_type"]
    if patch_type == "json" and not isinstance(body, Sequence):
        raise TypeError("a JSON patch is a list of operations")
    if patch_type != "json" and not isinstance(body, Mapping):
        raise TypeError(f"a {patch_type} patch is an object")
    if patch_type == "apply" and not options.get("field_manager"):
        raise ValueError("server-side apply needs a field_manager")
    namespace = _require_namespace(ref, options.get("namespace"))
    path = ref.path(name, namespace=namespace, subresource=options.get("subresource"))
    headers = {"Accept": JSON, "Content-Type": PATCH_CONTENT_TYPES[patch_type]}
    return PreparedRequest("PATCH", path, _write_params(options, force=options.get("force")), headers, _json_body(body))


def delete_options_fields(options: DeleteOptions) -> dict[str, Any]:
    """The fields of the ``DeleteOptions`` body these options set (``dryRun`` left out).

    :class:`~kuberya.client.fake.FakeApiClient` records the same fields as its delete's body.
    """
    fields: dict[str, Any] = {}
    if (policy := options.get("propagation_policy")) is not None:
        fields["propagationPolicy"] = policy
    if (grace := options.get("grace_period_seconds")) is not None:
        fields["gracePeriodSeconds"] = grace
    if preconditions := options.get("preconditions"):
        fields["preconditions"] = dict(preconditions)
    return fields


def prepare_delete(ref: ResourceRef, name: str, **options: Unpack[DeleteOptions]) -> PreparedRequest:
    check_options("delete", options, DeleteOptions)
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", **delete_options_fields(options)}
    if options.get("dry_run"):
        body["dryRun"] = ["All"]
    path = ref.path(name, namespace=_require_namespace(ref, options.get("namespace")))
    return PreparedRequest("DELETE", path, (), {"Accept": JSON, "Content-Type": JSON}, _json_body(body))


def prepare_raw(method: str, path: str, **options: Unpack[RawOptions]) -> PreparedRequest:
    check_options("raw", options, RawOptions)
    body = options.get("body")
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Accept": JSON}
    if data is not None:
        headers["Content-Type"] = options.get("content_type", JSON)
    return PreparedRequest(method.upper(), path, tuple(options.get("params", ())), headers, data)
