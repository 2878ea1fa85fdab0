"""The pvc-protection controller: a claim in use by a pod is not deleted until the pod is done with it.

As upstream's ``pkg/controller/volume/pvcprotection``. Every claim carries the finalizer
``kubernetes.io/pvc-protection`` (the StorageObjectInUseProtection admission plugin adds it on
create, :mod:`kuberya.apiserver.storageadmission`; this controller adds it to a claim that lacks
it). Once a claim is being deleted the finalizer is removed as soon as no pod uses it, and the API
server then deletes the claim. A pod uses a claim when it is scheduled (``spec.nodeName``: the
node does not start a pod whose claim is being deleted) and

* names it in a ``persistentVolumeClaim`` volume — whatever the pod's phase, as upstream: a pod
  object that exists still holds its claims; or
* has a generic ephemeral volume whose claim (``<pod>-<volume>``) it owns, unless the pod is
  shut down (being deleted with a grace period of 0: the node is done with it, or it was
  force-deleted), which breaks a pod finalizer waiting on the claim.

The cache is asked first; before a finalizer is removed the namespace's pods are also listed from
the API server, since a pod just created may not be in the cache yet. A pod deleted, terminated
or not yet scheduled re-queues the claims it names, so a claim waiting for its pod goes with it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Unpack

from kuberya.client import KubeClient, object_key
from kuberya.client.resources import PERSISTENTVOLUMECLAIMS, PODS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ephemeral import POD_CLAIM_INDEX, claim_index, claim_names, is_controlled_by_pod
from kuberya.controllers.ownership import meta
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "persistentvolumeclaim-protection-controller"
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"


def finalizers_of(obj: Obj) -> list[str]:
    return [str(f) for f in meta(obj).get("finalizers") or []]


def is_deletion_candidate(obj: Obj, finalizer: str) -> bool:
    """``protectionutil.IsDeletionCandidate``: being deleted and still holding ``finalizer``."""
    return bool(meta(obj).get("deletionTimestamp")) and finalizer in finalizers_of(obj)


def needs_finalizer(obj: Obj, finalizer: str) -> bool:
    """``protectionutil.NeedToAddFinalizer``: not being deleted and without ``finalizer``."""
    return not meta(obj).get("deletionTimestamp") and finalizer not in finalizers_of(obj)


def with_finalizers(obj: Obj, finalizers: list[str]) -> Obj:
    updated = copy.deepcopy(obj)
    if finalizers:
        meta(updated)["finalizers"] = finalizers
    else:
        meta(updated).pop("finalizers", None)
    return updated


def _pod_spec(pod: Obj) -> dict[str, Any]:
    spec = pod.get("spec")
    return spec if isinstance(spec, dict) else {}


def pod_is_shut_down(pod: Obj) -> bool:
    """``podIsShutDown``: deleted with grace period 0 (the node is done with it, or it was forced)."""
    m = meta(pod)
    return bool(m.get("deletionTimestamp")) and m.get("deletionGracePeriodSeconds") == 0


def pod_is_terminated(pod: Obj) -> bool:
    status = pod.get("status")
    return isinstance(status, dict) and status.get("phase") in ("Succeeded", "Failed")


def pod_uses_claim(pod: Obj, claim: Obj) -> bool:
    """``podUsesPVC`` (see the module docstring)."""
    if not _pod_spec(pod).get("nodeName") or meta(pod).get("namespace") != meta(claim).get("namespace"):
        return False
    name = meta(claim).get("name")
    for claim_name, ephemeral in claim_names(pod):
        if claim_name != name:
            continue
        if not ephemeral or (not pod_is_shut_down(pod) and is_controlled_by_pod(claim, pod)):
            return True
    return False


class PVCProtectionController(QueueController):
    """Removes ``kubernetes.io/pvc-protection`` from deleted claims no pod uses (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="pvc-protection", component=COMPONENT, workers=workers, **wiring)
        self.claims = self.primary(PERSISTENTVOLUMECLAIMS, enqueue_changes=False)
        self.claims.add_handlers(on_add=self._claim_changed, on_update=lambda _old, new: self._claim_changed(new))
        self.pods = self.informer(PODS)
        self.pods.add_index(POD_CLAIM_INDEX, claim_index)
        self.pods.add_handlers(
            on_add=lambda pod: self._pod_changed(pod, deleted=False),
            on_update=self._pod_updated,
            on_delete=lambda pod: self._pod_changed(pod, deleted=True),
        )

    # -- events ----------------------------------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        if needs_finalizer(claim, PVC_PROTECTION_FINALIZER) or is_deletion_candidate(claim, PVC_PROTECTION_FINALIZER):
            self.enqueue(claim)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(new, deleted=False)
        # An update may hide the deletion of a pod and the creation of a namesake (upstream's note).
        if meta(old).get("uid") != meta(new).get("uid"):
            self._pod_changed(old, deleted=True)

    def _pod_changed(self, pod: Obj, *, deleted: bool) -> None:
        """``enqueuePVCs``: only a pod that may have stopped holding its claims re-queues them."""
        if not deleted and not pod_is_terminated(pod) and not pod_is_shut_down(pod) and _pod_spec(pod).get("nodeName"):
            return
        for key in claim_index(pod):
            self.queue.add(key)

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None:
            return
        if is_deletion_candidate(claim, PVC_PROTECTION_FINALIZER):
            if await self._in_use(claim):
                logger.debug("pvc-protection: keeping claim %s: a pod uses it", key)
                return
            kept = [f for f in finalizers_of(claim) if f != PVC_PROTECTION_FINALIZER]
            await self.client.update(
                PERSISTENTVOLUMECLAIMS, with_finalizers(claim, kept), namespace=meta(claim).get("namespace")
            )
            logger.info("pvc-protection: removed the protection finalizer of claim %s", key)
            return
        if needs_finalizer(claim, PVC_PROTECTION_FINALIZER):
            # A claim created before the admission plugin (or written around it) is protected too.
            finalizers = [*finalizers_of(claim), PVC_PROTECTION_FINALIZER]
            await self.client.update(
                PERSISTENTVOLUMECLAIMS, with_finalizers(claim, finalizers), namespace=meta(claim).get("namespace")
            )

    async def _in_use(self, claim: Obj) -> bool:
        """``isBeingUsed``: a cached pod uses it, or (the cache may be behind) a pod listed live does."""
        if any(pod_uses_claim(pod, claim) for pod in self.pods.by_index(POD_CLAIM_INDEX, object_key(claim))):
            return True
        listed = await self.client.list(PODS, namespace=meta(claim).get("namespace"))
        return any(pod_uses_claim(pod, claim) for pod in listed.get("items") or [])
