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
from collections.abc import Callable
from datetime import UTC, datetime

from kuberya.client import (
    Clock,
    ConflictError,
    KubeClient,
    LoopClock,
    NotFoundError,
    ResourceRef,
    SharedInformerFactory,
    WorkQueue,
    run_controller,
)
from kuberya.client.resources import (
    BUILTIN,
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    RESOURCEQUOTAS,
    SECRETS,
    SERVICES,
)
from kuberya.meta import quota as q
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

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


class ResourceQuotaController:
    """Recomputes ResourceQuota status from the objects of each namespace."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 2,
        resync_seconds: float = RESYNC_SECONDS,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.workers = workers
        self.resync_seconds = resync_seconds
        self._clock: Clock = clock or LoopClock()
        self._now = now or (lambda: datetime.now(UTC))
        shared = informers or SharedInformerFactory(client, clock=self._clock)
        self.queue: WorkQueue[str] = WorkQueue(name="resourcequota", clock=self._clock)
        self.quotas = shared.informer(RESOURCEQUOTAS)
        self.quotas.add_handlers(
            on_add=self._enqueue_quota,
            on_update=lambda _old, new: self._enqueue_quota(new),
        )
        self.watched = {(ref.group, ref.resource): shared.informer(ref) for ref in WATCHED}
        for informer in self.watched.values():
            informer.add_handlers(
                on_add=self._enqueue_namespace_of,
                on_update=lambda old, new: self._enqueue_namespace_of(new),
                on_delete=self._enqueue_namespace_of,
            )
        self._refs = {(ref.group, ref.resource): ref for ref in BUILTIN}

    def _enqueue_quota(self, quota: Obj) -> None:
        self.queue.add(RESOURCEQUOTAS.object_key(quota))

    def _enqueue_namespace_of(self, obj: Obj) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for quota in self.quotas.list():
            if (quota.get("metadata") or {}).get("namespace") == namespace:
                self._enqueue_quota(quota)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.resync_forever(), name="resourcequota-resync")
            group.create_task(
                run_controller(
                    name="resourcequota",
                    informers=(self.quotas, *self.watched.values()),
                    queue=self.queue,
                    sync=self.sync,
                    workers=self.workers,
                ),
                name="resourcequota-controller",
            )

    async def resync_forever(self) -> None:
        """Enqueue every quota once per resync period (upstream's full resync)."""
        while True:
            await self._clock.sleep(self.resync_seconds)
            for quota in self.quotas.list():
                self._enqueue_quota(quota)

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
            await self.client.update_status(RESOURCEQUOTAS, updated, namespace=namespace)
        except NotFoundError:
            return
        except ConflictError:
            self.queue.add_rate_limited(key)
