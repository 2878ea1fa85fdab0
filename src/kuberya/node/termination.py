"""Termination messages: what a container leaves for ``state.terminated.message``.

A container of an image runtime gets a file of its own bind-mounted at ``terminationMessagePath``
(``/dev/termination-log`` by default): ``DATA_DIR/pods/<uid>/containers/<name>/<restart>.termination-log``
on the host, one per instance, so that the previous instance's message survives a restart and an
agent restart (the file stays until the pod is removed, with its volumes). When the instance
exits the agent reads it: at most :data:`MAX_MESSAGE_BYTES`, as upstream.

``terminationMessagePolicy: FallbackToLogsOnError`` uses the end of the container's log instead
when the file is empty and the container failed (a non-zero exit): the last
:data:`FALLBACK_LOG_LINES` lines, at most :data:`FALLBACK_LOG_BYTES` bytes. That part also holds on
the ``process`` runtime, which has no file to mount.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kuberya.meta.types import Obj
from kuberya.runtime.crilog import parse_cri_line

logger = logging.getLogger(__name__)


DEFAULT_PATH = "/dev/termination-log"
MAX_MESSAGE_BYTES = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
_LOG_TAIL_READ = 64 * 1024


def termination_log_path(pod_dir: Path, container: str, restart: int) -> Path:
    """The host file backing one instance's ``terminationMessagePath``."""
    return pod_dir / "containers" / container / f"{restart}.termination-log"


def create_termination_log(path: Path, *, restart: int) -> Path:
    """An empty file to bind-mount (a bind mount of a file needs the file); writable by any user.

    The files of instances before the previous one are removed, as their logs are.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("*.termination-log"):
        number = old.name.removesuffix(".termination-log")
        if number.isdigit() and int(number) < restart - 1:
            old.unlink(missing_ok=True)
    path.write_bytes(b"")
    path.chmod(0o666)  # the container may run as any uid
    return path


def termination_message(spec: Obj, *, path: Path | None, exit_code: int | None, log_path: Path | None) -> str:
    """The message of an instance that exited: its file, or the end of its log when the policy says so."""
    message = _read_head(path) if path is not None else ""
    if message or exit_code in (0, None):
        return message
    if str(spec.get("terminationMessagePolicy") or "File") != "FallbackToLogsOnError" or log_path is None:
        return message
    return _log_tail(log_path)


def _read_head(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.read(MAX_MESSAGE_BYTES).decode(errors="replace")
    except OSError:
        return ""


def _log_tail(log_path: Path) -> str:
    try:
        with log_path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - _LOG_TAIL_READ, 0))
            raw = f.read()
    except OSError:
        return ""
    text = b""
    for line in raw.splitlines(keepends=True):
        try:
            record = parse_cri_line(line)
        except ValueError:
            continue  # the first line of a partial read, or not a CRI line
        text += record.text + (b"" if record.partial else b"\n")
    lines = text.splitlines(keepends=True)[-FALLBACK_LOG_LINES:]
    return b"".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")
