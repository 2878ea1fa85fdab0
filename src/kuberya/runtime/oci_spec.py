"""A container's OCI runtime ``config.json``, from its :class:`ContainerConfig` and its image's config.

The rules are upstream's (the kubelet with containerd's CRI plugin), so a Pod means the same here:

- **argv**: the pod's ``command`` replaces the image's ``Entrypoint`` (and then the image's ``Cmd``
  is ignored too); the pod's ``args`` replace the image's ``Cmd``. No argv at all is an error.
- **env**: ``PATH`` (a default), ``HOSTNAME`` (the pod's), then the image's ``Env``, then the
  pod's ``env``; a later value of the same name replaces an earlier one in its place.
- **workingDir** from the pod, else the image's ``WorkingDir``, else ``/``.
- **user**: ``runAsUser``/``runAsGroup`` from the securityContext, else the image's ``User``
  (``uid``, ``name``, ``uid:gid``, ``name:group``), names resolved in the container's own
  ``/etc/passwd`` and ``/etc/group``; the primary gid defaults to the user's passwd entry (else 0),
  and the groups that list the user by name are added.
- **capabilities**: containerd's default set, then ``add: [ALL]``/``drop: [ALL]``, then single
  adds and drops (``NET_ADMIN`` or ``CAP_NET_ADMIN``); privileged means all of them, limited to what
  the runtime itself holds (a capability outside our bounding set cannot be granted anyway).
- **namespaces**: new pid, ipc, uts and mount namespaces; the pod's network namespace by path (none
  for a pod on the host network). **No ``process.rlimits``**: raising them needs
  ``CAP_SYS_RESOURCE``, which kuberya's own sandbox may lack; containers inherit the runtime's.
- **mounts**: containerd's defaults (proc, dev, devpts, mqueue, sysfs and cgroup read-only, shm),
  the pod's ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname`` (read-only with a read-only
  root, as containerd does), then the container's own bind mounts (volumes, the termination-message
  file), parents before children.
- **resources**: ``cpu.shares`` from the CPU request, a CFS quota from the limit, the memory limit;
  the cgroup is ``cgroupsPath`` (relative: below runc's own cgroup, i.e. the agent's).

This module does no I/O except reading the rootfs's ``passwd``/``group`` for user names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberya.runtime.base import ContainerConfig, RuntimeError_
from kuberya.runtime.cgroups import CFS_PERIOD_US, milli_cpu_to_quota, milli_cpu_to_shares

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""containerd's (and Docker's) default capability set for a container."""

ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
"""Every capability, in kernel numbering order (``ALL_CAPABILITIES[n]`` is capability ``n``)."""

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


class OciSpecError(RuntimeError_):
    """The container cannot be described: no command, an unknown user…"""


@dataclass(frozen=True, slots=True)
class PodContext:
    """What the container takes from its pod."""

    hostname: str
    netns_path: str | None
    """None: the host's network."""
    files: Sequence[tuple[Path, str]] = ()
    """(host file, container path): ``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/hostname``."""
    cgroups_path: str = ""
    """Relative to runc's own cgroup (``kuberya/pod<uid>/<container id>``); empty: runc's default."""


@dataclass(frozen=True, slots=True)
class User:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


def resolve_argv(config: ContainerConfig, image_config: Mapping[str, Any]) -> list[str]:
    """Upstream's argv from the pod's command/args and the image's Entrypoint/Cmd.

    ``config.command`` holds the pod's ``command + args`` when ``image_entrypoint_override`` is set,
    else the pod's ``args`` alone (see :class:`ContainerConfig`).
    """
    if config.image_entrypoint_override:
        argv = list(config.command)
    else:
        entrypoint = list(image_config.get("Entrypoint") or [])
        argv = entrypoint + (list(config.command) if config.command else list(image_config.get("Cmd") or []))
    if not argv:
        raise OciSpecError(
            f"container {config.name} has no command: neither the pod nor the image {config.image} gives one "
            "(set command or args in the pod spec)"
        )
    return argv


def merge_env(*layers: Sequence[tuple[str, str]]) -> list[str]:
    """``NAME=value`` strings; a later layer's value replaces an earlier one's, in its place."""
    merged: dict[str, str] = {}
    for layer in layers:
        for name, value in layer:
            merged[name] = value
    return [f"{name}={value}" for name, value in merged.items()]


def image_env(image_config: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for item in image_config.get("Env") or []:
        name, _, value = str(item).partition("=")
        if name:
            pairs.append((name, value))
    return pairs


def container_env(config: ContainerConfig, image_config: Mapping[str, Any], *, hostname: str) -> list[str]:
    return merge_env([("PATH", DEFAULT_PATH), ("HOSTNAME", hostname)], image_env(image_config), config.env)


def _entries(rootfs: Path | None, name: str) -> list[list[str]]:
    """The colon-separated entries of ``/etc/<name>`` in the rootfs (none when absent or a symlink)."""
    if rootfs is None:
        return []
    path = rootfs / "etc" / name
    try:
        if path.is_symlink():  # it could point out of the rootfs: not worth following
            return []
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(config: ContainerConfig, image_user: str, rootfs: Path | None) -> User:
    """The process's uid, gid and supplementary groups (upstream's rules, in the module docstring)."""
    image_name, _, image_group = image_user.partition(":")
    passwd = _entries(rootfs, "passwd")
    groups = _entries(rootfs, "group")
    name = ""
    if config.run_as_user is not None:
        uid = config.run_as_user
        group_part = str(config.run_as_group) if config.run_as_group is not None else ""
    else:
        group_part = str(config.run_as_group) if config.run_as_group is not None else image_group
        if not image_name:
            uid = 0
        elif image_name.isdigit():
            uid = int(image_name)
        else:
            match = [e for e in passwd if e[0] == image_name and len(e) > 3]
            if not match:
                raise OciSpecError(f"user {image_name!r} of image {config.image} is not in its /etc/passwd")
            uid = int(match[0][2])
    entry = next((e for e in passwd if len(e) > 3 and e[2] == str(uid)), None)
    if entry is not None:
        name = entry[0]
    if not group_part:
        gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    elif group_part.isdigit():
        gid = int(group_part)
    else:
        found = [g for g in groups if g[0] == group_part and len(g) > 2]
        if not found:
            raise OciSpecError(f"group {group_part!r} of image {config.image} is not in its /etc/group")
        gid = int(found[0][2])
    extra = sorted(
        {int(g[2]) for g in groups if len(g) > 3 and g[2].isdigit() and name and name in g[3].split(",")} - {gid}
    )
    return User(uid=uid, gid=gid, additional_gids=(gid, *extra) if extra else ())


def _cap_name(name: str) -> str:
    upper = name.upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def capabilities(config: ContainerConfig, *, available: Sequence[str] = ALL_CAPABILITIES) -> list[str]:
    """The container's capability set (upstream's order of add/drop ``ALL`` then single ones)."""
    caps = list(ALL_CAPABILITIES if config.privileged else DEFAULT_CAPABILITIES)
    if not config.privileged:
        if any(c.upper() == "ALL" for c in config.capabilities_add):
            caps = list(ALL_CAPABILITIES)
        if any(c.upper() == "ALL" for c in config.capabilities_drop):
            caps = []
        for add in config.capabilities_add:
            if add.upper() != "ALL" and _cap_name(add) not in caps:
                caps.append(_cap_name(add))
        dropped = {_cap_name(c) for c in config.capabilities_drop}
        caps = [c for c in caps if c not in dropped]
    unknown = [c for c in caps if c not in ALL_CAPABILITIES]
    if unknown:
        raise OciSpecError(f"unknown capabilities {unknown} for container {config.name}")
    return [c for c in caps if c in available]


def _mount(destination: str, kind: str, source: str, options: Sequence[str]) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def default_mounts(*, privileged: bool) -> list[dict[str, Any]]:
    sys_mode = "rw" if privileged else "ro"
    return [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        ),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", sys_mode]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", sys_mode]),
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ]


def bind_mount(source: Path, destination: str, *, read_only: bool) -> dict[str, Any]:
    return _mount(destination, "bind", str(source), ["rbind", "rprivate", "ro" if read_only else "rw"])


def resources(config: ContainerConfig) -> dict[str, Any]:
    limits = config.resources
    spec: dict[str, Any] = {
        "devices": [{"allow": config.privileged, "access": "rwm"}],
        "cpu": {"shares": milli_cpu_to_shares(limits.cpu_request_millis)},
    }
    if limits.cpu_limit_millis:
        spec["cpu"]["quota"] = milli_cpu_to_quota(limits.cpu_limit_millis)
        spec["cpu"]["period"] = CFS_PERIOD_US
    if limits.memory_limit_bytes:
        spec["memory"] = {"limit": limits.memory_limit_bytes}
    return spec


def build_spec(
    config: ContainerConfig,
    image_config: Mapping[str, Any],
    pod: PodContext,
    *,
    rootfs: Path | None = None,
    available_capabilities: Sequence[str] = ALL_CAPABILITIES,
) -> dict[str, Any]:
    """The whole ``config.json`` (its ``root.path`` is ``rootfs``, relative to the bundle).

    ``rootfs`` is the mounted root filesystem, for user and group names; None skips the lookup.
    """
    user = resolve_user(config, str(image_config.get("User") or ""), rootfs)
    caps = capabilities(config, available=available_capabilities)
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if pod.netns_path:
        namespaces.append({"type": "network", "path": pod.netns_path})
    read_only = config.read_only_root_filesystem
    own_mounts = sorted(config.mounts, key=lambda m: len(Path(m.container_path).parts))
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources(config),
        "maskedPaths": [] if config.privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if config.privileged else list(READONLY_PATHS),
    }
    if pod.cgroups_path:
        linux["cgroupsPath"] = pod.cgroups_path
    process: dict[str, Any] = {
        "terminal": False,  # a tty container gets the shim's pty as its stdio (see runc.py)
        "user": {"uid": user.uid, "gid": user.gid},
        "args": resolve_argv(config, image_config),
        "env": container_env(config, image_config, hostname=pod.hostname),
        "cwd": config.working_dir or str(image_config.get("WorkingDir") or "") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": False,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": "rootfs", "readonly": read_only},
        "hostname": pod.hostname,
        "mounts": [
            *default_mounts(privileged=config.privileged),
            *(bind_mount(source, target, read_only=read_only) for source, target in pod.files),
            *(bind_mount(m.host_path, m.container_path, read_only=m.read_only) for m in own_mounts),
        ],
        "linux": linux,
    }


def own_capabilities(status: Path = Path("/proc/self/status")) -> list[str]:
    """The capabilities in this process's bounding set (``CapBnd``), by name."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return [name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1]
    except (OSError, ValueError):
        pass
    return list(ALL_CAPABILITIES)
