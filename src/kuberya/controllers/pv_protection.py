"""The pv-protection controller: a volume bound to a claim is not deleted while it is bound.

As upstream's ``pkg/controller/volume/pvprotection``. Every PersistentVolume carries the finalizer
``kubernetes.io/pv-protection`` (the StorageObjectInUseProtection admission plugin adds it on
create, :mod:`kuberya.apiserver.storageadmission`; this controller adds it to a volume that lacks
it). Once a volume is being deleted the finalizer is removed as soon as its phase is not
``Bound`` — upstream's whole test of "in use" — and the API server then deletes it: a Released
volume the local-path provisioner deletes goes at once, a Bound one waits for its claim to go
(the PV controller then makes it Released).
"""

from __future__ import annotations

import logging
from typing import Unpack

from kuberya.client import KubeClient
from kuberya.client.resources import PERSISTENTVOLUMES
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.pvc_protection import finalizers_of, is_deletion_candidate, needs_finalizer, with_finalizers
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "persistentvolume-protection-controller"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"


def is_bound(volume: Obj) -> bool:
    status = volume.get("status")
    return isinstance(status, dict) and status.get("phase") == "Bound"


class PVProtectionController(QueueController):
    """Removes ``kubernetes.io/pv-protection`` from deleted volumes not Bound (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="pv-protection", component=COMPONENT, workers=workers, **wiring)
        self.volumes = self.primary(PERSISTENTVOLUMES, enqueue_changes=False)
        self.volumes.add_handlers(on_add=self._changed, on_update=lambda _old, new: self._changed(new))

    def _changed(self, volume: Obj) -> None:
        if needs_finalizer(volume, PV_PROTECTION_FINALIZER) or is_deletion_candidate(volume, PV_PROTECTION_FINALIZER):
            self.enqueue(volume)

    async def sync(self, key: str) -> None:
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync(self, key: str) -> None:
        volume = self.volumes.get(key)
        if volume is None:
            return
        if is_deletion_candidate(volume, PV_PROTECTION_FINALIZER):
            if is_bound(volume):
                logger.debug("pv-protection: keeping volume %s: it is Bound", key)
                return
            kept = [f for f in finalizers_of(volume) if f != PV_PROTECTION_FINALIZER]
            await self.client.update(PERSISTENTVOLUMES, with_finalizers(volume, kept))
            logger.info("pv-protection: removed the protection finalizer of volume %s", key)
            return
        if needs_finalizer(volume, PV_PROTECTION_FINALIZER):
            await self.client.update(
                PERSISTENTVOLUMES, with_finalizers(volume, [*finalizers_of(volume), PV_PROTECTION_FINALIZER])
            )
