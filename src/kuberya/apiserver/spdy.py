"""SPDY/3.1 framing: an I/O-free codec, just enough for ``kubectl port-forward``.

kubectl tunnels port-forward connections over SPDY/3.1 (client-go's ``httpstream/spdy``, built
on ``moby/spdystream``), either straight on an upgraded HTTP connection or inside WebSocket
binary messages (kubectl 1.31+). This module turns bytes into frames and frames into bytes and
does nothing else: :class:`FrameDecoder` is fed whatever arrived and returns the complete
frames, :class:`FrameEncoder` returns the bytes of one frame. The session logic lives in
:mod:`kuberya.apiserver.portforward`.

Wire format (SPDY/3, draft 3.1 only adds session-level ``WINDOW_UPDATE`` on stream 0):

- control frame: ``1 | version(15) | type(16) | flags(8) | length(24) | data``;
- data frame: ``0 | stream-id(31) | flags(8) | length(24) | data``;
- header blocks (``SYN_STREAM``, ``SYN_REPLY``, ``HEADERS``) are ``count(32)`` then
  ``len(32) name len(32) value`` pairs, values holding several values NUL-separated, the whole
  compressed with zlib and the SPDY/3 dictionary (:data:`DICTIONARY`). Each direction is *one*
  zlib stream for the life of the connection, flushed with ``Z_SYNC_FLUSH`` after every block,
  so the encoder and the decoder are stateful and frames must be encoded in the order sent.

Header names are lowercase on the wire (Go's framer lowercases them; readers compare
case-insensitively). Flow control: spdystream implements none and ignores ``WINDOW_UPDATE``
and ``SETTINGS``, so this codec parses them but a server need not send them.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6
# GOAWAY status codes.
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2

MAX_LENGTH = (1 << 24) - 1
"""The largest payload one frame can carry (24-bit length)."""
MAX_HEADER_BLOCK = 1 << 20
"""A decompressed header block larger than this is refused (kubectl's are a few dozen bytes)."""

_WORDS = (
    *["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding"],
    "accept-language",
    *["accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base"],
    *["content-encoding", "content-language", "content-length", "content-location", "content-md5"],
    *["content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match"],
    *["if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location"],
    *["max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after"],
    *["server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning"],
    *["www-authenticate", "method", "get", "status"],
    "200 OK",
    *["version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"],
)
_TAIL = (
    b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    b"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    b"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    b"Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    b"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    b"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    # Length-prefixed words, then raw text; the unit test pins the result to its checksum.
    return b"".join(struct.pack(">I", len(w)) + w.encode("ascii") for w in _WORDS) + _TAIL


DICTIONARY = _dictionary()
"""The SPDY/3 header-compression dictionary (draft 3, section 2.6.10.1): 1423 bytes."""

Headers = dict[str, list[str]]
"""Lowercase header name → values."""


class ProtocolError(ValueError):
    """The peer sent something that is not SPDY/3: the session must end (GOAWAY)."""


@dataclass(frozen=True, slots=True)
class DataFrame:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers
    associated_to: int = 0
    priority: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    values: tuple[tuple[int, int, int], ...]
    """``(flags, id, value)`` entries."""
    clear: bool = False


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    fin: bool = False


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class UnknownControl:
    """A control frame of a type not listed above (e.g. the obsolete CREDENTIAL): skipped."""

    frame_type: int
    flags: int
    data: bytes


Frame = (
    DataFrame
    | SynStream
    | SynReply
    | RstStream
    | Settings
    | Ping
    | GoAway
    | HeadersFrame
    | WindowUpdate
    | UnknownControl
)


def header(headers: Headers, name: str) -> str:
    """The first value of a header (case-insensitive), or ''."""
    values = headers.get(name.lower()) or []
    return values[0] if values else ""


# ---- header blocks --------------------------------------------------------------------------------


def pack_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block: names lowercased, multiple values NUL-joined."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name = name.lower().encode("utf-8")
        raw_value = "\x00".join(values).encode("utf-8")
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


def unpack_header_block(block: bytes) -> Headers:
    """Parse an uncompressed name/value block; ProtocolError when it is malformed."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset = 4
        headers: Headers = {}
        for _ in range(count):
            (name_len,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4 : offset + 4 + name_len]
            offset += 4 + name_len
            (value_len,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4 : offset + 4 + value_len]
            offset += 4 + value_len
            if len(name) != name_len or len(value) != value_len or offset > len(block):
                raise ProtocolError("a header block ends inside a name or value")
            key = name.decode("utf-8").lower()
            headers.setdefault(key, []).extend(value.decode("utf-8").split("\x00"))
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"malformed header block: {e}") from e
    return headers


# ---- encoding -------------------------------------------------------------------------------------


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise ValueError(f"a SPDY frame carries at most {MAX_LENGTH} bytes, not {len(payload)}")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


class FrameEncoder:
    """Frames → bytes. Holds the connection's header compressor: encode in the order you send."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)

    def _block(self, headers: Headers) -> bytes:
        raw = pack_header_block(headers)
        return self._compressor.compress(raw) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case DataFrame(stream_id=sid, data=data, fin=fin):
                if len(data) > MAX_LENGTH:
                    raise ValueError(f"a SPDY frame carries at most {MAX_LENGTH} bytes, not {len(data)}")
                return struct.pack(">II", sid & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data
            case SynStream():
                flags = (FLAG_FIN if frame.fin else 0) | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
                fixed = struct.pack(
                    ">IIBB",
                    frame.stream_id & 0x7FFFFFFF,
                    frame.associated_to & 0x7FFFFFFF,
                    (frame.priority & 7) << 5,
                    0,
                )
                return _control(SYN_STREAM, flags, fixed + self._block(frame.headers))
            case SynReply(stream_id=sid, headers=headers, fin=fin):
                return _control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", sid) + self._block(headers))
            case HeadersFrame(stream_id=sid, headers=headers, fin=fin):
                return _control(HEADERS, FLAG_FIN if fin else 0, struct.pack(">I", sid) + self._block(headers))
            case RstStream(stream_id=sid, status=status):
                return _control(RST_STREAM, 0, struct.pack(">II", sid & 0x7FFFFFFF, status))
            case Settings(values=values, clear=clear):
                body = struct.pack(">I", len(values)) + b"".join(
                    struct.pack(">II", (flags << 24) | (ident & 0xFFFFFF), value) for flags, ident, value in values
                )
                return _control(SETTINGS, 1 if clear else 0, body)
            case Ping(ping_id=ping_id):
                return _control(PING, 0, struct.pack(">I", ping_id))
            case GoAway(last_good_stream_id=last, status=status):
                return _control(GOAWAY, 0, struct.pack(">II", last & 0x7FFFFFFF, status))
            case WindowUpdate(stream_id=sid, delta=delta):
                return _control(WINDOW_UPDATE, 0, struct.pack(">II", sid & 0x7FFFFFFF, delta & 0x7FFFFFFF))
            case UnknownControl(frame_type=frame_type, flags=flags, data=data):
                return _control(frame_type, flags, data)
        raise TypeError(f"not a SPDY frame: {frame!r}")


# ---- decoding -------------------------------------------------------------------------------------


class FrameDecoder:
    """Bytes → frames. Feed what arrived; complete frames come out, the rest waits for more."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``; ProtocolError when the stream is not SPDY/3."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, flags_length = struct.unpack_from(">II", self._buffer, 0)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            flags = flags_length >> 24
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            if first & 0x80000000:
                version, frame_type = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version} is not supported (only 3)")
                frames.append(self._control(frame_type, flags, payload))
            else:
                frames.append(DataFrame(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN)))
        return frames

    def _headers(self, compressed: bytes) -> Headers:
        try:
            raw = self._decompressor.decompress(compressed, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise ProtocolError(f"cannot decompress a header block: {e}") from e
        if self._decompressor.unconsumed_tail:
            raise ProtocolError(f"a header block is larger than {MAX_HEADER_BLOCK} bytes")
        return unpack_header_block(raw)

    def _control(self, frame_type: int, flags: int, payload: bytes) -> Frame:
        fin = bool(flags & FLAG_FIN)
        try:
            if frame_type == SYN_STREAM:
                sid, assoc, prio = struct.unpack_from(">IIB", payload, 0)
                return SynStream(
                    sid & 0x7FFFFFFF,
                    self._headers(payload[10:]),
                    associated_to=assoc & 0x7FFFFFFF,
                    priority=prio >> 5,
                    fin=fin,
                    unidirectional=bool(flags & FLAG_UNIDIRECTIONAL),
                )
            if frame_type in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload, 0)
                headers = self._headers(payload[4:])
                if frame_type == SYN_REPLY:
                    return SynReply(sid & 0x7FFFFFFF, headers, fin=fin)
                return HeadersFrame(sid & 0x7FFFFFFF, headers, fin=fin)
            if frame_type == RST_STREAM:
                sid, status = struct.unpack_from(">II", payload, 0)
                return RstStream(sid & 0x7FFFFFFF, status)
            if frame_type == SETTINGS:
                (count,) = struct.unpack_from(">I", payload, 0)
                entries = []
                for i in range(count):
                    flags_id, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                    entries.append((flags_id >> 24, flags_id & 0xFFFFFF, value))
                return Settings(tuple(entries), clear=bool(flags & 1))
            if frame_type == PING:
                return Ping(struct.unpack_from(">I", payload, 0)[0])
            if frame_type == GOAWAY:
                last, *rest = struct.unpack_from(">II" if len(payload) >= 8 else ">I", payload, 0)
                return GoAway(last & 0x7FFFFFFF, rest[0] if rest else GOAWAY_OK)
            if frame_type == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", payload, 0)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error as e:
            raise ProtocolError(f"a SPDY control frame of type {frame_type} is too short: {e}") from e
        return UnknownControl(frame_type, flags, payload)
