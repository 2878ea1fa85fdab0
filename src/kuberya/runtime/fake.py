"""An in-memory :class:`~kuberya.runtime.base.ContainerRuntime` for unit tests of the node agent.

Nothing runs: a started container stays ``RUNNING`` until the test says otherwise with
:meth:`FakeRuntime.exit_container`. Every protocol call is appended to :attr:`FakeRuntime.calls`
(so a test can compare the agent's actions with the expected list, sample-controller style) and
every state change is pushed to all :meth:`FakeRuntime.events` streams.

The fake keeps the semantics the agent relies on, so its tests are honest:

- ids are deterministic (``sandbox-1``, ``container-1`` …) and unknown ids raise
  :class:`~kuberya.runtime.base.NotFoundError`; ``remove_*`` of an unknown id is a no-op (as the
  CRI says), removing a running container kills it first (137), as the CRI says too;
- ``stop_container`` exits the container with ``128 + signal`` (143 for SIGTERM), or with the code
  set by :meth:`FakeRuntime.set_stop_result` (``ignore_signal=True`` simulates a process that
  needs the SIGKILL after the grace period: exit 137; the fake does not really wait);
- ``stop_pod_sandbox`` kills the sandbox's running containers (137) and marks it not ready;
- exit 0 gives reason ``Completed``, anything else ``Error`` unless the test names one
  (``OOMKilled``…);
- ``exec_sync`` answers from :meth:`FakeRuntime.set_exec_result` (default: exit 0, no output);
  ``exec`` hands out a :class:`FakeExecSession` the test scripts or drives
  (:attr:`FakeRuntime.exec_sessions`);
- :meth:`FakeRuntime.fail` makes the next call(s) of a method raise, to test error paths;
- :meth:`FakeRuntime.write_log` appends CRI-format lines to a container's ``log_path``.

A new agent over the same :class:`FakeRuntime` instance sees the same sandboxes and containers,
which is how an agent restart (re-adoption) is tested.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerRuntime,
    ContainerState,
    ContainerStatus,
    ExecSession,
    NotFoundError,
    ResourceUsage,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)
from kuberya.runtime.crilog import format_cri_line
from kuberya.runtime.events import EventHub

SIGKILL_EXIT = 137
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Call:
    """One protocol call made to the fake."""

    method: str
    """The protocol method's name (``create_container``, ``stop_container`` …)."""
    args: tuple[Any, ...] = ()
    """The positional arguments, then keyword arguments' values in the signature's order."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int = 0
    output: bytes = b""
    timed_out: bool = False
    """Answer as if the command outlived the timeout: ``(-1, output)``, without waiting."""


@dataclass
class _Sandbox:
    config: SandboxConfig
    status: SandboxStatus


@dataclass
class _Container:
    config: ContainerConfig
    status: ContainerStatus


class FakeExecSession:
    """An exec session whose streams the test feeds (:meth:`feed_stdout`, :meth:`finish`).

    What the agent wrote is in :attr:`stdin` (and :attr:`stdin_closed`), resizes in :attr:`resizes`.
    """

    def __init__(self, *, container_id: str, command: list[str], tty: bool, echo_stdin: bool = False) -> None:
        self.container_id = container_id
        self.command = command
        self.tty = tty
        self.echo_stdin = echo_stdin
        self.stdin = bytearray()
        self.stdin_closed = False
        self.resizes: list[tuple[int, int]] = []
        self.killed = False
        self._stdout: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._stderr: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    # The test's side.

    def feed_stdout(self, data: bytes) -> None:
        self._stdout.put_nowait(data)

    def feed_stderr(self, data: bytes) -> None:
        self._stderr.put_nowait(data)

    def finish(self, exit_code: int) -> None:
        """End the command: both streams end, :meth:`wait` returns ``exit_code``."""
        if not self._exit.done():
            self._stdout.put_nowait(None)
            self._stderr.put_nowait(None)
            self._exit.set_result(exit_code)

    # The agent's side (the ExecSession protocol).

    async def write_stdin(self, data: bytes) -> None:
        if self.stdin_closed:
            raise RuntimeError_("exec stdin is closed")
        self.stdin += data
        if self.echo_stdin:
            self.feed_stdout(data)

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def _drain(self, queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    def stdout(self) -> AsyncIterator[bytes]:
        return self._drain(self._stdout)

    def stderr(self) -> AsyncIterator[bytes]:
        return self._drain(self._stderr)

    async def resize(self, *, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def kill(self) -> None:
        self.killed = True
        self.finish(SIGKILL_EXIT)


@dataclass
class _ExecScript:
    stdout: Sequence[bytes] = ()
    stderr: Sequence[bytes] = ()
    exit_code: int | None = 0
    """None: the session stays open until the test calls :meth:`FakeExecSession.finish`."""
    echo_stdin: bool = False


@dataclass
class _StopResult:
    exit_code: int | None = None
    ignore_signal: bool = False


@dataclass
class FakeRuntime:
    """The fake runtime; see the module docstring for its semantics."""

    clock: Callable[[], float] = time.time
    """Wall-clock seconds used for created/started/finished times (tests may freeze it)."""
    name: str = "fake"
    calls: list[Call] = field(default_factory=list)
    exec_sessions: list[FakeExecSession] = field(default_factory=list)
    started: bool = False
    closed: bool = False
    _sandboxes: dict[str, _Sandbox] = field(default_factory=dict)
    _containers: dict[str, _Container] = field(default_factory=dict)
    _next_id: int = 0
    _hub: EventHub = field(default_factory=EventHub)
    _failures: dict[str, list[BaseException]] = field(default_factory=dict)
    _exec_results: dict[tuple[str | None, tuple[str, ...]], ExecResult] = field(default_factory=dict)
    _exec_scripts: dict[tuple[str | None, tuple[str, ...]], _ExecScript] = field(default_factory=dict)
    _stop_results: dict[str, _StopResult] = field(default_factory=dict)
    _start_failures: dict[str, str] = field(default_factory=dict)
    _usage: dict[str, ResourceUsage] = field(default_factory=dict)

    # ---- test hooks -------------------------------------------------------------------------

    def exit_container(self, container_id: str, code: int, reason: str = "", *, message: str = "") -> None:
        """The container's process ends with ``code`` (reason defaults to Completed/Error)."""
        container = self._container(container_id)
        if container.status.state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is {container.status.state.value}, not running")
        self._exit(container, code, reason=reason, message=message)

    def set_exec_result(
        self,
        command: Sequence[str],
        *,
        exit_code: int = 0,
        output: bytes = b"",
        timed_out: bool = False,
        container_id: str | None = None,
    ) -> None:
        """What ``exec_sync(command)`` answers (for one container, or any when ``container_id`` is None)."""
        self._exec_results[(container_id, tuple(command))] = ExecResult(exit_code, output, timed_out)

    def script_exec(
        self,
        command: Sequence[str],
        *,
        stdout: Sequence[bytes] = (),
        stderr: Sequence[bytes] = (),
        exit_code: int | None = 0,
        echo_stdin: bool = False,
        container_id: str | None = None,
    ) -> None:
        """What an ``exec(command)`` session outputs; ``exit_code=None`` leaves it open for the test."""
        self._exec_scripts[(container_id, tuple(command))] = _ExecScript(stdout, stderr, exit_code, echo_stdin)

    def set_stop_result(self, container_id: str, *, exit_code: int | None = None, ignore_signal: bool = False) -> None:
        """How the container reacts to ``stop_container``: its exit code, or ignore the signal (137)."""
        self._stop_results[container_id] = _StopResult(exit_code, ignore_signal)

    def fail_start(self, container_name: str, message: str) -> None:
        """The next ``start_container`` of a container with that name fails (ContainerCannotRun)."""
        self._start_failures[container_name] = message

    def fail(self, method: str, error: BaseException, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error`` (after being recorded)."""
        self._failures.setdefault(method, []).extend([error] * times)

    def set_usage(self, sandbox_id: str, *, cpu_seconds: float, memory_bytes: int) -> None:
        """What ``sandbox_usage`` (or, given a container id, ``container_usage``) answers."""
        self._usage[sandbox_id] = ResourceUsage(self.clock(), cpu_seconds, memory_bytes)

    def write_log(self, container_id: str, text: str, *, stream: str = "stdout") -> None:
        """Append ``text`` (one record per line) to the container's log file, as the shim would."""
        path = self._container(container_id).config.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        now_ns = int(self.clock() * 1e9)
        with path.open("ab") as log:
            for line in text.removesuffix("\n").split("\n"):
                log.write(format_cri_line(now_ns, stream, False, line.encode()))

    def call_names(self) -> list[str]:
        return [call.method for call in self.calls]

    def container_ids(self, sandbox_id: str | None = None) -> list[str]:
        return [cid for cid, c in self._containers.items() if sandbox_id in (None, c.status.sandbox_id)]

    # ---- the protocol -----------------------------------------------------------------------

    async def start(self) -> None:
        self._record("start")
        self.started = True

    async def close(self) -> None:
        self._record("close")
        self.closed = True
        self._hub.close()

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        self._record("run_pod_sandbox", config)
        sandbox_id = self._new_id("sandbox")
        index = sum(1 for s in self._sandboxes.values() if not s.config.host_network) + 2
        status = SandboxStatus(
            id=sandbox_id,
            pod_uid=config.pod_uid,
            name=config.name,
            namespace=config.namespace,
            ready=True,
            ip="127.0.0.1" if config.host_network else f"10.88.{index // 256}.{index % 256}",
            netns_path=None if config.host_network else f"/var/run/netns/fake-{sandbox_id}",
            created_at=self.clock(),
        )
        self._sandboxes[sandbox_id] = _Sandbox(config, status)
        return status

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._record("stop_pod_sandbox", sandbox_id)
        sandbox = self._sandbox(sandbox_id)
        for container in self._containers.values():
            if container.status.sandbox_id == sandbox_id and container.status.state is ContainerState.RUNNING:
                self._exit(container, SIGKILL_EXIT)
        sandbox.status = replace(sandbox.status, ready=False)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._record("remove_pod_sandbox", sandbox_id)
        if sandbox_id not in self._sandboxes:
            return
        for cid in self.container_ids(sandbox_id):
            container = self._containers.pop(cid)
            if container.status.state is ContainerState.RUNNING:
                self._exit(container, SIGKILL_EXIT)
        del self._sandboxes[sandbox_id]
        self._usage.pop(sandbox_id, None)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        self._record("list_pod_sandboxes")
        return [s.status for s in self._sandboxes.values()]

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        self._record("create_container", sandbox_id, config)
        sandbox = self._sandbox(sandbox_id)
        if not sandbox.status.ready:
            raise RuntimeError_(f"sandbox {sandbox_id} is stopped: create a new one for pod {config.name}")
        container_id = self._new_id("container")
        self._containers[container_id] = _Container(
            config,
            ContainerStatus(
                id=container_id,
                sandbox_id=sandbox_id,
                name=config.name,
                image=config.image,
                image_id="fake://" + config.image,
                state=ContainerState.CREATED,
                created_at=self.clock(),
                log_path=config.log_path,
                labels=dict(config.labels),
            ),
        )
        self._emit(self._containers[container_id])
        return container_id

    async def start_container(self, container_id: str) -> None:
        self._record("start_container", container_id)
        container = self._container(container_id)
        if container.status.state is not ContainerState.CREATED:
            raise RuntimeError_(f"container {container_id} is {container.status.state.value}: only created ones start")
        if (message := self._start_failures.pop(container.config.name, None)) is not None:
            now = self.clock()
            container.status = replace(
                container.status,
                state=ContainerState.EXITED,
                started_at=now,
                finished_at=now,
                exit_code=128,
                reason="ContainerCannotRun",
                message=message,
            )
            self._emit(container)
            raise RuntimeError_(f"starting container {container_id}: {message}")
        container.status = replace(
            container.status, state=ContainerState.RUNNING, started_at=self.clock(), pid=100000 + self._next_id
        )
        self._emit(container)

    async def stop_container(self, container_id: str, *, timeout: float, signal: int = 15) -> None:
        self._record("stop_container", container_id, timeout, signal)
        container = self._container(container_id)
        if container.status.state is ContainerState.CREATED:
            # Never started: upstream marks it exited without a process to signal.
            self._exit(container, 0, reason="Completed")
            return
        if container.status.state is not ContainerState.RUNNING:
            return
        result = self._stop_results.get(container_id, _StopResult())
        if result.ignore_signal:
            self._exit(container, SIGKILL_EXIT)
        else:
            self._exit(container, 128 + signal if result.exit_code is None else result.exit_code)

    async def remove_container(self, container_id: str) -> None:
        self._record("remove_container", container_id)
        container = self._containers.get(container_id)
        if container is None:
            return
        if container.status.state is ContainerState.RUNNING:
            self._exit(container, SIGKILL_EXIT)  # the CRI: a running container is removed by force
        del self._containers[container_id]

    async def container_status(self, container_id: str) -> ContainerStatus:
        self._record("container_status", container_id)
        return self._container(container_id).status

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        self._record("list_containers", sandbox_id)
        return [self._containers[cid].status for cid in self.container_ids(sandbox_id)]

    def events(self) -> AsyncIterator[ContainerEvent]:
        return self._hub.subscribe()

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> FakeExecSession:
        self._record("exec", container_id, list(command), tty, stdin)
        self._running(container_id)
        script = self._lookup(self._exec_scripts, container_id, command) or _ExecScript()
        session = FakeExecSession(
            container_id=container_id, command=list(command), tty=tty, echo_stdin=script.echo_stdin
        )
        for chunk in script.stdout:
            session.feed_stdout(chunk)
        for chunk in script.stderr:
            session.feed_stderr(chunk)
        if script.exit_code is not None:
            session.finish(script.exit_code)
        self.exec_sessions.append(session)
        return session

    async def exec_sync(self, container_id: str, command: list[str], *, timeout: float) -> tuple[int, bytes]:
        self._record("exec_sync", container_id, list(command), timeout)
        self._running(container_id)
        result = self._lookup(self._exec_results, container_id, command) or ExecResult()
        return (-1 if result.timed_out else result.exit_code), result.output

    async def sandbox_usage(self, sandbox_id: str) -> ResourceUsage | None:
        self._record("sandbox_usage", sandbox_id)
        self._sandbox(sandbox_id)
        return self._usage.get(sandbox_id)

    async def container_usage(self, container_id: str) -> ResourceUsage | None:
        self._record("container_usage", container_id)
        self._container(container_id)
        return self._usage.get(container_id)

    # ---- internals --------------------------------------------------------------------------

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append(Call(method, args))
        if failures := self._failures.get(method):
            raise failures.pop(0)

    def _new_id(self, kind: str) -> str:
        self._next_id += 1
        return f"{kind}-{self._next_id}"

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise NotFoundError(f"no sandbox {sandbox_id!r}") from None

    def _container(self, container_id: str) -> _Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise NotFoundError(f"no container {container_id!r}") from None

    def _running(self, container_id: str) -> None:
        state = self._container(container_id).status.state
        if state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is {state.value}: exec needs a running container")

    @staticmethod
    def _lookup(
        table: dict[tuple[str | None, tuple[str, ...]], _T], container_id: str, command: list[str]
    ) -> _T | None:
        return table.get((container_id, tuple(command)), table.get((None, tuple(command))))

    def _exit(self, container: _Container, code: int, *, reason: str = "", message: str = "") -> None:
        container.status = replace(
            container.status,
            state=ContainerState.EXITED,
            finished_at=self.clock(),
            exit_code=code,
            reason=reason or ("Completed" if code == 0 else "Error"),
            message=message,
            pid=None,
        )
        self._emit(container)

    def _emit(self, container: _Container) -> None:
        self._hub.publish(ContainerEvent(container.status.id, container.status.sandbox_id, container.status.state))


def _conforms(fake: FakeRuntime, session: FakeExecSession) -> tuple[ContainerRuntime, ExecSession]:
    """Never called: makes mypy check that the fake really implements the protocol."""
    return fake, session
