"""Pod volumes on the node's disk: ``DATA_DIR/pods/<uid>/volumes/<plugin>/<name>``.

- ``emptyDir``: a directory (``kubernetes.io~empty-dir``), removed with the pod;
- ``configMap``, ``secret``, ``downwardAPI`` and ``projected``: files, one per key (or per
  ``items`` entry, with its ``path`` and ``mode``), written the way the kubelet's AtomicWriter
  does so a reader never sees half an update: the files live in a timestamped directory
  ``..2026_01_02_03_04_05.123``, ``..data`` is a symlink to it, and each visible name is a
  symlink through ``..data``. An update writes a new directory and swaps ``..data`` with one
  ``rename``. :meth:`VolumeManager.setup` is called on every pod sync and rewrites a volume only
  when its content changed; the agent syncs a pod whenever a ConfigMap or Secret changes, so
  mounted files follow their sources;
- ``hostPath``: the host path itself (``DirectoryOrCreate`` creates it).

Mounts are handed to the runtime as :class:`~kuberya.runtime.base.Mount` (host path → container
path). The ``process`` runtime cannot remap paths: an app it runs finds its volumes at the *host*
path (``DATA_DIR/pods/<uid>/volumes/…``), not at ``mountPath``.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberya.meta.types import Obj
from kuberya.node.env import PodFacts, SourceLookup, field_value, resource_value
from kuberya.runtime.base import Mount

logger = logging.getLogger(__name__)


_PLUGINS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}


class MountError(Exception):
    """A volume cannot be set up yet (``FailedMount``); str() is upstream's message."""


@dataclass(frozen=True, slots=True)
class _File:
    data: bytes
    mode: int


class VolumeManager:
    """Sets up and tears down the volumes of the pods on this node."""

    def __init__(self, data_dir: Path, lookup: SourceLookup) -> None:
        self.data_dir = data_dir
        self.lookup = lookup
        self._written: dict[Path, dict[str, _File]] = {}
        """What each projected volume holds now, so unchanged ones are not rewritten."""

    def pod_dir(self, uid: str) -> Path:
        return self.data_dir / "pods" / uid

    async def setup(self, pod: Obj, facts: PodFacts) -> dict[str, Path]:
        """Make every volume of ``pod`` exist and be current; returns volume name → host path."""
        uid = str(pod["metadata"]["uid"])
        namespace = str(pod["metadata"].get("namespace") or "default")
        paths: dict[str, Path] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name"))
            if (host := volume.get("hostPath")) is not None:
                path = Path(str(host.get("path") or "/"))
                if host.get("type") == "DirectoryOrCreate":
                    path.mkdir(parents=True, exist_ok=True)
                paths[name] = path
                continue
            plugin = next((p for p in _PLUGINS if volume.get(p) is not None), "emptyDir")
            path = self.pod_dir(uid) / "volumes" / _PLUGINS[plugin] / name
            if plugin == "emptyDir":
                path.mkdir(parents=True, exist_ok=True)
            else:
                files = await self._files(pod, namespace, name, plugin, volume[plugin], facts)
                if self._written.get(path) != files:
                    _atomic_write(path, files)
                    self._written[path] = files
            paths[name] = path
        return paths

    def cleanup(self, uid: str) -> None:
        """Remove the pod's volumes (the pod is gone)."""
        root = self.pod_dir(uid)
        for path in [p for p in self._written if root in p.parents]:
            del self._written[path]
        shutil.rmtree(root, ignore_errors=True)

    async def _files(
        self, pod: Obj, namespace: str, volume: str, plugin: str, source: Obj, facts: PodFacts
    ) -> dict[str, _File]:
        default_mode = int(source.get("defaultMode", 0o644))
        if plugin == "projected":
            files: dict[str, _File] = {}
            for projection in source.get("sources") or []:
                for kind in ("configMap", "secret", "downwardAPI"):
                    if projection.get(kind) is not None:
                        sub = dict(projection[kind])
                        sub.setdefault("defaultMode", default_mode)
                        files.update(await self._files(pod, namespace, volume, kind, sub, facts))
            return files
        if plugin == "downwardAPI":
            files = {}
            for item in source.get("items") or []:
                if (ref := item.get("fieldRef")) is not None:
                    text = field_value(pod, str(ref.get("fieldPath") or ""), facts)
                elif (ref := item.get("resourceFieldRef")) is not None:
                    text = resource_value(pod, str(ref.get("containerName") or ""), ref, facts)
                else:
                    continue
                files[str(item.get("path"))] = _File(text.encode(), int(item.get("mode", default_mode)))
            return files
        name = str(source.get("name") or source.get("secretName") or "")
        optional = bool(source.get("optional"))
        if plugin == "configMap":
            obj = await self.lookup.config_map(namespace, name)
            kind = "configmap"
        else:
            obj = await self.lookup.secret(namespace, name)
            kind = "secret"
        if obj is None:
            if optional:
                return {}
            raise MountError(f'MountVolume.SetUp failed for volume "{volume}" : {kind} "{name}" not found')
        data = _source_bytes(obj, secret=plugin == "secret")
        items = source.get("items")
        if not items:
            return {key: _File(value, default_mode) for key, value in data.items()}
        files = {}
        for item in items:
            key = str(item.get("key"))
            if key not in data:
                if optional:
                    continue
                raise MountError(
                    f'MountVolume.SetUp failed for volume "{volume}" : {kind} references non-existent config key: {key}'
                )
            files[str(item.get("path") or key)] = _File(data[key], int(item.get("mode", default_mode)))
        return files


def _source_bytes(obj: Obj, *, secret: bool) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for key, value in (obj.get("data") or {}).items():
        data[key] = _b64(value) if secret else str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        data[key] = _b64(value)
    return data


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value or ""))
    except ValueError:
        return b""


def _atomic_write(target: Path, files: dict[str, _File]) -> None:
    """Write ``files`` under ``target`` as the kubelet's AtomicWriter does (``..data`` swap)."""
    target.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    new_dir = target / stamp
    new_dir.mkdir()
    for rel, file in files.items():
        path = new_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
        os.chmod(path, file.mode & 0o777)
    data_link = target / "..data"
    old_dir: Path | None = None
    if data_link.is_symlink():
        old_dir = target / os.readlink(data_link)
    tmp_link = target / "..data_tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(stamp)
    os.replace(tmp_link, data_link)
    visible = {rel.split("/", 1)[0] for rel in files}
    for top in visible:
        link = target / top
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link, ignore_errors=True)
            link.symlink_to(Path("..data") / top)
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.is_symlink() and entry.name not in visible:
            entry.unlink()
    if old_dir is not None and old_dir.name != stamp:
        shutil.rmtree(old_dir, ignore_errors=True)


def container_mounts(container: Obj, volume_paths: dict[str, Path]) -> tuple[Mount, ...]:
    """The container's ``volumeMounts`` as runtime mounts (``subPath`` resolved on the host side)."""
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        host = volume_paths.get(str(vm.get("name")))
        if host is None:
            continue
        if sub := vm.get("subPath"):
            host = host / str(sub)
        mounts.append(Mount(host, str(vm.get("mountPath") or ""), bool(vm.get("readOnly"))))
    return tuple(mounts)


def referenced_sources(pod: Obj) -> set[tuple[str, str]]:
    """``("configmap"|"secret", name)`` for every ConfigMap and Secret the pod uses (env or volume)."""
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
        sources = [volume, *list((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            if (cm := source.get("configMap")) is not None:
                refs.add(("configmap", str(cm.get("name"))))
            if (secret := source.get("secret")) is not None:
                refs.add(("secret", str(secret.get("secretName") or secret.get("name"))))
    return refs
