"""The local-path provisioner's side on disk: one directory per volume under ``DATA_DIR/volumes``.

What rancher's local-path-provisioner does with its ``setup`` and ``teardown`` helper pods, done
here directly (the provisioner runs on the node it provisions for): a volume is the directory
``DATA_DIR/volumes/<pv name>``, made world-writable as rancher's ``mkdir -m 0777`` (a pod running
as any user must be able to write its data), and removed whole when the volume is deleted.

Removal is the dangerous half, so it is fenced: only a directory that is a direct child of the
volumes directory - after resolving symlinks in its parent, and not itself a symlink - is ever
removed; any other path a PersistentVolume names is refused (:class:`UnsafePathError`), whatever
its annotations say. A directory is never removed on a failed provision unless it is empty, so no
data is lost to a retry.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

VOLUMES_DIR = "volumes"
"""Under the data directory: the parent of every provisioned volume's directory."""

VOLUME_MODE = 0o777
"""As rancher's setup script (``mkdir -m 0777 -p``): writable by a pod running as any user."""


class UnsafePathError(Exception):
    """A path the provisioner will not remove: not one of its volume directories."""


def free_bytes(path: Path) -> int:
    """Free space of the filesystem that holds ``path`` (its nearest existing ancestor)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass(frozen=True, slots=True)
class VolumeDirectories:
    """The volume directories of one data directory."""

    root: Path
    """``DATA_DIR/volumes``."""
    free: Callable[[Path], int] = free_bytes
    """How much space is left (tests pin it)."""

    @classmethod
    def of_data_dir(cls, data_dir: Path, *, free: Callable[[Path], int] = free_bytes) -> VolumeDirectories:
        return cls(Path(data_dir) / VOLUMES_DIR, free)

    def path_of(self, pv_name: str) -> Path:
        """Where the volume ``pv_name`` lives (a PV name is a DNS subdomain: never ``..`` or a ``/``)."""
        if not pv_name or "/" in pv_name or pv_name in (".", ".."):
            raise UnsafePathError(f"{pv_name!r} is not a volume name")
        return self.root / pv_name

    def free_space(self) -> int:
        return self.free(self.root)

    def make(self, pv_name: str) -> bool:
        """Make the volume's directory (a retry finds it made); return whether this call made it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path_of(pv_name)
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():
                raise UnsafePathError(f"{path} exists and is not a directory") from None
            return False
        # chmod, not mkdir's mode: the umask would take the group and other write bits off.
        path.chmod(VOLUME_MODE)
        return True

    def remove_if_empty(self, pv_name: str) -> None:
        """Undo :meth:`make` after a failed provision; a directory with anything in it is kept."""
        try:
            self.path_of(pv_name).rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # not empty (or not ours to remove): keep it, nothing is lost

    def check_removable(self, path: str | Path) -> Path:
        """``path`` if it is a volume directory of this data dir; else :class:`UnsafePathError`."""
        candidate = Path(path)
        if not candidate.is_absolute():
            raise UnsafePathError(f"{path} is not an absolute path")
        root = Path(os.path.realpath(self.root))
        parent = Path(os.path.realpath(candidate.parent))
        if parent != root or candidate.name in ("", ".", ".."):
            raise UnsafePathError(f"{path} is not a volume directory under {self.root}")
        resolved = root / candidate.name
        if resolved.is_symlink():
            raise UnsafePathError(f"{path} is a symbolic link, not a volume directory")
        return resolved

    def remove(self, path: str | Path) -> bool:
        """Remove the volume directory at ``path`` and everything in it; False if it was already gone.

        Raises :class:`UnsafePathError` for a path that is not a volume directory (nothing is
        touched) and ``OSError`` when the removal fails part-way (a retry continues it).
        """
        target = self.check_removable(path)
        if not target.exists():
            return False
        if not target.is_dir():
            raise UnsafePathError(f"{path} is not a directory")
        shutil.rmtree(target)
        return True
