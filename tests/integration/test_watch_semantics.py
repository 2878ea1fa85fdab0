"""Watch semantics against the API server app in-process (plain HTTP on loopback, no TLS):
resume from a revision, 410 Expired after compaction, WatchList's initial-events-end bookmark,
and selector moves turning into ADDED/DELETED."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kuberya.storage import MemoryBackend
from tests.integration.conftest import serve_api


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, MemoryBackend]]:
    async with serve_api(backend=MemoryBackend(retain=5)) as served:
        yield served.url, served.backend


CM = "/api/v1/namespaces/default/configmaps"


async def create(session: aiohttp.ClientSession, base: str, name: str, labels: dict[str, str] | None = None) -> str:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}}
    async with session.post(base + CM, json=body) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["metadata"]["resourceVersion"])


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, object]]:
    events = []
    while len(events) < count:
        line = await resp.content.readline()
        if not line:
            break
        events.append(json.loads(line))
    return events


async def test_resume_from_revision_is_exactly_once_in_order(server: tuple[str, MemoryBackend]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as s:
        rv = await create(s, base, "a")
        await create(s, base, "b")
        await create(s, base, "c")
        async with s.get(base + CM, params={"watch": "true", "resourceVersion": rv}) as r:
            events = await read_events(r, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("ADDED", "c")]


async def test_too_old_revision_is_410_expired(server: tuple[str, MemoryBackend]) -> None:
    base, backend = server
    async with aiohttp.ClientSession() as s:
        first = await create(s, base, "old")
        for i in range(20):
            await create(s, base, f"n{i}")
        await backend.compact(await backend.current_revision() - 5)
        async with s.get(base + CM, params={"watch": "true", "resourceVersion": first}) as r:
            events = await read_events(r, 1)
        async with s.get(base + CM, params={"resourceVersion": first, "resourceVersionMatch": "Exact"}) as r:
            assert r.status == 410
            assert (await r.json())["reason"] == "Expired"
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert isinstance(status, dict) and status["code"] == 410 and status["reason"] == "Expired"


async def test_watch_list_ends_initial_events_with_bookmark(server: tuple[str, MemoryBackend]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as s:
        await create(s, base, "x")
        await create(s, base, "y")
        params = {
            "watch": "true",
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
        }
        async with s.get(base + CM, params=params) as r:
            events = await read_events(r, 3)
            await create(s, base, "z")
            live = await read_events(r, 1)
        async with s.get(base + CM, params={"watch": "true", "sendInitialEvents": "true"}) as r:
            assert r.status == 422
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[2]["object"]
    assert isinstance(bookmark, dict)
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert live[0]["type"] == "ADDED" and live[0]["object"]["metadata"]["name"] == "z"  # type: ignore[index]


async def test_label_selector_moves_are_added_and_deleted(server: tuple[str, MemoryBackend]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as s:
        rv = await create(s, base, "m", {"tier": "a"})
        async with s.get(base + CM, params={"watch": "true", "resourceVersion": rv, "labelSelector": "tier=b"}) as r:
            for tier in ("b", "a"):
                async with s.patch(
                    base + CM + "/m",
                    data=json.dumps({"metadata": {"labels": {"tier": tier}}}),
                    headers={"Content-Type": "application/merge-patch+json"},
                ) as p:
                    assert p.status == 200
            events = await read_events(r, 2)
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_timeout_seconds_closes_the_stream(server: tuple[str, MemoryBackend]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as s:
        rv = await create(s, base, "t")
        async with s.get(base + CM, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as r:
            body = await r.read()
    assert body == b""


async def test_paging_with_continue(server: tuple[str, MemoryBackend]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as s:
        for i in range(7):
            await create(s, base, f"p{i}")
        names: list[str] = []
        token = ""
        pages = 0
        while True:
            params = {"limit": "3", **({"continue": token} if token else {})}
            async with s.get(base + CM, params=params) as r:
                doc = await r.json()
            pages += 1
            names += [i["metadata"]["name"] for i in doc["items"]]
            token = doc["metadata"].get("continue", "")
            if not token:
                break
    assert names == [f"p{i}" for i in range(7)] and pages == 3
