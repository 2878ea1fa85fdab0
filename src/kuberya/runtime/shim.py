"""The per-container supervisor (like containerd-shim or conmon), run as a bare script.

The process runtime starts one shim per container, detached in its own session, so the
container outlives the node agent::

    python -I -S -c "import shim (from its directory); shim.main(sys.argv)" <state-dir> [<ready-fd>]

Everything the shim needs is in ``<state-dir>/shim.spec`` (a :mod:`marshal`-ed dict written by
the runtime: argv, env, cwd, uid/gid, tty, log path, cgroup.procs files to join, the OOM
counter files, the pod's files to bind over the host's, the volumes to bind at their paths). It then:

0. with ``pod_files`` (the process runtime's pods with a network of their own), moves into mount
   and UTS namespaces of its own, binds the pod's ``/etc/hosts``, ``/etc/resolv.conf`` and
   ``/etc/hostname`` there and sets the pod's hostname (:func:`enter_pod_namespaces`), so the
   container resolves names as a runc container of the pod would; if that cannot be done, the
   host's files stay and the reason is recorded (``mount_warning``), the container runs all the
   same. With ``volumes`` (any process container with volume mounts, host network too: a mount
   namespace needs no network one) it binds each volume at its container path there, read-only
   ones remounted read-only; a volume that cannot be mounted (or a ``mount_errors`` entry of the
   runtime's: a mount point it could not make) ends the start as ``ContainerCannotRun``;
1. forks the container's process: a new session (and, with ``tty``, a pty as its controlling
   terminal), the pod cgroups joined *by the child* before ``exec`` so the shim's own memory is
   never charged to the pod, signals restored to their defaults, uid/gid/cwd/env set. An exec
   failure comes back through a close-on-exec pipe, the classic trick, and ends as exit code
   128 with reason ``ContainerCannotRun``;
2. records ``started.json`` (pid, its start time in clock ticks so a later reader can tell a
   reused pid apart, the shim's pid, whether it has namespaces of its own) and answers on
   ``<ready-fd>`` (``ok <pid>`` or ``error <message>``) so the runtime's ``start_container``
   returns once the process runs;
3. copies stdout/stderr into the CRI log (``<RFC3339Nano> <stream> <F|P> <text>``; lines longer
   than 16 KiB become ``P`` pieces). Rotation belongs to the agent: the shim reopens the log on
   SIGHUP, and by itself when the path no longer names the file it holds (checked at most once a
   second while writing);
4. forwards SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to the container;
5. with a ``launcher`` (the runc runtime: ``runc run --detach --pid-file P``), the forked child
   only *starts* the container: the shim makes itself a child subreaper first
   (``PR_SET_CHILD_SUBREAPER``, through ``_ctypes``, 0.6 ms against 5+ for ``ctypes``), so when
   the launcher exits the container's init is re-parented to the shim, which then supervises
   *that* pid (read from ``P``) exactly like a process it forked itself and gets its real wait
   status. A launcher that fails is ``ContainerCannotRun`` with the last line of its log;
6. when the process ends: kills what is left of its process group (as a pid namespace would when
   its init dies), drains the pipes, and writes ``status.json`` atomically (exit code, 128+signal
   for a signal, finish time, reason: ``Completed``, ``Error``, or ``OOMKilled`` when the pod
   cgroup's or the container's own ``oom_kill`` counter went up and the process died of SIGKILL),
   then exits.

The network namespace is entered by the runtime launching the shim through ``nsenter --net``:
Python 3.11 has no ``os.setns``, and ctypes alone costs more start-up time than the nsenter exec.

Start-up time is the point of this file's shape: it imports only builtin or tiny modules
(``_signal`` rather than ``signal``, which pulls in ``enum``; ``marshal`` and ``_json`` rather than
``json``, which pulls in ``re``). About 17 ms of a bare interpreter start is the floor.
Stdin and attach are not supported: the container's stdin is ``/dev/null`` (or the idle pty).
"""

from __future__ import annotations

import errno
import marshal
import select
import sys
import time
from _json import encode_basestring_ascii  # type: ignore[import-not-found,unused-ignore]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost start-up time
if TYPE_CHECKING:
    import os  # posix's functions and constants, with types
    import signal as _signal
    from typing import Any
else:
    import _signal  # not signal: its enums pull in the enum module
    import posix as os  # not os: it imports posixpath, stat and _collections_abc (~2.5 ms)

MAX_RECORD = 16 * 1024
"""Longest log record; longer lines are split into ``P`` (partial) records (as containerd does)."""

_FORWARDED = (
    _signal.SIGTERM,
    _signal.SIGINT,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGWINCH,
)
_TIOCSCTTY = 0x540E
_REOPEN_CHECK_SECONDS = 1.0
_DRAIN_SECONDS = 0.5


def format_cri_line(timestamp_ns: int, stream: str, partial: bool, text: bytes) -> bytes:
    """One CRI log line (with its newline) for ``text`` (which holds no newline)."""
    # The shim runs as a bare script (``python -I -S``) and may import only the standard library,
    # so it cannot use kuberya.meta.timefmt.rfc3339_nano; the format is the same (a test pins it).
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    tag = b" P " if partial else b" F "
    return b"%s.%09dZ %s%s%s\n" % (stamp.encode("ascii"), nanos, stream.encode("ascii"), tag, text)


def write_json_atomically(path: str, record: dict[str, Any]) -> None:
    """Write a flat dict of str/int/float/bool/None as JSON via a rename, so readers never see half of it."""
    fields = []
    for key, value in record.items():
        if value is None:
            encoded = "null"
        elif isinstance(value, bool):
            encoded = "true" if value else "false"
        elif isinstance(value, str):
            encoded = encode_basestring_ascii(value)
        else:
            encoded = repr(value)
        fields.append(f"{encode_basestring_ascii(key)}: {encoded}")
    temporary = f"{path}.tmp"
    with open(temporary, "w") as out:
        out.write("{" + ", ".join(fields) + "}\n")
    os.replace(temporary, path)


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat``: with the pid, it names one process for its whole life."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(data[data.rindex(b")") + 2 :].split()[19])


def read_oom_kills(path: str | None) -> int:
    """The ``oom_kill`` counter of ``memory.oom_control`` (v1) or ``memory.events`` (v2)."""
    if not path:
        return 0
    try:
        with open(path) as counters:
            for line in counters:
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def oom_kills(spec: dict[str, Any]) -> int:
    """The sum of the spec's OOM counters (``oom_file``, ``oom_files``); a missing file counts 0.

    Cgroup v1 counts a kill only in the memory cgroup whose limit was hit, so a runc container's
    own cgroup and its pod's are both watched.
    """
    return sum(read_oom_kills(path) for path in (spec.get("oom_file"), *spec.get("oom_files", ())))


def become_subreaper() -> None:
    """``prctl(PR_SET_CHILD_SUBREAPER, 1)``: orphaned descendants are re-parented to us."""
    import _ctypes  # type: ignore[import-not-found,unused-ignore]  # not ctypes: see the docstring

    libc = _ctypes.dlopen(None, 0x102)  # type: ignore[arg-type]  # RTLD_NOW | RTLD_GLOBAL: the already-loaded libc
    if _ctypes.call_function(_ctypes.dlsym(libc, "prctl"), (36, 1, 0, 0, 0)) != 0:
        raise OSError("prctl(PR_SET_CHILD_SUBREAPER) failed")


_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_SLAVE = 1 << 19
_LOCKED_FLAGS = (  # (statvfs ST_*, mount MS_*): what a bind keeps, and an unprivileged remount must too
    (2, 2),  # nosuid
    (4, 4),  # nodev
    (8, 8),  # noexec
    (16, 16),  # synchronous
    (1024, 1024),  # noatime
    (2048, 2048),  # nodiratime
    (4096, 1 << 21),  # relatime
)


def _remount_flags(target: str) -> int:
    """``MS_BIND|MS_REMOUNT|MS_RDONLY`` plus the flags the bind already has.

    In a mount namespace owned by a user namespace (rootless pods) the copied flags are locked:
    a remount that would clear ``nosuid`` or change the atime mode is refused (EPERM), as runc knows.
    """
    flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY
    have = os.statvfs(target).f_flag
    for st_flag, ms_flag in _LOCKED_FLAGS:
        if have & st_flag:
            flags |= ms_flag
    if not have & (1024 | 4096):
        flags |= 1 << 24  # MS_STRICTATIME: neither noatime nor relatime
    return flags


def _identity_user_namespace(unshare: Any, flags: int) -> bool:
    """``unshare`` with a user namespace of our own that maps only our uid and gid to themselves.

    What an unprivileged shim without the pod's user namespace (a rootless host-network pod) needs
    for a mount namespace: the container keeps its ids and the host's permissions, binds become
    possible, and nothing else changes (files of other users show as the overflow id).
    """
    uid, gid = os.getuid(), os.getgid()
    if unshare(_CLONE_NEWUSER | flags) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as mapping:
            mapping.write(text)
    return True


def enter_pod_namespaces(
    binds: list[list[str]], hostname: str, volumes: list[list[Any]] | None = None
) -> tuple[bool, bool, str, str]:
    """Move into namespaces of our own, bind the pod's files and the container's volumes there.

    ``binds`` are the pod's files (``(file, target)``), ``volumes`` the container's
    (``(source, target, read_only)``); a ``hostname`` asks for a UTS namespace too. Returns
    whether we are in a mount namespace of our own (then ``exec`` must join it), whether we made a
    user namespace for it (``exec`` joins that first), what went wrong with the pod's files (a
    warning; ``""``: nothing) and why a volume could not be mounted (an error; ``""``: none).

    The container inherits them, so it (and only it) sees the pod's files over the host's, its
    volumes at their container paths, and ``gethostname()`` is the pod's hostname, the one its
    ``/etc/hosts`` names (a server that looks its own name up, as Python's ``http.server`` does,
    would otherwise ask the DNS for the host's name and wait). A host-network pod with volumes gets
    the mount namespace alone: its hostname is the host's. The copy of the host's mounts is made a
    *slave* (``MS_SLAVE``, recursively), not private: our binds never reach the host, while the
    host's unmounts still reach us, so the copy pins nothing the host lets go of (another pod's
    ``/run/netns`` entry, which ``ip netns add`` makes shared).
    ``mount(2)`` follows a symlinked target, as ``mount --bind`` does: over a systemd-resolved
    ``/etc/resolv.conf`` the bind lands on the file it points to, in this namespace only.

    Volumes are bound recursively (``MS_BIND|MS_REC``: an emptyDir the node mounted as tmpfs, or a
    volume with mounts below it, comes along), in the order given (parents first, their mount
    points made by the runtime: :mod:`kuberya.runtime.mountplan`). ``read_only`` remounts the bind
    read-only (the bind itself, not what is mounted below it: upstream's non-recursive
    ``readOnly``). Without privilege (no root, no user namespace of the pod's) a user namespace
    mapping only our own ids makes the binds possible (:func:`_identity_user_namespace`).

    The pod's files are best effort, as before: a namespace that cannot be made leaves the host's,
    a target missing on this host keeps the host's file. A volume is not: one that cannot be bound
    (or made read-only) fails the container's start, as runc fails on a mount, because a container
    that writes its data at the host's path instead of its volume loses it.
    Through ``_ctypes`` rather than ``ctypes``, as :func:`become_subreaper`.
    """
    import _ctypes  # type: ignore[import-not-found,unused-ignore]

    class Function(_ctypes.CFuncPtr):  # type: ignore[misc,name-defined,unused-ignore]
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO  # errno kept for get_errno()

    libc = _ctypes.dlopen(None, 0x102)  # type: ignore[arg-type]  # RTLD_NOW | RTLD_GLOBAL: the loaded libc
    unshare = Function(_ctypes.dlsym(libc, "unshare"))
    mount = Function(_ctypes.dlsym(libc, "mount"))
    flags = _CLONE_NEWNS | (_CLONE_NEWUTS if hostname else 0)
    own_user = False
    if unshare(flags) != 0:
        reason = os.strerror(_ctypes.get_errno())
        own_user = bool(volumes) and os.geteuid() != 0 and _identity_user_namespace(unshare, flags)
        if not own_user:
            what = "mount and UTS namespaces" if hostname else "a mount namespace"
            if volumes:
                return False, False, "", f"cannot make {what} for the volumes: {reason}"
            return False, False, f"cannot make {what}: {reason}", ""
    failed = []
    name = hostname.encode()
    if name and Function(_ctypes.dlsym(libc, "sethostname"))(name, len(name)) != 0:
        failed.append(f"the hostname ({os.strerror(_ctypes.get_errno())})")
    if mount(b"none", b"/", None, _MS_REC | _MS_SLAVE, None) != 0:
        # Binding now could reach the host's own mount table: keep its files, mount no volume.
        reason = f"cannot make the mounts a slave of the host's: {os.strerror(_ctypes.get_errno())}"
        return True, own_user, reason, reason if volumes else ""
    for source, target in binds:
        if mount(source.encode(), target.encode(), None, _MS_BIND, None) != 0:
            failed.append(f"{target} ({os.strerror(_ctypes.get_errno())})")
    warning = ("kept the host's " + ", ".join(failed)) if failed else ""
    for source, target, read_only in volumes or ():
        if mount(source.encode(), target.encode(), None, _MS_BIND | _MS_REC, None) != 0:
            return True, own_user, warning, f"cannot mount {source} at {target}: {os.strerror(_ctypes.get_errno())}"
        if read_only and mount(None, target.encode(), None, _remount_flags(target), None) != 0:
            reason = os.strerror(_ctypes.get_errno())
            return True, own_user, warning, f"cannot make the volume at {target} read-only: {reason}"
    return True, own_user, warning, ""


def launcher_error(log_path: str | None, exit_status: int) -> str:
    """What a failed launcher said: the last line of its log (runc's ``msg="…"`` if it has one)."""
    last = ""
    if log_path:
        try:
            with open(log_path, errors="replace") as launcher_log:
                for line in launcher_log:
                    if line.strip():
                        last = line.strip()
        except OSError:
            pass
    start = last.find('msg="')
    if start >= 0:
        end = start + 5
        while end < len(last) and not (last[end] == '"' and last[end - 1] != "\\"):
            end += 1
        last = last[start + 5 : end].replace('\\"', '"')
    return last or f"the launcher failed with status {exit_status}"


class LogWriter:
    """CRI log lines for one container; reopens its file when rotated away."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.identity = (0, 0)
        self.checked_at = 0.0
        self.reopen_requested = False
        self.partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.open()

    def open(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        stat = os.fstat(self.fd)
        self.identity = (stat.st_dev, stat.st_ino)
        self.checked_at = time.monotonic()

    def maybe_reopen(self) -> None:
        now = time.monotonic()
        if not self.reopen_requested and now - self.checked_at < _REOPEN_CHECK_SECONDS:
            return
        self.checked_at = now
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self.identity
        except FileNotFoundError:
            moved = True
        if moved or self.reopen_requested:
            self.reopen_requested = False
            self.open()

    def feed(self, stream: str, data: bytes) -> None:
        """Add output; whole lines (and 16 KiB pieces of long ones) are written at once."""
        buffer = self.partial[stream]
        buffer += data
        now = time.time_ns()
        out = []
        start = 0
        while True:
            newline = buffer.find(b"\n", start)
            end = newline if newline >= 0 else len(buffer)
            if end - start >= MAX_RECORD:
                out.append(format_cri_line(now, stream, True, bytes(buffer[start : start + MAX_RECORD])))
                start += MAX_RECORD
            elif newline >= 0:
                out.append(format_cri_line(now, stream, False, bytes(buffer[start:newline])))
                start = newline + 1
            else:
                break
        del buffer[:start]
        self.write(b"".join(out))

    def flush(self) -> None:
        """Write what is left of unterminated lines (the stream has ended, so they are whole)."""
        now = time.time_ns()
        out = [format_cri_line(now, s, False, bytes(b)) for s, b in self.partial.items() if b]
        self.write(b"".join(out))

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.maybe_reopen()
        try:
            os.write(self.fd, data)
        except OSError as error:
            # A full disk must not kill the container: the lines are lost, as with containerd.
            sys.stderr.write(f"kuberya-shim: writing {self.path}: {error}\n")


def _child(spec: dict[str, Any], stdio: tuple[int, int, int], error_pipe: int) -> None:
    """In the forked child: become the container's process, or report why not and exit 127."""
    try:
        for signum in (*_FORWARDED, _signal.SIGHUP, _signal.SIGCHLD, _signal.SIGPIPE, _signal.SIGXFSZ):
            _signal.signal(signum, _signal.SIG_DFL)
        _signal.set_wakeup_fd(-1)
        os.setsid()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        if spec.get("tty"):
            import fcntl  # only tty containers pay for it

            fcntl.ioctl(0, _TIOCSCTTY, 0)
        for procs in spec.get("cgroup_procs", ()):
            with open(procs, "w") as join:
                join.write("0")  # "0" is the writing process itself
        if spec.get("gid") is not None:
            if not spec.get("own_user"):  # a user namespace of our own denies setgroups
                os.setgroups([])
            os.setgid(spec["gid"])
        if spec.get("uid") is not None:
            os.setuid(spec["uid"])
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        _execvpe(spec["argv"], spec["env"])
    except BaseException as error:
        try:
            os.write(error_pipe, f"{type(error).__name__}: {error}".encode(errors="replace"))
        finally:
            os._exit(127)


def _execvpe(argv: list[str], env: dict[str, str]) -> None:
    """``execvp`` with the container's own ``PATH`` (``os.execvpe`` is not in ``posix``)."""
    if "/" in argv[0]:
        os.execve(argv[0], argv, env)
    denied: OSError | None = None
    for directory in (env.get("PATH") or "/usr/local/bin:/usr/bin:/bin").split(":"):
        try:
            os.execve(f"{directory or '.'}/{argv[0]}", argv, env)
        except PermissionError as error:
            denied = error  # keep looking, but report this rather than "not found" (as execvp does)
        except (FileNotFoundError, NotADirectoryError):
            pass
    raise denied or FileNotFoundError(errno.ENOENT, f"executable file not found in $PATH: {argv[0]!r}")


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


class Shim:
    def __init__(self, state_dir: str, ready_fd: int) -> None:
        self.state_dir = state_dir
        self.ready_fd = ready_fd
        if ready_fd >= 0:
            os.set_inheritable(ready_fd, False)  # the container must not hold the runtime's pipe
        with open(f"{state_dir}/shim.spec", "rb") as spec_file:
            self.spec: dict[str, Any] = marshal.load(spec_file)
        self.pid = 0
        self.log = LogWriter(self.spec["log_path"])
        self.pending: list[int] = []

    def on_signal(self, signum: int, frame: object) -> None:
        if signum == _signal.SIGHUP:
            self.log.reopen_requested = True
        elif signum == _signal.SIGCHLD:
            pass  # the wakeup fd already woke the loop
        elif self.pid:
            try:  # noqa: SIM105 (contextlib would cost start-up time)
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass
        else:
            self.pending.append(signum)

    def answer(self, message: str) -> None:
        if self.ready_fd >= 0:
            try:
                os.write(self.ready_fd, message.encode(errors="replace") + b"\n")
            finally:
                os.close(self.ready_fd)
                self.ready_fd = -1

    def run(self) -> int:
        # Handlers first: a stop that arrives while we fork must reach the container, not kill us.
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        _signal.set_wakeup_fd(wake_w)
        for handled in (*_FORWARDED, _signal.SIGHUP, _signal.SIGCHLD):
            _signal.signal(handled, self.on_signal)

        tty = bool(self.spec.get("tty"))
        devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        if tty:
            master, slave = os.openpty()
            stdio, readers = (slave, slave, slave), {master: "stdout"}
            child_ends = [slave]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            stdio, readers = (devnull, out_w, err_w), {out_r: "stdout", err_r: "stderr"}
            child_ends = [out_w, err_w]
        error_r, error_w = os.pipe()
        launcher: dict[str, str] | None = self.spec.get("launcher")
        if launcher:
            become_subreaper()
        oom_before = oom_kills(self.spec)
        own_mounts, own_user, mount_warning = False, False, ""
        # What the runtime could not prepare (a volume's mount point) fails the start, as a bind would.
        mount_error = "; ".join(self.spec.get("mount_errors", ()))
        if not mount_error and (self.spec.get("pod_files") or self.spec.get("volumes")):
            # Before the fork, so the failure lands in the shim's log and record, not the container's.
            own_mounts, own_user, mount_warning, mount_error = enter_pod_namespaces(
                self.spec.get("pod_files") or [], self.spec.get("hostname", ""), self.spec.get("volumes")
            )
            self.spec["own_user"] = own_user  # the child must not drop supplementary groups there
        if mount_warning:
            sys.stderr.write(f"kuberya-shim: {mount_warning}\n")
        if mount_error:
            self.finish(exit_code=128, reason="ContainerCannotRun", message=mount_error, started_at=None)
            self.answer("error " + mount_error.replace("\n", " "))
            return 1

        pid = os.fork()
        if pid == 0:
            _child(self.spec, stdio, error_w)
        if not launcher:
            self.pid = pid  # with a launcher, signals wait in self.pending for the container's pid
        for fd in (*child_ends, error_w, devnull):
            os.close(fd)
        failure = os.read(error_r, 65536).decode(errors="replace")
        os.close(error_r)
        if not failure and launcher:
            _, launch_status = os.waitpid(pid, 0)
            if os.WIFEXITED(launch_status) and os.WEXITSTATUS(launch_status) == 0:
                with open(launcher["pid_file"]) as pid_file:
                    pid = int(pid_file.read().strip())
                self.pid = pid
            else:
                failure = launcher_error(launcher.get("log"), launch_status)
                pid = 0
        if failure:
            if pid:
                os.waitpid(pid, 0)
            self.finish(exit_code=128, reason="ContainerCannotRun", message=failure, started_at=None)
            self.answer("error " + failure.replace("\n", " "))
            return 1

        started_at = time.time()
        write_json_atomically(
            f"{self.state_dir}/started.json",
            {
                "pid": pid,
                "pid_start": process_start_ticks(pid),
                "shim_pid": os.getpid(),
                "shim_start": process_start_ticks(os.getpid()),
                "started_at": started_at,
                "own_mounts": own_mounts,
                "own_uts": own_mounts and bool(self.spec.get("hostname")),
                "own_user": own_user,
                "mount_warning": mount_warning or None,
            },
        )
        for pending in self.pending:
            os.kill(pid, pending)
        self.answer(f"ok {pid}")

        status = self.pump(readers, wake_r)
        self.log.flush()
        killed_by: int | None
        if os.WIFSIGNALED(status):
            killed_by = os.WTERMSIG(status)
            exit_code = 128 + killed_by
            oom = killed_by == _signal.SIGKILL and oom_kills(self.spec) > oom_before
            reason = "OOMKilled" if oom else "Error"
        else:
            killed_by = None
            exit_code = os.WEXITSTATUS(status)
            reason = "Completed" if exit_code == 0 else "Error"
        self.finish(exit_code=exit_code, reason=reason, signal=killed_by, started_at=started_at)
        return 0

    def pump(self, readers: dict[int, str], wake_r: int) -> int:
        """Copy output into the log until the process has exited and the pipes are drained."""
        poller = select.poll()
        for fd in (*readers, wake_r):
            poller.register(fd, select.POLLIN)
        status: int | None = None
        deadline = 0.0
        while readers:
            timeout = None if status is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = poller.poll(timeout)
            if not events and status is not None:
                break  # something we did not start still holds the pipes: stop waiting for it
            for fd, _ in events:
                if fd == wake_r:
                    os.read(wake_r, 512)
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError as error:
                    if error.errno != errno.EIO:  # EIO: the pty's last user closed it
                        raise
                    data = b""
                if data:
                    self.log.feed(readers[fd], data)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del readers[fd]
            if status is None:
                reaped, wait_status = os.waitpid(self.pid, os.WNOHANG)
                if reaped:
                    status = wait_status
                    deadline = time.monotonic() + _DRAIN_SECONDS
                    # The container's init is gone: so is the rest of its process group.
                    try:  # noqa: SIM105 (contextlib would cost start-up time)
                        os.killpg(self.pid, _signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            if self.log.reopen_requested:
                self.log.maybe_reopen()
        if status is None:
            _, status = os.waitpid(self.pid, 0)
        return status

    def finish(
        self,
        *,
        exit_code: int,
        reason: str,
        started_at: float | None,
        signal: int | None = None,
        message: str = "",
    ) -> None:
        write_json_atomically(
            f"{self.state_dir}/status.json",
            {
                "exit_code": exit_code,
                "signal": signal,
                "reason": reason,
                "message": message,
                "started_at": started_at,
                "finished_at": time.time(),
            },
        )


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: shim.py <state-dir> [<ready-fd>]\n")
        return 2
    shim = Shim(argv[1], int(argv[2]) if len(argv) > 2 else -1)
    try:
        return shim.run()
    except BaseException as error:
        # Whatever went wrong, the runtime must learn it rather than wait for a status forever.
        shim.answer(f"error shim failed: {error}")
        if not _exists(f"{argv[1]}/status.json"):
            shim.finish(exit_code=128, reason="ContainerCannotRun", message=f"shim: {error}", started_at=None)
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv))
