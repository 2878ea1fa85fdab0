"""Relaying names outside the cluster domain to the host's resolvers, bytes in and bytes out.

The upstreams are the nameservers of the host's ``resolv.conf`` (:func:`read_upstreams`) — the
only place we forward to; a stub on 127.0.0.x (systemd-resolved) is used as it is. The query is
sent as received (never re-encoded), over UDP or over TCP as it came, to each upstream in turn
until one answers within :data:`UPSTREAM_TIMEOUT`; none answering is SERVFAIL. Our own listen
addresses are never used as upstreams (that would loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from kuberya.proxy.dns import wire

logger = logging.getLogger(__name__)

UPSTREAM_TIMEOUT = 2.0


def read_upstreams(resolv_conf: Path) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf (missing file: none)."""
    try:
        text = resolv_conf.read_text()
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            with contextlib.suppress(ValueError):
                found.append(str(ipaddress.ip_address(parts[1].split("%", 1)[0])))
    return found


async def forward(
    data: bytes, *, upstreams: Sequence[str], port: int, ourselves: Collection[tuple[str, int]], tcp: bool
) -> bytes | None:
    """The first upstream's reply to ``data``, or a SERVFAIL (None: not even that can be made)."""
    for upstream in upstreams:
        if (upstream, port) in ourselves:
            continue  # ourselves: forwarding there would loop
        try:
            async with asyncio.timeout(UPSTREAM_TIMEOUT):
                return await (forward_tcp(upstream, port, data) if tcp else forward_udp(upstream, port, data))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
            logger.debug("dns: upstream %s failed: %s", upstream, e)
    import dns.rcode

    return wire.error_reply(data, dns.rcode.SERVFAIL)


class _UDPClient(asyncio.DatagramProtocol):
    def __init__(self, ident: bytes) -> None:
        self.ident = ident
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data[:2] == self.ident and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def forward_udp(upstream: str, port: int, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _UDPClient(data[:2]), remote_addr=(upstream, port)
    )
    try:
        transport.sendto(data)
        return await protocol.reply
    finally:
        transport.close()


async def forward_tcp(upstream: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(upstream, port)
    try:
        writer.write(struct.pack("!H", len(data)) + data)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(length)
    finally:
        writer.close()
