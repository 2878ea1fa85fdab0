"""Where a process-runtime container's volumes go: the ordered binds, and the mount points they need.

A process container sees the host's filesystem, so a volume is bound over the host's path at its
``mountPath``, in a mount namespace of the container's own (the shim does the binds:
:mod:`kuberya.runtime.shim`). Two facts shape this module:

- **Order.** Parents are bound before children (fewer path components first, as the OCI spec
  builder orders runc's mounts), so ``/data/logs`` lands *in* the volume at ``/data``. A mount
  point below an earlier bind therefore lives in that bind's source: ``/data/logs`` under a
  volume ``/data`` from ``/vol/a`` is the directory ``/vol/a/logs`` on the host, as runc makes
  mount points inside the volumes it has already mounted.
- **Mount points must exist.** A bind needs a directory (for a directory source) or a file (for
  anything else: a ``subPath`` file, a socket, a device) to land on. The least surprising way to
  get one is to make the *empty* directory or file on the host, record it, and take it away once
  no container of this runtime needs it: every alternative that keeps the host untouched either
  shadows host files (a tmpfs over the nearest existing ancestor hides everything beside it) or
  cannot work at ``/`` (an overlay over the root does not carry its submounts). So while a pod with
  a volume at ``/data`` runs, the host has an empty ``/data`` (as it has empty mount points for
  ``/run/netns`` entries); when its last container is removed the directory goes.

Removal is deliberately timid (:func:`release_mount_points`): an entry is removed only when this
runtime recorded making it, it is still the same inode, nothing is mounted on it in the host's
table, no live container of this runtime uses it as a mount point (a directory unlinked in one
mount namespace is detached from every other: another pod's volume would vanish), and it is
empty (an ``rmdir``; a file only while it is a regular file of size 0). Anything a user put there
keeps it. The registry is ``<state dir>/mountpoints.json``, so a restarted agent still cleans up.
What this cannot see: a container of *another* runtime instance (another state dir) that uses a
directory this one made keeps it only while it is not empty.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from kuberya.runtime.base import Mount

__all__ = [
    "Bind",
    "MountPoint",
    "make_mount_points",
    "plan_binds",
    "release_mount_points",
]

REGISTRY_NAME = "mountpoints.json"


@dataclass(frozen=True, slots=True)
class Bind:
    """One recursive bind of ``source`` (a host path) at ``target`` (the container's path)."""

    source: str
    target: str
    read_only: bool
    host_mount_point: str
    """Where ``target`` is on the host before any bind: ``target`` itself, or a path inside the
    source of the deepest earlier bind that contains it."""
    is_file: bool
    """The source is not a directory: the mount point must be a file."""


@dataclass(frozen=True, slots=True)
class MountPoint:
    path: str
    is_file: bool


def _container_path(path: str, working_dir: str) -> str:
    # containerd resolves a relative container path against the working directory; so do we.
    joined = path if path.startswith("/") else posixpath.join(working_dir or "/", path)
    return posixpath.normpath(joined).replace("//", "/")


def _inside(path: str, parent: str) -> str | None:
    """``path`` relative to ``parent`` when it is strictly below it, else None."""
    if parent == "/":
        return path[1:] or None
    if path.startswith(parent + "/"):
        return path[len(parent) + 1 :]
    return None


def plan_binds(
    mounts: Sequence[Mount], *, working_dir: str = "/", is_dir: Callable[[Path], bool] = Path.is_dir
) -> list[Bind]:
    """The container's mounts as binds in the order they must be made (a pure function of its input).

    ``is_dir`` says whether a source is a directory (by default: asks the filesystem).
    """
    targets = [(_container_path(m.container_path, working_dir), m) for m in mounts]
    # A stable sort: mounts at the same depth keep the pod's order (a later one at the same path wins).
    targets.sort(key=lambda pair: 0 if pair[0] == "/" else pair[0].count("/"))
    binds: list[Bind] = []
    for target, mount in targets:
        host_point = target
        for earlier in reversed(binds):
            relative = _inside(target, earlier.target)
            if relative is not None and not earlier.is_file:
                host_point = posixpath.join(earlier.source, relative)
                break
        binds.append(
            Bind(
                source=str(mount.host_path),
                target=target,
                read_only=mount.read_only,
                host_mount_point=host_point,
                is_file=not is_dir(mount.host_path),
            )
        )
    return binds


def missing_mount_points(binds: Sequence[Bind]) -> list[MountPoint]:
    """The binds' host mount points, each once, in order (a parent directory before what is in it)."""
    seen: set[str] = set()
    points: list[MountPoint] = []
    for bind in binds:
        if bind.host_mount_point not in seen:
            seen.add(bind.host_mount_point)
            points.append(MountPoint(bind.host_mount_point, bind.is_file))
    return points


def make_mount_points(binds: Sequence[Bind], state_dir: Path) -> tuple[list[Bind], list[str]]:
    """Make each missing mount point (and its missing parents) on the host, recorded for removal.

    Returns the binds that can be made and why the others cannot (one clear sentence each, with
    which the container's start then fails: its data must not land at the host's path instead).
    """
    registry = _Registry(state_dir / REGISTRY_NAME)
    failed: dict[str, str] = {}
    for bind in binds:
        if not os.path.exists(bind.source):
            failed[bind.host_mount_point] = f"the volume for {bind.target} is missing on the host ({bind.source})"
    for point in missing_mount_points(binds):
        if point.path in failed:
            continue
        try:
            _make(point, registry)
        except PermissionError as error:
            # Rootless: the user may not create it (``/data``). Say what would work instead.
            failed[point.path] = (
                f"cannot make the mount point {point.path} for a volume: {error.strerror or error} "
                f"(uid {os.geteuid()} may not create it: use a mountPath under a directory that user owns, "
                f"create {point.path} on the host first, or run kuberya as root)"
            )
        except OSError as error:
            failed[point.path] = f"cannot make the mount point {point.path} for a volume: {error.strerror or error}"
    kept = [b for b in binds if b.host_mount_point not in failed]
    return kept, list(failed.values())


def _make(point: MountPoint, registry: _Registry) -> None:
    path = Path(point.path)
    if os.path.lexists(path):
        return  # the host's own (or a dangling link, which the bind will report)
    missing: list[Path] = []
    parent = path.parent
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o755)
        registry.add(directory, is_file=False)
    if point.is_file:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
    else:
        path.mkdir(mode=0o755)
    registry.add(path, is_file=point.is_file)


def release_mount_points(state_dir: Path, in_use: Collection[str]) -> list[str]:
    """Remove the recorded mount points nothing needs any more (see the module docstring); what went."""
    registry = _Registry(state_dir / REGISTRY_NAME)
    if not registry.entries:
        return []
    mounted = _host_mount_points()
    removed: list[str] = []
    for entry in reversed(list(registry.entries)):
        path = str(entry["path"])
        if path in in_use or path in mounted:
            continue
        try:
            stat = os.lstat(path)
        except FileNotFoundError:
            registry.drop(entry)
            continue
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) != (entry["dev"], entry["ino"]):
            registry.drop(entry)  # replaced by someone else: theirs now
            continue
        try:
            if entry["file"]:
                if not (_is_regular(stat.st_mode) and stat.st_size == 0):
                    registry.drop(entry)  # something was written into it: never ours to delete
                    continue
                os.unlink(path)
            else:
                os.rmdir(path)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
                registry.drop(entry)
            continue  # not empty (yet): kept, and tried again at the next removal
        registry.drop(entry)
        removed.append(path)
    return removed


def _is_regular(mode: int) -> bool:
    return (mode & 0o170000) == 0o100000


def _host_mount_points(mountinfo: Path = Path("/proc/self/mountinfo")) -> set[str]:
    """Every mount point in this process's (the host's) mount table."""
    points: set[str] = set()
    with contextlib.suppress(OSError):
        for line in mountinfo.read_text().splitlines():
            fields = line.split(" ")
            if len(fields) > 4:
                points.add(_unescape(fields[4]))
    return points


def _unescape(field: str) -> str:
    r"""Undo mountinfo's escapes: space, tab, newline and backslash are written as an octal ``\NNN``."""
    if "\\" not in field:
        return field
    out, index = [], 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1 : index + 4].isdigit():
            out.append(chr(int(field[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


class _Registry:
    """The mount points this runtime made, in the order it made them (a JSON list, written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, object]] = []
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text())
            if isinstance(loaded, list):
                self.entries = [e for e in loaded if isinstance(e, dict) and {"path", "dev", "ino", "file"} <= e.keys()]

    def add(self, path: Path, *, is_file: bool) -> None:
        stat = os.lstat(path)
        self.entries.append({"path": str(path), "file": is_file, "dev": stat.st_dev, "ino": stat.st_ino})
        self._save()

    def drop(self, entry: dict[str, object]) -> None:
        self.entries.remove(entry)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.entries))
        os.replace(temporary, self.path)
