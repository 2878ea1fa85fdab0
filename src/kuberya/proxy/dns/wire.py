"""The DNS wire format, through dnspython: reading a query, building replies, fitting them into UDP.

Only the header and the first question of a query are read (EDNS options are ignored, and a
relayed query is never re-encoded); answer names are lower case. A UDP answer past
:data:`UDP_LIMIT` keeps as many records as fit and sets TC, as CoreDNS does, so that resolvers
retry over TCP and those that never do (musl before 1.2.4) still get some addresses.

dnspython is imported on the first query, not at start-up (:func:`load_dnspython`, in a worker
thread): it is ~1.7 MB of an idle cluster's memory, and only pods ask the cluster DNS anything.
So every function here imports what it uses of it where it uses it.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

TTL = 5
"""Seconds answers may be cached: short, as CoreDNS's default 5, since pods come and go."""
UDP_LIMIT = 512
"""The largest UDP answer (RFC 1035 §4.2.1): EDNS buffer sizes in queries are not honoured."""

_DNSPYTHON_MODULES = (
    "dns.exception",
    "dns.flags",
    "dns.message",
    "dns.name",
    "dns.opcode",
    "dns.rcode",
    "dns.rdataclass",
    "dns.rdatatype",
    "dns.rrset",
)
_loaded = False
"""Whether :func:`load_dnspython` has run (a local import of a loaded module is a dict lookup)."""
_dnspython_loading = threading.Lock()
"""Queries that arrive together import once: two threads importing dnspython's circular modules at
the same time could each find the other's half-initialised module."""


def loaded() -> bool:
    """Whether dnspython is imported: answering needs it, and imports it off the loop first."""
    return _loaded


def load_dnspython() -> None:
    """Import what answering uses of dnspython: the first query calls it in a worker thread."""
    global _loaded
    with _dnspython_loading:
        for module in _DNSPYTHON_MODULES:
            importlib.import_module(module)
        _loaded = True


def rrset(name: str, rdtype: dns.rdatatype.RdataType, *rdatas: str) -> dns.rrset.RRset:
    """An IN RRset of ``rdatas`` in presentation format; every name in it is absolute."""
    import dns.name
    import dns.rdataclass
    import dns.rrset

    owner = dns.name.from_text(name)
    return dns.rrset.from_text_list(
        owner, TTL, dns.rdataclass.IN, rdtype, rdatas, origin=dns.name.root, relativize=False
    )


def read_query(data: bytes) -> dns.message.Message:
    """A query's header and question section (raises :class:`dns.exception.DNSException`)."""
    import dns.exception
    import dns.flags
    import dns.message

    query = dns.message.from_wire(data, question_only=True)
    if query.flags & dns.flags.QR or not query.question:
        # A response, or no question. Raised as the class, as dnspython does: its __init__ is untyped.
        raise dns.exception.FormError
    return query


def reply(query: dns.message.Message, rcode: dns.rcode.Rcode, *, authoritative: bool = False) -> dns.message.Message:
    """A reply to ``query`` echoing its ID, opcode, RD and first question; RA, as we recurse by forwarding."""
    import dns.flags
    import dns.message

    response = dns.message.make_response(query, recursion_available=True)
    response.question = query.question[:1]
    if authoritative:
        response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    return response


def to_wire(response: dns.message.Message, *, tcp: bool) -> bytes:
    """``response`` in wire format: records in our order (dnspython shuffles them unless told not to)."""
    import dns.rrset

    if tcp:
        return response.to_wire(want_shuffle=False)
    # dnspython truncates whole RRsets; one record per RRset keeps as many records as fit (see the docstring).
    response.answer = [
        dns.rrset.from_rdata(rrset.name, rrset.ttl, rdata) for rrset in response.answer for rdata in rrset
    ]
    return response.to_wire(max_size=UDP_LIMIT, prefer_truncation=True, want_shuffle=False)


def error_reply(data: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A bare error reply echoing the query's ID and question, or None if even its header is unreadable."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.opcode

    try:
        return reply(read_query(data), rcode).to_wire()
    except dns.exception.DNSException:
        if len(data) < 12:
            return None
    flags = int.from_bytes(data[2:4], "big")
    response = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    response.flags = dns.flags.QR | dns.flags.Flag(flags & dns.flags.RD)
    response.set_opcode(dns.opcode.from_flags(flags))
    response.set_rcode(rcode)
    return response.to_wire()
