"""The demo's HTTP traffic: single requests, "which pod answered", and a bounded background load.

Every request opens a fresh connection (``Connection: close``), as a new client would, so that the
Service's load balancing is visible per request rather than pinned to one keep-alive connection.
The HTTP/1.1 client is a few lines of asyncio streams: the demo needs only the status, two
headers (``x-pod``, ``x-version``, which both example apps send) and a small JSON body, and a
failure of any kind — refused, reset, timed out, a 5xx — is exactly what it must count.

The load is bounded on purpose (DESIGN: loopback and kuberya's own addresses only, bounded in
count and time): at most :data:`MAX_CLIENTS` clients, each pausing :data:`PAUSE` between requests,
for at most :data:`MAX_SECONDS`, whatever the caller asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_CLIENTS = 4
MAX_SECONDS = 60.0
PAUSE = 0.01
"""Seconds each client waits between requests: a steady stream that leaves the CPU to the cluster."""
REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def pod(self) -> str:
        return self.headers.get("x-pod", "?")

    @property
    def version(self) -> str:
        return self.headers.get("x-version", "?")

    def json(self) -> Any:
        return json.loads(self.body or b"null")


async def request(
    host: str, port: int, path: str = "/", *, method: str = "GET", body: Any = None, timeout: float = REQUEST_TIMEOUT
) -> Reply:
    """One HTTP/1.1 request on a new connection; raises ``OSError``/``TimeoutError``/``ValueError``."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"User-Agent: kuberya-demo\r\nAccept: application/json\r\nContent-Length: {len(payload)}\r\n"
        + ("Content-Type: application/json\r\n" if body is not None else "")
        + "\r\n"
    )
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    header_block, sep, rest = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if not sep or len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {data[:60]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return Reply(int(parts[1]), headers, rest)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def spread(host: str, port: int, *, count: int) -> tuple[Counter[str], int]:
    """``count`` requests one after another: how many each pod answered, and how many failed."""
    pods: Counter[str] = Counter()
    failed = 0
    for _ in range(count):
        try:
            reply = await request(host, port, "/")
        except (OSError, TimeoutError, ValueError):
            failed += 1
            continue
        if reply.status == 200:
            pods[reply.pod] += 1
        else:
            failed += 1
    return pods, failed


@dataclass
class LoadReport:
    requests: int = 0
    failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Load:
    """GET / from a few clients until :meth:`stop` (or :data:`MAX_SECONDS`); see the module docstring."""

    def __init__(self, host: str, port: int, *, clients: int = MAX_CLIENTS, limit: float = MAX_SECONDS) -> None:
        self.host = host
        self.port = port
        self.clients = min(clients, MAX_CLIENTS)
        self.limit = min(limit, MAX_SECONDS)
        self.report = LoadReport()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = 0.0

    async def __aenter__(self) -> Load:
        self._started = time.monotonic()
        self._tasks = [asyncio.create_task(self._client(), name=f"kuberya-demo-load-{i}") for i in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> LoadReport:
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks)
            self._tasks = []
            self.report.seconds = time.monotonic() - self._started
        return self.report

    async def _client(self) -> None:
        deadline = self._started + self.limit
        report = self.report
        while not self._stopping.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                reply = await request(self.host, self.port, "/")
            except (OSError, TimeoutError, ValueError) as e:
                report.requests += 1
                report.failures += 1
                report.reasons[type(e).__name__] += 1
            else:
                report.requests += 1
                report.latencies.append(time.monotonic() - started)
                if not 200 <= reply.status < 300:  # the app answers 200: anything else is not its answer
                    report.failures += 1
                    report.reasons[f"HTTP {reply.status}"] += 1
                else:
                    report.versions[reply.version] += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PAUSE):
                    await self._stopping.wait()
