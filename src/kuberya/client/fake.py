"""An in-memory :class:`~kuberya.client.interface.KubeClient` that records every call.

The counterpart of client-go's fake clientset for sample-controller-style tests: seed objects with
:meth:`FakeApiClient.add`, run a controller's ``sync(key)``, then compare
:attr:`FakeApiClient.actions` (or :meth:`FakeApiClient.mutations`) with the expected list.

It keeps just enough of the server's semantics for controllers to be tested honestly: uids and
resourceVersions, 404/409 errors, resourceVersion conflicts and delete preconditions, finalizers
(a delete with finalizers only sets ``deletionTimestamp``; removing the last one deletes),
propagation policies as finalizers, status and finalize subresources (the main resource ignores
``status``), ``generation`` bumped by spec changes only, equality- and set-based label selectors, and
merge patches (a strategic patch also merges lists of named items, such as containers, by name;
apply is treated as merge: enough for what controllers patch). It does no garbage collection and
emits no watch events by itself unless ``watch_events``: tests push those with :meth:`push_watch`.

``tests/integration/test_client_contract.py`` runs the same calls against the fake and the real API
server; where they disagree, the server is right.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack

from kuberya.client.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    error_from_status,
)
from kuberya.client.interface import KubeClient
from kuberya.client.prepare import (
    DeleteOptions,
    GetOptions,
    ListOptions,
    PatchOptions,
    RawOptions,
    UpdateOptions,
    WatchOptions,
    WriteOptions,
    check_options,
    delete_options_fields,
)
from kuberya.client.resources import BUILTIN, ResourceRef
from kuberya.client.watch import WatchEvent
from kuberya.meta.labels import parse_label_selector
from kuberya.meta.patch import json_merge_patch
from kuberya.meta.types import Obj

_WITH_STATUS = frozenset(
    {
        "pods",
        "services",
        "namespaces",
        "nodes",
        "deployments.apps",
        "replicasets.apps",
        "horizontalpodautoscalers.autoscaling",
    }
)
FAKE_NOW = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Action:
    """One call made to the fake client."""

    verb: str
    """``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``, ``delete``, ``discover``, ``raw``."""
    resource: str
    """The group-resource (``replicasets.apps``), or the path for ``raw``."""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    body: Any = None
    """What was sent: the object, the patch, or for ``delete`` the options."""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_mutation(self) -> bool:
        return self.verb in ("create", "update", "patch", "delete")


Reactor = Callable[[Action], Any]
"""Called before the fake acts; raise to inject an error, return non-None to answer instead."""


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch that merges lists of named objects item by item, by ``name``.

    Upstream's strategic merge patch takes the merge key of each list from the kind's schema; the
    lists controllers patch (containers, init containers, volumes, env) are keyed by ``name``, so
    the fake merges any list whose items all carry one and replaces every other list whole.
    Directives (``$patch``, ``$retainKeys``…) are not supported.
    """
    if isinstance(patch, list) and isinstance(target, list) and _named_items(patch) and _named_items(target):
        merged = [copy.deepcopy(item) for item in target]
        index = {item["name"]: i for i, item in enumerate(merged)}
        for item in patch:
            if item["name"] in index:
                merged[index[item["name"]]] = strategic_merge_patch(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named_items(items: builtins.list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in items)


def _status(code: int, reason: str, message: str, **details: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


class FakeApiClient(KubeClient):
    """Objects in a dict; every call appended to :attr:`actions`."""

    def __init__(
        self, *, resources: Iterable[ResourceRef] = BUILTIN, now: str = FAKE_NOW, watch_events: bool = False
    ) -> None:
        self.resources = builtins.list(resources)
        self.watch_events = watch_events
        """Also feed watches with an event for every change (for tests that run informers)."""
        self.now = now
        self.actions: builtins.list[Action] = []
        self.reactors: builtins.list[Reactor] = []
        self.raw_responses: dict[tuple[str, str], Any] = {("GET", "/version"): {"gitVersion": "v1.37.0-fake"}}
        self._objects: dict[tuple[str, str | None, str], Obj] = {}
        self._rv = itertools.count(1)
        self._watches: dict[str, asyncio.Queue[WatchEvent | BaseException | None]] = {}

    # -- seeding and inspection -------------------------------------------------------------

    def add(self, ref: ResourceRef, obj: Obj) -> Obj:
        """Store ``obj`` as if it had been created (uid and resourceVersion filled in), unrecorded."""
        stored = copy.deepcopy(obj)
        stored.setdefault("apiVersion", ref.api_version)
        stored.setdefault("kind", ref.kind)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", self.now)
        meta["resourceVersion"] = str(next(self._rv))
        key = self._key(ref, meta.get("namespace"), meta["name"])
        self._emit(ref, "MODIFIED" if key in self._objects else "ADDED", stored)
        self._objects[key] = stored
        return copy.deepcopy(stored)

    def stored(self, ref: ResourceRef, name: str, *, namespace: str | None = None) -> Obj | None:
        obj = self._objects.get(self._key(ref, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def mutations(self) -> builtins.list[Action]:
        """Return the recorded actions that change something (create, update, patch, delete)."""
        return [a for a in self.actions if a.is_mutation]

    def clear(self) -> None:
        self.actions.clear()

    def push_watch(self, ref: ResourceRef, item: WatchEvent | BaseException | None) -> None:
        """Feed the next watch of ``ref``: an event, an error to raise, or None to end the stream."""
        self._queue(ref).put_nowait(item)

    # -- the KubeClient interface ------------------------------------------------------------

    async def get(self, ref: ResourceRef, name: str, **options: Unpack[GetOptions]) -> Obj:
        check_options("get", options, GetOptions)
        namespace = options.get("namespace")
        action = Action("get", ref.group_resource, namespace, name, options.get("subresource"))
        if (answer := self._record(action)) is not None:
            return dict(answer)
        return copy.deepcopy(self._existing(ref, namespace, name))

    async def list(self, ref: ResourceRef, **options: Unpack[ListOptions]) -> Obj:
        check_options("list", options, ListOptions)
        namespace = options.get("namespace")
        label_selector, field_selector = options.get("label_selector"), options.get("field_selector")
        recorded = {"label_selector": label_selector, "field_selector": field_selector}
        if (answer := self._record(Action("list", ref.group_resource, namespace, options=recorded))) is not None:
            return dict(answer)
        items = [
            copy.deepcopy(obj)
            for (res, ns, _), obj in sorted(self._objects.items())
            if res == ref.group_resource
            and (namespace is None or ns == namespace)
            and _matches_labels(obj, label_selector)
            and _matches_fields(obj, field_selector)
        ]
        return {
            "kind": f"{ref.kind}List",
            "apiVersion": ref.api_version,
            "metadata": {"resourceVersion": self._current_rv()},
            "items": items,
        }

    async def create(self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[WriteOptions]) -> Obj:
        check_options("create", options, WriteOptions)
        obj, ns, answer = self._record_write("create", ref, body, options.get("namespace"))
        if answer is not None:
            return answer
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if self._key(ref, ns, meta["name"]) in self._objects:
            msg = f'{ref.group_resource} "{meta["name"]}" already exists'
            raise AlreadyExistsError(409, "AlreadyExists", msg, _status(409, "AlreadyExists", msg))
        if ns:
            meta["namespace"] = ns
        meta.pop("uid", None)
        if ref.group_resource in _WITH_STATUS:
            obj.pop("status", None)
        if ref.group_resource == "namespaces":
            obj["status"] = {"phase": "Active"}
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        meta["generation"] = 1
        if options.get("dry_run"):
            return obj
        return self.add(ref, obj)

    async def update(self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[UpdateOptions]) -> Obj:
        check_options("update", options, UpdateOptions)
        subresource = options.get("subresource")
        obj, ns, answer = self._record_write("update", ref, body, options.get("namespace"), subresource)
        if answer is not None:
            return answer
        meta = obj["metadata"]
        current = self._existing(ref, ns, str(meta.get("name")))
        self._check_rv(ref, current, meta.get("resourceVersion"))
        if subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = obj.get("status")
        elif subresource == "finalize":
            new = copy.deepcopy(current)
            new.setdefault("spec", {})["finalizers"] = (obj.get("spec") or {}).get("finalizers") or []
        else:
            new = obj
            if ref.group_resource in _WITH_STATUS:
                _keep_status(new, current)
            for kept in ("uid", "creationTimestamp", "deletionTimestamp"):
                if kept in current["metadata"]:
                    new.setdefault("metadata", {})[kept] = current["metadata"][kept]
            new.setdefault("metadata", {})["generation"] = _generation(current, new)
        return self._store_or_finish(ref, new, dry_run=options.get("dry_run", False))

    async def patch(
        self, ref: ResourceRef, name: str, body: Mapping[str, Any] | Sequence[Any], **options: Unpack[PatchOptions]
    ) -> Obj:
        check_options("patch", options, PatchOptions)
        namespace, subresource, patch_type = options.get("namespace"), options.get("subresource"), options["patch_type"]
        action = Action(
            "patch",
            ref.group_resource,
            namespace if ref.namespaced else None,
            name,
            subresource,
            body=copy.deepcopy(body),
            options={"patch_type": patch_type},
        )
        if (answer := self._record(action)) is not None:
            return dict(answer)
        if patch_type == "json" or not isinstance(body, Mapping):
            raise NotImplementedError("the fake client applies merge-style patches only")
        current = self._existing(ref, namespace, name)
        patch = dict(body)
        if subresource == "status":
            patch = {"status": patch.get("status"), "metadata": patch.get("metadata") or {}}
        new = strategic_merge_patch(current, patch) if patch_type == "strategic" else json_merge_patch(current, patch)
        self._check_rv(ref, current, (patch.get("metadata") or {}).get("resourceVersion"))
        for kept in ("uid", "name", "namespace", "creationTimestamp"):
            if kept in current["metadata"]:
                new["metadata"][kept] = current["metadata"][kept]
        if subresource is None:
            if ref.group_resource in _WITH_STATUS:
                _keep_status(new, current)
            new["metadata"]["generation"] = _generation(current, new)
        return self._store_or_finish(ref, new, dry_run=options.get("dry_run", False))

    async def delete(self, ref: ResourceRef, name: str, **options: Unpack[DeleteOptions]) -> Obj:
        check_options("delete", options, DeleteOptions)
        ns = options.get("namespace") if ref.namespaced else None
        action = Action("delete", ref.group_resource, ns, name, body=delete_options_fields(options))
        if (answer := self._record(action)) is not None:
            return dict(answer)
        current = self._existing(ref, ns, name)
        meta = current["metadata"]
        propagation_policy = options.get("propagation_policy")
        for field_name, wanted in (options.get("preconditions") or {}).items():
            if wanted and str(meta.get(field_name)) != wanted:
                msg = f"Precondition failed: {field_name}: {wanted}, in object meta: {meta.get(field_name)}"
                raise ConflictError(409, "Conflict", msg, _status(409, "Conflict", msg))
        if options.get("dry_run"):
            return copy.deepcopy(current)
        finalizers = builtins.list(meta.get("finalizers") or [])
        if propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation_policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        spec_finalizers = (current.get("spec") or {}).get("finalizers") if ref.group_resource == "namespaces" else None
        if finalizers or spec_finalizers:
            meta["finalizers"] = finalizers
            meta.setdefault("deletionTimestamp", self.now)
            if ref.group_resource == "namespaces":
                current.setdefault("status", {})["phase"] = "Terminating"
            meta["resourceVersion"] = str(next(self._rv))
            self._emit(ref, "MODIFIED", current)
            return copy.deepcopy(current)
        self._remove(ref, current)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Success",
            "details": {"name": name, "uid": meta["uid"]},
        }

    async def watch(self, ref: ResourceRef, **options: Unpack[WatchOptions]) -> AsyncIterator[WatchEvent]:
        check_options("watch", options, WatchOptions)
        recorded = {"resource_version": options["resource_version"]}
        self._record(Action("watch", ref.group_resource, options.get("namespace"), options=recorded))
        queue = self._queue(ref)
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def discover(self, *, preferred_only: bool = True) -> builtins.list[ResourceRef]:
        self._record(Action("discover", ""))
        return builtins.list(self.resources)

    async def raw(self, method: str, path: str, **options: Unpack[RawOptions]) -> Any:
        check_options("raw", options, RawOptions)
        action = Action("raw", path, body=options.get("body"), options={"method": method})
        if (answer := self._record(action)) is not None:
            return answer
        try:
            return copy.deepcopy(self.raw_responses[(method.upper(), path)])
        except KeyError:
            raise error_from_status(404, _status(404, "NotFound", f"no fake answer for {method} {path}")) from None

    # -- internals --------------------------------------------------------------------------

    def _record_write(
        self,
        verb: str,
        ref: ResourceRef,
        body: Mapping[str, Any],
        namespace: str | None,
        subresource: str | None = None,
    ) -> tuple[Obj, str | None, Obj | None]:
        """Record a create or update: the object to write, its namespace, and a reactor's answer."""
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        ns = (namespace or meta.get("namespace")) if ref.namespaced else None
        action = Action(verb, ref.group_resource, ns, meta.get("name"), subresource, body=copy.deepcopy(obj))
        answer = self._record(action)
        return obj, ns, (dict(answer) if answer is not None else None)

    def _record(self, action: Action) -> Any:
        self.actions.append(action)
        for reactor in self.reactors:
            answer = reactor(action)
            if answer is not None:
                return answer
        return None

    @staticmethod
    def _key(ref: ResourceRef, namespace: Any, name: str) -> tuple[str, str | None, str]:
        return (ref.group_resource, str(namespace) if ref.namespaced and namespace else None, name)

    def _queue(self, ref: ResourceRef) -> asyncio.Queue[WatchEvent | BaseException | None]:
        return self._watches.setdefault(ref.group_resource, asyncio.Queue())

    def _emit(self, ref: ResourceRef, event_type: Literal["ADDED", "MODIFIED", "DELETED"], obj: Obj) -> None:
        if self.watch_events:
            self._queue(ref).put_nowait(WatchEvent(event_type, copy.deepcopy(obj)))

    def _remove(self, ref: ResourceRef, obj: Obj) -> None:
        meta = obj["metadata"]
        del self._objects[self._key(ref, meta.get("namespace"), meta["name"])]
        meta["resourceVersion"] = str(next(self._rv))
        self._emit(ref, "DELETED", obj)

    def _current_rv(self) -> str:
        # itertools.count cannot be peeked: take one and remember it as the current revision.
        return str(next(self._rv))

    def _existing(self, ref: ResourceRef, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get(self._key(ref, namespace, name))
        if obj is None:
            msg = f'{ref.group_resource} "{name}" not found'
            raise NotFoundError(404, "NotFound", msg, _status(404, "NotFound", msg, name=name, kind=ref.resource))
        return obj

    @staticmethod
    def _check_rv(ref: ResourceRef, current: Obj, wanted: Any) -> None:
        if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
            name = current["metadata"]["name"]
            msg = (
                f'Operation cannot be fulfilled on {ref.group_resource} "{name}": '
                "the object has been modified; please apply your changes to the latest version and try again"
            )
            raise ConflictError(409, "Conflict", msg, _status(409, "Conflict", msg))

    def _store_or_finish(self, ref: ResourceRef, new: Obj, *, dry_run: bool) -> Obj:
        meta = new["metadata"]
        if dry_run:
            return new
        spec_finalizers = (new.get("spec") or {}).get("finalizers") if ref.group_resource == "namespaces" else None
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not spec_finalizers:
            self._remove(ref, new)
            return copy.deepcopy(new)
        return self.add(ref, new)


def _keep_status(new: Obj, current: Obj) -> None:
    """The main resource of a kind with a status subresource keeps the stored status."""
    if "status" in current:
        new["status"] = copy.deepcopy(current["status"])
    else:
        new.pop("status", None)


def _generation(current: Obj, new: Obj) -> int:
    """``current``'s generation, plus one when anything but metadata and status changed."""
    generation = int(current["metadata"].get("generation") or 1)

    def spec(obj: Obj) -> Obj:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    return generation + 1 if spec(current) != spec(new) else generation


def _matches_labels(obj: Obj, selector: str | None) -> bool:
    """Whether ``obj``'s labels satisfy ``selector``, parsed and matched as the API server does."""
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return parse_label_selector(selector).matches(labels)


def _matches_fields(obj: Obj, selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        path, _, value = term.partition("=")
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if str(current) != value.lstrip("="):
            return False
    return True
