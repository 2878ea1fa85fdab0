"""The I/O-free half of the client: what HTTP request each API call is.

Each ``prepare_*`` function turns a call (``get``, ``list``, ``patch``…) into a
:class:`PreparedRequest` (method, path, query, headers, body) without touching the network, so
the mapping from the Kubernetes API's conventions to HTTP is tested on its own, as lightkube's
``prepare_request`` is. :class:`kuberya.client.ApiClient` only sends what these return.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    """Query parameters in order (a name may repeat)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


def _params(**values: str | int | bool | None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        out.append((name, "true" if value is True else str(value)))
    return tuple(out)


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


def prepare_get(
    ref: ResourceRef, name: str, *, namespace: str | None = None, subresource: str | None = None
) -> PreparedRequest:
    path = ref.path(name, namespace=_require_namespace(ref, namespace), subresource=subresource)
    return PreparedRequest("GET", path, headers={"Accept": JSON})


def prepare_list(
    ref: ResourceRef,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    resource_version: str | None = None,
    limit: int | None = None,
    continue_: str | None = None,
) -> PreparedRequest:
    params = _params(
        labelSelector=label_selector,
        fieldSelector=field_selector,
        resourceVersion=resource_version,
        limit=limit,
        **{"continue": continue_},
    )
    return PreparedRequest("GET", ref.path(namespace=namespace), params, {"Accept": JSON})


def prepare_watch(
    ref: ResourceRef,
    *,
    namespace: str | None = None,
    resource_version: str,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int | None = None,
    allow_bookmarks: bool = True,
) -> PreparedRequest:
    params = _params(
        watch=True,
        resourceVersion=resource_version or None,
        labelSelector=label_selector,
        fieldSelector=field_selector,
        timeoutSeconds=timeout_seconds,
        allowWatchBookmarks=allow_bookmarks,
    )
    return PreparedRequest("GET", ref.path(namespace=namespace), params, {"Accept": JSON})


def prepare_create(
    ref: ResourceRef,
    body: Mapping[str, Any],
    *,
    namespace: str | None = None,
    field_manager: str | None = None,
    dry_run: bool = False,
) -> PreparedRequest:
    path = ref.path(namespace=_namespace_of(ref, body, namespace))
    params = _params(fieldManager=field_manager, dryRun="All" if dry_run else None)
    return PreparedRequest("POST", path, params, {"Accept": JSON, "Content-Type": JSON}, _json_body(body))


def prepare_update(
    ref: ResourceRef,
    body: Mapping[str, Any],
    *,
    namespace: str | None = None,
    subresource: str | None = None,
    field_manager: str | None = None,
    dry_run: bool = False,
) -> PreparedRequest:
    name = _meta(body).get("name")
    if not name:
        raise ValueError(f"an update of {ref.group_resource} needs metadata.name")
    path = ref.path(str(name), namespace=_namespace_of(ref, body, namespace), subresource=subresource)
    params = _params(fieldManager=field_manager, dryRun="All" if dry_run else None)
    return PreparedRequest("PUT", path, params, {"Accept": JSON, "Content-Type": JSON}, _json_body(body))


def prepare_patch(
    ref: ResourceRef,
    name: str,
    body: Mapping[str, Any] | Sequence[Any],
    *,
    namespace: str | None = None,
    patch_type: PatchType,
    field_manager: str | None = None,
    force: bool | None = None,
    subresource: str | None = None,
    dry_run: bool = False,
) -> PreparedRequest:
    if patch_type == "json" and not isinstance(body, Sequence):
        raise TypeError("a JSON patch is a list of operations")
    if patch_type != "json" and not isinstance(body, Mapping):
        raise TypeError(f"a {patch_type} patch is an object")
    if patch_type == "apply" and not field_manager:
        raise ValueError("server-side apply needs a field_manager")
    path = ref.path(name, namespace=_require_namespace(ref, namespace), subresource=subresource)
    params = _params(fieldManager=field_manager, force=force, dryRun="All" if dry_run else None)
    headers = {"Accept": JSON, "Content-Type": PATCH_CONTENT_TYPES[patch_type]}
    return PreparedRequest("PATCH", path, params, headers, _json_body(body))


def prepare_delete(
    ref: ResourceRef,
    name: str,
    *,
    namespace: str | None = None,
    propagation_policy: PropagationPolicy | None = None,
    grace_period_seconds: int | None = None,
    preconditions: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> PreparedRequest:
    options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        options["preconditions"] = dict(preconditions)
    if dry_run:
        options["dryRun"] = ["All"]
    path = ref.path(name, namespace=_require_namespace(ref, namespace))
    return PreparedRequest("DELETE", path, (), {"Accept": JSON, "Content-Type": JSON}, _json_body(options))
