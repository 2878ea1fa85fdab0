"""Converging one pod to its spec: the kubelet's ``SyncPod`` and ``SyncTerminatingPod``.

:meth:`PodSyncer.sync` is level-triggered and idempotent; the pod's worker calls it after any
change (the pod, one of its containers, a probe result, a back-off timer). One pass:

1. the pod is gone from the API → stop everything, remove the sandbox and the pod's files;
2. it is being deleted → out of its Services' endpoints first (bounded, :mod:`kuberya.node.draining`),
   then ``preStop`` hooks, then ``stop_container`` with the pod's grace and stop
   signal (all containers at once), remove the sandbox, and ``DELETE`` it with grace 0 — the API
   server then removes it, which is what ``kubectl delete`` waits for;
3. otherwise: learn the containers' states from the runtime; set up volumes; run the sandbox;
   kill containers whose liveness or startup probe failed; run the init containers one at a
   time, each to a zero exit; then create and start every app container, in order. An exited
   container is restarted per ``restartPolicy``: the first restart is immediate, then the delay
   doubles from ``backoff_base`` up to ``backoff_cap`` (CrashLoopBackOff), and a container that
   ran for twice the cap earns a fresh start. On an image runtime each instance's image is
   ensured first (:mod:`kuberya.node.pulling`: pull policy, pull secrets, ``ErrImagePull`` and
   ``ImagePullBackOff``) and gets a termination-message file (:mod:`kuberya.node.termination`);
4. write the status (:mod:`kuberya.node.status`) if it changed.

Re-adoption: when the agent starts it hands :attr:`PodSyncer.adoptable` what the runtime still
holds; a pod's first sync takes its sandbox and containers over (the newest instance of each
container by restart count is current, the one before it previous) without restarting anything
(:mod:`kuberya.node.adoption`). Probe workers are :mod:`kuberya.node.probing`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kuberya.client import ApiError, Clock, ConflictError, KubeClient, NotFoundError, malformed
from kuberya.client.resources import PODS
from kuberya.meta.handover import OfferedEndpointsView
from kuberya.meta.timefmt import go_duration
from kuberya.meta.types import Obj
from kuberya.node.adoption import Adoptable, adopt_containers
from kuberya.node.containers import SandboxConfigError, container_config, sandbox_config, stop_signal
from kuberya.node.draining import WAIT_SECONDS as ENDPOINT_WAIT_SECONDS
from kuberya.node.draining import leave_endpoints
from kuberya.node.emptydir_limits import EVICTED
from kuberya.node.env import ContainerConfigError, PodFacts, SourceLookup
from kuberya.node.events import EventRecorder
from kuberya.node.hostports import busy_host_ports, declared_tcp_ports
from kuberya.node.logs import container_log_path, prune_container_logs, remove_pod_logs
from kuberya.node.probes import run_action
from kuberya.node.probing import ContainerProbes
from kuberya.node.pulling import WAITING_REASONS as IMAGE_WAITING_REASONS
from kuberya.node.pulling import ImageManager
from kuberya.node.registry import ContainerRef, ContainerRegistry
from kuberya.node.runtimes import IMAGE_RUNTIMES, RuntimeHandlers
from kuberya.node.runtimes import REASON as SANDBOX_FAILED
from kuberya.node.state import LABEL_RESTART_COUNT, ContainerRecord, PodState
from kuberya.node.status import changed, pod_status, terminated_state, vanished_status
from kuberya.node.termination import create_termination_log, termination_log_path, termination_message
from kuberya.node.volumes import MountError, VolumeManager
from kuberya.runtime.base import ContainerRuntime, RuntimeError_
from kuberya.runtime.base import NotFoundError as RuntimeNotFound
from kuberya.runtime.handlers import HandlerRuntime, runtime_name_of

logger = logging.getLogger(__name__)

MIN_GRACE_AFTER_HOOK = 2.0
"""Upstream's minimum grace left for the stop signal after a preStop hook used the rest."""
MOUNT_RETRY_SECONDS = 2.0
SANDBOX_RETRY_SECONDS = 10.0
"""How soon a pod whose sandbox cannot be made is tried again (its event is written each time,
and the recorder folds the repeats into one counted event)."""
_NOT_CREATED = frozenset({"CreateContainerConfigError", "CreateContainerError", *IMAGE_WAITING_REASONS})
"""Waiting reasons of a restart that failed before a container existed: its crash back-off was served."""
PORT_RETRY_SECONDS = 5.0
"""How soon a container waiting for a host port to free up is tried again."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    node_name: str
    data_dir: Path
    host_ip: str
    backoff_base: float
    backoff_cap: float
    node_cpu_millis: int = 1000
    node_memory_bytes: int = 0


class PodSyncer:
    """The per-pod sync logic; state lives in :class:`PodState`, owned by the pod's worker."""

    def __init__(
        self,
        *,
        client: KubeClient,
        runtime: ContainerRuntime,
        recorder: EventRecorder,
        registry: ContainerRegistry,
        volumes: VolumeManager,
        lookup: SourceLookup,
        clock: Clock,
        settings: SyncSettings,
        wake: Callable[[str], None],
        wall: Callable[[], float] = time.time,
        images: ImageManager | None = None,
        offered: OfferedEndpointsView | None = None,
        handlers: RuntimeHandlers | None = None,
    ) -> None:
        self.handlers = handlers
        """The runtime handlers this node has, checked against a pod's RuntimeClass (None: no check)."""
        self.offered = offered
        """What the in-process service proxy has applied, when there is one (:mod:`kuberya.node.draining`)."""
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.registry = registry
        self.volumes = volumes
        self.lookup = lookup
        self.clock = clock
        self.settings = settings
        self.wake = wake
        """Ask for another sync of the pod with that uid (coalesced by its worker)."""
        self.wall = wall
        self.images = images
        """Set for runtimes that run images (runc): pulls first, and termination-message files."""
        self.probes = ContainerProbes(runtime=runtime, recorder=recorder, clock=clock, wake=wake)
        self.adoptable: dict[str, Adoptable] = {}
        self.sandbox_owner: dict[str, str] = {}
        """Sandbox id → pod uid, to route runtime events to the pod's worker."""

    # -- the entry point -----------------------------------------------------------------------

    async def sync(self, state: PodState) -> bool:
        """One convergence pass; True when the pod is gone and its worker may end."""
        if not state.records() and not self._runnable(state):
            if state.gone:
                self._forget(state)  # nothing of it was started: there is nothing to stop
                return True
            raise malformed.MalformedObjectError("", str(state.invalid))
        if not state.records():
            self._init_records(state)
            await self._adopt(state)
        if state.gone:
            await self.terminate(state, grace=self._grace(state, default=MIN_GRACE_AFTER_HOOK))
            self._forget(state)
            return True
        if state.deleting:
            if not state.terminated:
                grace = self._grace(state)
                grace -= await self._leave_endpoints(state, grace)
                await self.terminate(state, grace=max(grace, 0.0))
            if not state.delete_sent:
                await self._delete_from_api(state)
                state.delete_sent = True
            return False
        await self._refresh(state)
        phase = str((state.pod.get("status") or {}).get("phase") or "")
        if phase in ("Succeeded", "Failed") and not any(r.running for r in state.records()):
            return False  # finished earlier (perhaps before an agent restart): nothing runs again
        if state.uid in self.volumes.limits.evicted:
            return False  # evicted (an emptyDir over its sizeLimit): Failed, whatever the informer still says
        await self._converge(state)
        await self._post_status(state)
        return False

    async def _converge(self, state: PodState) -> None:
        facts = self._facts(state)
        try:
            state.volume_paths = dict(await self.volumes.setup(state.pod, facts))
        except MountError as exc:
            if state.mount_error != str(exc):
                self.recorder.record(state.pod, "Warning", "FailedMount", str(exc))
            state.mount_error = str(exc)
            self.clock.call_later(MOUNT_RETRY_SECONDS, lambda: self.wake(state.uid))
            return
        state.mount_error = None
        evicted = await self.volumes.over_limit(
            state.pod, state.volume_paths, clock=self.clock, wake=lambda: self.wake(state.uid)
        )
        if evicted is not None:  # an emptyDir over its sizeLimit: the eviction manager's way, at once
            self.recorder.record(state.pod, "Warning", EVICTED, evicted)
            await self.terminate(state, grace=0.0)
            return
        if state.sandbox is None and self.handlers is not None:
            retry = self.handlers.blocked(state, self.recorder)
            if retry is not None:  # not this node's runtime handler: Pending, told once
                self.clock.call_later(retry, lambda: self.wake(state.uid))
                return
        if state.sandbox is None:
            handler = self.handlers.sandbox_handler(state.pod) if self.handlers is not None else ""
            try:
                config = sandbox_config(state, runtime_handler=handler)
            except SandboxConfigError as exc:  # the kubelet's event, then its back-off
                self.recorder.record(state.pod, "Warning", SANDBOX_FAILED, f"Failed to create pod sandbox: {exc}")
                self.clock.call_later(SANDBOX_RETRY_SECONDS, lambda: self.wake(state.uid))
                return
            state.sandbox = await self.runtime.run_pod_sandbox(config)
            self.sandbox_owner[state.sandbox.id] = state.uid
        self._apply_spec_changes(state)
        for rec in state.records():
            if rec.kill_requested and rec.running:
                await self._kill(state, rec, rec.kill_requested)
        for rec in state.init:
            if rec.succeeded:
                continue
            if rec.container_id is None or rec.exited:
                await self._ensure(state, rec)
            return  # one init container at a time; the rest wait for it
        for rec in state.app:
            await self._ensure(state, rec)

    # -- containers ---------------------------------------------------------------------------

    def _apply_spec_changes(self, state: PodState) -> None:
        """A changed image (the one mutable field of a container) restarts the container, at once."""
        spec = state.pod.get("spec") or {}
        latest = {str(c.get("name")): c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]}
        for rec in state.records():
            new = latest.get(rec.name)
            if new is None or new == rec.spec:
                continue
            image_changed = new.get("image") != rec.spec.get("image")
            rec.spec = new
            if image_changed and rec.running and not rec.init:
                rec.kill_requested = f"Container {rec.name} definition changed, will be restarted"
                rec.backoff = 0.0

    def _runnable(self, state: PodState) -> bool:
        """Whether the pod as stored can be read; if not, say so once (a Warning event ``FailedSync``).

        Checked before its containers are first known: a pod stored malformed (by an older
        kuberya) is never started, and its worker backs off instead of failing at every step.
        """
        try:
            malformed.check(state.pod, malformed.POD)
        except malformed.MalformedObjectError as exc:
            message = malformed.describe(state.pod, exc)
            if state.invalid != message:
                state.invalid = message
                self.recorder.record(state.pod, "Warning", malformed.REASON, message)
            return False
        state.invalid = None
        return True

    def _init_records(self, state: PodState) -> None:
        spec = state.pod.get("spec") or {}
        status = state.pod.get("status") or {}
        state.start_time = status.get("startTime")
        for section, init in (("initContainers", True), ("containers", False)):
            before = {s.get("name"): s for s in status.get(f"{section[:-1]}Statuses") or [] if isinstance(s, dict)}
            for container in spec.get(section) or []:
                rec = ContainerRecord(name=str(container.get("name")), spec=container, init=init)
                old = before.get(rec.name)
                if old and old.get("containerID"):  # it ran before, in a runtime state now lost
                    rec.restart_count = int(old.get("restartCount") or 0) + 1
                    rec.last_terminated = (old.get("lastState") or {}).get("terminated")
                (state.init if init else state.app).append(rec)

    async def _refresh(self, state: PodState) -> None:
        """Ask the runtime about every current instance; handle the exits it reports."""
        for rec in state.records():
            if rec.container_id is None:
                continue
            try:
                rec.status = await self.runtime.container_status(rec.container_id)
            except RuntimeNotFound:
                rec.status = vanished_status(rec, self.wall())
            if rec.exited and not rec.exit_handled:
                await self._on_exit(state, rec)

    async def _on_exit(self, state: PodState, rec: ContainerRecord) -> None:
        rec.exit_handled = True
        now = self.clock.now()
        rec.exited_at = now
        rec.ready = False
        if rec.running_since is not None and now - rec.running_since >= 2 * self.settings.backoff_cap:
            rec.backoff = 0.0  # it ran long enough: the next crash starts the back-off afresh
        rec.running_since = None
        rec.termination_message = self._termination_message(state, rec)
        if rec.container_id is not None:
            self.registry.set_running(state.namespace, state.name, rec.name, rec.container_id, False)
        await self.probes.stop(rec)

    async def _ensure(self, state: PodState, rec: ContainerRecord) -> None:
        """Start the container's first instance, or restart an exited one when policy and back-off allow."""
        if rec.container_id is not None and not rec.exited:
            return
        if rec.container_id is not None and rec.waiting_reason not in _NOT_CREATED:
            if not rec.will_restart(state.policy):
                rec.waiting_reason = None
                return
            now = self.clock.now()
            if rec.backoff > 0 and rec.exited_at is not None:
                until = rec.exited_at + rec.backoff
                if now < until:
                    self._enter_backoff(state, rec, until - now)
                    return
                rec.backoff = min(rec.backoff * 2, self.settings.backoff_cap)
            else:
                rec.backoff = self.settings.backoff_base
        await self._start(state, rec)

    def _enter_backoff(self, state: PodState, rec: ContainerRecord, remaining: float) -> None:
        message = f"back-off {go_duration(rec.backoff)} restarting failed container={rec.name} pod={state.full_name}"
        if rec.waiting_reason != "CrashLoopBackOff" or rec.waiting_message != message:
            self.recorder.record(
                state.pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {rec.name} in pod {state.full_name}",
                container=rec.name,
            )
            self.clock.call_later(remaining, lambda: self.wake(state.uid))
        rec.waiting_reason = "CrashLoopBackOff"
        rec.waiting_message = message

    async def _start(self, state: PodState, rec: ContainerRecord) -> None:
        assert state.sandbox is not None
        restart = rec.restart_count + 1 if rec.container_id is not None else rec.restart_count
        log_path = container_log_path(self.settings.data_dir, state.namespace, state.name, state.uid, rec.name, restart)
        image_id = ""
        images = self._images(state)
        if images is not None:
            pulled = await images.ensure(state, rec)
            if pulled is None:
                return
            image_id = pulled
        try:
            config = await container_config(
                state,
                rec,
                restart=restart,
                log_path=log_path,
                runtime_name=self._runtime_name(state),
                lookup=self.lookup,
                facts=self._facts(state),
                termination_log=self._termination_log(state, rec.name, restart) if images else None,
                image_id=image_id,
            )
        except ContainerConfigError as exc:
            if rec.waiting_message != str(exc):
                self.recorder.record(state.pod, "Warning", "Failed", f"Error: {exc}", container=rec.name)
            rec.waiting_reason = "CreateContainerConfigError"
            rec.waiting_message = str(exc)
            return
        if state.sandbox.netns_path is None and (busy := busy_host_ports(declared_tcp_ports(state, rec.name))):
            # Without a network namespace of its own (no root) the pod shares the host's ports:
            # say so before the app fails to bind, and look again later.
            message = (
                f"port {', '.join(map(str, busy))} is already in use on the host: without root, pods share the "
                "host network (run kuberya as root to give each pod its own network namespace)"
            )
            if rec.waiting_message != message:
                self.recorder.record(state.pod, "Warning", "Failed", f"Error: {message}", container=rec.name)
            rec.waiting_reason, rec.waiting_message = "CreateContainerError", message
            self.clock.call_later(PORT_RETRY_SECONDS, lambda: self.wake(state.uid))
            return
        if images is None:  # the image is not used: upstream's words for "nothing to pull"
            self.recorder.record(
                state.pod,
                "Normal",
                "Pulled",
                f'Container image "{config.image}" already present on machine',
                container=rec.name,
            )
        else:
            create_termination_log(self._termination_log(state, rec.name, restart), restart=restart)
        if rec.container_id is not None:  # the exited instance becomes the previous one
            if rec.previous_id is not None:
                await self._remove_quietly(rec.previous_id)
            rec.previous_id = rec.container_id
            rec.last_terminated = terminated_state(rec, self._runtime_name(state))
        prune_container_logs(log_path.parent, {restart, restart - 1})
        log_path.parent.mkdir(parents=True, exist_ok=True)
        container_id = await self.runtime.create_container(state.sandbox.id, config)
        rec.container_id, rec.restart_count, rec.status = container_id, restart, None
        rec.exit_handled, rec.started, rec.ready, rec.kill_requested = False, False, False, ""
        rec.waiting_reason, rec.waiting_message, rec.termination_message = None, "", ""
        self.registry.record(
            state.namespace,
            state.name,
            rec.name,
            ContainerRef(container_id, log_path, self.runtime, False),
            pod_uid=state.uid,
        )
        self.recorder.record(state.pod, "Normal", "Created", f"Created container: {rec.name}", container=rec.name)
        try:
            await self.runtime.start_container(container_id)
        except RuntimeError_ as exc:
            self.recorder.record(state.pod, "Warning", "Failed", f"Error: {exc}", container=rec.name)
            await self._refresh(state)
            return
        rec.running_since = self.clock.now()
        rec.status = await self.runtime.container_status(container_id)
        if rec.exited:
            await self._on_exit(state, rec)
            return
        self.registry.set_running(state.namespace, state.name, rec.name, container_id, True)
        self.recorder.record(state.pod, "Normal", "Started", f"Started container {rec.name}", container=rec.name)
        post_start = (rec.spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            ok, message = await self._run_hook(state, rec, post_start, timeout=self._grace(state))
            if not ok:
                self.recorder.record(
                    state.pod, "Warning", "FailedPostStartHook", f"PostStartHook failed: {message}", container=rec.name
                )
                await self._kill(state, rec, f"FailedPostStartHook: {message}")
                return
        self.probes.start(state, rec)

    async def _kill(self, state: PodState, rec: ContainerRecord, why: str) -> None:
        """Stop the current instance now (failed liveness/startup probe or postStart hook)."""
        assert rec.container_id is not None
        self.recorder.record(state.pod, "Normal", "Killing", why, container=rec.name)
        rec.kill_requested = ""
        await self.probes.stop(rec)
        grace = self._grace(state)
        probe_grace = (rec.spec.get("livenessProbe") or {}).get("terminationGracePeriodSeconds")
        if probe_grace is not None:
            grace = float(probe_grace)
        await self._stop_container(state, rec, grace)
        await self._refresh(state)

    async def _stop_container(self, state: PodState, rec: ContainerRecord, grace: float) -> None:
        """``preStop`` (within the grace), then the stop signal; SIGKILL when the grace runs out."""
        assert rec.container_id is not None
        deadline = self.clock.now() + grace
        pre_stop = (rec.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and rec.running and grace > 0:
            ok, message = await self._run_hook(state, rec, pre_stop, timeout=grace)
            if not ok:
                self.recorder.record(
                    state.pod, "Warning", "FailedPreStopHook", f"PreStopHook failed: {message}", container=rec.name
                )
            remaining = max(deadline - self.clock.now(), MIN_GRACE_AFTER_HOOK)
        else:
            remaining = max(grace, 0.0)
        with contextlib.suppress(RuntimeNotFound):
            await self.runtime.stop_container(rec.container_id, timeout=remaining, signal=stop_signal(rec.spec))

    async def _run_hook(self, state: PodState, rec: ContainerRecord, hook: Obj, *, timeout: float) -> tuple[bool, str]:
        if (sleep := hook.get("sleep")) is not None:
            await self.clock.sleep(min(float(sleep.get("seconds") or 0), timeout))
            return True, ""
        try:
            return await run_action(hook, self.probes.target(state, rec), max(timeout, 0.001))
        except Exception as exc:
            return False, str(exc)

    def _runtime_name(self, state: PodState) -> str:
        """The name of the runtime that runs the pod's sandbox: its containerID scheme, its rules."""
        return runtime_name_of(self.runtime, state.sandbox)

    def _images(self, state: PodState) -> ImageManager | None:
        """The image manager for the pod: behind several handlers only when its own runs images (runc)."""
        if self.images is None or not isinstance(self.runtime, HandlerRuntime):
            return self.images
        return self.images if self._runtime_name(state) in IMAGE_RUNTIMES else None

    def _termination_log(self, state: PodState, container: str, restart: int) -> Path:
        return termination_log_path(self.volumes.pod_dir(state.uid), container, restart)

    def _termination_message(self, state: PodState, rec: ContainerRecord) -> str:
        """The message of the instance in ``rec.status`` (which has exited)."""
        status = rec.status
        if status is None:
            return ""
        restart = int(status.labels.get(LABEL_RESTART_COUNT, rec.restart_count))
        path = self._termination_log(state, rec.name, restart) if self._images(state) is not None else None
        return termination_message(rec.spec, path=path, exit_code=status.exit_code, log_path=status.log_path)

    async def _remove_quietly(self, container_id: str) -> None:
        try:
            await self.runtime.remove_container(container_id)
        except RuntimeError_ as exc:
            logger.debug("cannot remove container %s: %s", container_id, exc)

    # -- termination ---------------------------------------------------------------------------

    def _grace(self, state: PodState, *, default: float | None = None) -> float:
        meta = state.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            if default is not None:
                return default
            grace = (state.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return float(grace if grace is not None else 30)

    async def _leave_endpoints(self, state: PodState, grace: float) -> float:
        """Out of the Services' endpoints before preStop and the stop signal (:mod:`kuberya.node.draining`)."""
        if grace <= 0 or not any(r.running for r in state.records()):
            return 0.0
        ip = (state.pod.get("status") or {}).get("podIP") or (state.sandbox.ip if state.sandbox else "") or ""
        timeout = min(ENDPOINT_WAIT_SECONDS, grace / 2)
        return await leave_endpoints(
            self.client, self.clock, namespace=state.namespace, pod_uid=state.uid, pod_ip=str(ip), timeout=timeout,
            proxy=self.offered,
        )  # fmt: skip

    async def terminate(self, state: PodState, *, grace: float) -> None:
        """Stop every container (preStop, then the stop signal, all at once) and remove the sandbox."""
        await self._refresh(state)
        for rec in state.records():
            await self.probes.stop(rec)
        live = [r for r in state.records() if r.container_id is not None and not r.exited]
        for rec in live:
            self.recorder.record(state.pod, "Normal", "Killing", f"Stopping container {rec.name}", container=rec.name)
        await asyncio.gather(*(self._stop_container(state, rec, grace) for rec in live))
        await self._refresh(state)
        sandboxes = [state.sandbox] if state.sandbox is not None else []
        for sandbox in sandboxes:
            with contextlib.suppress(RuntimeNotFound):
                await self.runtime.stop_pod_sandbox(sandbox.id)
            await self.runtime.remove_pod_sandbox(sandbox.id)
            self.sandbox_owner.pop(sandbox.id, None)
        state.sandbox = None
        state.terminated = True

    async def _delete_from_api(self, state: PodState) -> None:
        with contextlib.suppress(NotFoundError, ConflictError):  # already gone, or a namesake replaced it
            await self.client.delete(
                PODS, state.name, namespace=state.namespace, grace_period_seconds=0, preconditions={"uid": state.uid}
            )

    def _forget(self, state: PodState) -> None:
        self.registry.forget_pod(state.namespace, state.name, pod_uid=state.uid)
        self.volumes.cleanup(state.uid)
        remove_pod_logs(self.settings.data_dir, state.namespace, state.name, state.uid)

    # -- re-adoption -------------------------------------------------------------------------

    async def _adopt(self, state: PodState) -> None:
        found = self.adoptable.pop(state.uid, None)
        if found is None:
            return
        ready = [s for s in found.sandboxes if s.ready]
        for stale in [s for s in found.sandboxes if not s.ready] + ready[1:]:
            await self._remove_sandbox_quietly(stale.id)
        if not ready:
            return
        sandbox = ready[0]
        state.sandbox, state.adopted = sandbox, True
        self.sandbox_owner[sandbox.id] = state.uid
        adopt_containers(
            state,
            sandbox,
            found,
            runtime=self.runtime,
            registry=self.registry,
            probes=self.probes,
            clock=self.clock,
            wall=self.wall,
            data_dir=self.settings.data_dir,
            termination_message=self._termination_message,
        )
        logger.info("adopted pod %s (sandbox %s)", state.key, sandbox.id)

    async def _remove_sandbox_quietly(self, sandbox_id: str) -> None:
        try:
            await self.runtime.stop_pod_sandbox(sandbox_id)
            await self.runtime.remove_pod_sandbox(sandbox_id)
        except RuntimeError_ as exc:
            logger.warning("cannot remove sandbox %s: %s", sandbox_id, exc)

    # -- status ------------------------------------------------------------------------------

    def _facts(self, state: PodState) -> PodFacts:
        ip = state.sandbox.ip if state.sandbox is not None and state.sandbox.ip else ""
        return PodFacts(
            pod_ip=ip,
            host_ip=self.settings.host_ip,
            node_cpu_millis=self.settings.node_cpu_millis,
            node_memory_bytes=self.settings.node_memory_bytes,
        )

    async def _post_status(self, state: PodState) -> None:
        before = state.posted if state.posted is not None else state.pod.get("status") or {}
        if state.start_time is None:
            state.start_time = before.get("startTime")
        now = self.wall()
        desired = pod_status(
            state, runtime_name=self._runtime_name(state), host_ip=self.settings.host_ip, now=now, previous=before
        )
        state.start_time = desired["startTime"]
        if (message := self.volumes.limits.evicted.get(state.uid)) is not None:
            desired.update(phase="Failed", reason=EVICTED, message=message)
        if not changed(desired, before):
            return
        try:
            await self.client.patch(
                PODS,
                state.name,
                {"status": desired},
                namespace=state.namespace,
                patch_type="merge",
                subresource="status",
            )
        except NotFoundError:
            return  # deleted meanwhile: the informer will say so
        except ApiError as exc:
            logger.warning("status of pod %s not written: %s", state.key, exc)
            raise
        state.posted = desired
