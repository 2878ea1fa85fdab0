"""The CRI container log format, one line per record: ``<RFC3339Nano> <stream> <F|P> <text>``.

The shim writes these lines (its formatter lives in :mod:`kuberya.runtime.shim`, which must stay
importable without kuberya because it runs as a bare script); this module re-exports it and adds
the parser the node agent needs for ``kubectl logs``. ``P`` marks a partial record: a line longer
than :data:`MAX_RECORD` bytes is split into ``P`` pieces and a final ``F`` one, and a reader joins
them back.
"""

from __future__ import annotations

from dataclasses import dataclass

from kuberya.runtime.shim import MAX_RECORD, format_cri_line

__all__ = ["MAX_RECORD", "CriLogLine", "format_cri_line", "parse_cri_line"]


@dataclass(frozen=True, slots=True)
class CriLogLine:
    timestamp: str
    """RFC 3339 with nanoseconds, UTC (``2026-01-02T03:04:05.123456789Z``)."""
    stream: str
    """``stdout`` or ``stderr``."""
    partial: bool
    text: bytes
    """The record's bytes, without the newline."""


def parse_cri_line(line: bytes) -> CriLogLine:
    """Split one log line (with or without its trailing newline); ValueError when it isn't CRI."""
    if line.endswith(b"\n"):
        line = line[:-1]
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    text = parts[3] if len(parts) == 4 else b""
    return CriLogLine(
        timestamp=parts[0].decode("ascii"), stream=parts[1].decode("ascii"), partial=parts[2] == b"P", text=text
    )
