"""What the ``process`` and ``runc`` runtimes share: sandboxes and shim-supervised containers on disk.

A runtime built on :class:`ShimRuntime` keeps everything under ``state_dir``, so a new instance (an
agent restart) picks up where the last one stopped::

    sandboxes/<id>/sandbox.json     the config, pod IP, netns, cgroup paths, ready
    containers/<id>/config.json     the container's record (:class:`ContainerRecord`)
    containers/<id>/shim.spec       what its shim runs (see :mod:`kuberya.runtime.shim`)
    containers/<id>/started.json    pid, shim pid and their start ticks (written by the shim)
    containers/<id>/status.json     exit code, reason, finish time (written by the shim at exit)

A sandbox is a network namespace — on the pod bridge as root (:mod:`kuberya.runtime.network`), or
owned by a user namespace of its own without root (:mod:`kuberya.runtime.rootless`) — and the
pod's cgroups (:mod:`kuberya.runtime.cgroups`), each where this machine allows them. A container is a
detached shim that starts the container's process (the process runtime: the command itself; runc:
``runc run --detach``) and outlives the agent.

The records and their atomic reads and writes are in :mod:`kuberya.runtime.statefiles`.

A container's state is read from those files: ``status.json`` → exited; ``started.json`` and
its process alive (same pid *and* start time, so a reused pid is not mistaken for it) → running;
neither → created. When a shim was killed before recording an exit, the exit code is lost and
reported as 255 with a message that says so.

Exits are noticed without polling where Linux allows: a pidfd (``os.pidfd_open``) per shim,
read-ready when it exits, on the event loop; the runtime also reaps the shims it spawned itself.
Without pidfds a 100 ms poll of the status files does the same job.

Subclasses say what differs (:meth:`ShimRuntime._prepare_container`, ``_shim_argv``,
``_exec_command``, ``_release_container``, ``_sandbox_created``): how a container is made, how its
shim is launched, how a command runs inside it and what is left to clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import marshal
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kuberya.runtime import shim as shim_module
from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    ContainerStatus,
    NotFoundError,
    Resources,
    ResourceUsage,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)
from kuberya.runtime.cgroups import CgroupManager, PodCgroup, PodLimits
from kuberya.runtime.events import EventHub
from kuberya.runtime.execution import ExecContext, ProcessExecSession, exec_sync
from kuberya.runtime.network import SandboxNetwork
from kuberya.runtime.pipes import read_line
from kuberya.runtime.procstat import is_same_process, tree_usage
from kuberya.runtime.statefiles import (
    ContainerRecord,
    PreparedContainer,
    SandboxRecord,
    int_or_none,
    read_json,
    write_json,
)

log = logging.getLogger(__name__)

SHIM = Path(shim_module.__file__)
SHIM_LAUNCHER = f"import sys; sys.path.insert(0, {str(SHIM.parent)!r}); import shim; sys.exit(shim.main(sys.argv))"
"""Imported rather than run as a script: a script is compiled on every start, a module comes from
its cached bytecode (the same ``__pycache__`` file the package import made), ~6 ms less per start."""
HOST_NETWORK_IP = "127.0.0.1"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 30.0
KILL_WAIT = 10.0
POLL_INTERVAL = 0.1


class ShimRuntime:
    """Sandboxes and shim-supervised containers; see the module docstring."""

    name = "supervised"

    def __init__(
        self, *, state_dir: Path, network: SandboxNetwork | None, cgroups: CgroupManager | None = None
    ) -> None:
        self.state_dir = state_dir
        self.network = network
        self.cgroups = cgroups
        self._hub = EventHub()
        self._sandboxes: dict[str, SandboxRecord] = {}
        self._containers: dict[str, ContainerRecord] = {}
        self._watched: dict[str, int] = {}
        """Container id → the pidfd watching its shim (or, if the shim is gone, its process)."""
        self._spawned: set[int] = set()
        """Shim pids this instance spawned: its children, to reap."""
        self._exit_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._poller: asyncio.Task[None] | None = None

    # ---- what subclasses decide -----------------------------------------------------------

    async def _sandbox_created(self, sandbox: SandboxRecord, directory: Path) -> None:
        """Called once the sandbox has its network and cgroups, before it is marked ready."""

    async def _prepare_container(
        self, container_id: str, sandbox: SandboxRecord, config: ContainerConfig, directory: Path
    ) -> PreparedContainer:
        """Make what the container needs before its shim can start it; clean up after itself on failure."""
        raise NotImplementedError

    def _shim_argv(self, container: ContainerRecord, argv: list[str]) -> list[str]:
        """The shim's command line, wrapped in whatever it must run inside."""
        return argv

    def _exec_command(
        self, container: ContainerRecord, command: Sequence[str], *, tty: bool
    ) -> tuple[ExecContext, list[str]]:
        """Where and how a command runs in the (running) container."""
        raise NotImplementedError

    async def _release_container(self, container: ContainerRecord) -> None:
        """Free what :meth:`_prepare_container` made (the process has exited). Idempotent."""

    async def _signal(self, container: ContainerRecord, started: dict[str, Any], signum: int, *, group: bool) -> None:
        """Deliver ``signum`` to the container's process (``group``: and everything it started)."""
        _signal_process(started, signum, group=group)

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        for sub in ("sandboxes", "containers"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        if self.network is not None:
            await self.network.start()
        # A sandbox recorded but never made ready was interrupted by a crash: it is listed (not
        # ready) so the agent removes it, and removing it cleans up whatever half of it exists.
        for path in (self.state_dir / "sandboxes").glob("*/sandbox.json"):
            with contextlib.suppress(OSError, ValueError, TypeError):
                self._sandboxes[path.parent.name] = SandboxRecord(**json.loads(path.read_text()))
        for path in (self.state_dir / "containers").glob("*/config.json"):
            with contextlib.suppress(OSError, ValueError, TypeError):
                self._containers[path.parent.name] = ContainerRecord(**json.loads(path.read_text()))
        # Re-adopt: running containers from before are watched like our own.
        for container_id in self._containers:
            if self._read_state(container_id)[0] is ContainerState.RUNNING:
                self._watch(container_id)
        if not hasattr(os, "pidfd_open"):
            self._poller = asyncio.create_task(self._poll_exits(), name=f"{self.name}-runtime-exit-poller")

    async def close(self) -> None:
        for container_id in list(self._watched):
            self._unwatch(container_id)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.network is not None:
            await self.network.close()
        self._hub.close()

    # ---- sandboxes ------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        sandbox_id = secrets.token_hex(8)
        directory = self.state_dir / "sandboxes" / sandbox_id
        directory.mkdir(parents=True)
        config_record = asdict(config)
        config_record["ports"] = [asdict(p) for p in config.ports]
        # Recorded (not ready) before anything is made, so that a crash half-way leaves a sandbox
        # the agent sees and removes, rather than a namespace nobody knows about.
        sandbox = SandboxRecord(sandbox_id, config_record, "", None, time.time(), False, None)
        self._save_sandbox(sandbox)
        try:
            if self.network is not None and not config.host_network:
                attachment = await self.network.add(sandbox_id, container_ports=config.container_ports)
                sandbox.ip, sandbox.netns_path = attachment.ip, attachment.netns_path
                sandbox.userns_path = attachment.userns_path
            else:
                sandbox.ip = HOST_NETWORK_IP
            if self.cgroups is not None:
                pod_cgroup = self.cgroups.create(sandbox.cgroup_relative)
                pod_cgroup.apply(PodLimits())
                sandbox.cgroup = {"version": pod_cgroup.version, "paths": pod_cgroup.paths}
            await self._sandbox_created(sandbox, directory)
        except BaseException:
            await self._teardown(sandbox)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        sandbox.ready = True
        self._sandboxes[sandbox_id] = sandbox
        self._save_sandbox(sandbox)
        return sandbox.status()

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandbox(sandbox_id)
        containers = [c for c in self._containers.values() if c.sandbox_id == sandbox_id]
        await asyncio.gather(*(self._kill_and_wait(c.id) for c in containers))
        if sandbox.pod_cgroup is not None:
            await asyncio.to_thread(sandbox.pod_cgroup.kill_all)
        if self.network is not None and self.network.holds(sandbox_id):
            await self.network.remove(sandbox_id)
        if sandbox.ready:
            sandbox.ready = False
            self._save_sandbox(sandbox)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for container in [c for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            await self.remove_container(container.id)
        await self._teardown(sandbox)
        shutil.rmtree(self.state_dir / "sandboxes" / sandbox_id, ignore_errors=True)
        del self._sandboxes[sandbox_id]

    async def _teardown(self, sandbox: SandboxRecord) -> None:
        # Only a network that still exists: stop_pod_sandbox may have removed it already.
        if self.network is not None and self.network.holds(sandbox.id):
            await self.network.remove(sandbox.id)
        if sandbox.pod_cgroup is not None:
            await asyncio.to_thread(sandbox.pod_cgroup.remove)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [sandbox.status() for sandbox in self._sandboxes.values()]

    # ---- containers -----------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        if not sandbox.ready:
            raise RuntimeError_(f"sandbox {sandbox_id} is stopped: create a new one for pod {sandbox.config['name']}")
        container_id = secrets.token_hex(8)
        directory = self.state_dir / "containers" / container_id
        directory.mkdir(parents=True)
        try:
            prepared = await self._prepare_container(container_id, sandbox, config, directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        container = ContainerRecord(
            id=container_id,
            sandbox_id=sandbox_id,
            name=config.name,
            image=config.image,
            log_path=str(config.log_path),
            labels=dict(config.labels),
            created_at=time.time(),
            stop_signal=config.stop_signal,
            resources=asdict(config.resources),
            exec_context=prepared.exec_context,
            image_id=prepared.image_id,
            runtime_data=prepared.runtime_data,
        )
        (directory / "shim.spec").write_bytes(marshal.dumps(prepared.shim_spec))
        write_json(directory / "config.json", asdict(container))
        self._containers[container_id] = container
        pod_cgroup = sandbox.pod_cgroup
        if pod_cgroup is not None:
            self._apply_pod_limits(sandbox_id, pod_cgroup)
        self._hub.publish(ContainerEvent(container_id, sandbox_id, ContainerState.CREATED))
        return container_id

    def _apply_pod_limits(self, sandbox_id: str, pod_cgroup: PodCgroup) -> None:
        live = [
            Resources(**c.resources)
            for c in self._containers.values()
            if c.sandbox_id == sandbox_id and self._read_state(c.id)[0] is not ContainerState.EXITED
        ]
        try:
            pod_cgroup.apply(PodLimits.for_containers(live))
        except OSError as error:
            raise RuntimeError_(f"setting the limits of sandbox {sandbox_id}: {error}") from error

    async def start_container(self, container_id: str) -> None:
        container = self._container(container_id)
        state = self._read_state(container_id)[0]
        if state is not ContainerState.CREATED or (self._dir(container_id) / "shim.pid").exists():
            raise RuntimeError_(f"container {container_id} is {state.value}: only created containers start")
        Path(container.log_path).parent.mkdir(parents=True, exist_ok=True)
        answer = await self._spawn_shim(container)
        if not answer.startswith("ok "):
            message = answer.removeprefix("error ").strip() or "the shim ended without an answer"
            raise RuntimeError_(f"starting container {container.name} ({container_id}): {message}")
        self._watch(container_id)
        self._hub.publish(ContainerEvent(container_id, container.sandbox_id, ContainerState.RUNNING))

    async def _spawn_shim(self, container: ContainerRecord) -> str:
        """Start the shim detached and return its one-line answer (``ok <pid>`` / ``error …``)."""
        directory = self._dir(container.id)
        ready_r, ready_w = os.pipe()
        os.set_inheritable(ready_w, True)
        shim = [sys.executable, "-I", "-S", "-c", SHIM_LAUNCHER, str(directory), str(ready_w)]
        argv = self._shim_argv(container, shim)
        try:
            shim_pid = os.posix_spawn(
                argv[0],
                argv,
                {"PATH": DEFAULT_PATH},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (
                        os.POSIX_SPAWN_OPEN,
                        1,
                        str(directory / "shim.log"),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o640,
                    ),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
            )
        except OSError as error:
            os.close(ready_r)
            raise RuntimeError_(f"cannot run the shim {argv[0]}: {error}") from error
        finally:
            os.close(ready_w)
        self._spawned.add(shim_pid)
        (directory / "shim.pid").write_text(str(shim_pid))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                answer = await read_line(ready_r)
        except TimeoutError:
            answer = f"error no answer from the shim within {START_TIMEOUT:.0f}s"
        finally:
            os.close(ready_r)
        if not answer:
            self._reap(shim_pid, block=True)
            detail = (directory / "shim.log").read_text(errors="replace").strip()[-2000:]
            answer = f"error the shim failed: {detail or 'no output'}"
        return answer

    async def stop_container(self, container_id: str, *, timeout: float, signal: int = 15) -> None:
        container = self._container(container_id)
        state, started = self._read_state(container_id)
        if state is ContainerState.CREATED:
            write_json(
                self._dir(container_id) / "status.json",
                {"exit_code": 0, "signal": None, "reason": "Completed", "message": "stopped before it started",
                 "started_at": None, "finished_at": time.time()},
            )  # fmt: skip
            self._hub.publish(ContainerEvent(container_id, container.sandbox_id, ContainerState.EXITED))
            return
        if state is not ContainerState.RUNNING or started is None:
            return
        exited = self._exit_future(container_id)
        await self._signal(container, started, signal, group=False)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(exited)
            return
        except TimeoutError:
            pass
        await self._kill_and_wait(container_id)

    async def _kill_and_wait(self, container_id: str) -> None:
        state, started = self._read_state(container_id)
        if state is not ContainerState.RUNNING or started is None:
            return
        exited = self._exit_future(container_id)
        await self._signal(self._container(container_id), started, signal.SIGKILL, group=True)
        try:
            async with asyncio.timeout(KILL_WAIT):
                await asyncio.shield(exited)
        except TimeoutError:
            raise RuntimeError_(f"container {container_id} did not exit {KILL_WAIT:.0f}s after SIGKILL") from None

    async def remove_container(self, container_id: str) -> None:
        container = self._containers.get(container_id)
        if container is None:
            return
        # The CRI: a running container is removed by force.
        await self._kill_and_wait(container_id)
        self._unwatch(container_id)
        await self._release_container(container)
        shutil.rmtree(self._dir(container_id), ignore_errors=True)
        del self._containers[container_id]

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._status(self._container(container_id))

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._status(c) for c in list(self._containers.values()) if sandbox_id in (None, c.sandbox_id)]

    def events(self) -> AsyncIterator[ContainerEvent]:
        return self._hub.subscribe()

    # ---- exec and usage -------------------------------------------------------------------

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> ProcessExecSession:
        context, argv = self._exec_command(self._running(container_id), command, tty=tty)
        return await ProcessExecSession.start(context, argv, tty=tty, stdin=stdin)

    async def exec_sync(self, container_id: str, command: list[str], *, timeout: float) -> tuple[int, bytes]:
        context, argv = self._exec_command(self._running(container_id), command, tty=False)
        return await exec_sync(context, argv, timeout=timeout)

    def _running(self, container_id: str) -> ContainerRecord:
        container = self._container(container_id)
        state = self._read_state(container_id)[0]
        if state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is {state.value}: exec needs a running container")
        return container

    async def sandbox_usage(self, sandbox_id: str) -> ResourceUsage | None:
        sandbox = self._sandbox(sandbox_id)
        if sandbox.pod_cgroup is not None:
            usage = sandbox.pod_cgroup.usage()
            if usage is not None:
                return ResourceUsage(time.time(), usage[0], usage[1])
        pids = []
        for container in self._containers.values():
            if container.sandbox_id == sandbox_id:
                state, started = self._read_state(container.id)
                if state is ContainerState.RUNNING and started is not None:
                    pids.append(started["pid"])
        cpu, memory = await asyncio.to_thread(tree_usage, pids)
        return ResourceUsage(time.time(), cpu, memory)

    async def container_usage(self, container_id: str) -> ResourceUsage | None:
        # Containers share the pod's cgroup (the shim joins it), so one container is its process tree.
        state, started = self._read_state(self._container(container_id).id)
        if state is not ContainerState.RUNNING or started is None:
            return None
        cpu, memory = await asyncio.to_thread(tree_usage, [started["pid"]])
        return ResourceUsage(time.time(), cpu, memory)

    # ---- state from disk ------------------------------------------------------------------

    def _dir(self, container_id: str) -> Path:
        return self.state_dir / "containers" / container_id

    def _sandbox(self, sandbox_id: str) -> SandboxRecord:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise NotFoundError(f"no sandbox {sandbox_id!r}") from None

    def _container(self, container_id: str) -> ContainerRecord:
        try:
            return self._containers[container_id]
        except KeyError:
            raise NotFoundError(f"no container {container_id!r}") from None

    def _save_sandbox(self, sandbox: SandboxRecord) -> None:
        write_json(self.state_dir / "sandboxes" / sandbox.id / "sandbox.json", asdict(sandbox))

    def _read_state(self, container_id: str) -> tuple[ContainerState, dict[str, Any] | None]:
        directory = self._dir(container_id)
        if (directory / "status.json").exists():
            return ContainerState.EXITED, read_json(directory / "started.json")
        started = read_json(directory / "started.json")
        if started is None:
            return ContainerState.CREATED, None
        if is_same_process(started["pid"], started.get("pid_start")):
            return ContainerState.RUNNING, started
        if (directory / "status.json").exists():
            return ContainerState.EXITED, started
        # The process is gone and its shim is still writing the status: not exited *yet*.
        if _shim_alive(started):
            return ContainerState.RUNNING, started
        return ContainerState.EXITED, started

    def _status(self, container: ContainerRecord) -> ContainerStatus:
        directory = self._dir(container.id)
        state, started = self._read_state(container.id)
        finished = read_json(directory / "status.json") if state is ContainerState.EXITED else None
        if state is ContainerState.EXITED and finished is None and started is not None:
            finished = {
                "exit_code": 255,
                "reason": "Error",
                "message": "the exit status is lost: the container's shim was killed before it could record it",
                "finished_at": None,
            }
        started_at = (started or {}).get("started_at") or (finished or {}).get("started_at")
        return ContainerStatus(
            id=container.id,
            sandbox_id=container.sandbox_id,
            name=container.name,
            image=container.image,
            image_id=container.image_id,
            state=state,
            created_at=container.created_at,
            started_at=started_at,
            finished_at=finished.get("finished_at") if finished else None,
            exit_code=finished.get("exit_code") if finished else None,
            reason=finished.get("reason", "") if finished else "",
            message=finished.get("message", "") if finished else "",
            pid=started["pid"] if state is ContainerState.RUNNING and started else None,
            log_path=Path(container.log_path),
            labels=dict(container.labels),
        )

    # ---- watching exits -------------------------------------------------------------------

    def _watch(self, container_id: str) -> None:
        """Get called back when the container's shim (or, without one, its process) exits."""
        if container_id in self._watched or not hasattr(os, "pidfd_open"):
            return
        started = read_json(self._dir(container_id) / "started.json") or {}
        shim_pid = int_or_none(self._dir(container_id) / "shim.pid") or started.get("shim_pid")
        for pid, start_ticks in ((shim_pid, started.get("shim_start")), (started.get("pid"), started.get("pid_start"))):
            if pid is None:
                continue
            try:
                pidfd = os.pidfd_open(pid)
            except (ProcessLookupError, OSError):
                continue
            # The pidfd pins the pid: checking its start time now rules out a reused pid for good.
            if pid in self._spawned or is_same_process(pid, start_ticks):
                self._watched[container_id] = pidfd
                asyncio.get_running_loop().add_reader(pidfd, self._on_exit, container_id, pid)
                return
            os.close(pidfd)
        # Nothing left to watch: it has exited already.
        asyncio.get_running_loop().call_soon(self._exited, container_id)

    def _unwatch(self, container_id: str) -> None:
        pidfd = self._watched.pop(container_id, None)
        if pidfd is not None:
            asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)

    def _on_exit(self, container_id: str, pid: int) -> None:
        self._unwatch(container_id)
        self._reap(pid, block=False)
        if self._read_state(container_id)[0] is ContainerState.RUNNING:
            self._watch(container_id)  # the shim died but the process lives on: watch that instead
        else:
            self._exited(container_id)

    def _exited(self, container_id: str) -> None:
        container = self._containers.get(container_id)
        if container is not None:
            self._hub.publish(ContainerEvent(container_id, container.sandbox_id, ContainerState.EXITED))
        for waiter in self._exit_waiters.pop(container_id, []):
            if not waiter.done():
                waiter.set_result(None)

    def _exit_future(self, container_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(container_id, []).append(future)
        if not hasattr(os, "pidfd_open") or container_id not in self._watched:
            self._watch(container_id)
        return future

    def _reap(self, pid: int, *, block: bool) -> None:
        if pid not in self._spawned:
            return
        try:
            reaped, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            reaped = pid
        if reaped:
            self._spawned.discard(pid)

    async def _poll_exits(self) -> None:
        """Without pidfds: notice exits from the status files."""
        running: set[str] = set()
        while True:
            for container_id in list(self._containers):
                state = self._read_state(container_id)[0]
                if state is ContainerState.RUNNING:
                    running.add(container_id)
                elif container_id in running or container_id in self._exit_waiters:
                    running.discard(container_id)
                    self._exited(container_id)
            for pid in list(self._spawned):
                self._reap(pid, block=False)
            await asyncio.sleep(POLL_INTERVAL)


def _signal_process(started: dict[str, Any], signum: int, *, group: bool = False) -> None:
    pid = started["pid"]
    if not is_same_process(pid, started.get("pid_start")):
        return
    for target in (-pid, pid) if group else (pid,):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signum)


def _shim_alive(started: dict[str, Any]) -> bool:
    shim_pid = started.get("shim_pid")
    return shim_pid is not None and is_same_process(shim_pid, started.get("shim_start"))
