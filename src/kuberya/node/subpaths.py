"""A container's ``volumeMounts`` as runtime mounts: ``subPath``, ``subPathExpr`` and ``readOnly``.

As the kubelet's ``makeMounts``: ``subPathExpr`` is expanded with the container's environment
(``$(VAR)``, as env values are); the resulting sub path must be relative and free of ``..``; a
missing sub path is made as a directory with the volume's mode; the sub path is then resolved
(symlinks followed) and must stay inside the volume. The mount's host side is that resolved path,
so a ``subPath`` into a configMap volume is the file of the current ``..data`` directory: it does
not follow later updates (the next container instance gets the new one), as upstream.

A mount is read-only when the ``volumeMount`` says so or the volume does (a claim's ``readOnly``).
An error here is the container's ``CreateContainerConfigError``, with upstream's message.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from kuberya.meta.types import Obj
from kuberya.node.env import ContainerConfigError, expand
from kuberya.runtime.base import Mount


def container_mounts(
    container: Obj,
    volume_paths: dict[str, Path],
    *,
    env: list[tuple[str, str]] | None = None,
    read_only_volumes: Collection[str] = (),
) -> tuple[Mount, ...]:
    """The container's mounts; :class:`ContainerConfigError` for a sub path that cannot be used."""
    mapping = dict(env or [])
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = str(vm.get("name"))
        host = volume_paths.get(name)
        if host is None:
            continue
        sub = str(vm.get("subPath") or "")
        if expr := vm.get("subPathExpr"):
            sub = expand(str(expr), mapping)
        if sub:
            host = _sub_path(host, sub, mount=name, container=str(container.get("name")))
        read_only = bool(vm.get("readOnly")) or name in read_only_volumes
        mounts.append(Mount(host, str(vm.get("mountPath") or ""), read_only))
    return tuple(mounts)


def _sub_path(volume: Path, sub: str, *, mount: str, container: str) -> Path:
    if os.path.isabs(sub):
        raise ContainerConfigError(f"error SubPath `{sub}` must not be an absolute path")
    if ".." in sub.split("/"):
        raise ContainerConfigError(f"unable to provision SubPath `{sub}`: must not contain '..'")
    target = volume / sub
    if not os.path.lexists(target):
        try:
            mode = volume.stat().st_mode & 0o7777
            target.mkdir(mode=mode, parents=True, exist_ok=True)
            os.chmod(target, mode)  # not the agent's umask: a group or other may need to write
        except OSError:
            # upstream does not pass the detail on: it could tell about the host's filesystem
            raise ContainerConfigError(
                f'failed to create subPath directory for volumeMount "{mount}" of container "{container}"'
            ) from None
    resolved, root = target.resolve(), volume.resolve()
    if resolved != root and root not in resolved.parents:
        raise ContainerConfigError(f'failed to prepare subPath for volumeMount "{mount}" of container "{container}"')
    return resolved


def read_only_volumes(pod: Obj) -> frozenset[str]:
    """The volumes every mount of which is read-only: claims with ``readOnly: true``."""
    return frozenset(
        str(v.get("name"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("readOnly")
    )
