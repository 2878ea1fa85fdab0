import asyncio
from typing import Any

from kuberya.client import ExpiredError, FakeClock, Informer
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import PODS
from kuberya.client.watch import WatchEvent


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def pod(name: str, rv: str, *, app: str = "web", owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "resourceVersion": rv, "uid": f"uid-{name}"}
    meta["labels"] = {"app": app}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": "rs", "apiVersion": "apps/v1"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


class Recorder:
    def __init__(self, informer: Informer) -> None:
        self.events: list[tuple[str, str]] = []
        informer.add_handlers(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"])),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])),
        )


def test_store_indexes_follow_updates_and_deletes() -> None:
    informer = Informer(FakeApiClient(), PODS)
    informer.add_index("owner", lambda o: [r["uid"] for r in o["metadata"].get("ownerReferences", [])])
    informer.store.add(pod("a", "1", owner="rs1"))
    informer.store.add(pod("b", "1", owner="rs1"))
    assert [o["metadata"]["name"] for o in informer.by_index("owner", "rs1")] == ["a", "b"]
    informer.store.add(pod("a", "2", owner="rs2"))
    assert [o["metadata"]["name"] for o in informer.by_index("owner", "rs1")] == ["b"]
    assert [o["metadata"]["name"] for o in informer.by_index("owner", "rs2")] == ["a"]
    informer.store.delete("default/b")
    assert informer.by_index("owner", "rs1") == []
    assert informer.get("default/a") is not None
    assert len(informer.list()) == 1
    informer.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])
    assert len(informer.by_index("app", "web")) == 1, "a late index covers existing objects"


async def test_list_then_watch_fills_the_store_and_calls_handlers() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    client.add(PODS, pod("b", "1"))
    clock = FakeClock()
    informer = Informer(client, PODS, namespace="default", label_selector="app=web", clock=clock)
    rec = Recorder(informer)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.has_synced.wait(), 1)
    assert sorted(rec.events) == [("add", "a"), ("add", "b")]
    list_rv = informer.resource_version
    await settle()
    watch = [a for a in client.actions if a.verb == "watch"]
    assert watch[0].options["resource_version"] == list_rv

    client.push_watch(PODS, WatchEvent("ADDED", pod("c", "50")))
    client.push_watch(PODS, WatchEvent("MODIFIED", pod("a", "51")))
    client.push_watch(PODS, WatchEvent("DELETED", pod("b", "52")))
    client.push_watch(PODS, WatchEvent("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": "60"}}))
    await settle()
    assert rec.events[2:] == [("add", "c"), ("update", "a"), ("delete", "b")]
    assert sorted(informer.store.keys()) == ["default/a", "default/c"]
    assert informer.resource_version == "60"

    # A clean end of the stream resumes from the last resourceVersion, without a relist.
    client.push_watch(PODS, None)
    await settle()
    watches = [a for a in client.actions if a.verb == "watch"]
    assert [w.options["resource_version"] for w in watches] == [list_rv, "60"]
    assert len([a for a in client.actions if a.verb == "list"]) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_expired_watch_relists_and_reports_the_difference() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    client.add(PODS, pod("b", "1"))
    informer = Informer(client, PODS, clock=FakeClock())
    rec = Recorder(informer)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.has_synced.wait(), 1)
    await settle()
    # While the watch was down: b deleted, c created, a kept.
    await client.delete(PODS, "b", namespace="default")
    client.add(PODS, pod("c", "1"))
    client.push_watch(PODS, ExpiredError(410, "Expired", "too old resource version", {}))
    await settle()
    assert len([a for a in client.actions if a.verb == "list"]) == 2
    assert sorted(rec.events[2:]) == [("add", "c"), ("delete", "b"), ("update", "a")]
    assert sorted(informer.store.keys()) == ["default/a", "default/c"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_errors_back_off_on_the_clock_then_relist() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    fail = {"list": 2}

    def flaky(action: Any) -> None:
        if action.verb == "list" and fail["list"] > 0:
            fail["list"] -= 1
            raise ConnectionError("refused")

    client.reactors.append(flaky)
    clock = FakeClock()
    informer = Informer(client, PODS, clock=clock)
    task = asyncio.create_task(informer.run())
    await settle()
    assert not informer.has_synced.is_set()
    clock.advance(0.2)
    await settle()
    assert not informer.has_synced.is_set(), "second failure: now waiting 0.4 s"
    clock.advance(0.4)
    await settle()
    assert informer.has_synced.is_set()
    assert informer.get("default/a") is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_handler_does_not_stop_the_informer() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    informer = Informer(client, PODS, clock=FakeClock())

    def broken(_obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    informer.add_handlers(on_add=broken)
    seen: list[str] = []
    informer.add_handlers(on_add=lambda o: seen.append(o["metadata"]["name"]))
    await informer.relist()
    assert seen == ["a"]
    assert informer.has_synced.is_set()
    assert informer.get("default/a")["kind"] == "Pod"  # type: ignore[index]
