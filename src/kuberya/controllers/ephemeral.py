"""The ephemeral volume controller: one claim per generic ephemeral volume, owned by its pod.

As upstream's ``pkg/controller/volume/ephemeral``: for every volume of a pod with an
``ephemeral.volumeClaimTemplate`` it creates the PersistentVolumeClaim ``<pod name>-<volume name>``
from the template (its labels, annotations and spec), owned by the pod with ``controller: true``
and ``blockOwnerDeletion: true``, so the garbage collector deletes it with the pod. A claim of that
name that the pod does not control is not touched: the pod gets a Warning ``FailedBinding`` event
(``ephemeral volume data: PVC default/web-data was not created for pod default/web (pod is not
owner)``) and is retried with backoff; the scheduler and the node keep such a pod waiting.

The helpers here (:func:`claim_names`, :func:`volume_claim_name`, :func:`claim_index`) say which
claims a pod uses, persistentVolumeClaim and ephemeral volumes alike; the PV, pvc-protection and
scheduler code read a pod's claims through them.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Unpack

from kuberya.client import ApiError, KubeClient
from kuberya.client.resources import PERSISTENTVOLUMECLAIMS, PODS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import meta
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "ephemeral_volume"
POD_CLAIM_INDEX = "pod-pvc"
"""Pods indexed by the ``namespace/name`` of every claim they use (upstream's ``PodPVCIndex``)."""


def volume_claim_name(pod: Obj, volume: dict[str, Any]) -> str:
    """``ephemeral.VolumeClaimName``: ``<pod name>-<volume name>``."""
    return f"{meta(pod).get('name')}-{volume.get('name')}"


def _volumes(pod: Obj) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [v for v in spec.get("volumes") or [] if isinstance(v, dict)]


def claim_names(pod: Obj) -> list[tuple[str, bool]]:
    """The claims the pod's volumes use, as ``(name, ephemeral)``, in volume order."""
    names: list[tuple[str, bool]] = []
    for volume in _volumes(pod):
        source = volume.get("persistentVolumeClaim")
        if isinstance(source, dict) and source.get("claimName"):
            names.append((str(source["claimName"]), False))
        elif isinstance(volume.get("ephemeral"), dict):
            names.append((volume_claim_name(pod, volume), True))
    return names


def claim_index(pod: Obj) -> list[str]:
    """Index function: ``namespace/claim`` for every claim of the pod."""
    namespace = str(meta(pod).get("namespace") or "")
    return [f"{namespace}/{name}" for name, _ in claim_names(pod)]


def is_controlled_by_pod(claim: Obj, pod: Obj) -> bool:
    """``metav1.IsControlledBy``: the claim's controller reference carries the pod's uid."""
    for ref in meta(claim).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") and ref.get("uid") == meta(pod).get("uid"):
            return True
    return False


def not_for_pod(claim: Obj, pod: Obj) -> str:
    """``ephemeral.VolumeIsForPod``: why the claim is not the pod's ("" when it is)."""
    if is_controlled_by_pod(claim, pod):
        return ""
    return (
        f"PVC {meta(claim).get('namespace')}/{meta(claim).get('name')} was not created for pod "
        f"{meta(pod).get('namespace')}/{meta(pod).get('name')} (pod is not owner)"
    )


def claim_from_template(pod: Obj, volume: dict[str, Any]) -> Obj:
    """The claim made for one ephemeral volume (see the module docstring)."""
    template = (volume.get("ephemeral") or {}).get("volumeClaimTemplate") or {}
    tmeta = template.get("metadata") or {}
    claim_meta: dict[str, Any] = {
        "name": volume_claim_name(pod, volume),
        "namespace": meta(pod).get("namespace"),
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta(pod).get("name"),
                "uid": meta(pod).get("uid"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            claim_meta[key] = copy.deepcopy(tmeta[key])
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": claim_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def has_ephemeral_volumes(pod: Obj) -> bool:
    return any(isinstance(v.get("ephemeral"), dict) for v in _volumes(pod))


class EphemeralVolumeController(QueueController):
    """Creates the claims of pods' generic ephemeral volumes (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="ephemeral-volume", component=COMPONENT, workers=workers, **wiring)
        self.pods = self.primary(PODS, enqueue_changes=False)
        self.pods.add_index(POD_CLAIM_INDEX, claim_index)
        self.pods.add_handlers(on_add=self._on_pod, on_update=lambda _old, new: self._on_pod(new))
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        # A claim deleted (say, the foreign one in the way) may let a waiting pod have its own.
        self.claims.add_handlers(on_delete=self._on_claim_delete)

    def _on_pod(self, pod: Obj) -> None:
        if not meta(pod).get("deletionTimestamp") and has_ephemeral_volumes(pod):
            self.enqueue(pod)

    def _on_claim_delete(self, claim: Obj) -> None:
        key = f"{meta(claim).get('namespace')}/{meta(claim).get('name')}"
        for pod in self.pods.by_index(POD_CLAIM_INDEX, key):
            self._on_pod(pod)

    async def sync(self, key: str) -> None:
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or meta(pod).get("deletionTimestamp"):
            return
        namespace = str(meta(pod).get("namespace") or "")
        for volume in _volumes(pod):
            if not isinstance(volume.get("ephemeral"), dict):
                continue
            if problem := await self._handle_volume(pod, volume, namespace):
                await self.events.record(
                    pod,
                    type="Warning",
                    reason="FailedBinding",
                    message=f"ephemeral volume {volume.get('name')}: {problem}",
                )
                logger.info("ephemeral-volume: pod %s, ephemeral volume %s: %s", key, volume.get("name"), problem)
                self.queue.add_rate_limited(key)
                return

    async def _handle_volume(self, pod: Obj, volume: dict[str, Any], namespace: str) -> str:
        """Create the volume's claim unless it exists; what went wrong, or ""."""
        name = volume_claim_name(pod, volume)
        existing = self.claims.get(f"{namespace}/{name}")
        if existing is not None:
            return not_for_pod(existing, pod)
        try:
            await self.client.create(PERSISTENTVOLUMECLAIMS, claim_from_template(pod, volume), namespace=namespace)
        except ApiError as exc:
            return f"create PVC {name}: {exc}"
        logger.info("ephemeral-volume: created claim %s/%s for pod %s", namespace, name, meta(pod).get("name"))
        return ""
