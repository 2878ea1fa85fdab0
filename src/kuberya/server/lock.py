"""One server per data directory: an exclusive ``flock`` on ``DATA_DIR/kuberya.pid``.

The lock lives as long as the process holds the file open, so the kernel releases it however
the server dies (even ``kill -9``) and a stale pid file never blocks the next start: only a held
lock means "in use". The file's content — the holder's pid — is for people and for ``kuberya
down``, which also probes the lock before signalling so that it never signals a recycled pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path


class DataDirInUseError(Exception):
    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"by kuberya (pid {pid})" if pid else "by another kuberya"
        super().__init__(f"data dir {data_dir} is in use {holder}; run `kuberya down --data-dir {data_dir}` first")
        self.data_dir = data_dir
        self.pid = pid


class DataDirLock:
    """Held for the life of the server; :meth:`release` removes the pid file, then unlocks."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, *, patience_seconds: float = 0.2) -> DataDirLock:
        """Lock ``path`` and write our pid into it, or raise :class:`DataDirInUseError`.

        ``kuberya status``/``down`` probe the lock by taking it for an instant, so a failed
        attempt is retried for ``patience_seconds`` before the directory is declared in use.
        """
        deadline = time.monotonic() + patience_seconds
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise DataDirInUseError(path.parent, read_pid(path)) from None
                time.sleep(0.01)
                continue
            # The previous holder unlinks the file before unlocking; if we locked that unlinked
            # inode, the path now names a different file (or none) and our lock guards nothing.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
