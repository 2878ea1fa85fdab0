"""The verbs of a resource: get, list, create, update, patch, delete, and their subresources.

Every handler follows the same path upstream's ``handlers`` package does: decode the body
(JSON, YAML or protobuf), check it against the URL, convert it to the storage version, run
admission (:mod:`kuberya.apiserver.admission`), write through the
:class:`~kuberya.apiserver.objectstore.ObjectStore`, and answer in the version (and, for
``kubectl get``, the Table form) the client asked for. Watch lives in
:mod:`kuberya.apiserver.watch`.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.admission import Admission, now_rfc3339
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.request import (
    ResourcePath,
    dry_run,
    field_validation,
    json_response,
    media_type,
    query_int,
    read_body,
    read_object,
    wants_table,
)
from kuberya.apiserver.tables import include_object_mode, to_table
from kuberya.resources import kinds
from kuberya.resources.conversion import convert
from kuberya.resources.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)
from kuberya.resources.types import Cause, JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.resources.schema.decode import Decoded

log = logging.getLogger(__name__)

# The patch engines and schemas load on first use (see request.read_body for why); these
# thin wrappers keep call sites readable.


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
            name = str((obj.get("metadata") or {}).get("name") or "")
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


def selection_from_query(request: web.Request, rt: ResourceType, namespace: str | None) -> ObjectFilter:
    try:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""))
        fields.validate_for(rt.kind)
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e
    return ObjectFilter(
        namespace=namespace,
        labels=None if labels.empty else labels,
        fields=None if fields.empty else fields,
    )


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


SCALE_DEFINITION = "io.k8s.api.autoscaling.v1.Scale"
DELETE_OPTIONS_DEFINITION = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"

MAX_DELETE_ATTEMPTS = 5
"""Reads and deletes tried when other writers keep changing the object in between."""


class ResourceHandlers:
    """HTTP verbs over one :class:`ObjectStore`, for every kind in :mod:`kuberya.resources.kinds`."""

    def __init__(self, store: ObjectStore, admission: Admission) -> None:
        self.store = store
        self.admission = admission

    # -- shared steps -----------------------------------------------------------------------

    def respond(
        self,
        request: web.Request,
        rt: ResourceType,
        obj: JSONObject,
        *,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        out = self.to_served_version(rt, obj)
        headers = _warning_headers(warnings)
        if wants_table(request):
            table = to_table(
                rt,
                [out],
                resource_version=out["metadata"].get("resourceVersion", ""),
                include_object=include_object_mode(request),
            )
            return json_response(table, status=status, headers=headers)
        return json_response(out, status=status, headers=headers)

    def to_served_version(self, rt: ResourceType, obj: JSONObject) -> JSONObject:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return convert(obj, to_api_version=rt.api_version)

    def to_storage_version(self, rt: ResourceType, obj: JSONObject) -> tuple[ResourceType, JSONObject]:
        storage_rt = kinds.storage_type(rt)
        if storage_rt.api_version != rt.api_version:
            obj = convert(obj, to_api_version=storage_rt.api_version)
        return storage_rt, obj

    def check_body_kind(self, rt: ResourceType, obj: JSONObject) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind is not None and kind != rt.kind:
            raise errors.bad_request(
                f"the kind of the object ({kind}) does not match the kind of the resource "
                f'"{rt.resource}" ({rt.kind}): send it to its own endpoint'
            )
        if api_version is not None and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def check_fields(
        self, request: web.Request, rt: ResourceType, obj: JSONObject, *, patched: bool = False
    ) -> list[str]:
        """Decode ``obj`` against its schema, then apply ``fieldValidation`` to what it found.

        Wrong types are refused whatever the mode. Unknown and duplicated fields are an error
        (Strict), a warning (Warn) or nothing (Ignore); unknown fields are always pruned, since
        upstream never stores a field its types do not know.
        """
        mode = field_validation(request)
        problems = decode_or_refuse(rt, obj, patched=patched).strict_errors()
        if not problems:
            return []
        if mode == "Strict":
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {', '.join(problems)}"
            )
        return problems if mode == "Warn" else []

    def check_namespace(self, path: ResourcePath, obj: JSONObject) -> None:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if path.rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and path.namespace and body_ns != path.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if path.namespace:
                meta["namespace"] = path.namespace
            elif not body_ns:
                raise errors.bad_request(
                    f"{path.rt.resource} must be created in a namespace: POST to /…/namespaces/<ns>/" + path.rt.resource
                )
        else:
            meta.pop("namespace", None)

    # -- read -------------------------------------------------------------------------------

    async def get(self, request: web.Request, path: ResourcePath) -> web.Response:
        assert path.name is not None
        storage_rt = kinds.storage_type(path.rt)
        obj = await self.store.get(storage_rt, path.namespace, path.name)
        return self.respond(request, path.rt, obj)

    async def list(self, request: web.Request, path: ResourcePath) -> web.Response:
        rt = path.rt
        storage_rt = kinds.storage_type(rt)
        selection = selection_from_query(request, rt, path.namespace)
        limit = query_int(request, "limit")
        rv = request.query.get("resourceVersion", "")
        match = request.query.get("resourceVersionMatch", "")
        revision = 0
        if rv not in ("", "0") and match == "Exact":
            revision = _parse_rv(rv)
        page = await self.store.list(
            storage_rt,
            selection=selection,
            limit=max(limit, 0),
            continue_token=request.query.get("continue", ""),
            resource_version=revision,
        )
        items = [self.to_served_version(rt, obj) for obj in page.items]
        if wants_table(request):
            table = to_table(
                rt,
                items,
                resource_version=str(page.resource_version),
                include_object=include_object_mode(request),
                continue_token=page.continue_token,
            )
            return json_response(table)
        metadata: JSONObject = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            metadata["continue"] = page.continue_token
        for item in items:
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        return json_response(
            {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": metadata, "items": items}
        )

    # -- create -----------------------------------------------------------------------------

    async def create(self, request: web.Request, path: ResourcePath) -> web.Response:
        if path.subresource:
            raise errors.method_not_allowed(f"POST is not supported on {path.rt.resource}/{path.subresource}")
        obj = await read_object(request)
        self.check_body_kind(path.rt, obj)
        warnings = self.check_fields(request, path.rt, obj)
        self.check_namespace(path, obj)
        meta = obj["metadata"]
        if not meta.get("name") and not meta.get("generateName"):
            raise errors.invalid(
                path.rt.group,
                path.rt.kind,
                "",
                [_required("metadata.name", "name or generateName is required")],
            )
        created = await self.create_object(request, path.rt, obj)
        return self.respond(request, path.rt, created, status=201, warnings=warnings)

    async def create_object(
        self, request: web.Request, rt: ResourceType, obj: JSONObject, *, manager_override: str | None = None
    ) -> JSONObject:
        """Admit and store a new object given in ``rt``'s version; return it in storage version."""
        storage_rt, obj = self.to_storage_version(rt, obj)
        is_dry_run = dry_run(request)
        had_name = bool(obj["metadata"].get("name"))
        for _attempt in range(3):
            candidate = copy.deepcopy(obj)
            await self.admission.prepare_create(storage_rt, candidate)
            if manager_override is None:
                record_update_manager(
                    None,
                    candidate,
                    manager=field_manager(request),
                    api_version=rt.api_version,
                    operation_time=now_rfc3339(),
                )
            async with self.admission.allocation_lock:
                await self.admission.allocate_service_addresses(candidate)
                try:
                    return await self.store.create(storage_rt, candidate, dry_run=is_dry_run)
                except errors.StatusError as e:
                    if e.reason != "AlreadyExists" or had_name:
                        raise
        raise errors.already_exists(rt.group, rt.resource, obj["metadata"].get("generateName", ""))

    # -- update -----------------------------------------------------------------------------

    async def update(self, request: web.Request, path: ResourcePath) -> web.Response:
        assert path.name is not None
        rt = path.rt
        if path.subresource not in ("", "status", "finalize"):
            raise errors.method_not_allowed(f"PUT is not supported on {rt.resource}/{path.subresource}")
        obj = await read_object(request)
        self.check_body_kind(rt, obj)
        warnings = self.check_fields(request, rt, obj)
        self.check_namespace(path, obj)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != path.name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({path.name})"
            )
        storage_rt, obj = self.to_storage_version(rt, obj)
        pinned_rv = str(obj["metadata"].get("resourceVersion") or "")
        manager = field_manager(request)

        async def mutate(current: JSONObject) -> JSONObject:
            if pinned_rv and pinned_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.group, rt.resource, path.name or "")
            new = copy.deepcopy(obj)
            if path.subresource == "finalize":
                finalizers = (new.get("spec") or {}).get("finalizers", [])
                new = copy.deepcopy(current)
                new.setdefault("spec", {})["finalizers"] = finalizers
                return new
            prepared = self.admission.prepare_update(storage_rt, new, current, subresource=path.subresource)
            record_update_manager(
                current,
                prepared,
                manager=manager,
                api_version=rt.api_version,
                operation_time=now_rfc3339(),
                subresource=path.subresource,
            )
            return prepared

        try:
            _old, new = await self.write(request, storage_rt, path, mutate)
        except errors.StatusError as e:
            if e.code != 404 or path.subresource or not _allows_create_on_update(storage_rt):
                raise
            created = await self.create_object(request, rt, obj)
            return self.respond(request, rt, created, status=201, warnings=warnings)
        return self.respond(request, rt, new, warnings=warnings)

    async def write(
        self, request: web.Request, storage_rt: ResourceType, path: ResourcePath, mutate: Any
    ) -> tuple[JSONObject, JSONObject]:
        """Update through the store, then finish a deletion the update unblocked."""
        assert path.name is not None
        is_dry_run = dry_run(request)

        async def guarded(current: JSONObject) -> JSONObject | None:
            if storage_rt.kind == "Service":
                result: JSONObject | None = await mutate(current)
                if result is not None and path.subresource == "":
                    await self.admission.allocate_service_addresses(result, old=current)
                return result
            out: JSONObject | None = await mutate(current)
            return out

        if storage_rt.kind == "Service":
            async with self.admission.allocation_lock:
                old, new = await self.store.update(storage_rt, path.namespace, path.name, guarded, dry_run=is_dry_run)
        else:
            old, new = await self.store.update(storage_rt, path.namespace, path.name, guarded, dry_run=is_dry_run)
        if _deletion_unblocked(new):
            new = await self.store.delete(storage_rt, new, dry_run=is_dry_run)
        return old, new

    # -- patch ------------------------------------------------------------------------------

    async def patch(self, request: web.Request, path: ResourcePath) -> web.Response:
        assert path.name is not None
        rt = path.rt
        if path.subresource not in ("", "status"):
            raise errors.method_not_allowed(f"PATCH is not supported on {rt.resource}/{path.subresource}")
        patch_type = PATCH_TYPES.get(media_type(request))
        if patch_type is None or patch_type == "apply-cbor":
            raise errors.StatusError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(t for t in PATCH_TYPES if 'cbor' not in t)}",
            )
        body = await read_body(request)
        storage_rt = kinds.storage_type(rt)
        warnings: list[str] = []
        if patch_type == "apply":
            if not isinstance(body, dict):
                raise errors.bad_request("an apply patch must be a whole object")
            return await self.apply(request, path, body)
        manager = field_manager(request)

        async def mutate(current: JSONObject) -> JSONObject:
            served = self.to_served_version(rt, current)
            patched = _apply_patch(patch_type, served, body, kind=rt.kind)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce an object")
            self.check_body_kind(rt, patched)
            warnings[:] = self.check_fields(request, rt, patched, patched=True)
            patched_rv = str(patched.get("metadata", {}).get("resourceVersion") or "")
            if patched_rv and patched_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.group, rt.resource, path.name or "")
            if patched.get("metadata", {}).get("name", path.name) != path.name:
                raise errors.bad_request("metadata.name cannot be changed by a patch")
            _, patched = self.to_storage_version(rt, patched)
            prepared = self.admission.prepare_update(storage_rt, patched, current, subresource=path.subresource)
            record_update_manager(
                current,
                prepared,
                manager=manager,
                api_version=rt.api_version,
                operation_time=now_rfc3339(),
                subresource=path.subresource,
            )
            return prepared

        _old, new = await self.write(request, storage_rt, path, mutate)
        return self.respond(request, rt, new, warnings=warnings)

    async def apply(self, request: web.Request, path: ResourcePath, applied: JSONObject) -> web.Response:
        """Server-side apply: merge the manager's intent, detect conflicts, create if absent."""
        assert path.name is not None
        rt = path.rt
        manager = field_manager(request, required=True)
        force = request.query.get("force", "").lower() == "true"
        self.check_body_kind(rt, applied)
        warnings = self.check_fields(request, rt, applied)
        self.check_namespace(path, applied)
        if applied["metadata"].get("name", path.name) != path.name:
            raise errors.bad_request(
                f"the name of the object ({applied['metadata'].get('name')}) does not match the name on "
                f"the URL ({path.name})"
            )
        applied["metadata"]["name"] = path.name
        storage_rt = kinds.storage_type(rt)

        from kuberya.resources.patching import ApplyConflictError, PatchError, server_side_apply

        def merge(live: JSONObject | None) -> JSONObject:
            try:
                return server_side_apply(
                    live, applied, kind=rt.kind, manager=manager, force=force, operation_time=now_rfc3339()
                )
            except ApplyConflictError as e:
                raise _apply_conflict(e, rt) from e
            except PatchError as e:
                raise errors.StatusError(422, "Invalid", str(e)) from e

        existing = await self.store.get_or_none(storage_rt, path.namespace, path.name)
        if existing is None:
            created = await self.create_object(request, rt, merge(None), manager_override=manager)
            return self.respond(request, rt, created, status=201, warnings=warnings)

        async def mutate(current: JSONObject) -> JSONObject:
            served = self.to_served_version(rt, current)
            merged = merge(served)
            decode_or_refuse(rt, merged, patched=True)
            _, merged = self.to_storage_version(rt, merged)
            return self.admission.prepare_update(storage_rt, merged, current, subresource=path.subresource)

        _old, new = await self.write(request, storage_rt, path, mutate)
        return self.respond(request, rt, new, warnings=warnings)

    # -- delete -----------------------------------------------------------------------------

    async def delete(self, request: web.Request, path: ResourcePath) -> web.Response:
        assert path.name is not None
        if path.subresource:
            raise errors.method_not_allowed(f"DELETE is not supported on {path.rt.resource}/{path.subresource}")
        options = await _delete_options(request)
        storage_rt = kinds.storage_type(path.rt)
        obj, status = await self.delete_object(request, storage_rt, path.namespace, path.name, options)
        return self.respond(request, path.rt, obj, status=status)

    async def delete_object(
        self,
        request: web.Request,
        storage_rt: ResourceType,
        namespace: str | None,
        name: str,
        options: JSONObject,
    ) -> tuple[JSONObject, int]:
        """Delete at once, or start a graceful/finalized deletion. Returns (object, HTTP status)."""
        is_dry_run = dry_run(request)
        current = await self.store.get(storage_rt, namespace, name)
        _check_preconditions(storage_rt, current, options.get("preconditions") or {})
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "")
        grace = _grace_period(current, options)
        pending_finalizers = _finalizers_for(current, policy)
        meta = current["metadata"]
        if (
            meta.get("deletionTimestamp")
            and grace is None
            and not pending_finalizers - set(meta.get("finalizers") or [])
        ):
            return current, 202 if meta.get("finalizers") else 200
        if grace is None and not pending_finalizers and not _namespace_finalizers(current):
            return await self._delete_now(storage_rt, current, options, dry_run=is_dry_run), 200

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
            if not existing or (grace is not None and deadline.strftime("%Y-%m-%dT%H:%M:%SZ") < existing):
                live_meta["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
                live_meta["deletionGracePeriodSeconds"] = grace or 0
            if live.get("kind") == "Namespace":
                live.setdefault("status", {})["phase"] = "Terminating"
            return live

        path = ResourcePath(storage_rt, namespace, name, "")
        _old, new = await self.write(request, storage_rt, path, mark)
        if (
            new["metadata"].get("deletionTimestamp")
            and grace == 0
            and not new["metadata"].get("finalizers")
            and not _namespace_finalizers(new)
            and not _deletion_unblocked(new)  # else write() has removed it already
        ):
            return await self._delete_now(storage_rt, new, options, dry_run=is_dry_run), 200
        return new, 202 if new["metadata"].get("finalizers") else 200

    async def _delete_now(
        self, storage_rt: ResourceType, current: JSONObject, options: JSONObject, *, dry_run: bool
    ) -> JSONObject:
        """Remove ``current``, reading again and retrying when another writer got in between.

        As upstream's delete does: a controller's status update is no reason to fail a DELETE; only
        the client's own preconditions make a 409.
        """
        meta = current["metadata"]
        for _ in range(MAX_DELETE_ATTEMPTS - 1):
            try:
                return await self.store.delete(storage_rt, current, dry_run=dry_run)
            except errors.StatusError as e:
                if e.code != 409:
                    raise
            current = await self.store.get(storage_rt, meta.get("namespace"), meta["name"])
            _check_preconditions(storage_rt, current, options.get("preconditions") or {})
        return await self.store.delete(storage_rt, current, dry_run=dry_run)

    async def delete_collection(self, request: web.Request, path: ResourcePath) -> web.Response:
        rt = path.rt
        storage_rt = kinds.storage_type(rt)
        options = await _delete_options(request)
        selection = selection_from_query(request, rt, path.namespace)
        page = await self.store.list(storage_rt, selection=selection)
        deleted = []
        for obj in page.items:
            meta = obj["metadata"]
            try:
                out, _ = await self.delete_object(request, storage_rt, meta.get("namespace"), meta["name"], options)
            except errors.StatusError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(self.to_served_version(rt, out))
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(await self.store.current_revision())},
                "items": deleted,
            }
        )

    # -- scale ------------------------------------------------------------------------------

    async def scale(self, request: web.Request, path: ResourcePath) -> web.Response:
        assert path.name is not None
        rt = kinds.storage_type(path.rt)
        if request.method == "GET":
            return json_response(_to_scale(await self.store.get(rt, path.namespace, path.name)))
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
            scale = _to_scale(current)
            new_scale = _apply_patch(patch_type, scale, body, kind="Scale") if patch_type is not None else body
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
                        _invalid(
                            "spec.replicas",
                            f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                        )
                    ],
                )
            new = copy.deepcopy(current)
            new.setdefault("spec", {})["replicas"] = replicas
            prepared = self.admission.prepare_update(rt, new, current)
            record_update_manager(
                current,
                prepared,
                manager=field_manager(request),
                api_version=rt.api_version,
                operation_time=now_rfc3339(),
                subresource="scale",
            )
            return prepared

        _old, new = await self.write(request, rt, path, mutate)
        return json_response(_to_scale(new))


# -- helpers ---------------------------------------------------------------------------------


def _warning_headers(warnings: list[str] | None) -> dict[str, str]:
    if not warnings:
        return {}
    escaped = ", ".join('299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings)
    return {"Warning": escaped}


def _parse_rv(rv: str) -> int:
    try:
        value = int(rv)
    except ValueError:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{rv}": must be an integer') from None
    return value


def _required(field: str, message: str = "Required value") -> Cause:
    return Cause(field=field, reason="FieldValueRequired", message=message)


def _invalid(field: str, message: str) -> Cause:
    return Cause(field=field, reason="FieldValueInvalid", message=message)


def _apply_patch(patch_type: str, original: JSONObject, body: Any, *, kind: str) -> Any:
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


def _apply_conflict(e: Any, rt: ResourceType) -> errors.StatusError:
    count = len(e.conflicts)
    lines = [f'conflict with "{manager}" using {rt.api_version}: {field}' for manager, field in e.conflicts]
    message = (
        f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(lines)
        if count
        else "Apply failed with conflicts"
    )
    return errors.StatusError(
        409,
        "Conflict",
        message,
        details={
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{manager}" using {rt.api_version}',
                    "field": field,
                }
                for manager, field in e.conflicts
            ]
        },
    )


def _allows_create_on_update(rt: ResourceType) -> bool:
    """Upstream lets PUT create only for a few kinds (the ``AllowCreateOnUpdate`` strategies)."""
    return rt.kind in (
        "Service",
        "Endpoints",
        "Node",
        "Event",
        "ConfigMap",
        "Secret",
        "Namespace",
        "ServiceAccount",
        "LimitRange",
        "ResourceQuota",
        "EndpointSlice",
    )


def _deletion_unblocked(obj: JSONObject) -> bool:
    meta = obj.get("metadata", {})
    return (
        bool(meta.get("deletionTimestamp"))
        and not meta.get("finalizers")
        and not _namespace_finalizers(obj)
        and (
            obj.get("kind") != "Pod"
            or meta.get("deletionGracePeriodSeconds") == 0
            or not (obj.get("spec") or {}).get("nodeName")
        )
    )


def _namespace_finalizers(obj: JSONObject) -> list[str]:
    if obj.get("kind") != "Namespace":
        return []
    return list((obj.get("spec") or {}).get("finalizers") or [])


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


def _grace_period(obj: JSONObject, options: JSONObject) -> int | None:
    """The graceful-deletion period, or None when the object goes at once.

    As upstream: only a pod that is bound to a node and still running is deleted gracefully
    (the node agent stops its containers, then deletes it with grace 0).
    """
    if obj.get("kind") != "Pod":
        return None
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    requested = options.get("gracePeriodSeconds")
    if requested is not None and (not isinstance(requested, int) or requested < 0):
        raise errors.bad_request("gracePeriodSeconds must be a non-negative integer")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return None
    if requested == 0:
        return None if not obj["metadata"].get("deletionTimestamp") else 0
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    return int(grace)


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


def _to_scale(obj: JSONObject) -> JSONObject:
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
            "selector": selector_to_string(spec.get("selector") or {}),
        },
    }
