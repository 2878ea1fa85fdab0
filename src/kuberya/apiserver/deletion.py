"""DELETE and deletecollection: at once, gracefully, or once finalizers are gone.

An object goes at once unless something holds it: finalizers in its metadata (``orphan`` and
``foregroundDeletion`` are added for those propagation policies), finalizers in its spec (a
Namespace's, through ``KindSpec.spec_finalizers``), or a graceful deletion (a bound Pod's,
through ``KindSpec.grace_period``/``holds_deletion``). A held object gets a
``deletionTimestamp`` and stays until the last holder lets go; the write that lets go removes it
(:func:`deletion_unblocked`, called by every update).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.request import (
    ResourcePath,
    dry_run,
    json_response,
    query_int,
    read_body,
    selection_from_query,
)
from kuberya.apiserver.writes import DELETE_OPTIONS_DEFINITION, decode_definition_or_refuse
from kuberya.meta.timefmt import RFC3339
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.handlers import ResourceHandlers

MAX_DELETE_ATTEMPTS = 5
"""Reads and deletes tried when other writers keep changing the object in between."""


async def delete(h: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    assert path.name is not None
    if path.subresource:
        raise errors.method_not_allowed(f"DELETE is not supported on {path.rt.resource}/{path.subresource}")
    options = await _delete_options(request)
    storage_rt = kinds.storage_type(path.rt)
    obj, status = await delete_object(h, request, storage_rt, path.namespace, path.name, options)
    return h.respond(request, path.rt, obj, status=status)


async def delete_object(
    h: ResourceHandlers,
    request: web.Request,
    storage_rt: ResourceType,
    namespace: str | None,
    name: str,
    options: JSONObject,
) -> tuple[JSONObject, int]:
    """Delete at once, or start a graceful/finalized deletion. Returns (object, HTTP status)."""
    is_dry_run = dry_run(request)
    current = await h.store.get(storage_rt, namespace, name)
    _check_preconditions(storage_rt, current, options.get("preconditions") or {})
    spec = kinds.spec_of(storage_rt)
    policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "")
    if not policy and "orphanDependents" not in options and not _gc_finalizers(current):
        policy = spec.default_propagation
    grace = _grace_period(spec, current, options)
    pending_finalizers = _finalizers_for(current, policy)
    meta = current["metadata"]
    if meta.get("deletionTimestamp") and grace is None and not pending_finalizers - set(meta.get("finalizers") or []):
        return current, 202 if meta.get("finalizers") else 200
    if grace is None and not pending_finalizers and not meta.get("finalizers") and not spec.spec_finalizers(current):
        # Nothing holds it: an object's own finalizers would (it then waits with a deletionTimestamp).
        return await _delete_now(h, storage_rt, current, options, dry_run=is_dry_run), 200

    async def mark(live: JSONObject) -> JSONObject:
        live_meta = live["metadata"]
        finalizers = list(live_meta.get("finalizers") or [])
        for f in sorted(pending_finalizers):
            if f not in finalizers:
                finalizers.append(f)
        if finalizers:
            live_meta["finalizers"] = finalizers
        deadline = datetime.now(UTC) + timedelta(seconds=grace or 0)
        existing = live_meta.get("deletionTimestamp")
        if not existing or (grace is not None and deadline.strftime(RFC3339) < existing):
            live_meta["deletionTimestamp"] = deadline.strftime(RFC3339)
            live_meta["deletionGracePeriodSeconds"] = grace or 0
        spec.mark_deleting(live)
        return live

    path = ResourcePath(storage_rt, namespace, name, "")
    _old, new = await h.write(request, storage_rt, path, mark)
    if (
        new["metadata"].get("deletionTimestamp")
        and grace == 0
        and not new["metadata"].get("finalizers")
        and not spec.spec_finalizers(new)
        and not deletion_unblocked(new)  # else write() has removed it already
    ):
        return await _delete_now(h, storage_rt, new, options, dry_run=is_dry_run), 200
    return new, 202 if new["metadata"].get("finalizers") else 200


async def _delete_now(
    h: ResourceHandlers, storage_rt: ResourceType, current: JSONObject, options: JSONObject, *, dry_run: bool
) -> JSONObject:
    """Remove ``current``, reading again and retrying when another writer got in between.

    As upstream's delete does: a controller's status update is no reason to fail a DELETE; only
    the client's own preconditions make a 409.
    """
    meta = current["metadata"]
    for _ in range(MAX_DELETE_ATTEMPTS - 1):
        try:
            return await h.store.delete(storage_rt, current, dry_run=dry_run)
        except errors.StatusError as e:
            if e.code != 409:
                raise
        current = await h.store.get(storage_rt, meta.get("namespace"), meta["name"])
        _check_preconditions(storage_rt, current, options.get("preconditions") or {})
    return await h.store.delete(storage_rt, current, dry_run=dry_run)


async def delete_collection(h: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    rt = path.rt
    storage_rt = kinds.storage_type(rt)
    options = await _delete_options(request)
    selection = selection_from_query(request, rt, path.namespace)
    page = await h.store.list(storage_rt, selection=selection)
    deleted = []
    for obj in page.items:
        meta = obj["metadata"]
        try:
            out, _ = await delete_object(h, request, storage_rt, meta.get("namespace"), meta["name"], options)
        except errors.StatusError as e:
            if e.code == 404:
                continue
            raise
        deleted.append(h.to_served_version(rt, out))
    return json_response(
        {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(await h.store.current_revision())},
            "items": deleted,
        }
    )


def deletion_unblocked(obj: JSONObject) -> bool:
    """Whether a deleted object has nothing left holding it, and so must go now."""
    meta = obj.get("metadata", {})
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    spec = kinds.spec_for_kind(obj.get("kind", ""))
    return spec is None or not (spec.spec_finalizers(obj) or spec.holds_deletion(obj))


def _gc_finalizers(obj: JSONObject) -> set[str]:
    """The propagation an object already asked for: its ``orphan``/``foregroundDeletion`` finalizers."""
    return set(obj.get("metadata", {}).get("finalizers") or []) & {"orphan", "foregroundDeletion"}


def _finalizers_for(obj: JSONObject, policy: str) -> set[str]:
    if policy == "Foreground":
        return {"foregroundDeletion"}
    if policy == "Orphan":
        return {"orphan"}
    if policy not in ("", "Background"):
        raise errors.bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: "Background", "Foreground", "Orphan"'
        )
    return set()


def _grace_period(spec: kinds.KindSpec, obj: JSONObject, options: JSONObject) -> int | None:
    try:
        return spec.grace_period(obj, options)
    except ValueError as e:  # the options are wrong, not the object
        raise errors.bad_request(str(e)) from e


def _check_preconditions(rt: ResourceType, obj: JSONObject, pre: JSONObject) -> None:
    meta = obj["metadata"]
    name = meta["name"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise errors.conflict(
            rt.group,
            rt.resource,
            name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta.get('uid')}",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        raise errors.conflict(
            rt.group,
            rt.resource,
            name,
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
        )


async def _delete_options(request: web.Request) -> JSONObject:
    raw = await request.read()
    options: JSONObject = {}
    if raw.strip():
        body = await read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        decode_definition_or_refuse(DELETE_OPTIONS_DEFINITION, body, what="DeleteOptions")
        options = body
    query = request.query
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "gracePeriodSeconds" in query:
        options["gracePeriodSeconds"] = query_int(request, "gracePeriodSeconds")
    if query.get("orphanDependents", "").lower() == "true":
        options["orphanDependents"] = True
    return options
