"""The ``/scale`` subresource: a workload's replicas (Deployment, ReplicaSet, RC…) as an autoscaling/v1 Scale.

Reads build the Scale from the object; writes (PUT, or a merge/strategic/JSON patch of the Scale)
change only ``spec.replicas`` and go through the same update pipeline as every other write.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.request import ResourcePath, json_response, media_type, read_body
from kuberya.apiserver.writes import (
    PATCH_TYPES,
    SCALE_DEFINITION,
    apply_patch,
    decode_definition_or_refuse,
    field_manager,
    invalid_cause,
)
from kuberya.resources import kinds
from kuberya.resources.selectors import selector_to_string
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.handlers import ResourceHandlers


async def scale(h: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    assert path.name is not None
    rt = kinds.storage_type(path.rt)
    if request.method == "GET":
        return json_response(_to_scale(rt, await h.store.get(rt, path.namespace, path.name)))
    if request.method not in ("PUT", "PATCH"):
        raise errors.method_not_allowed(f"{request.method} is not supported on {rt.resource}/scale")
    body = await read_body(request)
    patch_type = PATCH_TYPES.get(media_type(request)) if request.method == "PATCH" else None
    if request.method == "PATCH" and patch_type in (None, "apply", "apply-cbor"):
        raise errors.StatusError(
            415,
            "UnsupportedMediaType",
            "the scale subresource takes merge, strategic-merge or JSON patches",
        )

    async def mutate(current: JSONObject) -> JSONObject:
        scale = _to_scale(rt, current)
        new_scale = apply_patch(patch_type, scale, body, kind="Scale") if patch_type is not None else body
        if not isinstance(new_scale, dict):
            raise errors.bad_request("the Scale body must be an object")
        decode_definition_or_refuse(SCALE_DEFINITION, new_scale, what="Scale")
        pinned = str((new_scale.get("metadata") or {}).get("resourceVersion") or "")
        if pinned and pinned != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, path.name or "")
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "autoscaling",
                "Scale",
                path.name or "",
                [
                    invalid_cause(
                        "spec.replicas",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    )
                ],
            )
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        # The main endpoint's rules (status kept); managedFields name the subresource.
        return h.finish_update(current, new, rt=rt, manager=field_manager(request), subresource="scale")

    _old, new = await h.write(request, rt, path, mutate)
    return json_response(_to_scale(rt, new))


def _to_scale(rt: ResourceType, obj: JSONObject) -> JSONObject:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector_to_string(kinds.spec_of(rt).label_selector(obj)),
        },
    }
