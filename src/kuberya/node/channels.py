"""The Kubernetes channel protocol of exec and attach: frames, the final ``Status``, the streams asked for.

Every WebSocket message is one channel byte then the payload: 0 stdin, 1 stdout, 2 stderr, 3 the
final ``Status``, 4 terminal resizes, and in ``v5.channel.k8s.io`` ``[255, ch]`` closes a channel
(stdin EOF); ``v4.base64.channel.k8s.io`` sends text frames, the channel as a digit then base64.
The kubelet answers with the most recent protocol the client offers (:func:`choose_protocol`).

Nothing here does I/O: :class:`ChannelCodec` frames and parses messages, the ``*_status``
functions build the channel-3 bodies exactly as the kubelet writes them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5_PROTOCOL = "v5.channel.k8s.io"
V4_PROTOCOL = "v4.channel.k8s.io"
V4_BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
PROTOCOLS = (V5_PROTOCOL, V4_PROTOCOL, V4_BASE64_PROTOCOL)
"""The channel protocols served, most preferred first (v5 whenever the client offers it)."""


def choose_protocol(offered: str) -> str | None:
    """The channel protocol to answer from a ``Sec-WebSocket-Protocol`` header (v5 first)."""
    names = {p.strip() for p in offered.split(",")}
    return next((p for p in PROTOCOLS if p in names), None)


@dataclass(frozen=True, slots=True)
class ChannelCodec:
    """Frames of one channel protocol: ``[channel] + payload``, or text ``"<digit>" + base64``."""

    protocol: str

    @property
    def base64(self) -> bool:
        return self.protocol == V4_BASE64_PROTOCOL

    @property
    def can_close_channels(self) -> bool:
        return self.protocol == V5_PROTOCOL

    def encode(self, channel: int, payload: bytes) -> bytes | str:
        if self.base64:
            return str(channel) + base64.b64encode(payload).decode("ascii")
        return bytes([channel]) + payload

    def decode(self, message: bytes | str) -> tuple[int, bytes]:
        """A client message → (channel, payload); ValueError for an empty or malformed one.

        Text messages in the plain protocols are taken as their UTF-8 bytes: the Python client
        sends ``chr(channel) + text`` as a text frame when given a ``str``.
        """
        if self.base64:
            text = message.decode("ascii") if isinstance(message, bytes) else message
            if not text or not text[0].isdigit():
                raise ValueError(f"not a base64 channel frame: {text[:16]!r}")
            return int(text[0]), base64.b64decode(text[1:])
        data = message.encode("utf-8") if isinstance(message, str) else message
        if not data:
            raise ValueError("an empty channel frame")
        return data[0], data[1:]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The channel-3 ``Status`` of a finished command, exactly as the kubelet writes it."""
    if code == 0:
        return success_status()
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
            f"exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error_status(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """The streams an exec or attach asked for."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> StreamOptions:
        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        return cls(stdin=flag("stdin"), stdout=flag("stdout"), stderr=flag("stderr"), tty=flag("tty"))
