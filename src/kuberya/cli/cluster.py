"""The local cluster's lifecycle as the CLI sees it: start the server process, wait, probe, stop.

The CLI may not import the server (layering, see pyproject's import-linter contracts), so it
drives it from outside, as a user would: it runs ``python -m kuberya.server`` and reads the files
the server keeps in its data directory. Those names and the ``ready`` file's format are defined
once, in :mod:`kuberya.meta.datadir`, for both sides. A held lock on ``kuberya.pid`` — not the
file's existence — is what "running" means, so a pid file left by ``kill -9`` is harmless, and
``down`` never signals a pid that a dead server left behind. ``ready`` is the readiness signal
``up`` waits for; it names the runtime the server chose and why (``up`` passes ``--runtime`` only
when the user gave one).

Only stdlib ``ssl`` + ``http.client`` talk to the API here: ``kuberya up`` is on the clock
(API ready in < 0.5 s), and an aiohttp import costs more than the whole readiness probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kuberya.meta.datadir import DataDirLayout
from kuberya.meta.datadir import ReadyInfo as ReadyInfo  # re-exported for the commands

POLL_INTERVAL = 0.01
"""How often ``up`` looks for the ready file: short, because it is most of ``up``'s latency budget."""


class ClusterError(Exception):
    """Something the user should know about the cluster; the message says what to do."""


ClusterFiles = DataDirLayout
"""The data directory's files, by the names the server uses (:mod:`kuberya.meta.datadir`)."""


@dataclass(frozen=True, slots=True)
class ClusterState:
    running: bool
    """A server holds the data dir's lock."""
    pid: int | None
    ready: ReadyInfo | None
    """Set when the running server has announced that its API answers."""


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """What ``kuberya up`` passes on to the server process."""

    data_dir: Path
    host: str
    port: int
    runtime: str | None
    """None: the server picks (runc as root where runc is installed, else process)."""
    storage: str | None
    allow_non_loopback: bool
    disable: tuple[str, ...] = ()
    """Components the server must not run (its ``--disable``)."""
    check_storage: str | None = None
    """``quick`` or ``full``: how the server checks its database before serving it (None: its default)."""

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "kuberya.server", "--data-dir", str(self.data_dir)]
        cmd += ["--host", self.host, "--port", str(self.port)]
        if self.runtime:
            cmd += ["--runtime", self.runtime]
        if self.storage:
            cmd += ["--storage", self.storage]
        if self.allow_non_loopback:
            cmd.append("--allow-non-loopback")
        if self.disable:
            cmd += ["--disable", ",".join(self.disable)]
        if self.check_storage:
            cmd += ["--check-storage", self.check_storage]
        return cmd


# -- probing ------------------------------------------------------------------------------------------


def lock_is_held(pid_file: Path) -> bool:
    """Whether a live server holds the data dir's lock (probed with a shared, non-blocking flock)."""
    try:
        fd = os.open(pid_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the shared lock we may have taken
    return False


def read_ready(files: ClusterFiles) -> ReadyInfo | None:
    try:
        return ReadyInfo.from_json(json.loads(files.ready_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def probe(files: ClusterFiles) -> ClusterState:
    if not lock_is_held(files.pid_file):
        return ClusterState(running=False, pid=None, ready=None)
    pid = _read_pid(files.pid_file)
    ready = read_ready(files)
    if ready is not None and ready.pid != pid:
        ready = None  # left over from an earlier server
    return ClusterState(running=True, pid=pid, ready=ready)


def clean_stale_files(files: ClusterFiles) -> None:
    """Remove what a server killed with SIGKILL left behind — only when no server holds the lock."""
    if not lock_is_held(files.pid_file):
        files.ready_file.unlink(missing_ok=True)
        files.pid_file.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class ApiCheck:
    ok: bool
    detail: str
    """``"ok"``, an HTTP status, or why no answer came."""


def check_api(ready: ReadyInfo, *, timeout: float = 2.0) -> ApiCheck:
    """``GET /readyz`` as the admin (falls back to ``/version`` for a server without it)."""
    import http.client
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=str(ready.ca_file))
        ctx.load_cert_chain(ready.client_cert_file, ready.client_key_file)
    except (OSError, ssl.SSLError) as e:
        return ApiCheck(False, f"cannot load the admin credentials: {e}")
    host = ready.url.removeprefix("https://").rsplit(":", 1)[0].strip("[]")
    detail = ""
    for path in ("/readyz", "/version"):
        conn = http.client.HTTPSConnection(host, ready.port, context=ctx, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Accept": "application/json, */*"})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as e:
            return ApiCheck(False, f"no answer from {ready.url}: {e}")
        finally:
            conn.close()
        if response.status == 200:
            return ApiCheck(True, "ok")
        detail = f"{path} answered HTTP {response.status} {response.reason}"
        if response.status != 404:
            break
    return ApiCheck(False, detail)


# -- starting -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Launch:
    process: subprocess.Popen[bytes]
    log_offset: int | None
    """Where this run's output starts in the log (None in the foreground: it went to the terminal)."""


def launch(options: LaunchOptions, files: ClusterFiles, *, foreground: bool) -> Launch:
    """Start the server process: detached with its output in the log, or attached to this terminal."""
    if foreground:
        return Launch(subprocess.Popen(options.command(), stdin=subprocess.DEVNULL), None)
    try:
        files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        log: IO[bytes] = open(files.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
    except OSError as e:
        raise ClusterError(f"cannot use the data dir {files.root}: {e}; choose another with --data-dir") from e
    with log:
        stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        log.write(f"--- kuberya up at {stamp}: {' '.join(options.command())}\n".encode())
        log.flush()
        offset = log.tell()
        # A new session: the server outlives this command and never gets the terminal's ^C.
        process = subprocess.Popen(
            options.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return Launch(process, offset)


def wait_ready(
    files: ClusterFiles, *, pid: int, alive: Callable[[], bool], timeout: float, log_offset: int | None
) -> ReadyInfo:
    """Wait until the server ``pid`` has written its ready file and its API answers."""
    # Import what the readiness probe needs while the server is still importing its own modules:
    # on two cores this costs nothing, whereas after the ready file appears it would be latency.
    import http.client  # noqa: F401
    import ssl  # noqa: F401

    deadline = time.monotonic() + timeout
    last = ApiCheck(False, "no ready file yet")
    while True:
        ready = read_ready(files)
        if ready is not None and ready.pid == pid:
            last = check_api(ready)
            if last.ok:
                return ready
        if not alive():
            raise ClusterError(_failure_message(files, log_offset))
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"kuberya (pid {pid}) did not become ready within {timeout:.0f}s ({last.detail}). "
                f"See {files.log_file}; stop it with `kuberya down --data-dir {files.root}`."
            )
        time.sleep(POLL_INTERVAL)


def _failure_message(files: ClusterFiles, log_offset: int | None) -> str:
    if log_offset is None:
        return "kuberya exited before it was ready; see its messages above"
    try:
        with open(files.log_file, "rb") as f:
            f.seek(log_offset)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    # The server ends a failed start with one "error: …" line that says what to do: lead with it.
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    tail = "\n".join(f"  | {line}" for line in lines[-15:])
    head = errors[-1] if errors else "kuberya exited before it was ready"
    return f"{head}\n\nlast lines of {files.log_file}:\n{tail}" if tail else head


# -- stopping -----------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just isn't ours
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True, slots=True)
class StopResult:
    pid: int
    killed: bool
    """True when the server ignored SIGTERM for ``timeout`` and got SIGKILL."""
    seconds: float


def stop(files: ClusterFiles, *, timeout: float) -> StopResult | None:
    """SIGTERM the server holding the data dir, SIGKILL it after ``timeout``; None if none runs."""
    started = time.monotonic()
    state = probe(files)
    if not state.running:
        clean_stale_files(files)
        return None
    pid = state.pid
    if pid is None:  # it has locked but not yet written its pid: give it a moment
        time.sleep(0.2)
        pid = _read_pid(files.pid_file)
        if pid is None:
            raise ClusterError(f"{files.pid_file} is locked but names no pid; try again in a moment")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as e:
        raise ClusterError(f"not allowed to stop kuberya (pid {pid}): it belongs to another user") from e

    # Done when the process is gone, not merely when it has let go of the lock: `down` returning
    # means that nothing of this cluster runs any more.
    killed = False
    if not _wait_for(lambda: not pid_alive(pid), timeout):
        # Only this pid, never its group: the server's children are its own to clean up, and
        # after SIGKILL the kernel still releases its lock, port and database.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed = True
        if not _wait_for(lambda: not pid_alive(pid), 5.0):
            raise ClusterError(f"kuberya (pid {pid}) survived SIGKILL; check it with `ps -p {pid}`")
    clean_stale_files(files)
    return StopResult(pid=pid, killed=killed, seconds=time.monotonic() - started)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
