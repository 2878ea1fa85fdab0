"""Pod cgroups: CPU and memory limits and accounting, cgroup v1 (hybrid) or v2.

Each pod gets ``<own cgroup>/kuberya/pod<uid>`` in every controller kuberya uses (v1: ``cpu``,
``cpuacct``, ``memory``, ``pids``; v2: one unified directory). ``<own cgroup>`` is the cgroup the
runtime itself runs in, read from ``/proc/self/cgroup``, not the hierarchy's root: pods then stay
inside whatever the runtime was confined to (a systemd unit, a CI job's cgroup) instead of
escaping it. The paths are recorded with the sandbox, so a runtime restarted elsewhere still finds
them.

Values follow upstream's kubelet: ``cpu.shares`` from the pod's CPU requests (``MilliCPUToShares``:
``milli * 1024 / 1000``, clamped to 2…262144), a CFS quota of ``milli * period / 1000`` over a
100 ms period from the limits (unlimited unless every container has one), ``memory.limit_in_bytes``
from the memory limits (likewise). On v2 the shares become ``cpu.weight`` with upstream's
conversion, the quota ``cpu.max`` and the limit ``memory.max``.

Containers join by the shim's child writing to ``cgroup.procs`` before ``exec``. Removing a pod
kills whatever is still in its cgroups (a pod's processes die with it) and then removes the
directories. All of this needs root; :meth:`CgroupManager.detect` returns None otherwise and the
runtime accounts from ``/proc`` instead (:mod:`kuberya.runtime.procstat`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kuberya.runtime.base import Resources

log = logging.getLogger(__name__)

V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
PARENT = "kuberya"
CFS_PERIOD_US = 100_000
MIN_SHARES, MAX_SHARES, SHARES_PER_CPU = 2, 262_144, 1024
MIN_QUOTA_US = 1000


def milli_cpu_to_shares(milli: int) -> int:
    """Upstream's ``MilliCPUToShares``: no request still gets the minimum weight, not zero."""
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli: int, period_us: int = CFS_PERIOD_US) -> int:
    """Upstream's ``MilliCPUToQuota``; -1 (unlimited) for no limit."""
    if milli == 0:
        return -1
    return max(MIN_QUOTA_US, milli * period_us // 1000)


def shares_to_weight(shares: int) -> int:
    """Upstream's cgroup v2 conversion of ``cpu.shares`` (2…262144) to ``cpu.weight`` (1…10000)."""
    return 1 + ((shares - 2) * 9999) // 262_142


@dataclass(frozen=True, slots=True)
class PodLimits:
    cpu_shares: int = MIN_SHARES
    cpu_quota_us: int = -1
    memory_limit_bytes: int = -1
    """-1: unlimited."""

    @classmethod
    def for_containers(cls, resources: list[Resources]) -> PodLimits:
        """The pod's limits from its containers' (a limit only when every container sets one)."""
        cpu_limited = bool(resources) and all(r.cpu_limit_millis for r in resources)
        memory_limited = bool(resources) and all(r.memory_limit_bytes for r in resources)
        return cls(
            cpu_shares=milli_cpu_to_shares(sum(r.cpu_request_millis for r in resources)),
            cpu_quota_us=milli_cpu_to_quota(sum(r.cpu_limit_millis for r in resources)) if cpu_limited else -1,
            memory_limit_bytes=sum(r.memory_limit_bytes for r in resources) if memory_limited else -1,
        )


@dataclass(frozen=True, slots=True)
class PodCgroup:
    """Where one pod's cgroups are: a directory per v1 controller, or one v2 directory."""

    version: int
    paths: dict[str, str]
    """Controller (v1) or ``unified`` (v2) → absolute directory."""

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a container's process writes itself into."""
        return [f"{path}/cgroup.procs" for path in dict.fromkeys(self.paths.values())]

    @property
    def oom_file(self) -> str | None:
        """The file with the ``oom_kill`` counter the shim compares before and after."""
        if self.version == 1:
            return f"{self.paths['memory']}/memory.oom_control" if "memory" in self.paths else None
        return f"{self.paths['unified']}/memory.events"

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in Path(procs).read_text().split())
            except OSError:
                continue
        return found

    def usage(self) -> tuple[float, int] | None:
        """(cumulative CPU seconds, memory working set bytes), upstream's working-set definition."""
        try:
            if self.version == 1:
                cpu = int(_read(self.paths["cpuacct"], "cpuacct.usage")) / 1e9
                memory = int(_read(self.paths["memory"], "memory.usage_in_bytes"))
                inactive = _stat(self.paths["memory"], "memory.stat").get("total_inactive_file", 0)
            else:
                unified = self.paths["unified"]
                cpu = _stat(unified, "cpu.stat").get("usage_usec", 0) / 1e6
                memory = int(_read(unified, "memory.current"))
                inactive = _stat(unified, "memory.stat").get("inactive_file", 0)
        except (OSError, KeyError, ValueError):
            return None
        return cpu, max(0, memory - inactive)

    def apply(self, limits: PodLimits) -> None:
        if self.version == 1:
            _write(self.paths["cpu"], "cpu.shares", str(limits.cpu_shares))
            _write(self.paths["cpu"], "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(self.paths["cpu"], "cpu.cfs_quota_us", str(limits.cpu_quota_us))
            _write(self.paths["memory"], "memory.limit_in_bytes", str(limits.memory_limit_bytes))
            return
        unified = self.paths["unified"]
        quota = "max" if limits.cpu_quota_us < 0 else str(limits.cpu_quota_us)
        # v2 controllers may be missing where the parent did not delegate them: limits are best effort.
        for name, value in (
            ("cpu.weight", str(shares_to_weight(limits.cpu_shares))),
            ("cpu.max", f"{quota} {CFS_PERIOD_US}"),
            ("memory.max", "max" if limits.memory_limit_bytes < 0 else str(limits.memory_limit_bytes)),
        ):
            try:
                _write(unified, name, value)
            except OSError as error:
                log.debug("cgroup v2 %s/%s not set: %s", unified, name, error)

    def kill_all(self, *, timeout: float = 2.0) -> None:
        """SIGKILL every process left in the pod's cgroups and wait (briefly) until they are gone."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                log.warning("processes %s outlived SIGKILL in %s", sorted(pids), self.paths)
                return
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left, then remove the directories. Idempotent."""
        self.kill_all()
        for path in dict.fromkeys(self.paths.values()):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("cannot remove cgroup %s: %s", path, error)


class CgroupManager:
    """Creates pod cgroups below the runtime's own cgroup, for the hierarchy this machine has."""

    def __init__(self, *, version: int, bases: dict[str, Path]) -> None:
        self.version = version
        self.bases = bases
        """Controller (or ``unified``) → the runtime's own cgroup directory in that hierarchy."""

    @classmethod
    def detect(cls, *, root: Path = Path("/sys/fs/cgroup")) -> CgroupManager | None:
        """The manager for this machine, or None when not root or no usable hierarchy is mounted."""
        if os.geteuid() != 0:
            return None
        own = _own_cgroups()
        if (root / "cgroup.controllers").exists():  # pure v2: the unified hierarchy at the root
            return cls(version=2, bases={"unified": _join(root, own.get("", "/"))})
        bases = {}
        for controller in V1_CONTROLLERS:
            mount = _v1_mount(root, controller)
            if mount is None:
                log.info("cgroup v1 controller %s is not mounted: pods go without cgroups", controller)
                return None
            bases[controller] = _join(mount, own.get(controller, "/"))
        return cls(version=1, bases=bases)

    @staticmethod
    def pod_path(pod_uid: str) -> str:
        """The default place of a pod's cgroup, relative to the runtime's own."""
        return f"{PARENT}/pod{pod_uid}"

    def create(self, relative: str) -> PodCgroup:
        """Make ``relative`` (e.g. ``kuberya/pod<uid>``) in every hierarchy; existing ones are kept."""
        parts = [part for part in relative.split("/") if part and part != ".."]
        if not parts:
            raise ValueError(f"cgroup path {relative!r} names no directory")
        paths = {}
        for controller, base in self.bases.items():
            path = base.joinpath(*parts)
            if self.version == 2:
                self._delegate_v2(path.parent)
            path.mkdir(parents=True, exist_ok=True)
            paths[controller] = str(path)
        return PodCgroup(version=self.version, paths=paths)

    def _delegate_v2(self, parent: Path) -> None:
        # Enable the controllers for pods in their parent; where the parent itself holds processes
        # (v2's no-internal-processes rule) this fails and pods get accounting only.
        parent.mkdir(parents=True, exist_ok=True)
        try:
            _write(str(parent), "cgroup.subtree_control", "+cpu +memory +pids")
        except OSError as error:
            log.debug("cgroup v2 controllers not delegated to %s: %s", parent, error)

    def remove_everywhere(self, relative: str) -> None:
        """Remove ``relative`` and everything below it in *every* mounted hierarchy, deepest first.

        runc makes a container's cgroup in all the v1 hierarchies it finds (cpuset, devices,
        freezer, blkio, ``name=systemd``…), not only the four kuberya uses, and removes just the
        container's own directory; the pod's parents there are removed here. Directories that still
        hold processes stay (with a warning).
        """
        parts = [part for part in relative.split("/") if part and part != ".."]
        if not parts:
            return
        bases = set(self.bases.values()) | (set(_all_v1_bases()) if self.version == 1 else set())
        for base in bases:
            top = base.joinpath(*parts)
            if not top.is_dir():
                continue
            below = sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)
            for directory in below:
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError as error:
                    log.warning("cannot remove cgroup %s: %s", directory, error)

    def remove_parent(self) -> None:
        """Remove the ``kuberya`` parents once no pod is left in them (tests' cleanup)."""
        for base in self.bases.values():
            with contextlib.suppress(OSError):
                (base / PARENT).rmdir()


def _own_cgroups() -> dict[str, str]:
    """Controller → this process's cgroup path (``""`` is the v2 hierarchy)."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _all_v1_bases() -> list[Path]:
    """Our own cgroup directory in every mounted v1 hierarchy."""
    own = _own_cgroups()
    bases = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] != "cgroup":
            continue
        options = fields[separator + 3].split(",")
        for key, path in own.items():
            if key and set(key.split(",")) <= set(options):
                bases.append(_join(Path(fields[4]), path))
                break
    return bases


def _v1_mount(root: Path, controller: str) -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, super_options = fields[separator + 1], fields[separator + 3]
        if fstype == "cgroup" and controller in super_options.split(","):
            return Path(fields[4])
    candidate = root / controller
    return candidate if (candidate / "cgroup.procs").exists() else None


def _join(mount: Path, path: str) -> Path:
    return mount / path.lstrip("/") if path.strip("/") else mount


def _read(directory: str, name: str) -> str:
    return Path(directory, name).read_text().strip()


def _write(directory: str, name: str, value: str) -> None:
    Path(directory, name).write_text(value)


def _stat(directory: str, name: str) -> dict[str, int]:
    values = {}
    for line in _read(directory, name).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values
