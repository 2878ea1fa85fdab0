"""Pod volumes on the node's disk: ``DATA_DIR/pods/<uid>/volumes/<plugin>/<name>``, and where the others live.

:meth:`VolumeManager.setup` runs on every pod sync and makes each volume exist and be current; a
volume that cannot be set up yet raises :class:`MountError` (the pod waits with ``FailedMount``
and upstream's message, retried):

- ``emptyDir``: a directory (``kubernetes.io~empty-dir``), removed with the pod; ``medium: Memory``
  a tmpfs on it as root (:mod:`kuberya.node.tmpfs`), a plain directory and a Warning otherwise;
  ``sizeLimit`` is enforced by eviction (:mod:`kuberya.node.emptydir_limits`);
- ``configMap``, ``secret``, ``downwardAPI`` and ``projected``: files written with the kubelet's
  ``..data`` swap (:mod:`kuberya.node.volume_sources`), rewritten only when their content changed;
  the agent syncs a pod whenever a ConfigMap or Secret it uses changes, or its own metadata (the
  downward API's labels and annotations), so mounted files follow their sources;
- ``hostPath``: the host path itself, after upstream's ``type`` checks (:mod:`kuberya.node.hostpath`);
- ``persistentVolumeClaim`` and generic ``ephemeral``: the bound PV's directory (:mod:`kuberya.node.claims`).

``fsGroup`` (:mod:`kuberya.node.ownership`) is applied as upstream's plugins apply it: to emptyDir,
the projected kinds (read-only) and claims on ``local`` PVs or the built-in provisioner's, not to
hostPath. A volume type this node cannot serve (nfs, csi, image …) is refused, never replaced by an
empty directory. Mounts are handed to the runtime by :func:`kuberya.node.subpaths.container_mounts`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from kuberya.client import Clock
from kuberya.client.clock import Timer
from kuberya.meta.types import Obj
from kuberya.node.claims import ClaimError, ClaimLookup, claim_name, resolve_claim
from kuberya.node.emptydir_limits import CHECK_SECONDS, EmptyDirLimits, limits
from kuberya.node.env import PodFacts, SourceLookup
from kuberya.node.hostpath import HostPathError, check_host_path
from kuberya.node.ownership import pod_fs_group, set_volume_ownership
from kuberya.node.tmpfs import TmpfsError, memory_size, mount_tmpfs, unmount_all
from kuberya.node.volume_sources import File, SourceError, atomic_write, volume_files

logger = logging.getLogger(__name__)

_PLUGINS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
SERVED = frozenset({*_PLUGINS, "hostPath", "persistentVolumeClaim", "ephemeral"})
DISK_BACKED = "EmptyDirOnDisk"
"""The Warning event of a ``medium: Memory`` emptyDir that a node without root keeps on disk."""

Warn = Callable[[Obj, str, str], None]
"""``(pod, reason, message)``: a Warning event about the pod."""


class VolumeLookup(SourceLookup, ClaimLookup, Protocol):
    """ConfigMaps, Secrets, claims and PVs: everything a volume may read."""


class MountError(Exception):
    """A volume cannot be set up yet (``FailedMount``); str() is upstream's message."""


def _setup_failed(volume: str, reason: object) -> MountError:
    return MountError(f'MountVolume.SetUp failed for volume "{volume}" : {reason}')


def source_type(volume: Obj) -> str:
    """The volume's source field (``emptyDir`` when it names none, as upstream defaults it)."""
    return next((key for key in volume if key != "name"), "emptyDir")


class VolumeManager:
    """Sets up and tears down the volumes of the pods on this node."""

    def __init__(self, data_dir: Path, lookup: VolumeLookup, *, warn: Warn | None = None) -> None:
        self.data_dir = data_dir
        self.lookup = lookup
        self.warn = warn
        self.limits = EmptyDirLimits()
        self._written: dict[Path, dict[str, File]] = {}
        """What each projected volume holds now, so unchanged ones are not rewritten."""
        self._prepared: set[Path] = set()
        """Volumes made once for good (emptyDir): their ownership and tmpfs are not redone."""
        self._owned_claims: set[tuple[str, Path]] = set()
        """(pod uid, claim directory) given the pod's fsGroup: per pod, as each pod's SetUp does it,
        so a second pod with another fsGroup on the same claim gets its group too."""
        self._warned: set[tuple[str, str]] = set()
        self._checks: dict[str, Timer] = {}

    def pod_dir(self, uid: str) -> Path:
        return self.data_dir / "pods" / uid

    async def setup(self, pod: Obj, facts: PodFacts) -> dict[str, Path]:
        """Make every volume of ``pod`` exist and be current; returns volume name → host path."""
        paths: dict[str, Path] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name"))
            kind = source_type(volume)
            if kind not in SERVED:
                raise _setup_failed(name, f"volume type {kind} is not served by this node")
            if kind == "hostPath":
                host = volume["hostPath"] or {}
                try:
                    paths[name] = check_host_path(str(host.get("path") or ""), str(host.get("type") or ""))
                except HostPathError as exc:
                    raise _setup_failed(name, exc) from None
            elif kind in ("persistentVolumeClaim", "ephemeral"):
                paths[name] = await self._claim(pod, volume)
            elif kind == "emptyDir":
                paths[name] = self._empty_dir(pod, volume, facts)
            else:
                paths[name] = await self._projected(pod, volume, kind, facts)
        return paths

    async def _claim(self, pod: Obj, volume: Obj) -> Path:
        name = str(volume.get("name"))
        try:
            claim = await resolve_claim(pod, volume, self.lookup)
        except ClaimError as exc:
            raise MountError(
                f"Unable to attach or mount volumes: unmounted volumes=[{name}], unattached volumes=[], "
                f"failed to process volumes=[{name}]: {exc}"
            ) from None
        if claim.source == "hostPath":
            try:
                check_host_path(str(claim.path), claim.host_type)
            except HostPathError as exc:
                raise _setup_failed(name, exc) from None
        owner = (str(pod["metadata"]["uid"]), claim.path)
        if (claim.source == "local" or claim.provisioned) and owner not in self._owned_claims:
            fs_group, policy = pod_fs_group(pod)
            set_volume_ownership(claim.path, fs_group, read_only=claim.read_only, policy=policy)
            self._owned_claims.add(owner)
        return claim.path

    def _empty_dir(self, pod: Obj, volume: Obj, facts: PodFacts) -> Path:
        uid = str(pod["metadata"]["uid"])
        name = str(volume.get("name"))
        path = self.pod_dir(uid) / "volumes" / _PLUGINS["emptyDir"] / name
        if path in self._prepared:
            return path
        path.mkdir(parents=True, exist_ok=True)
        medium = str((volume.get("emptyDir") or {}).get("medium") or "")
        if medium == "Memory":
            if os.geteuid() == 0:
                try:
                    mount_tmpfs(path, memory_size(pod, volume, node_memory_bytes=facts.node_memory_bytes))
                except TmpfsError as exc:
                    raise _setup_failed(name, exc) from None
            else:
                self._warn_once(
                    pod,
                    name,
                    DISK_BACKED,
                    f'emptyDir volume "{name}" asks for medium: Memory, but a node agent that is not root '
                    "cannot mount a tmpfs: it is a directory on disk",
                )
        elif medium:
            raise _setup_failed(name, f"emptyDir medium {medium} is not served by this node")
        os.chmod(path, 0o777)  # upstream's emptyDir mode: any container user may write
        fs_group, policy = pod_fs_group(pod)
        set_volume_ownership(path, fs_group, read_only=False, policy=policy)
        self._prepared.add(path)
        return path

    async def _projected(self, pod: Obj, volume: Obj, kind: str, facts: PodFacts) -> Path:
        uid = str(pod["metadata"]["uid"])
        name = str(volume.get("name"))
        path = self.pod_dir(uid) / "volumes" / _PLUGINS[kind] / name
        try:
            files = await volume_files(pod, kind, volume[kind] or {}, facts=facts, lookup=self.lookup)
        except SourceError as exc:
            raise _setup_failed(name, exc) from None
        if self._written.get(path) != files:
            atomic_write(path, files)
            self._written[path] = files
            fs_group, _ = pod_fs_group(pod)
            # Always: each write makes new files, which the root's group says nothing about.
            set_volume_ownership(path, fs_group, read_only=True)
        return path

    def _warn_once(self, pod: Obj, volume: str, reason: str, message: str) -> None:
        key = (str(pod["metadata"]["uid"]), volume)
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning("%s", message)
        if self.warn is not None:
            self.warn(pod, reason, message)

    async def over_limit(
        self, pod: Obj, paths: dict[str, Path], *, clock: Clock, wake: Callable[[], None]
    ) -> str | None:
        """The eviction message when an emptyDir is over its ``sizeLimit``; schedules the next check."""
        uid = str(pod["metadata"]["uid"])
        if not limits(pod, paths):
            return None
        message = await self.limits.exceeded(uid, pod, paths, now=clock.now())
        if message is not None:
            self.limits.evicted[uid] = message
        elif uid not in self._checks:

            def check() -> None:
                self._checks.pop(uid, None)
                wake()

            self._checks[uid] = clock.call_later(CHECK_SECONDS, check)
        return message

    def cleanup(self, uid: str) -> None:
        """Remove the pod's volumes (the pod is gone); a tmpfs is unmounted first."""
        root = self.pod_dir(uid)
        for path in [p for p in self._written if root in p.parents]:
            del self._written[path]
        self._prepared = {p for p in self._prepared if root not in p.parents}
        self._owned_claims = {key for key in self._owned_claims if key[0] != uid}
        self._warned = {key for key in self._warned if key[0] != uid}
        if (timer := self._checks.pop(uid, None)) is not None:
            timer.cancel()
        self.limits.forget(uid)
        unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)


def referenced_sources(pod: Obj) -> set[tuple[str, str]]:
    """``(kind, name)`` for every ConfigMap, Secret and claim the pod uses (env or volume).

    ``kind`` is ``configmap``, ``secret`` or ``persistentvolumeclaim``: a change to one wakes the pod.
    """
    refs: set[tuple[str, str]] = set()
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            if (ref := source.get("configMapRef")) is not None:
                refs.add(("configmap", str(ref.get("name"))))
            if (ref := source.get("secretRef")) is not None:
                refs.add(("secret", str(ref.get("name"))))
        for var in container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            if (ref := value_from.get("configMapKeyRef")) is not None:
                refs.add(("configmap", str(ref.get("name"))))
            if (ref := value_from.get("secretKeyRef")) is not None:
                refs.add(("secret", str(ref.get("name"))))
    for volume in spec.get("volumes") or []:
        if (claim := claim_name(pod, volume)) is not None:
            refs.add(("persistentvolumeclaim", claim))
        sources = [volume, *list((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            if (cm := source.get("configMap")) is not None:
                refs.add(("configmap", str(cm.get("name"))))
            if (secret := source.get("secret")) is not None:
                refs.add(("secret", str(secret.get("secretName") or secret.get("name"))))
    return refs
