"""``emptyDir`` with ``medium: Memory``: a tmpfs on the volume's directory (root only).

The size is upstream's (``calculateEmptyDirMemorySize``): the node's allocatable memory, lowered to
the pod's memory limit when every container has one, lowered again to the volume's ``sizeLimit``.
What a pod writes there counts against memory, not disk. The tmpfs is unmounted before the pod's
directory is removed (removing a mounted directory would only empty it and fail).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from fractions import Fraction
from pathlib import Path

from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj
from kuberya.runtime.rootfs import is_mount_point, mounts_under, unmount

_libc: ctypes.CDLL | None = None


class TmpfsError(Exception):
    """The tmpfs could not be mounted."""


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def memory_size(pod: Obj, volume: Obj, *, node_memory_bytes: int) -> int:
    """The tmpfs size in bytes; 0: no size option (the kernel's default, half of RAM)."""
    size = Fraction(node_memory_bytes)
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    limits = [((c.get("resources") or {}).get("limits") or {}).get("memory") for c in containers]
    if containers and all(limit is not None for limit in limits):
        pod_limit = sum((parse_quantity(str(limit)) for limit in limits), Fraction(0))
        for init in spec.get("initContainers") or []:  # an init container runs alone: the larger wins
            if (limit := ((init.get("resources") or {}).get("limits") or {}).get("memory")) is not None:
                pod_limit = max(pod_limit, parse_quantity(str(limit)))
        if pod_limit > 0 and (size == 0 or pod_limit <= size):
            size = pod_limit
    if (limit := (volume.get("emptyDir") or {}).get("sizeLimit")) is not None:
        volume_limit = parse_quantity(str(limit))
        if volume_limit > 0 and (size == 0 or volume_limit <= size):
            size = volume_limit
    return int(size)


def mount_tmpfs(path: Path, size_bytes: int) -> None:
    """Mount a tmpfs on ``path`` unless one is there already (an agent restart finds it mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    if is_mount_point(path):
        return
    options = f"size={size_bytes}" if size_bytes > 0 else ""
    if _c().mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, options.encode() or None) != 0:
        error = ctypes.get_errno()
        raise TmpfsError(f"mounting a tmpfs on {path}: {os.strerror(error)}")


def unmount_all(root: Path) -> None:
    """Unmount every mount at or below ``root``, deepest first."""
    try:
        points = mounts_under(root)
    except OSError:
        return
    for point in sorted(points, key=len, reverse=True):
        unmount(Path(point))
