"""A container's root filesystem: an overlayfs of its image's layers with a private upper dir.

``mount -t overlay overlay -o lowerdir=L_top:…:L_bottom,upperdir=U,workdir=W <bundle>/rootfs``:
the image's unpacked layer directories (shared, never written) are the lower dirs, topmost first;
the container's writes go to ``<bundle>/upper`` (``<bundle>/work`` is overlayfs's scratch space,
on the same filesystem). An image with no layers gets one empty lower dir. The mount is made by
the ``mount(2)`` system call (through ctypes: no ``mount`` process per container), and undone with
a lazy unmount so a leftover reference cannot keep a pod from being deleted.

Overlayfs takes its options in one page: with long layer paths the option string may not fit, and
the error says so rather than letting the kernel fail with a bare ``EINVAL``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from kuberya.runtime.base import RuntimeError_

MNT_DETACH = 2
MAX_OPTIONS = 4095


class RootfsError(RuntimeError_):
    """The container's root filesystem could not be mounted or unmounted."""


_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def overlay_options(layers: Sequence[Path], *, upper: Path, work: Path) -> str:
    """The mount options; ``layers`` bottom first, as images list them."""
    lower = ":".join(str(layer) for layer in reversed(layers))
    return f"lowerdir={lower},upperdir={upper},workdir={work}"


def mount_overlay(layers: Sequence[Path], bundle: Path) -> Path:
    """Mount the rootfs at ``<bundle>/rootfs`` and return that path."""
    rootfs, upper, work = bundle / "rootfs", bundle / "upper", bundle / "work"
    for directory in (rootfs, upper, work):
        directory.mkdir(parents=True, exist_ok=True)
    if not layers:
        empty = bundle / "empty"
        empty.mkdir(exist_ok=True)
        layers = [empty]
    for layer in layers:
        if ":" in str(layer) or "," in str(layer):
            raise RootfsError(f"layer directory {layer} holds ':' or ',', which overlayfs options cannot carry")
    options = overlay_options(layers, upper=upper, work=work)
    if len(options) > MAX_OPTIONS:
        raise RootfsError(
            f"the image has {len(layers)} layers whose paths make {len(options)} bytes of overlayfs options "
            f"(at most {MAX_OPTIONS}): use a shorter data directory or an image with fewer layers"
        )
    if _c().mount(b"overlay", str(rootfs).encode(), b"overlay", 0, options.encode()) != 0:
        error = ctypes.get_errno()
        raise RootfsError(f"mounting the overlay rootfs at {rootfs}: {os.strerror(error)} (options {options})")
    return rootfs


def unmount(target: Path) -> None:
    """Lazily unmount ``target`` if it is a mount point. Idempotent."""
    if not is_mount_point(target):
        return
    if _c().umount2(str(target).encode(), MNT_DETACH) != 0:
        error = ctypes.get_errno()
        if error not in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
            raise RootfsError(f"unmounting {target}: {os.strerror(error)}")


def is_mount_point(target: Path) -> bool:
    """True when ``target`` is listed as a mount point in this mount namespace."""
    wanted = str(target)
    try:
        with open("/proc/self/mountinfo", "rb") as mountinfo:
            for line in mountinfo:
                if _unescape(line.split(b" ", 5)[4].decode(errors="replace")) == wanted:
                    return True
    except OSError:
        return False
    return False


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below ``directory`` (tests and cleanup checks)."""
    prefix = str(directory).rstrip("/")
    found = []
    with open("/proc/self/mountinfo", "rb") as mountinfo:
        for line in mountinfo:
            point = _unescape(line.split(b" ", 5)[4].decode(errors="replace"))
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _unescape(field: str) -> str:
    r"""Mountinfo escapes space, tab, newline and backslash as octal (``\040``)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape")
