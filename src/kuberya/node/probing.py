"""The probe workers of a pod's containers: started when a container runs, stopped before it stops.

:class:`ContainerProbes` starts one :class:`~kuberya.node.probes.ProbeWorker` per probe kind of a
running container instance. A startup probe, when there is one, runs alone: the liveness and
readiness workers start once it succeeds, which is how startup gates them. Results come back as
changes to the container's :class:`~kuberya.node.state.ContainerRecord` (``ready``, ``started``,
``kill_requested``) and a wake of the pod's worker, which acts on them in its next sync; each
failed attempt is an ``Unhealthy`` event. A worker belongs to one instance: results arriving for
an instance that has since been replaced are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kuberya.client import Clock
from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.node.events import EventRecorder
from kuberya.node.probes import ProbeTarget, ProbeWorker
from kuberya.node.state import ContainerRecord, PodState
from kuberya.runtime.base import ContainerRuntime

logger = logging.getLogger(__name__)

PROBE_STOP_SECONDS = 5.0
"""How long stopping a container waits for its probe workers to end. One that ignores its cancel
(as a worker on Python 3.11's ``asyncio.wait_for`` could) is logged and left behind rather than
keep the pod Terminating for ever."""


class ContainerProbes:
    """Probe workers for the pods of one node agent; a container's tasks are kept on its record."""

    def __init__(
        self, *, runtime: ContainerRuntime, recorder: EventRecorder, clock: Clock, wake: Callable[[str], None]
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.clock = clock
        self.wake = wake
        """Ask for another sync of the pod with that uid (coalesced by its worker)."""

    def target(self, state: PodState, rec: ContainerRecord) -> ProbeTarget:
        ip = state.sandbox.ip if state.sandbox is not None and state.sandbox.ip else "127.0.0.1"
        ports = {str(p["name"]): int(p["containerPort"]) for p in rec.spec.get("ports") or [] if p.get("name")}
        return ProbeTarget(
            host="127.0.0.1" if state.host_network else ip,
            container_id=str(rec.container_id),
            runtime=self.runtime,
            ports=ports,
        )

    def start(self, state: PodState, rec: ContainerRecord, *, after_startup: bool = False) -> None:
        spec = rec.spec
        if not after_startup and spec.get("startupProbe"):
            rec.started = False
            self._spawn(state, rec, "startup")
            return
        rec.started = True
        if spec.get("livenessProbe"):
            self._spawn(state, rec, "liveness")
        if spec.get("readinessProbe"):
            rec.ready = rec.probe_ready
            self._spawn(state, rec, "readiness")
        else:
            rec.ready = True

    def _spawn(self, state: PodState, rec: ContainerRecord, kind: str) -> None:
        container_id = rec.container_id

        def on_failure(kind: str, message: str) -> None:
            if rec.container_id == container_id:
                label = kind.capitalize()
                self.recorder.record(
                    state.pod, "Warning", "Unhealthy", f"{label} probe failed: {message}", container=rec.name
                )

        def on_result(kind: str, ok: bool) -> None:
            if rec.container_id != container_id or not rec.running:
                return
            if kind == "readiness":
                if rec.ready != ok or rec.probe_ready != ok:
                    rec.ready = rec.probe_ready = ok
                    self.wake(state.uid)
            elif kind == "startup" and ok:
                self.start(state, rec, after_startup=True)
                self.wake(state.uid)
            elif not ok:
                rec.kill_requested = f"Container {rec.name} failed {kind} probe, will be restarted"
                self.wake(state.uid)

        worker = ProbeWorker(
            kind,
            rec.spec[f"{kind}Probe"],
            self.target(state, rec),
            clock=self.clock,
            started_at=rec.running_since if rec.running_since is not None else self.clock.now(),
            on_failure=on_failure,
            on_result=on_result,
        )
        rec.probes.append(start_task(worker.run(), name=f"probe-{kind}-{state.key}-{rec.name}"))

    async def stop(self, rec: ContainerRecord) -> None:
        tasks, rec.probes = rec.probes, []
        current = asyncio.current_task()
        pending = await cancel_and_wait(*[t for t in tasks if t is not current], timeout=PROBE_STOP_SECONDS)
        if pending:
            logger.warning("%d probe worker(s) of container %s did not stop within %.0fs of their cancel; "
                           "stopping the container anyway", len(pending), rec.name, PROBE_STOP_SECONDS)  # fmt: skip
        rec.probe_ready = False
