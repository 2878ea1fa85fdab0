"""The watch stream, decoded without I/O: bytes in, :class:`WatchEvent` out.

The server writes one JSON object per event, each ending in a newline (KUBE_API §5); chunks from
the network may split or join lines anywhere. :class:`WatchDecoder` buffers partial lines and
yields one event per complete line. What to do with an ``ERROR`` event is policy, not decoding:
:func:`raise_for_error` turns one into the typed error (410 → :class:`ExpiredError`), and the
caller decides when to call it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from kuberya.client.errors import error_from_status

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
EVENT_TYPES: frozenset[str] = frozenset(("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"))


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    object: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        rv = (self.object.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None


class WatchDecodeError(ValueError):
    """A line of the stream was not a watch event."""


def decode_line(line: bytes | str) -> WatchEvent | None:
    """Decode the event on one line, or None for a blank line."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WatchDecodeError(f"not JSON: {text[:200]!r}") from exc
    if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES or not isinstance(data.get("object"), dict):
        raise WatchDecodeError(f"not a watch event: {text[:200]!r}")
    return WatchEvent(data["type"], data["object"])


class WatchDecoder:
    """Feed it chunks; it yields each complete event once."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> Iterator[WatchEvent]:
        self._buffer.extend(chunk)
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            event = decode_line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[WatchEvent]:
        """Decode what is left when the stream ends (a last line without its newline)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        event = decode_line(rest)
        if event is not None:
            yield event


def raise_for_error(event: WatchEvent) -> None:
    """Raise the typed error an ``ERROR`` event carries; other events pass."""
    if event.type == "ERROR":
        status = event.object
        code = status.get("code")
        raise error_from_status(code if isinstance(code, int) else 500, status)
