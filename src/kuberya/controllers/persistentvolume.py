"""The PersistentVolume controller: binds claims to volumes and takes volumes back, as upstream's.

Upstream's ``pkg/controller/volume/persistentvolume`` (``pv_controller.go``) in one queue: a key
with a ``/`` is a claim (``namespace/name``), one without is a volume (PersistentVolumes are
cluster-scoped). Every key is synced again after :data:`RESYNC_PERIOD`, as upstream's periodic
resync, which is what retries a claim waiting for a volume or a class.

``sync_claim`` — a claim without ``pv.kubernetes.io/bind-completed`` is *unbound*:

* no ``spec.volumeName``: the best matching volume
  (:func:`~kuberya.controllers.persistentvolume_matching.find_best_match`) is bound to it. With
  none, a ``WaitForFirstConsumer`` claim without ``volume.kubernetes.io/selected-node`` waits
  (Normal ``WaitForFirstConsumer``, or ``WaitForPodScheduled`` naming the pods that use it); a
  claim with a class is provisioned: an unknown class is a Warning ``ProvisioningFailed``
  (``storageclass.storage.k8s.io "fast" not found``), a known one gets the storage-provisioner
  annotations and a Normal ``ExternalProvisioning`` event, and kuberya's node-side provisioner (or
  an administrator) makes the volume; a claim without a class gets ``FailedBinding``;
* a ``spec.volumeName``: that volume is bound to it if it is free and fits (``VolumeMismatch``
  otherwise), the binding is completed if the volume is already bound to it, and the claim waits
  if the volume is missing or another claim's.

A *bound* claim is checked against its volume: a volume gone (or never named) makes it ``Lost``
(Warning ``ClaimLost``), a volume claimed by another ``Lost`` with ``ClaimMisbound``; otherwise
the binding is completed where it is not.

``sync_volume`` — a volume without ``claimRef`` (or pre-bound without a uid) is ``Available``; one
whose claim is bound to it is ``Bound``; one whose claim is gone is ``Released`` and reclaimed:
``Retain`` keeps it so, ``Delete`` of a volume provisioned by anyone but an in-tree plugin is left
to its provisioner (kuberya's local-path one removes the directory and the volume), and
``Delete`` of any other volume fails (``Failed``, Warning ``VolumeFailedDelete``), as upstream
without an in-tree deleter for it.

Binding (``bind``) is upstream's four writes: the volume's ``claimRef`` (and
``pv.kubernetes.io/bound-by-controller`` when the controller chose it), the volume's phase, the
claim's ``spec.volumeName`` and annotations, the claim's status (phase, capacity, accessModes);
each is skipped when already so, so a bind interrupted half-way is finished by the next sync.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Unpack

from kuberya.client import KubeClient, NotFoundError, object_key, split_key
from kuberya.client.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, STORAGECLASSES
from kuberya.controllers import persistentvolume_matching as matching
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ephemeral import POD_CLAIM_INDEX, claim_index
from kuberya.controllers.failures import InvalidObjects
from kuberya.controllers.ownership import meta
from kuberya.controllers.wallclock import format_time
from kuberya.meta.labels import SelectorError
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "persistentvolume-controller"
RESYNC_PERIOD = 15.0
"""Seconds between two syncs of every claim and volume (upstream's ``--pvclaimbinder-sync-period``)."""

EXTERNAL_PROVISIONING = (
    "Waiting for a volume to be created either by the external provisioner '{}' or manually by the "
    "system administrator. If volume creation is delayed, please verify that the provisioner is running "
    "and correctly registered."
)
NO_CLASS_NO_VOLUME = "no persistent volumes available for this claim and no storage class is set"


def _status(obj: Obj) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def claim_key_of(volume: Obj) -> str:
    ref = matching.claim_ref(volume) or {}
    return f"{ref.get('namespace')}/{ref.get('name')}"


class PersistentVolumeController(QueueController):
    """Binds claims and volumes and reclaims released volumes (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        # One worker, as upstream's claim and volume workers never bind the same volume twice at once.
        super().__init__(client, name="persistentvolume", component=COMPONENT, workers=workers, **wiring)
        self.volumes = self.informer(PERSISTENTVOLUMES)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.classes = self.informer(STORAGECLASSES)
        self.pods = self.informer(PODS)
        self.pods.add_index(POD_CLAIM_INDEX, claim_index)
        self.invalid = InvalidObjects(name=self.name, queue=self.queue, events=self.events, lookup=self._lookup)
        self.volumes.add_handlers(on_add=self._volume_key, on_update=self._volume_changed, on_delete=self._volume_gone)
        self.claims.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new, on_delete=self._claim_gone)
        # Not upstream (which waits for its resync): a class created lets the claims naming it go on now.
        self.classes.add_handlers(on_add=self._class_added)

    # -- keys ------------------------------------------------------------------------------------

    def _lookup(self, key: str) -> Obj | None:
        return self.claims.get(key) if "/" in key else self.volumes.get(key)

    def _volume_key(self, volume: Obj) -> None:
        self.queue.add(str(meta(volume).get("name") or ""))

    def _volume_changed(self, _old: Obj, new: Obj) -> None:
        self._volume_key(new)

    def _volume_gone(self, volume: Obj) -> None:
        # The claim bound to it is Lost now (upstream's deleteVolume enqueues it).
        if matching.claim_ref(volume) is not None:
            self.queue.add(claim_key_of(volume))

    def _claim_gone(self, claim: Obj) -> None:
        # Its volume is to be released (upstream's deleteClaim enqueues it).
        if name := _spec(claim).get("volumeName"):
            self.queue.add(str(name))

    def _class_added(self, storage_class: Obj) -> None:
        name = meta(storage_class).get("name")
        for claim in self.claims.list():
            if matching.claim_class(claim) == name and not _spec(claim).get("volumeName"):
                self.enqueue(claim)

    async def sync(self, key: str) -> None:
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync(self, key: str) -> None:
        if "/" in key:
            claim = self.claims.get(key)
            if claim is None:
                return
            await self.sync_claim(claim)
        else:
            volume = self.volumes.get(key)
            if volume is None:
                return
            await self.sync_volume(volume)
        self.queue.add_after(key, RESYNC_PERIOD)

    # -- claims ----------------------------------------------------------------------------------

    async def sync_claim(self, claim: Obj) -> None:
        if matching.ANN_BIND_COMPLETED in matching.annotations_of(claim):
            await self._sync_bound_claim(claim)
        else:
            await self._sync_unbound_claim(claim)

    def _delay_binding(self, claim: Obj) -> bool:
        """``IsDelayBindingMode``: the claim's class exists and binds ``WaitForFirstConsumer``."""
        name = matching.claim_class(claim)
        storage_class = self.classes.get(name) if name else None
        return storage_class is not None and storage_class.get("volumeBindingMode") == matching.WAIT_FOR_FIRST_CONSUMER

    async def _sync_unbound_claim(self, claim: Obj) -> None:
        volume_name = str(_spec(claim).get("volumeName") or "")
        if not volume_name:
            delay = self._delay_binding(claim)
            try:
                volume = matching.find_best_match(claim, self.volumes.list(), delay_binding=delay)
            except SelectorError as exc:
                logger.info("persistentvolume: claim %s: its selector: %s", object_key(claim), exc)
                volume = None
            if volume is not None:
                await self._bind(volume, claim)
                return
            if delay and matching.ANN_SELECTED_NODE not in matching.annotations_of(claim):
                await self._wait_for_first_consumer(claim)
            elif matching.claim_class(claim):
                await self._provision(claim)
                return
            else:
                await self.events.record(claim, type="Normal", reason="FailedBinding", message=NO_CLASS_NO_VOLUME)
            await self._update_claim_status(claim, "Pending", None)
            return
        volume = self.volumes.get(volume_name)
        if volume is None:
            # The volume asked for does not exist (yet): wait for it.
            await self._update_claim_status(claim, "Pending", None)
            return
        if matching.claim_ref(volume) is None:
            if problem := self._mismatch(volume, claim):
                await self.events.record(
                    claim,
                    type="Warning",
                    reason="VolumeMismatch",
                    message=f'Cannot bind to requested volume "{volume_name}": {problem}',
                )
                await self._update_claim_status(claim, "Pending", None)
                return
            await self._bind(volume, claim)
        elif matching.is_volume_bound_to_claim(volume, claim):
            await self._bind(volume, claim)  # the volume is already ours: finish the binding
        else:
            message = f'volume "{volume_name}" already bound to a different claim.'
            await self.events.record(claim, type="Warning", reason="FailedBinding", message=message)
            if matching.ANN_BOUND_BY_CONTROLLER not in matching.annotations_of(claim):
                await self._update_claim_status(claim, "Pending", None)

    @staticmethod
    def _mismatch(volume: Obj, claim: Obj) -> str:
        """``checkVolumeSatisfyClaim``: why a volume asked for by name does not satisfy the claim."""
        if meta(volume).get("deletionTimestamp"):
            return f'the volume is marked for deletion "{meta(volume).get("name")}"'
        if matching.volume_capacity(volume) < matching.requested_storage(claim):
            return "requested PV is too small"
        if matching.volume_class(volume) != matching.claim_class(claim):
            return "storageClassName does not match"
        if matching.volume_mode_mismatch(claim, volume):
            return "incompatible volumeMode"
        if not matching.check_access_modes(claim, volume):
            return "incompatible accessMode"
        return ""

    async def _wait_for_first_consumer(self, claim: Obj) -> None:
        """``emitEventForUnboundDelayBindingClaim``: say whom the claim waits for."""
        key = object_key(claim)
        waiting = sorted(
            str(meta(pod).get("name"))
            for pod in self.pods.by_index(POD_CLAIM_INDEX, key)
            if not _spec(pod).get("nodeName")
        )
        if not waiting:
            reason, message = "WaitForFirstConsumer", "waiting for first consumer to be created before binding"
        elif len(waiting) == 1:
            reason, message = "WaitForPodScheduled", f"waiting for pod {waiting[0]} to be scheduled"
        else:
            reason, message = "WaitForPodScheduled", f"waiting for pods {','.join(waiting)} to be scheduled"
        await self.events.record(claim, type="Normal", reason=reason, message=message)

    async def _provision(self, claim: Obj) -> None:
        """``provisionClaim`` for an external provisioner: annotate the claim for it and say so."""
        name = matching.claim_class(claim)
        storage_class = self.classes.get(name)
        if storage_class is None:
            message = f'storageclass.storage.k8s.io "{name}" not found'
            await self.events.record(claim, type="Warning", reason="ProvisioningFailed", message=message)
            return
        provisioner = str(storage_class.get("provisioner") or "")
        if provisioner.startswith("kubernetes.io/"):
            # An in-tree plugin name: kuberya has none of them (no-provisioner included).
            message = f"no volume plugin matched name: {provisioner}"
            await self.events.record(claim, type="Warning", reason="ProvisioningFailed", message=message)
            return
        annotations = matching.annotations_of(claim)
        if (
            annotations.get(matching.ANN_STORAGE_PROVISIONER) != provisioner
            or annotations.get(matching.ANN_BETA_STORAGE_PROVISIONER) != provisioner
        ):
            updated = copy.deepcopy(claim)
            new = meta(updated).setdefault("annotations", {})
            new[matching.ANN_STORAGE_PROVISIONER] = provisioner
            new[matching.ANN_BETA_STORAGE_PROVISIONER] = provisioner
            claim = await self.client.update(PERSISTENTVOLUMECLAIMS, updated, namespace=meta(claim).get("namespace"))
        await self.events.record(
            claim, type="Normal", reason="ExternalProvisioning", message=EXTERNAL_PROVISIONING.format(provisioner)
        )

    async def _sync_bound_claim(self, claim: Obj) -> None:
        volume_name = str(_spec(claim).get("volumeName") or "")
        if not volume_name:
            message = "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
            await self._claim_phase_with_event(claim, "Lost", "ClaimLost", message)
            return
        volume = self.volumes.get(volume_name)
        if volume is None:
            message = "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
            await self._claim_phase_with_event(claim, "Lost", "ClaimLost", message)
            return
        ref = matching.claim_ref(volume)
        if ref is None or ref.get("uid") == meta(claim).get("uid"):
            await self._bind(volume, claim)  # unbound under us, or all is well: make sure every part is so
            return
        message = "Two claims are bound to the same volume, this one is bound incorrectly"
        await self._claim_phase_with_event(claim, "Lost", "ClaimMisbound", message)

    async def _claim_phase_with_event(self, claim: Obj, phase: str, reason: str, message: str) -> None:
        """``updateClaimStatusWithEvent``: only a change of phase is written and told."""
        if _status(claim).get("phase") == phase:
            return
        if await self._update_claim_status(claim, phase, None) is not None:
            await self.events.record(claim, type="Warning", reason=reason, message=message)

    async def _update_claim_status(self, claim: Obj, phase: str, volume: Obj | None) -> Obj | None:
        """``updateClaimStatus``: phase, and accessModes and capacity from the volume (cleared without one)."""
        status = copy.deepcopy(_status(claim))
        old_phase = status.get("phase")
        status["phase"] = phase
        if volume is None:
            status.pop("accessModes", None)
            status.pop("capacity", None)
        else:
            modes = _spec(volume).get("accessModes")
            if modes is None:
                status.pop("accessModes", None)
            else:
                status["accessModes"] = copy.deepcopy(modes)
            # Capacity only as the claim becomes Bound: a later difference may be meant (a resize).
            if old_phase != phase:
                capacity = _spec(volume).get("capacity")
                claimed = (_status(claim).get("capacity") or {}).get("storage")
                if isinstance(capacity, dict) and "storage" in capacity and claimed != capacity["storage"]:
                    status["capacity"] = copy.deepcopy(capacity)
        if status == _status(claim):
            return claim
        updated = copy.deepcopy(claim)
        updated["status"] = status
        return await self.update_status(PERSISTENTVOLUMECLAIMS, updated)

    # -- binding ---------------------------------------------------------------------------------

    async def _bind(self, volume: Obj, claim: Obj) -> None:
        """``bind``: volume → claim, volume Bound, claim → volume, claim Bound (each only if needed)."""
        volume = await self._bind_volume_to_claim(volume, claim)
        bound = await self._update_volume_phase(volume, "Bound")
        if bound is None:
            return
        updated_claim = await self._bind_claim_to_volume(claim, bound)
        await self._update_claim_status(updated_claim, "Bound", bound)
        logger.info("persistentvolume: claim %s bound to volume %s", object_key(claim), meta(volume).get("name"))

    async def _bind_volume_to_claim(self, volume: Obj, claim: Obj) -> Obj:
        set_by_controller = not matching.is_volume_bound_to_claim(volume, claim)
        updated = copy.deepcopy(volume)
        ref = matching.claim_ref(volume) or {}
        dirty = False
        if (ref.get("name"), ref.get("namespace"), ref.get("uid")) != (
            meta(claim).get("name"),
            meta(claim).get("namespace"),
            meta(claim).get("uid"),
        ):
            updated.setdefault("spec", {})["claimRef"] = matching.claim_reference(claim)
            dirty = True
        if set_by_controller and matching.ANN_BOUND_BY_CONTROLLER not in matching.annotations_of(volume):
            meta(updated).setdefault("annotations", {})[matching.ANN_BOUND_BY_CONTROLLER] = "yes"
            dirty = True
        if not dirty:
            return volume
        return await self.client.update(PERSISTENTVOLUMES, updated)

    async def _bind_claim_to_volume(self, claim: Obj, volume: Obj) -> Obj:
        updated = copy.deepcopy(claim)
        annotations = meta(updated).setdefault("annotations", {})
        dirty = False
        if _spec(claim).get("volumeName") != meta(volume).get("name"):
            updated.setdefault("spec", {})["volumeName"] = meta(volume).get("name")
            annotations.setdefault(matching.ANN_BOUND_BY_CONTROLLER, "yes")
            dirty = True
        if matching.ANN_BIND_COMPLETED not in annotations:
            annotations[matching.ANN_BIND_COMPLETED] = "yes"
            dirty = True
        if not dirty:
            return claim
        return await self.client.update(PERSISTENTVOLUMECLAIMS, updated, namespace=meta(claim).get("namespace"))

    # -- volumes ---------------------------------------------------------------------------------

    async def _update_volume_phase(self, volume: Obj, phase: str, message: str = "") -> Obj | None:
        """``updateVolumePhase``: the phase (and its message and transition time) when it changes."""
        if _status(volume).get("phase") == phase:
            return volume
        updated = copy.deepcopy(volume)
        status = updated.setdefault("status", {})
        status["phase"] = phase
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        status["lastPhaseTransitionTime"] = format_time(self._now())
        return await self.update_status(PERSISTENTVOLUMES, updated)

    async def _volume_phase_with_event(self, volume: Obj, phase: str, reason: str, message: str) -> Obj | None:
        if _status(volume).get("phase") == phase:
            return volume
        written = await self._update_volume_phase(volume, phase, message)
        if written is not None:
            await self.events.record(written, type="Warning", reason=reason, message=message)
        return written

    async def sync_volume(self, volume: Obj) -> None:
        ref = matching.claim_ref(volume)
        if ref is None or not ref.get("uid"):
            # Unused, or reserved for a claim whose sync does the binding.
            await self._update_volume_phase(volume, "Available")
            return
        claim = await self._claim_of(volume, ref)
        if claim is None:
            await self._release(volume)
            return
        claim_volume = _spec(claim).get("volumeName")
        name = meta(volume).get("name")
        if not claim_volume:
            if matching.volume_mode_mismatch(claim, volume):
                await self.events.record(
                    volume,
                    type="Warning",
                    reason="VolumeMismatch",
                    message=(
                        f'Cannot bind PersistentVolume to requested PersistentVolumeClaim "{meta(claim).get("name")}" '
                        "due to incompatible volumeMode."
                    ),
                )
                await self.events.record(
                    claim,
                    type="Warning",
                    reason="VolumeMismatch",
                    message=(
                        f'Cannot bind PersistentVolume "{name}" to requested PersistentVolumeClaim '
                        "due to incompatible volumeMode."
                    ),
                )
                return
            # The volume is the claim's and the claim does not know yet (a provisioned volume,
            # most often): the claim's sync binds it, now rather than at its next resync.
            self.enqueue(claim)
            return
        if claim_volume == name:
            await self._update_volume_phase(volume, "Bound")
            return
        # The claim is bound to another volume.
        annotations = matching.annotations_of(volume)
        if (
            matching.ANN_PROVISIONED_BY in annotations
            and _spec(volume).get("persistentVolumeReclaimPolicy") == "Delete"
        ):
            await self._release(volume)  # provisioned for it, not needed: delete it
        else:
            await self._unbind_volume(volume)

    async def _claim_of(self, volume: Obj, ref: dict[str, Any]) -> Obj | None:
        """The claim the volume is bound to, or None if it is gone (a newer namesake does not count).

        As upstream, a claim missing from the cache is asked for from the API server before its
        volume is released (the cache may be behind a claim just created), and so is a cached
        claim of another uid.
        """
        key = f"{ref.get('namespace')}/{ref.get('name')}"
        claim = self.claims.get(key)
        if claim is None or meta(claim).get("uid") != ref.get("uid"):
            if claim is None and _status(volume).get("phase") in ("Released", "Failed"):
                return None
            namespace, name = split_key(key)
            try:
                claim = await self.client.get(PERSISTENTVOLUMECLAIMS, name, namespace=namespace)
            except NotFoundError:
                return None
        return claim if meta(claim).get("uid") == ref.get("uid") else None

    async def _release(self, volume: Obj) -> None:
        """The claim is gone: ``Released`` (unless already Released or Failed), then reclaim."""
        if _status(volume).get("phase") not in ("Released", "Failed"):
            logger.info(
                "persistentvolume: volume %s is released and reclaim policy %r will be executed",
                meta(volume).get("name"),
                _spec(volume).get("persistentVolumeReclaimPolicy"),
            )
            written = await self._update_volume_phase(volume, "Released")
            if written is None:
                return
            volume = written
        await self._reclaim(volume)

    async def _reclaim(self, volume: Obj) -> None:
        """``reclaimVolume``: Retain keeps it; Delete is its provisioner's, or fails; others are unknown."""
        policy = _spec(volume).get("persistentVolumeReclaimPolicy")
        name = meta(volume).get("name")
        if policy == "Retain":
            return
        if policy == "Delete":
            if meta(volume).get("deletionTimestamp"):
                return
            provisioner = str(matching.annotations_of(volume).get(matching.ANN_PROVISIONED_BY) or "")
            if provisioner and not provisioner.startswith("kubernetes.io/"):
                return  # an external deleter's (kuberya's local-path provisioner): it deletes the volume
            if provisioner:
                message = f"no volume plugin matched name: {provisioner}"
            else:
                message = f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched'
            await self._volume_phase_with_event(volume, "Failed", "VolumeFailedDelete", message)
            return
        if policy == "Recycle":
            message = f'No recycler plugin found for the volume "{name}"'  # kuberya recycles nothing
            await self._volume_phase_with_event(volume, "Failed", "VolumeFailedRecycle", message)
            return
        message = "Volume has unrecognized PersistentVolumeReclaimPolicy"
        await self._volume_phase_with_event(volume, "Failed", "VolumeUnknownReclaimPolicy", message)

    async def _unbind_volume(self, volume: Obj) -> None:
        """``unbindVolume``: a volume the controller bound is freed; one pre-bound by a user keeps its claim."""
        updated = copy.deepcopy(volume)
        annotations = meta(updated).get("annotations") or {}
        if matching.ANN_BOUND_BY_CONTROLLER in annotations:
            updated["spec"].pop("claimRef", None)
            annotations.pop(matching.ANN_BOUND_BY_CONTROLLER)
            if not annotations:
                meta(updated).pop("annotations", None)
        else:
            updated["spec"]["claimRef"].pop("uid", None)
        written = await self.client.update(PERSISTENTVOLUMES, updated)
        await self._update_volume_phase(written, "Available")
