"""The resource quota controller: keeps each ResourceQuota's ``status.hard`` and ``status.used``.

As upstream's (``pkg/controller/resourcequota``): ``sync(namespace/name)`` sets ``status.hard``
to ``spec.hard`` and recomputes ``status.used`` from the objects stored in the namespace, with the
same evaluators the API server's quota admission charges with (:mod:`kuberya.meta.quota`), so a
pod that reaches a terminal phase stops counting and a deleted object gives its share back. Only
the resources the quota limits are reported, each with a value (``0`` when nothing uses it).

It reacts to changes of the quotas and of the objects quota counts most (pods, services,
configmaps, secrets, claims: one informer each, shared with the other controllers) by syncing the
quotas of the object's namespace; every quota is also resynced periodically (upstream's
``--resource-quota-sync-period``), which is how ``count/<resource>.<group>`` of other kinds,
read by a list, catches up.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import datetime
from typing import Unpack

from kuberya.client import ConflictError, KubeClient, ResourceRef
from kuberya.client.resources import (
    BUILTIN,
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    RESOURCEQUOTAS,
    SECRETS,
    SERVICES,
)
from kuberya.controllers.base import QueueController, Wiring
from kuberya.meta import quota as q
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "resourcequota-controller"

WATCHED = (PODS, SERVICES, CONFIGMAPS, SECRETS, PERSISTENTVOLUMECLAIMS)
"""The resources whose changes resync their namespace's quotas at once."""
RESYNC_SECONDS = 30.0
"""How often every quota is recomputed even if nothing watched changed (upstream: 5 minutes)."""


def resources_counted(hard: Obj) -> list[tuple[str, str]]:
    """The (group, resource) pairs whose objects a quota limiting ``hard`` must count."""
    pairs: list[tuple[str, str]] = []
    for group, resource in (("", "pods"), ("", "services"), ("", "persistentvolumeclaims")):
        if q.matching_resources(group, resource, hard):
            pairs.append((group, resource))
    for name in hard:
        if name in q.LEGACY_COUNT_NAMES:
            pair = ("", name)
        elif name.startswith("count/"):
            resource, _, group = name.removeprefix("count/").partition(".")
            pair = (group, resource)
        else:
            continue
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def quota_usage(quota: Obj, objects: dict[tuple[str, str], list[Obj]], *, now: datetime) -> q.Usage:
    """``CalculateUsage``: what the quota's namespace uses of each resource it limits."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    used: q.Usage = {}
    for (group, resource), items in objects.items():
        names = q.matching_resources(group, resource, hard)
        if not names:
            continue
        for name in names:
            used.setdefault(name, q.ZERO)
        for obj in items:
            if q.quota_matches(quota, group, resource, obj):
                cost = q.usage(group, resource, obj, now=now)
                used = q.add(used, {n: v for n, v in cost.items() if n in names})
    return used


class ResourceQuotaController(QueueController):
    """Recomputes ResourceQuota status from the objects of each namespace."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 2,
        resync_seconds: float = RESYNC_SECONDS,
        **wiring: Unpack[Wiring],
    ) -> None:
        super().__init__(client, name="resourcequota", component=COMPONENT, workers=workers, **wiring)
        self.resync_seconds = resync_seconds
        # Not primary(): a quota has nothing malformed to report; a deleted one needs no sync.
        self.quotas = self.informer(RESOURCEQUOTAS)
        self.quotas.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new)
        self.watched = {(ref.group, ref.resource): self.informer(ref) for ref in WATCHED}
        for informer in self.watched.values():
            informer.add_handlers(
                on_add=self._enqueue_namespace_of,
                on_update=lambda old, new: self._enqueue_namespace_of(new),
                on_delete=self._enqueue_namespace_of,
            )
        self._refs = {(ref.group, ref.resource): ref for ref in BUILTIN}

    def _enqueue_namespace_of(self, obj: Obj) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for quota in self.quotas.list():
            if (quota.get("metadata") or {}).get("namespace") == namespace:
                self.enqueue(quota)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.resync_forever(), name="resourcequota-resync")
            group.create_task(super().run(), name="resourcequota-controller")

    async def resync_forever(self) -> None:
        """Enqueue every quota once per resync period (upstream's full resync)."""
        while True:
            await self._clock.sleep(self.resync_seconds)
            for quota in self.quotas.list():
                self.enqueue(quota)

    async def _objects(self, group: str, resource: str, namespace: str) -> list[Obj]:
        informer = self.watched.get((group, resource))
        if informer is not None:
            return [o for o in informer.list() if (o.get("metadata") or {}).get("namespace") == namespace]
        ref: ResourceRef | None = self._refs.get((group, resource))
        if ref is None:
            found = [r for r in await self.client.discover() if (r.group, r.resource) == (group, resource)]
            if not found:
                return []  # not served: nothing of it exists to count
            ref = self._refs[(group, resource)] = found[0]
        items = (await self.client.list(ref, namespace=namespace)).get("items") or []
        return list(items)

    async def sync(self, key: str) -> None:
        """Bring one quota's status up to date."""
        quota = self.quotas.get(key)
        if quota is None:
            return
        namespace = str(quota["metadata"].get("namespace") or "")
        hard_spec = (quota.get("spec") or {}).get("hard") or {}
        objects = {pair: await self._objects(*pair, namespace) for pair in resources_counted(hard_spec)}
        hard = q.parse_list(hard_spec)
        used = quota_usage(quota, objects, now=self._now())
        previous = q.parse_list((quota.get("status") or {}).get("used"))
        # a limited resource no evaluator knows keeps what was observed before, as upstream
        kept = {n: v for n in hard if (v := used.get(n) or previous.get(n)) is not None}
        status = {"hard": q.render_list(hard), "used": q.render_list(kept)}
        if status == quota.get("status"):
            return
        updated = copy.deepcopy(quota)
        updated["status"] = status
        try:
            await self.update_status(RESOURCEQUOTAS, updated)
        except ConflictError:
            self.queue.add_rate_limited(key)
