"""The server's TLS connections read into small buffers (each idle watch costs two of them)."""

from __future__ import annotations

import asyncio.sslproto
import ssl

import pytest

from kuberya.server import tls_buffers


def test_shrink_sets_the_read_buffer_of_new_tls_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio.sslproto.SSLProtocol, "max_size", 256 * 1024)
    tls_buffers.shrink()
    assert asyncio.sslproto.SSLProtocol.max_size == tls_buffers.READ_BUFFER
    loop = asyncio.new_event_loop()
    try:
        protocol = asyncio.sslproto.SSLProtocol(loop, asyncio.Protocol(), ssl.create_default_context(), None)
        assert len(protocol._ssl_buffer) == tls_buffers.READ_BUFFER
        protocol._app_transport._closed = True  # never connected: nothing to close, nothing to warn of
    finally:
        loop.close()


def test_a_python_without_the_knob_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(asyncio.sslproto.SSLProtocol, "max_size")
    with pytest.raises(RuntimeError, match="revisit"):
        tls_buffers.shrink()
