"""The verbs of a resource: get, list, create, update, patch and apply, for every kind alike.

Every handler follows the same path upstream's ``handlers`` package does: decode the body
(JSON, YAML or protobuf), check it against the URL, convert it to the storage version, run
admission (:mod:`kuberya.apiserver.admission`), write through the
:class:`~kuberya.apiserver.objectstore.ObjectStore`, and answer in the version (and, for
``kubectl get``, the Table form) the client asked for. What differs between kinds is their
``KindSpec``'s (which kinds PUT may create, who allocates addresses); no verb names a kind.

Every update — PUT, PATCH, apply, ``/scale``, a deletion's mark — goes through :meth:`write`,
and every body a client sent through :meth:`ResourceHandlers.finish_update`. Delete lives in
:mod:`.deletion`, ``/scale`` in :mod:`.scale`, watch in :mod:`.watch`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kuberya.apiserver import deletion, errors
from kuberya.apiserver.admission import Admission
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.request import (
    ResourcePath,
    dry_run,
    field_validation,
    json_response,
    list_options,
    media_type,
    query_int,
    read_body,
    read_object,
    resource_version,
    selection_from_query,
    wants_table,
)
from kuberya.apiserver.tables import include_object_mode, to_table
from kuberya.apiserver.writes import (
    PATCH_TYPES,
    apply_patch,
    decode_or_refuse,
    field_manager,
    record_update_manager,
    required_cause,
    warning_headers,
)
from kuberya.meta.timefmt import now_rfc3339
from kuberya.resources import kinds
from kuberya.resources.kinds.spec import Allocate
from kuberya.resources.types import JSONObject, ResourceType

log = logging.getLogger(__name__)

Mutate = Callable[[JSONObject], Awaitable[JSONObject]]
"""Turn the stored object into what to store instead (raising to refuse)."""


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
        headers = warning_headers(warnings)
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
        return kinds.convert(obj, to_api_version=rt.api_version)

    def to_storage_version(self, rt: ResourceType, obj: JSONObject) -> tuple[ResourceType, JSONObject]:
        storage_rt = kinds.storage_type(rt)
        if storage_rt.api_version != rt.api_version:
            obj = kinds.convert(obj, to_api_version=storage_rt.api_version)
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
        resource_version(request)  # validated, as upstream's GetOptions; reads are always current
        storage_rt = kinds.storage_type(path.rt)
        obj = await self.store.get(storage_rt, path.namespace, path.name)
        return self.respond(request, path.rt, obj)

    async def list(self, request: web.Request, path: ResourcePath) -> web.Response:
        rt = path.rt
        storage_rt = kinds.storage_type(rt)
        list_options(request)
        selection = selection_from_query(request, rt, path.namespace)
        limit = query_int(request, "limit")
        rv = resource_version(request)
        match = request.query.get("resourceVersionMatch", "")
        revision = 0
        if rv not in ("", "0") and match == "Exact":
            revision = int(rv)  # resource_version() has checked it
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
                [required_cause("metadata.name", "name or generateName is required")],
            )
        created = await self.create_object(request, path.rt, obj)
        return self.respond(
            request, path.rt, created, status=201, warnings=warnings + kind_warnings(path.rt, created, None)
        )

    async def create_object(
        self, request: web.Request, rt: ResourceType, obj: JSONObject, *, manager_override: str | None = None
    ) -> JSONObject:
        """Admit and store a new object given in ``rt``'s version; return it in storage version."""
        storage_rt, obj = self.to_storage_version(rt, obj)
        allocate = kinds.spec_of(storage_rt).allocate
        is_dry_run = dry_run(request)
        had_name = bool(obj["metadata"].get("name"))
        for _attempt in range(3):
            candidate = copy.deepcopy(obj)
            await self.admission.prepare_create(storage_rt, candidate, request_version=rt.api_version)
            if manager_override is None:
                record_update_manager(
                    None,
                    candidate,
                    manager=field_manager(request),
                    api_version=rt.api_version,
                    operation_time=now_rfc3339(),
                )
            quota = self.admission.quota
            async with quota.guard(storage_rt, candidate["metadata"].get("namespace")), self._allocation(allocate):
                await quota.check(storage_rt, candidate, old=None)
                if allocate is not None:
                    await allocate(self.admission.allocator, candidate, None)
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
            return self.finish_update(current, new, rt=rt, manager=manager, subresource=path.subresource)

        try:
            _old, new = await self.write(request, storage_rt, path, mutate)
        except errors.StatusError as e:
            if e.code != 404 or path.subresource or not kinds.spec_of(storage_rt).allow_create_on_update:
                raise
            created = await self.create_object(request, rt, obj)
            return self.respond(request, rt, created, status=201, warnings=warnings + kind_warnings(rt, created, None))
        return self.respond(
            request, rt, new, warnings=warnings + kind_warnings(rt, new, _old, subresource=path.subresource)
        )

    def finish_update(
        self, current: JSONObject, new: JSONObject, *, rt: ResourceType, manager: str | None, subresource: str = ""
    ) -> JSONObject:
        """Admit ``new`` (storage version) over ``current`` and record its manager in managedFields.

        The one pipeline of every update a client sent; ``rt`` is the version it was sent in, and
        ``manager`` None means server-side apply has recorded the change itself.
        """
        prepared = self.admission.prepare_update(
            kinds.storage_type(rt), new, current, subresource=subresource, request_version=rt.api_version
        )
        if manager is not None:
            record_update_manager(
                current,
                prepared,
                manager=manager,
                api_version=rt.api_version,
                operation_time=now_rfc3339(),
                subresource=subresource,
            )
        return prepared

    def _allocation(self, allocate: Allocate | None) -> contextlib.AbstractAsyncContextManager[object]:
        # Only kinds that allocate addresses serialize their writes on the allocator's lock.
        return self.admission.allocator.lock if allocate is not None else contextlib.nullcontext()

    async def write(
        self, request: web.Request, storage_rt: ResourceType, path: ResourcePath, mutate: Mutate
    ) -> tuple[JSONObject, JSONObject]:
        """Update through the store, then finish a deletion the update unblocked."""
        assert path.name is not None
        is_dry_run = dry_run(request)
        allocate = kinds.spec_of(storage_rt).allocate

        async def guarded(current: JSONObject) -> JSONObject | None:
            result = await mutate(current)
            await self.admission.admit_update(storage_rt, result, current, subresource=path.subresource)
            if path.subresource == "":
                await self.admission.quota.check(storage_rt, result, old=current)
            if allocate is not None and path.subresource == "":
                await allocate(self.admission.allocator, result, current)
            return result

        # The quota guard, like the allocator's lock, spans the check and the write.
        quota_guard = self.admission.quota.guard(storage_rt, path.namespace, updating=True)
        async with quota_guard, self._allocation(allocate):
            old, new = await self.store.update(storage_rt, path.namespace, path.name, guarded, dry_run=is_dry_run)
        if deletion.deletion_unblocked(new):
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
            for field in ("apiVersion", "kind"):
                if not body.get(field):
                    raise errors.bad_request(
                        f"Object '{field[0].upper() + field[1:]}' is missing in the apply patch: "
                        "send the whole object you mean, with apiVersion, kind and metadata.name"
                    )
            return await self.apply(request, path, body)
        manager = field_manager(request)

        async def mutate(current: JSONObject) -> JSONObject:
            served = self.to_served_version(rt, current)
            patched = apply_patch(patch_type, served, body, kind=rt.kind)
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
            return self.finish_update(current, patched, rt=rt, manager=manager, subresource=path.subresource)

        _old, new = await self.write(request, storage_rt, path, mutate)
        return self.respond(
            request, rt, new, warnings=warnings + kind_warnings(rt, new, _old, subresource=path.subresource)
        )

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
            return self.respond(request, rt, created, status=201, warnings=warnings + kind_warnings(rt, created, None))

        async def mutate(current: JSONObject) -> JSONObject:
            served = self.to_served_version(rt, current)
            merged = merge(served)
            decode_or_refuse(rt, merged, patched=True)
            _, merged = self.to_storage_version(rt, merged)
            return self.finish_update(current, merged, rt=rt, manager=None, subresource=path.subresource)

        _old, new = await self.write(request, storage_rt, path, mutate)
        return self.respond(
            request, rt, new, warnings=warnings + kind_warnings(rt, new, _old, subresource=path.subresource)
        )


# -- helpers ---------------------------------------------------------------------------------


def kind_warnings(rt: ResourceType, obj: JSONObject, old: JSONObject | None, *, subresource: str = "") -> list[str]:
    """The kind's own ``Warning`` headers for a written object (none for a subresource)."""
    return [] if subresource else kinds.spec_of(kinds.storage_type(rt)).warnings(obj, old)


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
