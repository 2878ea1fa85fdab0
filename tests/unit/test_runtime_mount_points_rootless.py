"""A rootless process pod whose volume is at a path its user cannot create (``/data``).

The container must not start without its volume (it would write to the host's path and lose its
data): :func:`make_mount_points` refuses the bind, and its sentence, which the shim ends the start
with (``ContainerCannotRun``, reported by the node agent as a ``Failed`` event), says what to do.
Root can create anything, so the user's refusal is the one the kernel gives a non-root ``mkdir``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from kuberya.runtime.base import Mount
from kuberya.runtime.mountplan import make_mount_points, plan_binds


def test_a_mount_point_the_user_may_not_create_fails_the_start_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    target = tmp_path / "root-owned" / "data"  # stands for /data: its parent is not the user's

    def refused(self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", refused)
    made, errors = make_mount_points(plan_binds((Mount(volume, str(target)),)), tmp_path / "state")
    monkeypatch.undo()

    assert made == []
    first = target.parent  # the missing parent is the first thing it cannot make
    assert errors == [
        f"cannot make the mount point {target} for a volume: Permission denied (uid {os.geteuid()} may not create "
        f"it: use a mountPath under a directory that user owns, create {target} on the host first, or run kuberya "
        "as root)"
    ]
    assert not first.exists()
