"""``hostPath`` volumes: upstream's type checks (``pkg/volume/hostpath/host_path.go``), messages included.

``type`` is checked at every setup, as the kubelet's ``SetUp`` does, so a pod waits (``FailedMount``)
until the path is what it asks for: ``DirectoryOrCreate`` makes a missing directory (0755) and
``FileOrCreate`` a missing empty file (0644; its parent must exist, as upstream); ``Directory``,
``File``, ``Socket``, ``CharDevice`` and ``BlockDevice`` require the path to exist with that type;
``""`` (unset) checks nothing.

A node agent that is not root (rootless) cannot reach every host path: a path its user cannot
search or read fails with a message saying so, rather than a container that finds nothing there.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = {
    "Directory": "directory",
    "File": "file",
    "Socket": "socket file",
    "CharDevice": "character device",
    "BlockDevice": "block device",
}
TYPES = frozenset({"", "DirectoryOrCreate", "FileOrCreate", *_KINDS})


class HostPathError(Exception):
    """The host path is not (yet) what the volume asks for; str() is upstream's message."""


def file_type(mode: int) -> str:
    """The ``HostPathType`` name of a file mode, as ``hostutil.GetFileType`` names it."""
    if stat.S_ISDIR(mode):
        return "Directory"
    if stat.S_ISREG(mode):
        return "File"
    if stat.S_ISSOCK(mode):
        return "Socket"
    if stat.S_ISCHR(mode):
        return "CharDevice"
    if stat.S_ISBLK(mode):
        return "BlockDevice"
    raise HostPathError("only recognise file, directory, socket, block device and character device")


def check_host_path(path: str, path_type: str, *, rootless: bool | None = None) -> Path:
    """Make or check ``path`` as ``path_type`` asks; returns it. :class:`HostPathError` when it fails."""
    if ".." in path.split("/"):
        raise HostPathError(f"invalid HostPath `{path}`: must not contain '..'")
    rootless = os.geteuid() != 0 if rootless is None else rootless
    target = Path(path)
    if path_type not in TYPES:
        raise HostPathError(f"{path_type} is an invalid volume type")
    try:
        if path_type == "DirectoryOrCreate" and not os.path.lexists(path):
            _make_dir(target)
        elif path_type == "FileOrCreate" and not os.path.lexists(path):
            _make_file(target)
    except PermissionError as exc:
        raise HostPathError(_unreachable(path, exc)) from None
    except OSError as exc:
        raise HostPathError(f"hostPath {path} could not be created: {exc.strerror}") from None
    wanted = path_type.removesuffix("OrCreate")
    if wanted:
        _type_matches(path, wanted)
    if rootless and os.path.exists(path):
        _check_reachable(path)
    return target


def _make_dir(target: Path) -> None:
    target.mkdir(mode=0o755, parents=True, exist_ok=True)


def _make_file(target: Path) -> None:
    # O_CREAT only, as upstream's makeFile: the parent must already exist.
    fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)


def _type_matches(path: str, wanted: str) -> None:
    description = _KINDS[wanted]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise HostPathError(f"hostPath {path} doesn't exist") from None
    except PermissionError as exc:
        raise HostPathError(_unreachable(path, exc)) from None
    try:
        found = file_type(mode)
    except HostPathError as exc:
        raise HostPathError(
            f"hostPath type check failed, {path} is not a {description}, unable to determine its type: {exc}"
        ) from None
    if found != wanted:
        raise HostPathError(f"hostPath type check failed: {path} is not a {description}, it's a {found}")


def _check_reachable(path: str) -> None:
    wanted = os.R_OK | os.X_OK if os.path.isdir(path) else os.R_OK
    if not os.access(path, wanted):
        raise HostPathError(_unreachable(path, PermissionError(errno.EACCES, os.strerror(errno.EACCES))))


def _unreachable(path: str, exc: OSError) -> str:
    return (
        f"hostPath {path} is not reachable by the node agent's user (uid {os.geteuid()}): "
        f"{exc.strerror or exc}; a node that is not run as root serves only the host paths its user can read"
    )
