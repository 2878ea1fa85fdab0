"""ResourceQuota admission: a write that would take a namespace past one of its quotas is refused.

Upstream's plugin (``apiserver/pkg/admission/plugin/resourcequota``) charges each write against the
quotas' ``status.used`` and writes the new usage back before the object, so racing writes meet
on the quota's resourceVersion. kuberya has one API server, so it does the equivalent with a lock:
:meth:`QuotaAdmission.guard` is held, per namespace, across the check *and* the write that follows
(as the Service allocator's lock is), and the usage is counted from the stored objects
themselves. Two creates racing for the last unit therefore cannot both pass, and a quota that the
controller has not yet filled in (no ``status.used``) already binds — upstream would answer
"status unknown for quota" until then. ``status`` is the quota controller's, for people to read.

What an object costs and which quotas it falls under is :mod:`kuberya.meta.quota`, shared with
the controller. The messages are upstream's::

    pods "web" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2
    pods "web" is forbidden: failed quota: q: must specify limits.cpu for: web
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.meta import quota as q
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType


def forbidden(rt: ResourceType, name: str, message: str) -> errors.StatusError:
    """``admission.NewForbidden``: ``pods "x" is forbidden: <message>``."""
    qualified = f"{rt.resource}.{rt.group}" if rt.group else rt.resource
    details: JSONObject = {"name": name, "kind": rt.resource}
    if rt.group:
        details["group"] = rt.group
    return errors.forbidden(f'{qualified} "{name}" is forbidden: {message}', details=details)


class QuotaAdmission:
    """Checks writes against the ResourceQuotas of their namespace."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._locks: dict[str, asyncio.Lock] = {}

    def charged(self, rt: ResourceType) -> bool:
        """Whether writes of ``rt`` may count against a quota (every namespaced kind but events)."""
        return rt.namespaced and (rt.group, rt.resource) not in q.IGNORED

    def guard(
        self, rt: ResourceType, namespace: str | None, *, updating: bool = False
    ) -> contextlib.AbstractAsyncContextManager[object]:
        """The lock to hold across :meth:`check` and the write it admits (one per namespace).

        Updates of kinds whose cost cannot change (a pod's status, a Deployment's spec) need none.
        """
        if not namespace or not self.charged(rt) or (updating and not q.charged_on_update(rt.group, rt.resource)):
            return contextlib.nullcontext()
        return self._locks.setdefault(namespace, asyncio.Lock())

    async def check(self, rt: ResourceType, obj: JSONObject, *, old: JSONObject | None) -> None:
        """Refuse (403) ``obj`` if writing it would exceed a quota; the caller holds :meth:`guard`."""
        if not self.charged(rt) or (old is not None and not q.charged_on_update(rt.group, rt.resource)):
            return
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        quotas = await self._quotas(namespace)
        if not quotas:
            return
        name = str(meta.get("name") or meta.get("generateName") or "")
        now = datetime.now(UTC)
        matching = [quota for quota in quotas if q.quota_matches(quota, rt.group, rt.resource, obj)]
        for quota in matching:
            hard = (quota.get("spec") or {}).get("hard") or {}
            if (rt.group, rt.resource) == ("", "pods"):
                missing = q.missing_requirements(q.matching_resources(rt.group, rt.resource, hard), obj)
                if missing:
                    raise forbidden(rt, name, f"failed quota: {quota['metadata']['name']}: {missing}")
        if not matching:
            return
        charge = q.usage(rt.group, rt.resource, obj, now=now)
        negative = sorted(n for n, v in charge.items() if v.value < 0)
        if negative:
            raise forbidden(rt, name, f"quota usage is negative for resource(s): {','.join(negative)}")
        stored: list[JSONObject] | None = None
        for quota in matching:
            delta = charge
            if old is not None and q.quota_matches(quota, rt.group, rt.resource, old):
                delta = q.subtract_non_negative(charge, q.usage(rt.group, rt.resource, old, now=now))
            hard = q.parse_list((quota.get("spec") or {}).get("hard"))
            requested = q.remove_zeros({n: v for n, v in delta.items() if n in hard})
            if not requested:
                continue
            if stored is None:
                stored = await self._objects(rt, namespace)
            used = self._used(quota, rt, stored, names=requested, now=now)
            exceeded = sorted(n for n in requested if (used[n] + requested[n]).value > hard[n].value)
            if exceeded:
                raise forbidden(
                    rt,
                    name,
                    f"exceeded quota: {quota['metadata']['name']}, "
                    f"requested: {q.pretty({n: requested[n] for n in exceeded})}, "
                    f"used: {q.pretty({n: used[n] for n in exceeded})}, "
                    f"limited: {q.pretty({n: hard[n] for n in exceeded})}",
                )

    def _used(
        self, quota: JSONObject, rt: ResourceType, stored: list[JSONObject], *, names: q.Usage, now: datetime
    ) -> q.Usage:
        """What the stored objects of ``rt`` in the quota's scopes use of ``names``."""
        used: q.Usage = {n: q.ZERO for n in names}
        for obj in stored:
            if q.quota_matches(quota, rt.group, rt.resource, obj):
                cost = q.usage(rt.group, rt.resource, obj, now=now)
                used = q.add(used, {n: v for n, v in cost.items() if n in names})
        return used

    async def _quotas(self, namespace: str) -> list[JSONObject]:
        rt = kinds.lookup("", "v1", "resourcequotas")
        assert rt is not None
        return (await self.store.list(rt, selection=ObjectFilter(namespace=namespace))).items

    async def _objects(self, rt: ResourceType, namespace: str) -> list[JSONObject]:
        return (await self.store.list(kinds.storage_type(rt), selection=ObjectFilter(namespace=namespace))).items
