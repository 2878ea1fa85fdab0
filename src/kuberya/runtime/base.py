"""The container runtime contract: pod sandboxes and containers, as narrow as the CRI.

The node agent (:mod:`kuberya.node`) speaks only this protocol, so the same Pod semantics hold
on every runtime:

- ``process``: containers are host processes (the image's filesystem is not used; command,
  args, env and workingDir are). As root each pod gets its own network namespace on the
  kuberya bridge; otherwise its own user and network namespace with a loopback pod IP
  (:mod:`kuberya.runtime.rootless`), or, where user namespaces are not allowed, the host network.
- ``runc``: real OCI containers: an overlayfs rootfs from the image's layers, namespaces, cgroup
  limits, the pod's network namespace (:mod:`kuberya.runtime.runc`).
- ``fake``: in memory, for unit tests of the node agent only.

A *sandbox* is what a pod's containers share: a network namespace (with the pod IP), a
hostname, a cgroup parent. Containers are created in a sandbox, started, stopped with a
signal and a grace period, and removed. Their stdout/stderr go to ``log_path`` in the CRI
log format (``<RFC3339Nano> <stdout|stderr> <F|P> <text>``), written by a per-container shim
that outlives the agent, so an agent restart can re-adopt running containers and still learn
their exit codes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class RuntimeError_(Exception):
    """A runtime operation failed; the message says what and, where possible, what to do."""


class NotFoundError(RuntimeError_):
    """No sandbox or container with that id."""


@dataclass(frozen=True, slots=True)
class PortMapping:
    container_port: int
    protocol: str = "TCP"
    host_port: int = 0
    host_ip: str = ""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    pod_uid: str
    name: str
    namespace: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dns_nameservers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    host_network: bool = False
    ports: tuple[PortMapping, ...] = ()
    """The pod's host ports."""
    container_ports: tuple[int, ...] = ()
    """Every TCP ``containerPort`` of the pod's containers: what a network without a bridge (the
    rootless one) publishes on the pod IP."""
    cgroup_parent: str = ""
    """Where the pod's cgroup goes (e.g. ``kuberya/pod<uid>``); empty: the runtime decides."""
    runtime_handler: str = ""
    """The RuntimeClass handler to run the pod with (CRI's ``RunPodSandboxRequest.runtime_handler``);
    empty: the default. Read by :class:`~kuberya.runtime.handlers.HandlerRuntime`; a single runtime
    ignores it (the node checks a pod's handler before it asks)."""
    hostname_domain: str = ""
    """The pod's DNS domain, ``<subdomain>.<namespace>.svc.<cluster domain>``, when it names a
    ``subdomain`` (a StatefulSet pod does): its ``/etc/hosts`` line then carries the FQDN too."""
    host_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``spec.hostAliases`` as (IP, hostnames): extra ``/etc/hosts`` lines, as the kubelet writes them."""
    kernel_hostname: str = ""
    """The name the pod's UTS namespace (``gethostname()``, ``HOSTNAME``, ``/etc/hostname``) gets,
    when it is not ``hostname``: the FQDN of a pod with ``setHostnameAsFQDN`` (the kubelet's
    ``GetNodenameForKernel``). ``/etc/hosts`` keeps the short name and its domain."""


def kernel_hostname(config: Mapping[str, Any]) -> str:
    """The UTS hostname of a recorded :class:`SandboxConfig` (its fields as a dict)."""
    return str(config.get("kernel_hostname") or config["hostname"])


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    id: str
    pod_uid: str
    name: str
    namespace: str
    ready: bool
    ip: str | None
    """The pod IP: its own on the bridge or on loopback (rootless), or the host's when it shares the host network."""
    netns_path: str | None
    created_at: float
    runtime_handler: str = ""
    """The handler that runs it, as CRI's ``PodSandboxStatus.runtime_handler`` (set by
    :class:`~kuberya.runtime.handlers.HandlerRuntime`; empty from a runtime on its own)."""


@dataclass(frozen=True, slots=True)
class Mount:
    host_path: Path
    container_path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_request_millis: int = 0
    cpu_limit_millis: int = 0
    memory_request_bytes: int = 0
    memory_limit_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    name: str
    image: str
    command: tuple[str, ...]
    """The pod's ``command + args`` when the pod sets ``command`` (then ``image_entrypoint_override``
    is True), else the pod's ``args`` alone (possibly empty), ``$(VAR)`` already expanded.

    The process runtime runs it as the argv. The runc runtime applies upstream's rules with the
    image config: override → this argv; otherwise the image's ``Entrypoint`` + (this, or the image's
    ``Cmd`` when this is empty)."""
    env: tuple[tuple[str, str], ...]
    log_path: Path
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    resources: Resources = field(default_factory=Resources)
    run_as_user: int | None = None
    run_as_group: int | None = None
    privileged: bool = False
    read_only_root_filesystem: bool = False
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    image_entrypoint_override: bool = False
    """True when the pod set ``command`` (runtimes with image config then ignore the image's Entrypoint
    and Cmd)."""
    stop_signal: int = 15
    labels: dict[str, str] = field(default_factory=dict)
    """Carried to the container's metadata so a restarted agent can map it back to its pod."""


class ContainerState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    image: str
    image_id: str
    state: ContainerState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    """``Completed`` (exit 0), ``Error``, ``OOMKilled``, ``ContainerCannotRun`` …, upstream's words."""
    message: str = ""
    pid: int | None = None
    log_path: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A container changed state (started, exited); lets the agent react without polling."""

    container_id: str
    sandbox_id: str
    state: ContainerState


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    timestamp: float
    cpu_usage_seconds: float
    """Cumulative CPU time; rates come from two samples."""
    memory_working_set_bytes: int


class ExecSession(Protocol):
    """A command running inside a container, with its streams."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def stdout(self) -> AsyncIterator[bytes]:
        """Chunks of stdout (with a tty: the merged terminal output)."""

    def stderr(self) -> AsyncIterator[bytes]:
        """Chunks of stderr (empty with a tty)."""

    async def resize(self, *, width: int, height: int) -> None: ...

    async def wait(self) -> int:
        """The exit code, once the command ends."""

    async def kill(self) -> None: ...


class ContainerRuntime(Protocol):
    """What the node agent needs from a runtime. All ids are opaque strings."""

    name: str

    async def start(self) -> None:
        """Prepare (state dirs, the pod network); called once before anything else."""

    async def close(self) -> None:
        """Release the runtime's own resources. Containers keep running (they belong to pods)."""

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxStatus: ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (SIGKILL) and tear down its network."""

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove the sandbox and all it owns (state, cgroups, netns). Idempotent."""

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """Every sandbox this runtime knows, including those made before an agent restart."""

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, *, timeout: float, signal: int = 15) -> None:
        """Send ``signal``; after ``timeout`` seconds SIGKILL; return once the process has exited."""

    async def remove_container(self, container_id: str) -> None: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    def events(self) -> AsyncIterator[ContainerEvent]:
        """Container state changes as they happen (exits above all)."""

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> ExecSession: ...

    async def exec_sync(self, container_id: str, command: list[str], *, timeout: float) -> tuple[int, bytes]:
        """Run to completion (exec probes): (exit code, combined output). Timeout → exit code -1."""

    async def sandbox_usage(self, sandbox_id: str) -> ResourceUsage | None:
        """CPU and memory of the whole pod, or None where it isn't accounted."""

    async def container_usage(self, container_id: str) -> ResourceUsage | None:
        """CPU and memory of one running container (its process tree), or None when it is not running.

        Only needed to split a pod with several containers; a lone container's usage is its pod's.
        """
