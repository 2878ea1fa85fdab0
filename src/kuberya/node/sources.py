"""ConfigMaps, Secrets, claims and PVs for env and volumes: informer caches, with the API as a fallback.

Pods read their sources from two informers (the process's shared ones, so a pod sync costs no API round trip), and every
change to a ConfigMap or Secret is reported to ``on_change(kind, namespace, name)`` so the agent
can re-sync the pods using it (projected files follow their sources; a pod waiting in
``CreateContainerConfigError`` starts as soon as its ConfigMap appears). An object the cache does
not hold yet — created a moment before the pod — is fetched with a GET.

Claims and PersistentVolumes are read the same way; a claim that becomes bound (or a PV that
changes) is reported as ``("persistentvolumeclaim", namespace, claim)``, so a pod waiting for its
claim mounts it at once rather than at its next retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kuberya.client import Informer, KubeClient, NotFoundError, SharedInformerFactory
from kuberya.client.resources import (
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    SECRETS,
    SERVICES,
    ResourceRef,
)
from kuberya.client.tasks import start_task
from kuberya.meta.types import Obj

ChangeHandler = Callable[[str, str, str], None]


class ConfigSources:
    """Implements :class:`kuberya.node.volumes.VolumeLookup` (and so ``SourceLookup``) over informers."""

    def __init__(self, client: KubeClient, *, informers: SharedInformerFactory, on_change: ChangeHandler) -> None:
        self.client = client
        self.config_maps = informers.informer(CONFIGMAPS)
        self.secrets = informers.informer(SECRETS)
        # Services only feed the service-link env of containers started later (upstream does not
        # restart running containers when services change), so no change handler.
        self.services_informer = informers.informer(SERVICES)
        for kind, informer in (("configmap", self.config_maps), ("secret", self.secrets)):
            informer.add_handlers(**_handlers(kind, on_change))
        self.claims = informers.informer(PERSISTENTVOLUMECLAIMS)
        self.volumes = informers.informer(PERSISTENTVOLUMES)
        self.claims.add_handlers(**_handlers("persistentvolumeclaim", on_change, content=_claim_content))
        self.volumes.add_handlers(**_volume_handlers(on_change))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            start_task(self.config_maps.run(), name="node-configmaps", group=group)
            start_task(self.secrets.run(), name="node-secrets", group=group)
            start_task(self.services_informer.run(), name="node-services", group=group)
            start_task(self.claims.run(), name="node-claims", group=group)
            start_task(self.volumes.run(), name="node-persistentvolumes", group=group)

    async def config_map(self, namespace: str, name: str) -> Obj | None:
        return await self._get(self.config_maps, CONFIGMAPS, namespace, name)

    async def secret(self, namespace: str, name: str) -> Obj | None:
        return await self._get(self.secrets, SECRETS, namespace, name)

    async def services(self) -> list[Obj]:
        return self.services_informer.list()

    async def persistent_volume_claim(self, namespace: str, name: str) -> Obj | None:
        return await self._get(self.claims, PERSISTENTVOLUMECLAIMS, namespace, name)

    async def persistent_volume(self, name: str) -> Obj | None:
        cached = self.volumes.get(name)
        if cached is not None:
            return cached
        try:
            return await self.client.get(PERSISTENTVOLUMES, name)
        except NotFoundError:
            return None

    async def _get(self, informer: Informer, ref: ResourceRef, namespace: str, name: str) -> Obj | None:
        cached = informer.get(f"{namespace}/{name}")
        if cached is not None:
            return cached
        try:
            return await self.client.get(ref, name, namespace=namespace)
        except NotFoundError:
            return None


def _content(obj: Obj) -> tuple[Any, ...]:
    return (obj.get("data"), obj.get("binaryData"), obj.get("stringData"))


def _claim_content(obj: Obj) -> tuple[Any, ...]:
    """What the node reads of a claim: whether and to what it is bound, whether it is going."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return (spec.get("volumeName"), status.get("phase"), meta.get("deletionTimestamp"), meta.get("ownerReferences"))


def _handlers(
    kind: str, on_change: ChangeHandler, *, content: Callable[[Obj], tuple[Any, ...]] = _content
) -> dict[str, Any]:
    def on_add(obj: Obj) -> None:
        _notify(on_change, kind, obj)

    def on_update(old: Obj, new: Obj) -> None:
        if content(old) != content(new):
            _notify(on_change, kind, new)

    return {"on_add": on_add, "on_update": on_update, "on_delete": on_add}


def _notify(handler: ChangeHandler, kind: str, obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    handler(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _volume_handlers(on_change: ChangeHandler) -> dict[str, Any]:
    """A PV's change is its claim's: the pods that mount the claim are the ones to wake."""

    def notify(pv: Obj) -> None:
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("name"):
            on_change("persistentvolumeclaim", str(ref.get("namespace") or ""), str(ref.get("name")))

    def on_update(old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):
            notify(new)

    return {"on_add": notify, "on_update": on_update, "on_delete": notify}
