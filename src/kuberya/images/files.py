"""File operations the image store is built from: locks, atomic writes and removal of trees.

Every file of the store appears by ``rename`` of a complete temporary file written and ``fsync``'d
next to it (:func:`atomic_write`), so a reader sees a file entirely or not at all. Locks are
``flock`` on a lock file (:func:`flock`), released by closing it, so a killed process never leaves
one held. Unpacked images may contain read-only directories; :func:`remove_tree` makes them
writable on the way down rather than failing half-way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write(path: Path, data: bytes, *, tmp_dir: Path) -> None:
    tmp = tmp_dir / f"{path.name}.{os.urandom(8).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_tree(path: Path) -> None:
    """``rm -rf`` that also copes with the read-only directories an image may contain."""

    def make_writable(func: Any, failed: str, _exc: Any) -> None:
        parent = os.path.dirname(failed)
        with contextlib.suppress(OSError):
            os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            with contextlib.suppress(OSError):
                os.chmod(failed, stat.S_IRWXU)
        func(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=make_writable)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
