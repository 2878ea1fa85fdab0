"""What the agent knows about each pod it runs: its sandbox and one record per container.

A :class:`PodState` is owned by the pod's worker (nothing else mutates it, except the probe
callbacks, which only set flags and wake the worker). A :class:`ContainerRecord` follows one
container of the spec across its instances: the current runtime container, the previous one
(for ``lastState`` and ``kubectl logs --previous``), the restart count and the back-off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kuberya.meta.types import Obj
from kuberya.runtime.base import ContainerState, ContainerStatus, SandboxStatus

# Labels on runtime sandboxes and containers: a restarted agent maps them back to pods with these.
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
LABEL_CONTAINER_KIND = "kuberya.io/container-kind"
"""``init`` or ``app``."""
LABEL_IMAGE_ID = "kuberya.io/image-id"
"""The pulled image as ``repository@digest``: the container's ``imageID``, kept across agent restarts."""


@dataclass
class ContainerRecord:
    name: str
    spec: Obj
    init: bool
    container_id: str | None = None
    restart_count: int = 0
    """The current instance's number: 0 for the first, +1 per restart."""
    status: ContainerStatus | None = None
    """The runtime's last word on the current instance."""
    previous_id: str | None = None
    last_terminated: Obj | None = None
    """``lastState.terminated`` as the API shows it: the previous instance's end."""
    waiting_reason: str | None = None
    """Why there is no running instance (``CreateContainerConfigError`` …); None: the default."""
    waiting_message: str = ""
    backoff: float = 0.0
    """The next restart delay; 0: the next restart is immediate."""
    backoff_until: float | None = None
    """While in CrashLoopBackOff: when (agent clock) the restart may happen."""
    exited_at: float | None = None
    running_since: float | None = None
    exit_handled: bool = False
    started: bool = False
    """The startup probe succeeded (or there is none) for the current instance."""
    ready: bool = False
    kill_requested: str = ""
    """Why the current instance must be killed (a failed liveness/startup probe)."""
    probes: list[asyncio.Task[None]] = field(default_factory=list)
    probe_ready: bool = False
    termination_message: str = ""
    """``state.terminated.message`` of the current instance, read when it exited."""
    pull_backoff: float = 0.0
    """The delay before the next pull of :attr:`pull_failed_image` (ImagePullBackOff); 0: none."""
    pull_retry_at: float | None = None
    """When (agent clock) that image may be pulled again."""
    pull_failed_image: str = ""

    @property
    def state(self) -> ContainerState | None:
        return self.status.state if self.status is not None else None

    @property
    def running(self) -> bool:
        return self.state is ContainerState.RUNNING

    @property
    def exited(self) -> bool:
        return self.state is ContainerState.EXITED

    @property
    def succeeded(self) -> bool:
        return self.exited and self.status is not None and self.status.exit_code == 0

    def will_restart(self, policy: str) -> bool:
        """Whether an exited instance is to be restarted under the pod's ``restartPolicy``."""
        if not self.exited or self.status is None:
            return False
        if policy == "Always" and not self.init:
            return True
        if policy == "Never":
            return False
        return self.status.exit_code != 0


@dataclass
class PodState:
    uid: str
    namespace: str
    name: str
    pod: Obj
    init: list[ContainerRecord] = field(default_factory=list)
    app: list[ContainerRecord] = field(default_factory=list)
    sandbox: SandboxStatus | None = None
    gone: bool = False
    """The pod was deleted from the API (the informer said so)."""
    terminated: bool = False
    """Its containers are stopped and its sandbox removed (deletion in progress or done)."""
    delete_sent: bool = False
    """The final ``DELETE`` (grace 0) went out; the informer's DELETED event ends the worker."""
    start_time: str | None = None
    posted: Obj | None = None
    """The status as last written (or read back): only a difference is written."""
    mount_error: str | None = None
    sandbox_error: str | None = None
    """Why the sandbox cannot be created (no such runtime handler here), as last reported."""
    invalid: str | None = None
    """Why the pod as stored cannot be run (a malformed field), as last reported; None if it can."""
    volume_paths: dict[str, Any] = field(default_factory=dict)
    adopted: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def full_name(self) -> str:
        """``name_namespace(uid)``, the kubelet's way of naming a pod in messages."""
        return f"{self.name}_{self.namespace}({self.uid})"

    @property
    def policy(self) -> str:
        return str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")

    @property
    def host_network(self) -> bool:
        return bool((self.pod.get("spec") or {}).get("hostNetwork"))

    @property
    def deleting(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    def records(self) -> list[ContainerRecord]:
        return [*self.init, *self.app]

    def record_for(self, container_id: str) -> ContainerRecord | None:
        return next((r for r in self.records() if r.container_id == container_id), None)

    def initialized(self) -> bool:
        return all(r.succeeded for r in self.init)
