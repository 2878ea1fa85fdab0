"""The files of ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` volumes, and how they are written.

:func:`volume_files` computes what a volume holds (one file per key, or per ``items`` entry with
its ``path`` and ``mode``); :func:`atomic_write` writes it the way the kubelet's AtomicWriter does,
so a reader never sees half an update: the files live in a timestamped directory
``..2026_01_02_03_04_05.123``, ``..data`` is a symlink to it, and each visible name is a symlink
through ``..data``. An update writes a new directory and swaps ``..data`` with one ``rename``.

A ``projected`` source this node cannot serve is refused (the pod waits with ``FailedMount``)
rather than mounted empty: ``serviceAccountToken`` needs a token issuer, which kuberya does not
have yet, and ``clusterTrustBundle`` needs the ClusterTrustBundle API, which it does not serve.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberya.meta.types import Obj
from kuberya.node.env import PodFacts, SourceLookup, field_value, resource_value

UNSERVED_PROJECTIONS = {
    "serviceAccountToken": (
        "serviceAccountToken projections are not served yet: this node has no service account token "
        "issuer, so the pod cannot get a token (remove the source, or set automountServiceAccountToken: false)"
    ),
    "clusterTrustBundle": "clusterTrustBundle projections are not served: this cluster has no ClusterTrustBundle API",
    "podCertificate": "podCertificate projections are not served: this cluster issues no pod certificates",
}


class SourceError(Exception):
    """A source of the volume is missing or cannot be served; str() is the reason after the volume's name."""


@dataclass(frozen=True, slots=True)
class File:
    data: bytes
    mode: int


async def volume_files(pod: Obj, plugin: str, source: Obj, *, facts: PodFacts, lookup: SourceLookup) -> dict[str, File]:
    """What the ``plugin`` (``configMap`` …) volume with ``source`` holds: relative path → file."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    default_mode = int(source.get("defaultMode", 0o644))
    if plugin == "projected":
        files: dict[str, File] = {}
        for projection in source.get("sources") or []:
            for unserved, reason in UNSERVED_PROJECTIONS.items():
                if projection.get(unserved) is not None:
                    raise SourceError(reason)
            for kind in ("configMap", "secret", "downwardAPI"):
                if projection.get(kind) is not None:
                    sub = dict(projection[kind])
                    sub.setdefault("defaultMode", default_mode)
                    files.update(await volume_files(pod, kind, sub, facts=facts, lookup=lookup))
        return files
    if plugin == "downwardAPI":
        return _downward_files(pod, source, default_mode, facts)
    name = str(source.get("name") or source.get("secretName") or "")
    optional = bool(source.get("optional"))
    if plugin == "configMap":
        obj, kind = await lookup.config_map(namespace, name), "configmap"
    else:
        obj, kind = await lookup.secret(namespace, name), "secret"
    if obj is None:
        if optional:
            return {}
        raise SourceError(f'{kind} "{name}" not found')
    data = _source_bytes(obj, secret=plugin == "secret")
    items = source.get("items")
    if not items:
        return {key: File(value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        key = str(item.get("key"))
        if key not in data:
            if optional:
                continue
            raise SourceError(f"{kind} references non-existent config key: {key}")
        files[str(item.get("path") or key)] = File(data[key], int(item.get("mode", default_mode)))
    return files


def _downward_files(pod: Obj, source: Obj, default_mode: int, facts: PodFacts) -> dict[str, File]:
    files: dict[str, File] = {}
    for item in source.get("items") or []:
        try:
            if (ref := item.get("fieldRef")) is not None:
                text = field_value(pod, str(ref.get("fieldPath") or ""), facts)
            elif (ref := item.get("resourceFieldRef")) is not None:
                text = resource_value(pod, str(ref.get("containerName") or ""), ref, facts)
            else:
                continue
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        files[str(item.get("path"))] = File(text.encode(), int(item.get("mode", default_mode)))
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


def atomic_write(target: Path, files: dict[str, File]) -> None:
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
