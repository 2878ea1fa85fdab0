"""``persistentVolumeClaim`` and generic ``ephemeral`` volumes: from the claim to its PV's directory.

As the kubelet's desired-state populator (``getPVCExtractPV``, ``getPVSpec``): the claim must exist,
not be being deleted, be ``Bound`` with a ``spec.volumeName``; the PV must exist and point back at
the claim's uid. Until then the pod waits with upstream's message (``error processing PVC ns/x:
PVC is not bound`` …). An ``ephemeral`` volume is the claim ``<pod>-<volume>``, which must be owned
by the pod (``PVC ns/x was not created for pod ns/p (pod is not owner)``).

A single node serves the PVs whose source is a directory on it: ``spec.hostPath.path`` or
``spec.local.path``. A directory the built-in provisioner (``kuberya.io/local-path``) handed out
is made when missing, mode 0777 as rancher's local-path provisioner makes it, so that a container
that does not run as root can write there too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kuberya.meta.types import Obj

LOCAL_PATH_PROVISIONER = "kuberya.io/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


class ClaimLookup(Protocol):
    """Where claims and volumes come from (the agent's informer caches, then the API)."""

    async def persistent_volume_claim(self, namespace: str, name: str) -> Obj | None: ...

    async def persistent_volume(self, name: str) -> Obj | None: ...


class ClaimError(Exception):
    """The claim's volume cannot be mounted yet; str() is upstream's populator error."""


@dataclass(frozen=True, slots=True)
class ClaimVolume:
    path: Path
    read_only: bool
    source: str
    """``hostPath`` or ``local``: which PV source it is (ownership follows upstream's plugin)."""
    provisioned: bool
    """Made by the built-in provisioner."""
    host_type: str = ""
    """A ``hostPath`` PV's ``type``, checked as a pod's hostPath volume is."""


def claim_name(pod: Obj, volume: Obj) -> str | None:
    """The claim a volume mounts: its ``claimName``, or ``<pod>-<volume>`` for an ephemeral one."""
    if (pvc := volume.get("persistentVolumeClaim")) is not None:
        return str(pvc.get("claimName") or "")
    if volume.get("ephemeral") is not None:
        return f"{(pod.get('metadata') or {}).get('name')}-{volume.get('name')}"
    return None


async def resolve_claim(pod: Obj, volume: Obj, lookup: ClaimLookup) -> ClaimVolume:
    """The host directory behind the volume's claim; :class:`ClaimError` while it cannot be mounted."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    name = claim_name(pod, volume) or ""
    try:
        claim = await _bound_claim(lookup, namespace, name)
        if volume.get("ephemeral") is not None and not _owned_by(claim, str(meta.get("uid") or "")):
            raise ClaimError(
                f"PVC {namespace}/{name} was not created for pod {namespace}/{meta.get('name')} (pod is not owner)"
            )
        pv = await _bound_volume(lookup, claim)
    except ClaimError as exc:
        raise ClaimError(f"error processing PVC {namespace}/{name}: {exc}") from None
    spec = pv.get("spec") or {}
    pv_name = str((pv.get("metadata") or {}).get("name"))
    if str(spec.get("volumeMode") or "Filesystem") != "Filesystem":
        raise ClaimError(
            f"volume {volume.get('name')} has volumeMode {spec.get('volumeMode')}, but is specified in volumeMounts"
        )
    provisioned = ((pv.get("metadata") or {}).get("annotations") or {}).get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER
    read_only = bool((volume.get("persistentVolumeClaim") or {}).get("readOnly"))
    host_type = ""
    if (host := spec.get("hostPath")) is not None:
        path, source, host_type = Path(str(host.get("path") or "")), "hostPath", str(host.get("type") or "")
    elif (local := spec.get("local")) is not None:
        path, source = Path(str(local.get("path") or "")), "local"
    else:
        raise ClaimError(
            f"PersistentVolume {pv_name} has no hostPath or local source: this node mounts only directories on it"
        )
    if provisioned and not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)
    if source == "local" and not path.is_dir():
        raise ClaimError(f"PersistentVolume {pv_name}: local path {path} is not a directory on this node")
    return ClaimVolume(path=path, read_only=read_only, source=source, provisioned=provisioned, host_type=host_type)


async def _bound_claim(lookup: ClaimLookup, namespace: str, name: str) -> Obj:
    claim = await lookup.persistent_volume_claim(namespace, name)
    if claim is None:
        raise ClaimError(f'failed to fetch PVC from API server: persistentvolumeclaims "{name}" not found')
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise ClaimError("PVC is being deleted")
    if (claim.get("status") or {}).get("phase") != "Bound":
        raise ClaimError("PVC is not bound")
    if not (claim.get("spec") or {}).get("volumeName"):
        raise ClaimError("PVC has empty pvc.Spec.VolumeName")
    return claim


async def _bound_volume(lookup: ClaimLookup, claim: Obj) -> Obj:
    pv_name = str(claim["spec"]["volumeName"])
    pv = await lookup.persistent_volume(pv_name)
    if pv is None:
        raise ClaimError(f'failed to fetch PV {pv_name} from API server: persistentvolumes "{pv_name}" not found')
    ref = (pv.get("spec") or {}).get("claimRef")
    if not ref:
        raise ClaimError(
            f"found PV object {pv_name} but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim"
        )
    uid = str((claim.get("metadata") or {}).get("uid") or "")
    if str(ref.get("uid") or "") != uid:
        raise ClaimError(
            f"found PV object {pv_name} but its pv.Spec.ClaimRef.UID {ref.get('uid') or ''} "
            f"does not point to claim.UID {uid}"
        )
    return pv


def _owned_by(claim: Obj, pod_uid: str) -> bool:
    refs = (claim.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == pod_uid and r.get("controller") for r in refs)
