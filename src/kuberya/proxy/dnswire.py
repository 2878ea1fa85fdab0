"""The DNS wire format, as much as a cluster DNS needs: read a query, write an answer. No I/O.

A stand-in for dnspython (not a dependency yet): the cluster DNS parses only the header and the
first question of a query, and writes answers of five types (A, CNAME, PTR, SRV, and SOA for the
authority of negative answers). Names are written uncompressed and lower-cased; EDNS options in
the query are ignored and a UDP answer that would pass 512 bytes is cut to what fits, with the
TC bit set so the resolver asks again over TCP (RFC 1035 §4.2.1). Queries that go upstream are
relayed as bytes and never parsed past their ID.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

A, NS, CNAME, SOA, PTR, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 28, 33, 41, 255
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
UDP_LIMIT = 512


class WireError(ValueError):
    """A message too short or malformed to answer."""


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    flags: int
    name: str
    """Lower case, without the trailing dot (the root is ``""``)."""
    qtype: int
    qclass: int
    raw_question: bytes
    """The question section as received, echoed in the answer."""

    @property
    def recursion_desired(self) -> bool:
        return bool(self.flags & 0x0100)


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    ttl: int
    rdata: bytes


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``offset``; returns it and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    jumps = 0
    while True:
        if offset >= len(data):
            raise WireError("name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data) or jumps > 32:
                raise WireError("bad compression pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise WireError("unknown label type")
        offset += 1
        if length == 0:
            break
        labels.append(data[offset : offset + length].decode("ascii", errors="replace").lower())
        offset += length
    return ".".join(labels), end if end is not None else offset


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.strip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise WireError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out) + b"\x00"


def parse_query(data: bytes) -> Question:
    if len(data) < 12:
        raise WireError("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack("!HHH", data[:6])
    if flags & 0x8000:
        raise WireError("a response, not a query")
    if qdcount < 1:
        raise WireError("no question")
    name, offset = read_name(data, 12)
    if offset + 4 > len(data):
        raise WireError("question runs past the message")
    qtype, qclass = struct.unpack("!HH", data[offset : offset + 4])
    return Question(ident, flags, name, qtype, qclass, data[12 : offset + 4])


def a_rdata(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def srv_rdata(priority: int, weight: int, port: int, target: str) -> bytes:
    return struct.pack("!HHH", priority, weight, port) + encode_name(target)


def soa_rdata(zone: str, *, serial: int, minimum: int) -> bytes:
    return (
        encode_name(f"ns.dns.{zone}")
        + encode_name(f"hostmaster.{zone}")
        + struct.pack("!IIIII", serial, 7200, 1800, 86400, minimum)
    )


def _record(record: Record) -> bytes:
    return (
        encode_name(record.name)
        + struct.pack("!HHIH", record.rtype, CLASS_IN, record.ttl, len(record.rdata))
        + record.rdata
    )


def build_response(
    question: Question,
    *,
    rcode: int = NOERROR,
    answers: list[Record] | tuple[Record, ...] = (),
    authority: list[Record] | tuple[Record, ...] = (),
    additional: list[Record] | tuple[Record, ...] = (),
    authoritative: bool = True,
    limit: int | None = None,
) -> bytes:
    """An answer to ``question``; with ``limit``, cut to fit and marked truncated if it had to be."""
    flags = 0x8000 | (question.flags & 0x7900)  # QR, and the query's opcode and RD
    flags |= 0x0080  # RA: we recurse (by forwarding)
    if authoritative:
        flags |= 0x0400
    flags |= rcode & 0xF
    sections = [[_record(r) for r in answers], [_record(r) for r in authority], [_record(r) for r in additional]]
    body = question.raw_question
    counts = [0, 0, 0]
    truncated = False
    for i, section in enumerate(sections):
        for encoded in section:
            if limit is not None and 12 + len(body) + len(encoded) > limit:
                truncated = i == 0 or truncated  # a missing answer is truncation; missing extras are not
                break
            body += encoded
            counts[i] += 1
    if truncated:
        flags |= 0x0200
    return struct.pack("!HHHHHH", question.id, flags, 1, *counts) + body


def error_response(data: bytes, rcode: int) -> bytes | None:
    """A bare error answer echoing the query's ID and question, or None if even that is unreadable."""
    try:
        return build_response(parse_query(data), rcode=rcode, authoritative=False)
    except WireError:
        if len(data) < 12:
            return None
        ident, flags = struct.unpack("!HH", data[:4])
        return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x7900) | rcode, 0, 0, 0, 0)
