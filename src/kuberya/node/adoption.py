"""Re-adoption: a restarted agent takes over the sandboxes and containers the runtime still holds.

When the agent starts it inventories the runtime into one :class:`Adoptable` per pod uid; a pod's
first sync takes its ready sandbox over (the others are removed) and then, with
:func:`adopt_containers`, its containers, without restarting anything. Of a container's instances
(by restart count) the newest is current and the one before it previous, whose exit becomes
``lastState`` and whose log stays readable with ``--previous``. A running instance gets its probe
workers again, with the readiness and startup the pod's status last reported, so a ready pod stays
ready across the restart; an exited one is handled as already seen, not as a new exit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kuberya.client import Clock
from kuberya.node.logs import container_log_path
from kuberya.node.probing import ContainerProbes
from kuberya.node.registry import ContainerRef, ContainerRegistry
from kuberya.node.state import LABEL_CONTAINER_NAME, LABEL_RESTART_COUNT, ContainerRecord, PodState
from kuberya.node.status import terminated_state
from kuberya.runtime.base import ContainerRuntime, ContainerState, ContainerStatus, SandboxStatus
from kuberya.runtime.handlers import runtime_name_of


@dataclass
class Adoptable:
    """What the runtime still holds for one pod uid when the agent starts."""

    sandboxes: list[SandboxStatus] = field(default_factory=list)
    containers: list[ContainerStatus] = field(default_factory=list)


def adopt_containers(
    state: PodState,
    sandbox: SandboxStatus,
    found: Adoptable,
    *,
    runtime: ContainerRuntime,
    registry: ContainerRegistry,
    probes: ContainerProbes,
    clock: Clock,
    wall: Callable[[], float],
    data_dir: Path,
    termination_message: Callable[[PodState, ContainerRecord], str],
) -> None:
    """Take over the instances of ``state``'s containers that ``found`` holds in ``sandbox``."""
    by_name: dict[str, list[ContainerStatus]] = {}
    for status in found.containers:
        if status.sandbox_id == sandbox.id:
            by_name.setdefault(status.labels.get(LABEL_CONTAINER_NAME, status.name), []).append(status)
    posted = {
        s.get("name"): s
        for key in ("containerStatuses", "initContainerStatuses")
        for s in (state.pod.get("status") or {}).get(key) or []
    }
    for rec in state.records():
        instances = sorted(by_name.get(rec.name, []), key=lambda s: int(s.labels.get(LABEL_RESTART_COUNT, "0")))
        if not instances:
            continue
        current = instances[-1]
        rec.container_id, rec.status = current.id, current
        rec.restart_count = int(current.labels.get(LABEL_RESTART_COUNT, "0"))
        log_path = current.log_path or container_log_path(
            data_dir, state.namespace, state.name, state.uid, rec.name, rec.restart_count
        )
        if len(instances) > 1:
            previous = instances[-2]
            rec.previous_id = previous.id
            rec.status = previous
            rec.termination_message = termination_message(state, rec)
            rec.last_terminated = terminated_state(rec, runtime_name_of(runtime, sandbox))
            rec.status, rec.termination_message = current, ""
            if previous.log_path is not None:
                registry.record_previous(
                    state.namespace,
                    state.name,
                    rec.name,
                    ContainerRef(previous.id, previous.log_path, runtime, False),
                    pod_uid=state.uid,
                )
        running = current.state is ContainerState.RUNNING
        registry.record(
            state.namespace,
            state.name,
            rec.name,
            ContainerRef(current.id, log_path, runtime, running),
            pod_uid=state.uid,
        )
        if running:
            before = posted.get(rec.name) or {}
            rec.running_since = clock.now() - max(wall() - (current.started_at or wall()), 0.0)
            rec.probe_ready = bool(before.get("ready"))
            rec.started = bool(before.get("started", True))
            if rec.started:
                probes.start(state, rec, after_startup=True)
            else:
                probes.start(state, rec)
        elif current.state is ContainerState.EXITED:
            rec.exit_handled = True
            rec.exited_at = clock.now()
            rec.termination_message = termination_message(state, rec)
