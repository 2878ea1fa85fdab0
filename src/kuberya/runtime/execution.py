"""Running extra commands in a running container: ``exec`` sessions and ``exec_sync`` (probes).

The command joins what a container is made of in the process runtime: the pod's network namespace
(through ``nsenter --net``), the container's mount and UTS namespaces where it has them
(``--mount --uts``: the pod's ``/etc/hosts``, ``/etc/resolv.conf`` and hostname, its volumes at
their container paths; a host-network container with volumes has a mount namespace alone), the
container's environment, working directory, user and group, and the pod's cgroups (the new pid is
written to ``cgroup.procs`` right after the spawn, so the first instant of its CPU is charged to
the agent: the price of not forking a Python child with a pre-exec hook).

With ``tty`` the command gets a pty, made its controlling terminal by util-linux ``setsid
--ctty``; its output arrives merged on :meth:`ProcessExecSession.stdout` and :meth:`resize` sets the
window size (``TIOCSWINSZ``). Without, stdout and stderr are pipes. Every command runs in its own
session so :meth:`kill` and the ``exec_sync`` timeout reach its children too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kuberya.runtime.base import RuntimeError_


@dataclass(frozen=True, slots=True)
class ExecContext:
    """Where a container's commands run."""

    netns_path: str | None
    env: dict[str, str]
    cwd: str
    uid: int | None = None
    gid: int | None = None
    cgroup_procs: tuple[str, ...] = ()
    userns_path: str | None = None
    """The user namespace owning ``netns_path`` (rootless network), joined first."""
    namespaces_pid: int | None = None
    """The container's process, whose own mount and UTS namespaces (the pod's files over the host's,
    its volumes at their paths, the pod's hostname) a command joins too: known once it runs."""
    join_uts: bool = True
    """Whether the container has a UTS namespace of its own (not a host-network pod's mount-only one)."""
    join_user: bool = False
    """Whether the container's shim made a user namespace of its own for its mounts (an unprivileged
    host-network pod): joined first, keeping the caller's ids."""

    def argv(self, command: Sequence[str], *, tty: bool = False) -> list[str]:
        """``command`` wrapped in what enters the pod (and, for a tty, makes it the controlling one)."""
        argv = list(command)
        options = namespace_options(self.netns_path, self.userns_path) if self.netns_path else []
        if self.namespaces_pid:
            # Joining a mount namespace moves the caller to its root directory: --wd goes back.
            pid = self.namespaces_pid
            if self.join_user:
                options += [f"--user=/proc/{pid}/ns/user", "--preserve-credentials"]
            options += [f"--mount=/proc/{pid}/ns/mnt", *([f"--uts=/proc/{pid}/ns/uts"] if self.join_uts else [])]
            options.append(f"--wd={self.cwd or '/'}")
        if options:
            argv = ["nsenter", *options, "--", *argv]
        if tty:
            argv = ["setsid", "--ctty", *argv]
        return argv

    def join_cgroups(self, pid: int) -> None:
        for procs in self.cgroup_procs:
            # The process may already be gone (a fast command): nothing left to account.
            with contextlib.suppress(ProcessLookupError, FileNotFoundError), Path(procs).open("w") as join:
                join.write(str(pid))


def namespace_options(netns_path: str, userns_path: str | None) -> list[str]:
    """``nsenter`` options that join the pod's network namespace (and the user namespace owning it).

    Without root a network namespace owned by another user namespace can only be joined from inside
    that one; ``--preserve-credentials`` keeps the caller's ids (mapped to root in there) as they are.
    """
    if userns_path:
        return [f"--user={userns_path}", f"--net={netns_path}", "--preserve-credentials"]
    return [f"--net={netns_path}"]


async def spawn(
    context: ExecContext,
    command: Sequence[str],
    *,
    stdin: int,
    stdout: int,
    stderr: int,
    tty: bool = False,
) -> asyncio.subprocess.Process:
    try:
        process = await asyncio.create_subprocess_exec(
            *context.argv(command, tty=tty),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=context.env,
            cwd=context.cwd or "/",
            user=context.uid,
            group=context.gid,
            # A tty session is made by setsid --ctty; otherwise a plain new session.
            start_new_session=not tty,
        )
    except OSError as error:
        raise RuntimeError_(f"exec {list(command)!r}: {error.strerror or error}") from error
    if context.cgroup_procs:
        # In a thread: a cgroup v1 attach waits for an RCU grace period (up to ~10 ms here).
        await asyncio.to_thread(context.join_cgroups, process.pid)
    return process


async def exec_sync(context: ExecContext, command: Sequence[str], *, timeout: float) -> tuple[int, bytes]:
    """Run to completion: (exit code, stdout and stderr interleaved). Timeout → (-1, output so far)."""
    try:
        process = await spawn(
            context,
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except RuntimeError_ as error:
        # Like a shell: a command that cannot be started is exit code 127 (probes report the message).
        return 127, str(error).encode()
    assert process.stdout is not None
    output = bytearray()

    async def collect(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            output.extend(chunk)

    reader = asyncio.ensure_future(collect(process.stdout))
    try:
        async with asyncio.timeout(timeout):
            await process.wait()
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return -1, bytes(output)
    # The command is done; give its output a moment (a child that kept the pipe gets no more).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            await asyncio.shield(reader)
    if not reader.done():
        _kill_group(process.pid)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return _exit_code(process.returncode), bytes(output)


class ProcessExecSession:
    """One ``exec``: a process with pipes, or a pty (``tty=True``)."""

    def __init__(self, process: asyncio.subprocess.Process, *, master: int | None) -> None:
        self._process = process
        self._master = master
        self._tty_output: asyncio.Queue[bytes | None] | None = None
        self._tty_eof = asyncio.Event()
        if master is not None:
            self._tty_output = asyncio.Queue()
            os.set_blocking(master, False)
            asyncio.get_running_loop().add_reader(master, self._read_tty)

    @classmethod
    async def start(cls, context: ExecContext, command: Sequence[str], *, tty: bool, stdin: bool) -> ProcessExecSession:
        if not tty:
            pipe = asyncio.subprocess.PIPE
            process = await spawn(
                context, command, stdin=pipe if stdin else asyncio.subprocess.DEVNULL, stdout=pipe, stderr=pipe
            )
            return cls(process, master=None)
        master, slave = os.openpty()
        try:
            process = await spawn(context, command, stdin=slave, stdout=slave, stderr=slave, tty=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return cls(process, master=master)

    def _read_tty(self) -> None:
        assert self._master is not None and self._tty_output is not None
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: the last holder of the terminal closed it
                raise
            data = b""
        if data:
            self._tty_output.put_nowait(data)
        else:
            asyncio.get_running_loop().remove_reader(self._master)
            self._tty_output.put_nowait(None)
            self._tty_eof.set()

    async def write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            await _write_all(self._master, data)
            return
        if self._process.stdin is None:
            raise RuntimeError_("this exec session has no stdin: start it with stdin=True")
        self._process.stdin.write(data)
        await self._process.stdin.drain()

    async def close_stdin(self) -> None:
        if self._master is not None:
            await _write_all(self._master, b"\x04")  # end of file, as a terminal user types it
        elif self._process.stdin is not None:
            self._process.stdin.close()

    async def stdout(self) -> AsyncIterator[bytes]:
        if self._tty_output is not None:
            while (chunk := await self._tty_output.get()) is not None:
                yield chunk
        elif self._process.stdout is not None:
            while chunk := await self._process.stdout.read(65536):
                yield chunk

    async def stderr(self) -> AsyncIterator[bytes]:
        if self._process.stderr is not None:
            while chunk := await self._process.stderr.read(65536):
                yield chunk

    async def resize(self, *, width: int, height: int) -> None:
        if self._master is not None:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = _exit_code(await self._process.wait())
        if self._master is not None:
            # The pty reports end of output a moment after the exit; wait for it so that no
            # output is lost, but not forever (a background child may hold the terminal).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._tty_eof.wait()
        return code

    async def kill(self) -> None:
        _kill_group(self._process.pid)

    def close(self) -> None:
        """Release the pty (the process, if still running, loses its terminal)."""
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = None


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        view = view[written:]


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)


def _exit_code(returncode: int | None) -> int:
    """Shell convention: killed by signal N → 128 + N (asyncio reports -N)."""
    if returncode is None:
        return -1
    return 128 - returncode if returncode < 0 else returncode
