"""Limits that hold under hostile input, against the API server on a loopback socket.

Each test serves ``create_app`` in-process over a memory store (with settings small enough to
reach the limits quickly) and talks to it over real TCP: aiohttp's client, and bare sockets
where a client has to misbehave (huge headers, a watcher that never reads). Slowness is
injected by a test-only store whose reads and writes of ConfigMaps wait on a gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kuberya.apiserver.app import create_app
from kuberya.apiserver.limits import IN_FLIGHT_KEY, InFlightLimiter
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.storage import ListResult, MemoryBackend

pytestmark = pytest.mark.integration

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
GATED = "/registry/core/configmaps/"
LIMIT = 3 * 1024 * 1024


class GatedBackend(MemoryBackend):
    """A memory store whose ConfigMap lists and creates wait while the gate is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0

    async def _wait(self, key: str) -> None:
        if key.startswith(GATED) and not self.gate.is_set():
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        await self._wait(prefix)
        return await super().list(prefix, revision=revision, limit=limit, start_after=start_after)

    async def create(self, key: str, value: bytes) -> int:
        await self._wait(key)
        return await super().create(key, value)


@dataclass
class Served:
    url: str
    port: int
    backend: GatedBackend
    limiter: InFlightLimiter
    session: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if self.tokens else {}


@contextlib.asynccontextmanager
async def serving(settings: APIServerSettings, *, tokens: dict[str, str] | None = None) -> AsyncIterator[Served]:
    backend = GatedBackend()
    await backend.start()
    app = create_app(backend=backend, settings=settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    session = aiohttp.ClientSession(read_bufsize=4 * 1024 * 1024)
    try:
        yield Served(f"http://127.0.0.1:{port}", port, backend, app[IN_FLIGHT_KEY], session, tokens or {})
    finally:
        backend.gate.set()
        await session.close()
        await runner.cleanup()
        await backend.close()


def anonymous(**limits: Any) -> APIServerSettings:
    return APIServerSettings(auth=AuthSettings(allow_anonymous=True), **limits)


def config_map(name: str, size: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"blob": "x" * size},
    }


async def status_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The response's body, which must be a failure ``Status`` with the response's code."""
    assert response.content_type == "application/json", await response.text()
    body: dict[str, Any] = await response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == response.status
    return body


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# -- body size and encoding -------------------------------------------------------------------------


async def test_body_over_3_mib_is_413_status_and_under_it_is_served() -> None:
    async with serving(anonymous()) as s:
        raw = json.dumps(config_map("big")).encode()
        too_big = raw[:-2] + b" " * (LIMIT + 1 - len(raw)) + raw[-2:]
        assert len(too_big) == LIMIT + 1
        async with s.session.post(
            s.url + CONFIGMAPS, data=io.BytesIO(too_big), headers={"Content-Type": "application/json"}
        ) as response:
            assert response.request_info.headers["Content-Length"] == str(LIMIT + 1)
            assert response.status == 413
            body = await status_of(response)
        assert body["reason"] == "RequestEntityTooLarge"
        assert body["message"] == "Request entity too large: limit is 3145728"

        # Exactly the limit is not refused for its size (whatever validation says of the object).
        at_limit = raw[:-2] + b" " * (LIMIT - len(raw)) + raw[-2:]
        async with s.session.post(
            s.url + CONFIGMAPS, data=io.BytesIO(at_limit), headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 201, await response.text()

        async with s.session.post(s.url + CONFIGMAPS, json=config_map("ok", 512 * 1024)) as response:
            assert response.status == 201, await response.text()


async def test_chunked_body_over_the_limit_is_413_status() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"'
        for _ in range(64):  # 4 MiB, with no Content-Length to refuse it by
            yield b"x" * 65536
        yield b'"}}'

    async with (
        serving(anonymous()) as s,
        s.session.post(s.url + CONFIGMAPS, data=chunks(), headers={"Content-Type": "application/json"}) as response,
    ):
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert response.status == 413
        assert (await status_of(response))["reason"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_body_is_refused_without_being_inflated(encoding: str) -> None:
    # 10 KB on the wire that would be 1 GiB inflated... were it ever inflated.
    zeros = b"0" * (1024 * 1024)
    compressor = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)
    bomb = b"".join(compressor.compress(zeros) for _ in range(1024)) + compressor.flush()
    assert len(bomb) < 1024 * 1024
    assert zlib.decompressobj(wbits=47).decompress(bomb, 4096) == b"0" * 4096  # a real stream of its kind
    async with serving(anonymous()) as s:
        async with s.session.post(
            s.url + CONFIGMAPS,
            data=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
        ) as response:
            assert response.status == 415
            body = await status_of(response)
        assert body["reason"] == "UnsupportedMediaType"
        assert encoding in body["message"]
        # An identity encoding is no encoding.
        async with s.session.post(
            s.url + CONFIGMAPS,
            data=json.dumps(config_map("plain")),
            headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
        ) as response:
            assert response.status == 201, await response.text()


# -- headers ----------------------------------------------------------------------------------------


async def raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X-Huge: " + b"a" * 100_000 + b"\r\n", id="one huge header"),
        pytest.param(b"".join(b"X-H%d: v\r\n" % i for i in range(1000)), id="a thousand headers"),
        pytest.param(b"Authorization: Bearer " + b"t" * 65_536 + b"\r\n", id="huge token"),
    ],
)
async def test_oversized_headers_get_a_clean_4xx_and_the_server_keeps_serving(headers: bytes) -> None:
    async with serving(anonymous()) as s:
        request = b"GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
        answer = await raw_exchange(s.port, request)
        code = int(answer.split(b" ", 2)[1])
        assert code in (400, 431), answer[:200]
        async with s.session.get(s.url + "/api/v1/namespaces") as response:
            assert response.status == 200


async def test_huge_request_line_gets_a_clean_4xx() -> None:
    async with serving(anonymous()) as s:
        answer = await raw_exchange(s.port, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert int(answer.split(b" ", 2)[1]) in (400, 414, 431), answer[:200]


# -- requests in flight -----------------------------------------------------------------------------


def token_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "tokens.csv"
    path.write_text('admin-token,admin,1,"system:masters"\nalice-token,alice,2,"testers"\nbob-token,bob,3,"testers"\n')
    return path, {"admin": "admin-token", "alice": "alice-token", "bob": "bob-token"}


async def grant_everything_to_testers(s: Served) -> None:
    """RBAC is enforced: alice and bob (group ``testers``, not ``system:masters``) are bound to cluster-admin."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "testers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "testers"}],
    }
    url = s.url + "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    async with s.session.post(url, json=binding, headers=s.auth("admin")) as response:
        assert response.status == 201
    for _ in range(200):  # the authorizer follows the store's watch
        async with s.session.get(s.url + CONFIGMAPS, headers=s.auth("alice")) as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the binding never took effect")


async def test_requests_above_the_in_flight_limits_get_429_with_retry_after(tmp_path: Path) -> None:
    path, tokens = token_file(tmp_path)
    settings = APIServerSettings(
        auth=AuthSettings(token_file=path), max_requests_in_flight=2, max_mutating_requests_in_flight=1
    )
    async with serving(settings, tokens=tokens) as s:
        await grant_everything_to_testers(s)
        s.backend.gate.clear()
        alice = s.auth("alice")
        slow_lists = [asyncio.create_task(s.session.get(s.url + CONFIGMAPS, headers=alice)) for _ in range(2)]
        slow_create = asyncio.create_task(s.session.post(s.url + CONFIGMAPS, json=config_map("a"), headers=alice))
        await until(lambda: s.backend.waiting == 3)
        assert s.limiter.in_flight(mutating=False) == 2
        assert s.limiter.in_flight(mutating=True) == 1

        for method, body in (("GET", None), ("POST", config_map("b"))):
            async with s.session.request(method, s.url + CONFIGMAPS, json=body, headers=alice) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "1"
                status = await status_of(response)
            assert status["reason"] == "TooManyRequests"
            assert status["message"] == "Too many requests, please try again later."
            assert status["details"] == {"retryAfterSeconds": 1}

        # Not counted: system:masters, health probes, long-running requests.
        async with s.session.get(s.url + "/api/v1/namespaces", headers=s.auth("admin")) as response:
            assert response.status == 200
        async with s.session.get(s.url + "/readyz") as response:
            assert response.status == 200
        async with s.session.get(s.url + "/api/v1/namespaces?watch=true&timeoutSeconds=1", headers=alice) as r:
            assert r.status == 200
            assert json.loads(await r.content.readline())["type"] == "ADDED"
        # Unauthenticated requests never reach the limiter: 401, not 429.
        async with s.session.get(s.url + "/api/v1/namespaces") as response:
            assert response.status == 401

        s.backend.gate.set()
        for task in (*slow_lists, slow_create):
            response = await task
            assert response.status in (200, 201)
            response.release()
        assert s.limiter.in_flight(mutating=False) == s.limiter.in_flight(mutating=True) == 0
        async with s.session.get(s.url + CONFIGMAPS, headers=alice) as response:
            assert response.status == 200


async def test_one_user_may_hold_only_so_many_watches(tmp_path: Path) -> None:
    path, tokens = token_file(tmp_path)
    settings = APIServerSettings(auth=AuthSettings(token_file=path), max_watches_per_user=2)
    async with serving(settings, tokens=tokens) as s:
        await grant_everything_to_testers(s)
        watch_url = s.url + "/api/v1/namespaces?watch=true"
        held = [await s.session.get(watch_url, headers=s.auth("alice")) for _ in range(2)]
        assert [r.status for r in held] == [200, 200]
        async with s.session.get(watch_url, headers=s.auth("alice")) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            status = await status_of(response)
        assert status["reason"] == "TooManyRequests"
        assert "alice" in status["message"]
        async with s.session.get(watch_url, headers=s.auth("bob")) as response:
            assert response.status == 200  # the cap is per user

        held.pop().close()  # a watch that ends frees its place
        await until(lambda: s.limiter.watches("alice") == 1)
        async with s.session.get(watch_url, headers=s.auth("alice")) as response:
            assert response.status == 200
        for r in held:
            r.close()


# -- request timeout --------------------------------------------------------------------------------


async def test_a_slow_request_is_answered_504_after_the_request_timeout() -> None:
    async with serving(anonymous(request_timeout_seconds=0.3)) as s:
        s.backend.gate.clear()
        started = time.monotonic()
        async with s.session.get(s.url + CONFIGMAPS) as response:
            elapsed = time.monotonic() - started
            assert response.status == 504
            status = await status_of(response)
        assert 0.3 <= elapsed < 3
        assert status["reason"] == "Timeout"
        assert status["message"] == "Timeout: request did not complete within the allotted timeout"
        assert s.limiter.in_flight(mutating=False) == 0  # the cancelled request left the count
        assert s.backend.waiting == 0  # and its storage read was cancelled, not left behind


async def test_the_client_timeout_may_shorten_the_request_timeout_only() -> None:
    async with serving(anonymous(request_timeout_seconds=30)) as s:
        s.backend.gate.clear()
        started = time.monotonic()
        async with s.session.get(s.url + CONFIGMAPS + "?timeout=200ms") as response:
            assert response.status == 504
            assert (await status_of(response))["reason"] == "Timeout"
        assert time.monotonic() - started < 5
        async with s.session.get(s.url + CONFIGMAPS + "?timeout=soon") as response:
            assert response.status == 400
            assert (await status_of(response))["message"] == (
                'invalid timeout specified in the request URL - time: invalid duration "soon"'
            )
    async with serving(anonymous(request_timeout_seconds=0.3)) as s:
        s.backend.gate.clear()
        started = time.monotonic()
        async with s.session.get(s.url + CONFIGMAPS + "?timeout=1h") as response:
            assert response.status == 504
        assert time.monotonic() - started < 5  # an hour asked, the server's 0.3 s given


async def test_a_watch_outlives_the_request_timeout() -> None:
    async with serving(anonymous(request_timeout_seconds=0.3)) as s:
        async with s.session.get(s.url + CONFIGMAPS + "?watch=true&resourceVersion=1") as watch:
            assert watch.status == 200
            await asyncio.sleep(0.8)
            async with s.session.post(s.url + CONFIGMAPS, json=config_map("late")) as response:
                assert response.status == 201
            async with asyncio.timeout(5):
                event = json.loads(await watch.content.readline())
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "late"


# -- slow watchers ----------------------------------------------------------------------------------


async def test_a_watcher_that_stops_reading_is_dropped_and_blocks_nobody() -> None:
    async with serving(anonymous(watch_write_timeout_seconds=0.5)) as s:
        loop = asyncio.get_running_loop()
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
        stalled.setblocking(False)
        try:
            await loop.sock_connect(stalled, ("127.0.0.1", s.port))
            await loop.sock_sendall(
                stalled, f"GET {CONFIGMAPS}?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            )
            async with s.session.get(s.url + CONFIGMAPS + "?watch=true") as good:
                assert good.status == 200
                await until(lambda: s.limiter.watches("system:anonymous") == 2)
                await asyncio.sleep(0.1)  # both handlers subscribed to storage

                received: dict[str, float] = {}

                async def read_good() -> None:
                    while len(received) < 40:
                        event = json.loads(await good.content.readline())
                        received[event["object"]["metadata"]["name"]] = time.monotonic()

                reader = asyncio.create_task(read_good())
                created: dict[str, float] = {}
                slowest_write = 0.0
                for i in range(40):  # 40 x 256 KiB: far more than the socket buffers hold
                    started = time.monotonic()
                    async with s.session.post(s.url + CONFIGMAPS, json=config_map(f"c{i}", 256 * 1024)) as r:
                        assert r.status == 201, await r.text()
                    created[f"c{i}"] = time.monotonic()
                    slowest_write = max(slowest_write, created[f"c{i}"] - started)
                async with asyncio.timeout(10):
                    await reader
                assert slowest_write < 2, "a writer waited for a watcher"
                lag = max(received[name] - created[name] for name in created)
                assert lag < 2, f"the reading watcher got an event {lag:.1f}s late"

                # The stalled watch ended on the server (its handler, queue and subscription
                # are gone) while the good one is still open.
                await until(lambda: s.limiter.watches("system:anonymous") == 1, timeout=10)
                assert not good.closed

            # And the stalled client finds its connection closed once it reads what got through.
            total = 0
            async with asyncio.timeout(10):
                while True:
                    try:
                        chunk = await loop.sock_recv(stalled, 1 << 20)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    total += len(chunk)
            assert total < 40 * 256 * 1024, "the stalled watcher was sent everything after all"
        finally:
            stalled.close()
