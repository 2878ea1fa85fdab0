"""The API server's SPDY port-forward session, against a fake node agent: pairs, data, FINs, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from aiohttp import WSMsgType

from kuberya.apiserver import portforward, spdy


class FakeAgent:
    """An agent WebSocket: answers each chunk upper-cased; on the client's EOF, ends and closes."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.close_code: int | None = None

    async def send_bytes(self, data: bytes) -> None:
        self.received.append(data)
        if data:
            await self._out.put(data.upper())
        else:
            await self._out.put(b"")
            await self._out.put(None)

    async def close(self) -> None:
        self.close_code = self.close_code or 1000
        await self._out.put(None)

    def exception(self) -> BaseException | None:
        return None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (item := await self._out.get()) is not None:
            yield SimpleNamespace(type=WSMsgType.BINARY, data=item)
        self.close_code = self.close_code or 1000


class FakeDialer:
    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.agents: list[FakeAgent] = []
        self.closed = False

    async def dial(self, port: int) -> FakeAgent:
        if self.refuse:
            raise portforward.ForwardRefused(self.refuse)
        self.agents.append(FakeAgent())
        return self.agents[-1]

    async def close(self) -> None:
        self.closed = True


async def run_session(frames: list[spdy.Frame], dialer: FakeDialer) -> list[spdy.Frame]:
    """Feed the client's frames (then wait for the forwards to finish); the frames the server sent."""
    written: list[bytes] = []
    client = spdy.FrameEncoder()

    async def write(data: bytes) -> None:
        written.append(data)

    async def chunks() -> AsyncIterator[bytes]:
        for frame in frames:
            yield client.encode(frame)
        await asyncio.sleep(0.05)  # the forwards run; then the client "goes away"

    session = portforward.SpdySession(write, dialer)  # type: ignore[arg-type]
    await session.run(chunks())
    return spdy.FrameDecoder().feed(b"".join(written))


def pair(request_id: str, port: int = 8080) -> list[spdy.Frame]:
    headers = {"port": [str(port)], "requestID": [request_id]}
    return [
        spdy.SynStream(1, {"streamType": ["error"], **headers}),
        spdy.DataFrame(1, b"", fin=True),
        spdy.SynStream(3, {"streamType": ["data"], **headers}),
    ]


async def test_a_pair_is_forwarded_both_ways_and_finished() -> None:
    dialer = FakeDialer()
    out = await run_session([*pair("0"), spdy.DataFrame(3, b"ping"), spdy.DataFrame(3, b"", fin=True)], dialer)
    assert out[:2] == [spdy.SynReply(1), spdy.SynReply(3)]
    assert spdy.DataFrame(3, b"PING") in out
    assert out[-2:] == [spdy.DataFrame(3, b"", fin=True), spdy.DataFrame(1, b"", fin=True)]
    assert dialer.agents[0].received == [b"ping", b""] and dialer.closed


async def test_a_refused_port_is_reported_on_the_error_stream() -> None:
    out = await run_session(pair("7"), FakeDialer(refuse="failed to connect to localhost:8080"))
    assert out[2:] == [
        spdy.DataFrame(1, b"failed to connect to localhost:8080"),
        spdy.DataFrame(1, b"", fin=True),
        spdy.DataFrame(3, b"", fin=True),
    ]


async def test_pings_are_answered_and_bad_streams_reset() -> None:
    out = await run_session([spdy.Ping(1), spdy.SynStream(5, {"streamtype": ["data"]})], FakeDialer())
    assert out == [spdy.Ping(1), spdy.RstStream(5, spdy.PROTOCOL_ERROR)]


async def test_goaway_ends_the_session() -> None:
    dialer = FakeDialer()
    out = await run_session([*pair("0"), spdy.GoAway(0), spdy.DataFrame(3, b"late")], dialer)
    assert spdy.DataFrame(3, b"LATE") not in out and dialer.closed
