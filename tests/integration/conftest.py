"""The integration tier: real servers, real clients.

Most tests drive the session's kuberya server process (:func:`tests.conftest.cluster`). The
in-process part of the tier serves the API handlers themselves — ``create_app`` over a
:class:`~kuberya.storage.MemoryBackend` on a loopback port, plain HTTP — and talks to them with
the real :class:`~kuberya.client.ApiClient` (:func:`api_server`, :func:`serve_api`): the server
the fake client is held to (``test_client_contract.py``), in milliseconds, with no process.

Every test is checked for asyncio tasks it leaves behind (:func:`tests.conftest.no_leftover_tasks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer

from kuberya.apiserver.app import create_app
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.client import ApiClient
from kuberya.storage import MemoryBackend


@pytest.fixture(autouse=True)
def _leak_checked(no_leftover_tasks: None) -> None:
    """Apply the task-leak check to every integration test."""


@dataclass
class ServedAPI:
    """The API handlers serving one memory store on a loopback port."""

    url: str
    """``http://127.0.0.1:<port>``, no trailing slash."""
    backend: MemoryBackend
    client: ApiClient
    """The real client, pointed at :attr:`url` over plain HTTP."""


@contextlib.asynccontextmanager
async def serve_api(
    *, backend: MemoryBackend | None = None, settings: APIServerSettings | None = None
) -> AsyncIterator[ServedAPI]:
    """Serve ``create_app`` over ``backend`` (a fresh memory store) until the block ends.

    The default settings let anonymous requests through: authentication and authorization have
    tests of their own, and a token would only hide the semantics these tests are about.
    """
    store = backend if backend is not None else MemoryBackend()
    await store.start()
    app = create_app(backend=store, settings=settings or APIServerSettings(auth=AuthSettings(allow_anonymous=True)))
    server = TestServer(app, host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    client = ApiClient(url, ssl=False)
    try:
        yield ServedAPI(url, store, client)
    finally:
        await client.close()
        await server.close()
        await store.close()


@pytest.fixture
async def api_server() -> AsyncIterator[ServedAPI]:
    """A fresh in-process API server (memory store) and a real client of it."""
    async with serve_api() as served:
        yield served
