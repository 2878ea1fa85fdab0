"""Smaller TLS read buffers for the server process's many long-lived connections.

Python 3.11's asyncio TLS transport (``asyncio.sslproto.SSLProtocol``) gives every connection a
256 KiB read buffer, allocated and zero-filled up front, so it is resident from the first byte.
In this process every watch of an in-process component is a TLS connection to our own API port,
both of whose ends live here: with ~40 idle watches that was ~20 MB of the idle cluster's RSS,
a quarter of it, for buffers that hold a few hundred bytes of watch events.

A TLS record carries at most 16 KiB of plaintext, so a buffer of a few records reads as much per
``recv`` as any watch needs; a large list simply takes a few more reads (measured: no change in
the API benchmark's list p99). The attribute is a class attribute the transport reads when a
connection is made; Python has no public knob for it, so it is set here, once, before any
connection exists, and the value is checked so that a Python that renames it fails loudly in
the tests rather than silently keeping the big buffers.
"""

from __future__ import annotations

import asyncio.sslproto

READ_BUFFER = 64 * 1024
"""Bytes read per ``recv`` on a TLS connection: four full TLS records."""


def shrink() -> None:
    """Make every TLS connection opened from now on in this process use :data:`READ_BUFFER`."""
    if not isinstance(getattr(asyncio.sslproto.SSLProtocol, "max_size", None), int):
        raise RuntimeError("asyncio.sslproto.SSLProtocol.max_size is gone: revisit kuberya.server.tls_buffers")
    asyncio.sslproto.SSLProtocol.max_size = READ_BUFFER
