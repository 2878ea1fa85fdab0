"""``fsGroup`` ownership of a volume, as the kubelet's ``SetVolumeOwnership`` (``pkg/volume/volume_linux.go``).

Every file and directory of the volume gets the group ``fsGroup``; files gain group read (and
write, unless the volume is read-only: configMap, secret, downwardAPI and projected volumes are),
directories also group search and the setgid bit, so what a container creates there inherits
the group. Symlinks are re-grouped but their modes left alone. With ``fsGroupChangePolicy:
OnRootMismatch`` the walk is skipped when the volume's root already has that group, the wanted
permissions and setgid, which keeps pod start fast on a large volume.

Only root can give files away to any group: a node agent that is not root leaves ownership alone.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

_RW = stat.S_IRGRP | stat.S_IWGRP
_RO = stat.S_IRGRP
_EXEC = stat.S_IXGRP


def pod_fs_group(pod: Obj) -> tuple[int | None, str]:
    """The pod's ``fsGroup`` and ``fsGroupChangePolicy`` (``Always`` by default)."""
    security = (pod.get("spec") or {}).get("securityContext") or {}
    group = security.get("fsGroup")
    policy = str(security.get("fsGroupChangePolicy") or "Always")
    return (int(group) if group is not None else None), policy


def needs_change(root: Path, fs_group: int, *, read_only: bool) -> bool:
    """Upstream's ``requiresPermissionChange``: False when the root already looks right."""
    try:
        info = root.stat()
    except OSError:
        return True
    if info.st_gid != fs_group or not stat.S_ISDIR(info.st_mode):
        return True
    wanted = (_RO if read_only else _RW) | _EXEC
    return (info.st_mode & wanted) != wanted or not info.st_mode & stat.S_ISGID


def set_volume_ownership(root: Path, fs_group: int | None, *, read_only: bool, policy: str = "Always") -> bool:
    """Give ``root``'s tree to ``fs_group``; False when nothing was done (no group, not root, up to date)."""
    if fs_group is None:
        return False
    if os.geteuid() != 0:
        logger.debug("not root: fsGroup %s of %s left alone", fs_group, root)
        return False
    if policy == "OnRootMismatch" and not needs_change(root, fs_group, read_only=read_only):
        return False
    mask = _RO if read_only else _RW
    _change(root, fs_group, mask)
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            _change(Path(directory) / name, fs_group, mask)
    return True


def _change(path: Path, fs_group: int, mask: int) -> None:
    try:
        os.lchown(path, -1, fs_group)
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return
        extra = mask | (_EXEC | stat.S_ISGID if stat.S_ISDIR(info.st_mode) else 0)
        os.chmod(path, stat.S_IMODE(info.st_mode) | extra)
    except FileNotFoundError:
        pass  # removed while we walked (a container writing): nothing to own
