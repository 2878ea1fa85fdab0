"""The ``/openapi/v3`` discovery index and one OpenAPI 3.0 document per group/version.

kubectl reads these for two things. ``apply -f``/``create -f`` look in the document of the
object's group/version for a ``patch`` operation tagged with the object's
``x-kubernetes-group-version-kind`` that accepts the ``fieldValidation`` query parameter; finding
it, they leave validation to the server (``fieldValidation=Strict``) instead of downloading the
protobuf ``/openapi/v2``. kubectl considers only the first such operation it meets, in no
particular order, so every patch operation carries the same full parameter list. ``kubectl
explain`` finds the kind's schema in ``components.schemas`` by the same extension and walks it.

Patch operations deliberately have no ``requestBody``: with one, kubectl 1.27+ builds strategic
merge patches from these schemas, which lack the ``x-kubernetes-patch-*`` merge keys the client
models do not carry, and would replace lists such as ``containers`` instead of merging them.
Without it kubectl falls back to its compiled-in types, which are right for built-in kinds.

Documents are built once per process and hashed; the hash goes into the index's
``serverRelativeURL`` because clients cache documents by URL.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from kuberya.resources.schema.catalog import (
    DELETE_OPTIONS,
    EVICTION,
    KNOWN_GROUP_VERSIONS,
    SCALE,
    SERVED_RESOURCES,
    STATUS,
    TOKEN_REQUEST,
    definition_name,
)
from kuberya.resources.schema.definitions import REF_PREFIX, definitions, reachable
from kuberya.resources.types import GroupVersionKind, JSONObject, ResourceType

_LIST_PARAMETERS = (
    ("allowWatchBookmarks", "boolean"),
    ("continue", "string"),
    ("fieldSelector", "string"),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
)
_WRITE_PARAMETERS = (("dryRun", "string"), ("fieldManager", "string"), ("fieldValidation", "string"))
_PATCH_PARAMETERS = (*_WRITE_PARAMETERS, ("force", "boolean"))
_DELETE_PARAMETERS = (
    ("dryRun", "string"),
    ("gracePeriodSeconds", "integer"),
    ("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean"),
    ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
)


def group_version_path(group_version: str) -> str:
    """``api/v1`` for the core group, ``apis/apps/v1`` otherwise: the key in the index."""
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


def openapi_v3_index() -> JSONObject:
    """Build the body of ``GET /openapi/v3``."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(path)}"}
            for path in map(group_version_path, KNOWN_GROUP_VERSIONS)
        },
    }


def openapi_v3_document(group_version_path: str) -> JSONObject | None:
    """Return the document for ``apis/apps/v1`` (``api/v1``, …); None for a path not served.

    The result is the caller's to change; :func:`openapi_v3_document_json` avoids the copy.
    """
    built = _built(group_version_path)
    return copy.deepcopy(built[0]) if built is not None else None


def openapi_v3_document_json(group_version_path: str) -> bytes | None:
    """Return the same document already serialized, for the API server to send as it is."""
    built = _built(group_version_path)
    return built[2] if built is not None else None


def _hash(path: str) -> str:
    built = _built(path)
    assert built is not None, path  # only called with the paths of KNOWN_GROUP_VERSIONS
    return built[1]


@functools.cache
def _built(path: str) -> tuple[JSONObject, str, bytes] | None:
    group_version = next((gv for gv in KNOWN_GROUP_VERSIONS if group_version_path(gv) == path), None)
    if group_version is None:
        return None
    document = _document(group_version)
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    # Upstream also names documents by the SHA-512 of their content, in upper-case hex.
    return document, hashlib.sha512(body).hexdigest().upper(), body


def _document(group_version: str) -> JSONObject:
    served = [r for r in SERVED_RESOURCES if r.api_version == group_version]
    roots = {DELETE_OPTIONS, STATUS}
    paths: dict[str, Any] = {}
    for resource in served:
        roots.add(definition_name(resource.gvk))
        if "list" in resource.verbs:
            roots.add(definition_name(resource.gvk) + "List")
        if resource.subresource("scale"):
            roots.add(SCALE)
        if resource.subresource("eviction"):
            roots.add(EVICTION)
        if resource.subresource("token"):
            roots.add(TOKEN_REQUEST)
        paths.update(_paths(resource))
    all_definitions = definitions()
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {name: all_definitions[name] for name in sorted(reachable(roots))}},
    }


def _paths(resource: ResourceType) -> dict[str, Any]:
    prefix = "/api/v1" if not resource.group else f"/apis/{resource.api_version}"
    gvk = resource.gvk
    kind, list_kind = definition_name(gvk), definition_name(gvk) + "List"
    scope = "Namespaced" if resource.namespaced else ""
    op = _OperationFactory(gvk, f"{_group_prefix(resource)}{scope}{gvk.kind}")
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{resource.resource}"
        if resource.namespaced
        else f"{prefix}/{resource.resource}"
    )
    scope_parameters = [_path_parameter("namespace")] if resource.namespaced else []
    if resource.verbs == ("create",):
        # A review (SubjectAccessReview, SelfSubjectReview…): only POST of the collection, as upstream.
        return {
            collection: {
                "parameters": [*scope_parameters, _query("pretty", "string")],
                "post": op.make("create", "post", kind, _WRITE_PARAMETERS, body=kind),
            }
        }
    item_parameters = [_path_parameter("name"), *scope_parameters]
    paths: dict[str, Any] = {
        collection: {
            "parameters": [*scope_parameters, _query("pretty", "string")],
            "get": op.make("list", "list", list_kind, _LIST_PARAMETERS),
            "post": op.make("create", "post", kind, _WRITE_PARAMETERS, body=kind),
        },
        f"{collection}/{{name}}": _item_path(op, kind, item_parameters, suffix=""),
    }
    if resource.namespaced:
        every = _OperationFactory(gvk, f"{_group_prefix(resource)}{gvk.kind}")
        paths[f"{prefix}/{resource.resource}"] = {
            "parameters": [_query("pretty", "string")],
            "get": every.make("list", "list", list_kind, _LIST_PARAMETERS, suffix="ForAllNamespaces"),
        }
    for sub in resource.subresources:
        if sub.name == "status":
            paths[f"{collection}/{{name}}/status"] = _item_path(op, kind, item_parameters, suffix="Status")
        elif sub.name == "scale":
            scale_op = _OperationFactory(GroupVersionKind(sub.group, sub.version, sub.kind), op.noun)
            paths[f"{collection}/{{name}}/scale"] = _item_path(
                scale_op,
                SCALE,
                item_parameters,
                suffix="Scale",
            )
        elif sub.name == "eviction":
            # As upstream: a create-only path whose body is a policy/v1 Eviction.
            eviction = _OperationFactory(GroupVersionKind(sub.group, sub.version, sub.kind), op.noun)
            paths[f"{collection}/{{name}}/eviction"] = {
                "parameters": [*item_parameters, _query("pretty", "string")],
                "post": eviction.make("create", "post", EVICTION, _WRITE_PARAMETERS, body=EVICTION, suffix="Eviction"),
            }
        elif sub.name == "token":
            # As upstream: a create-only path whose body is an authentication/v1 TokenRequest.
            token = _OperationFactory(GroupVersionKind(sub.group, sub.version, sub.kind), op.noun)
            paths[f"{collection}/{{name}}/token"] = {
                "parameters": [*item_parameters, _query("pretty", "string")],
                "post": token.make(
                    "create", "post", TOKEN_REQUEST, _WRITE_PARAMETERS, body=TOKEN_REQUEST, suffix="Token"
                ),
            }
    return paths


def _item_path(
    op: _OperationFactory,
    schema: str,
    parameters: list[JSONObject],
    *,
    suffix: str,
) -> JSONObject:
    path: JSONObject = {
        "parameters": [*parameters, _query("pretty", "string")],
        "get": op.make("read", "get", schema, (), suffix=suffix),
        "put": op.make("replace", "put", schema, _WRITE_PARAMETERS, body=schema, suffix=suffix),
        "patch": op.make("patch", "patch", schema, _PATCH_PARAMETERS, suffix=suffix),
    }
    if not suffix:
        path["delete"] = op.make("delete", "delete", STATUS, _DELETE_PARAMETERS, body=DELETE_OPTIONS)
    return path


class _OperationFactory:
    """Operations of one kind: same GVK extension, operationIds built like upstream's."""

    def __init__(self, gvk: GroupVersionKind, noun: str) -> None:
        self.gvk = gvk
        self.noun = noun

    def make(
        self,
        verb: str,
        action: str,
        response: str,
        parameters: tuple[tuple[str, str], ...],
        *,
        body: str | None = None,
        suffix: str = "",
    ) -> JSONObject:
        operation: JSONObject = {
            "operationId": f"{verb}{self.noun}{suffix}",
            "parameters": [_query(name, kind) for name, kind in parameters],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": _ref(response)}}},
            },
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {
                "group": self.gvk.group,
                "kind": self.gvk.kind,
                "version": self.gvk.version,
            },
        }
        if body is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": _ref(body)}}}
        return operation


def _group_prefix(resource: ResourceType) -> str:
    group = resource.group.split(".")[0].capitalize() if resource.group else "Core"
    return f"{group}{resource.version.capitalize()}"


def _ref(name: str) -> JSONObject:
    return {"$ref": REF_PREFIX + name}


def _path_parameter(name: str) -> JSONObject:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}}


def _query(name: str, kind: str) -> JSONObject:
    return {"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": True}}
