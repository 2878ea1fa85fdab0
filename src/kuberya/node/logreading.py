"""Reading a container's CRI log back as the program's output: what ``kubectl logs`` shows.

The runtime's shim writes every line the program prints as ``<RFC3339Nano> <stdout|stderr> <F|P>
<text>`` (:mod:`kuberya.runtime.crilog`); a long line comes as ``P`` (partial) pieces ended by an
``F``. :class:`LogFormatter` turns those records back into output, joining the pieces (in parts
past :data:`MAX_JOINED`, so memory stays bounded) and applying upstream's ``PodLogOptions``
(:class:`LogOptions`: timestamps, since, streams, limitBytes). :func:`tail_offset` finds where the
last N lines start by reading the file backwards. :func:`read_log` reads one file, and with
``follow`` tails it, following rotation and truncation, until the container instance has exited
and the file has stopped growing.

The formatting and the tail are I/O-free (a file object in, offsets and records out), so they are
tested without a container.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kuberya.meta.timefmt import parse_rfc3339_ns
from kuberya.runtime.crilog import parse_cri_line

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
MAX_JOINED = 1024 * 1024
"""A line assembled from ``P`` pieces is written out in parts beyond this, so memory stays bounded."""


def go_rfc3339nano(timestamp: str) -> str:
    """The timestamp as Go's ``time.RFC3339Nano`` prints it: trailing zeros of the fraction trimmed."""
    if "." not in timestamp or not timestamp.endswith("Z"):
        return timestamp
    base, fraction = timestamp[:-1].split(".", 1)
    fraction = fraction.rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What ``kubectl logs`` asked for (upstream's ``PodLogOptions``, as the kubelet receives them)."""

    follow: bool = False
    tail_lines: int | None = None
    """Only the last N lines (None: all)."""
    timestamps: bool = False
    since_ns: int | None = None
    """Only lines written at or after this time (nanoseconds since the epoch)."""
    limit_bytes: int | None = None
    previous: bool = False
    streams: frozenset[str] = frozenset({"stdout", "stderr"})

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, now_ns: int) -> LogOptions:
        """Parse the kubelet's query parameters; ValueError says which one is wrong."""

        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        def number(name: str, minimum: int) -> int | None:
            raw = query.get(name, "")
            if raw == "":
                return None
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not an integer") from None
            if value < minimum:
                raise ValueError(f"{name}: must be greater than or equal to {minimum}")
            return value

        since_seconds = number("sinceSeconds", 1)
        since_time = query.get("sinceTime", "")
        if since_seconds is not None and since_time:
            raise ValueError("at most one of `sinceTime` or `sinceSeconds` may be specified")
        since_ns = parse_rfc3339_ns(since_time) if since_time else None
        if since_seconds is not None:
            since_ns = now_ns - since_seconds * 1_000_000_000
        stream = query.get("stream", "") or "All"
        streams = {"All": {"stdout", "stderr"}, "Stdout": {"stdout"}, "Stderr": {"stderr"}}.get(stream)
        if streams is None:
            raise ValueError(f'stream: Unsupported value: "{stream}": supported values: "All", "Stdout", "Stderr"')
        return cls(
            follow=flag("follow"),
            tail_lines=number("tailLines", 0),
            timestamps=flag("timestamps"),
            since_ns=since_ns,
            limit_bytes=number("limitBytes", 1),
            previous=flag("previous"),
            streams=frozenset(streams),
        )


@dataclass(slots=True)
class _Pending:
    timestamp: str
    text: bytearray
    started: bool = False
    """Part of this line was already written (with its timestamp), because it grew past MAX_JOINED."""


@dataclass(slots=True)
class LogFormatter:
    """Turns CRI log lines into output records ``(stream, bytes)``, applying the log options.

    ``P`` pieces are held until their ``F`` piece and written as one line, stamped with the first
    piece's time; that time also decides ``since``. ``limit_bytes`` counts the timestamps too,
    and cuts the last record short, as upstream does.
    """

    timestamps: bool = False
    since_ns: int | None = None
    limit_bytes: int | None = None
    streams: frozenset[str] = frozenset({"stdout", "stderr"})
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _written: int = 0

    @classmethod
    def for_options(cls, options: LogOptions) -> LogFormatter:
        return cls(
            timestamps=options.timestamps,
            since_ns=options.since_ns,
            limit_bytes=options.limit_bytes,
            streams=options.streams,
        )

    @property
    def exhausted(self) -> bool:
        """``limit_bytes`` has been written: nothing more will come out."""
        return self.limit_bytes is not None and self._written >= self.limit_bytes

    def feed(self, line: bytes) -> list[tuple[str, bytes]]:
        """One CRI line (its newline optional) → the records it completes."""
        try:
            record = parse_cri_line(line)
        except ValueError:
            log.debug("skipping a malformed log line: %r", line[:80])
            return []
        if record.stream not in self.streams:
            return []
        pending = self._pending.get(record.stream)
        if record.partial:
            if pending is None:
                self._pending[record.stream] = pending = _Pending(record.timestamp, bytearray())
            pending.text += record.text
            if len(pending.text) < MAX_JOINED:
                return []
            out = self._emit(record.stream, pending.timestamp, bytes(pending.text), prefix=not pending.started)
            pending.text.clear()
            pending.started = True
            return out
        if pending is None:
            return self._emit(record.stream, record.timestamp, record.text + b"\n", prefix=True)
        del self._pending[record.stream]
        text = bytes(pending.text) + record.text + b"\n"
        return self._emit(record.stream, pending.timestamp, text, prefix=not pending.started)

    def flush(self) -> list[tuple[str, bytes]]:
        """The pieces of lines never finished (the writer stopped mid-line), without a newline."""
        out: list[tuple[str, bytes]] = []
        for stream, pending in self._pending.items():
            if pending.text:
                out += self._emit(stream, pending.timestamp, bytes(pending.text), prefix=not pending.started)
        self._pending.clear()
        return out

    def _emit(self, stream: str, timestamp: str, text: bytes, *, prefix: bool) -> list[tuple[str, bytes]]:
        if self.exhausted:
            return []
        if self.since_ns is not None:
            try:
                if parse_rfc3339_ns(timestamp) < self.since_ns:
                    return []
            except ValueError:
                return []
        if self.timestamps and prefix:
            text = go_rfc3339nano(timestamp).encode("ascii") + b" " + text
        if self.limit_bytes is not None:
            text = text[: self.limit_bytes - self._written]
        self._written += len(text)
        return [(stream, text)] if text else []


def _is_full_record(line: bytes) -> bool:
    """Whether a CRI line ends its record (tag ``F``); a malformed line counts as a record of its own."""
    parts = line.split(b" ", 3)
    return len(parts) < 3 or parts[2] != b"P"


def tail_offset(f: IO[bytes], lines: int) -> int:
    """Where the last ``lines`` records of a CRI log start (a record: its ``P`` pieces and the ``F`` one).

    Reads backwards in blocks, so a long log costs only what is shown. A last line without its
    newline is still being written and is not counted.
    """
    f.seek(0, os.SEEK_END)
    position = f.tell()
    carry = b""
    end: int | None = None  # just after the last complete line
    boundaries = 0  # record starts found so far, the end of the file being the first
    while position > 0:
        size = min(READ_CHUNK, position)
        position -= size
        f.seek(position)
        data = f.read(size) + carry
        pieces = data.split(b"\n")
        carry = pieces[0] if position > 0 else b""
        # pieces[i] for i >= 1 is a line that started right after a newline; walk them from the end.
        offset = position + len(data)
        for index in range(len(pieces) - 1, -1 if position == 0 else 0, -1):
            piece = pieces[index]
            line_start = offset - len(piece)
            offset = line_start - 1  # before the newline that precedes this line
            if end is None:
                if index == len(pieces) - 1:
                    # The bytes after the last newline: an unfinished line (or nothing).
                    end = line_start
                    boundaries = 1
                    if lines == 0:
                        return end
                continue
            line_end = line_start + len(piece) + 1
            if _is_full_record(piece) and line_end < end:
                boundaries += 1
                if boundaries > lines:
                    return line_end
    return 0


class _LineReader:
    """Complete lines from a file that may still be growing (a partly written line waits)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.file = f
        self._buffer = b""

    def read_lines(self) -> list[bytes]:
        """The next complete lines (without newlines); [] at the end of what has been written."""
        while True:
            data = self.file.read(READ_CHUNK)
            if not data:
                return []
            self._buffer += data
            last = self._buffer.rfind(b"\n")
            if last >= 0:
                lines = self._buffer[:last].split(b"\n")
                self._buffer = self._buffer[last + 1 :]
                return lines


def _open(path: Path) -> IO[bytes] | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _replaced(path: Path, f: IO[bytes]) -> bool:
    """The file was rotated away (another file now at the path) or truncated in place."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return False  # mid-rotation: the new file isn't there yet
    mine = os.fstat(f.fileno())
    return current.st_ino != mine.st_ino or current.st_dev != mine.st_dev or current.st_size < f.tell()


async def read_log(
    path: Path,
    options: LogOptions,
    *,
    is_running: Callable[[], bool],
    poll_interval: float = 0.1,
) -> AsyncGenerator[tuple[str, bytes], None]:
    """The records of a container's log, as the options ask; with ``follow``, until the container exits.

    ``is_running`` tells whether the container instance may still write. Once it says no, the
    file is read to its end once more and the stream ends.
    """
    formatter = LogFormatter.for_options(options)
    f = _open(path)
    while f is None:
        if not options.follow or not is_running():
            return
        await asyncio.sleep(poll_interval)
        f = _open(path)
    try:
        if options.tail_lines is not None:
            f.seek(tail_offset(f, options.tail_lines))
        reader = _LineReader(f)
        final = False
        while not formatter.exhausted:
            lines = reader.read_lines()
            if lines:
                for line in lines:
                    for record in formatter.feed(line):
                        yield record
                await asyncio.sleep(0)
                continue
            if not options.follow or final:
                break
            if _replaced(path, f):
                fresh = _open(path)
                if fresh is None:
                    await asyncio.sleep(poll_interval)
                    continue
                # Whatever reached the old file after the last read comes first.
                while lines := reader.read_lines():
                    for line in lines:
                        for record in formatter.feed(line):
                            yield record
                f.close()
                f = fresh
                reader = _LineReader(f)
                continue
            if not is_running():
                final = True  # one more read catches what was written just before the exit
                continue
            await asyncio.sleep(poll_interval)
        for record in formatter.flush():
            yield record
    finally:
        f.close()
