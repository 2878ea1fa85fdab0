"""The records a shim-supervised runtime keeps on disk, and how they are read and written.

``sandboxes/<id>/sandbox.json`` is a :class:`SandboxRecord` and ``containers/<id>/config.json`` a
:class:`ContainerRecord` (the layout is in :mod:`kuberya.runtime.supervised`). Records are
replaced whole: :func:`write_json` writes a temporary file beside the record and renames it over,
so a reader (another agent instance after a restart) never sees half of one; :func:`read_json`
answers ``None`` for a record that is missing or torn rather than raising.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kuberya.runtime.base import SandboxStatus
from kuberya.runtime.cgroups import CgroupManager, PodCgroup


@dataclass
class SandboxRecord:
    """``sandbox.json``."""

    id: str
    config: dict[str, Any]
    ip: str
    netns_path: str | None
    created_at: float
    ready: bool
    cgroup: dict[str, Any] | None
    userns_path: str | None = None
    """The user namespace that owns ``netns_path`` (rootless network): containers join both."""

    def status(self) -> SandboxStatus:
        return SandboxStatus(
            id=self.id,
            pod_uid=self.config["pod_uid"],
            name=self.config["name"],
            namespace=self.config["namespace"],
            ready=self.ready,
            ip=self.ip or None,
            netns_path=self.netns_path,
            created_at=self.created_at,
        )

    @property
    def pod_cgroup(self) -> PodCgroup | None:
        return PodCgroup(version=self.cgroup["version"], paths=self.cgroup["paths"]) if self.cgroup else None

    @property
    def cgroup_relative(self) -> str:
        """The pod cgroup's path relative to the runtime's own cgroup (``kuberya/pod<uid>``)."""
        return str(self.config.get("cgroup_parent") or CgroupManager.pod_path(self.config["pod_uid"]))


@dataclass
class ContainerRecord:
    """``config.json``."""

    id: str
    sandbox_id: str
    name: str
    image: str
    log_path: str
    labels: dict[str, str]
    created_at: float
    stop_signal: int
    resources: dict[str, int]
    exec_context: dict[str, Any]
    """The process runtime's :class:`ExecContext`; empty for runc."""
    image_id: str = ""
    runtime_data: dict[str, Any] = field(default_factory=dict)
    """What the runtime itself needs again (runc: the bundle, the runc id, the rootfs mount)."""


@dataclass(frozen=True, slots=True)
class PreparedContainer:
    """What :meth:`ShimRuntime._prepare_container` made: the shim's spec and the record's extras."""

    shim_spec: dict[str, Any]
    image_id: str
    exec_context: dict[str, Any] = field(default_factory=dict)
    runtime_data: dict[str, Any] = field(default_factory=dict)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return record


def int_or_none(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, record: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, default=str))
    os.replace(temporary, path)
