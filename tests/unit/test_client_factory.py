import asyncio
from typing import Any

import pytest

from kuberya.client import FakeClock, SharedInformerFactory
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import PODS, SERVICES
from kuberya.client.watch import WatchEvent


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def pod(name: str, rv: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "default", "resourceVersion": rv, "uid": f"uid-{name}"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def names(objs: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def test_one_informer_per_resource_and_scope() -> None:
    factory = SharedInformerFactory(FakeApiClient(), clock=FakeClock())
    pods = factory.informer(PODS)
    assert factory.informer(PODS) is pods
    assert factory.informer(SERVICES) is not pods
    scoped = factory.informer(PODS, field_selector="spec.nodeName=n1")
    assert scoped is not pods
    assert factory.informer(PODS, field_selector="spec.nodeName=n1") is scoped
    assert factory.informer(PODS, label_selector="app=web") is not pods
    assert len(factory.informers) == 4


async def test_consumers_share_one_list_and_watch_and_each_hears_every_event() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    factory = SharedInformerFactory(client, clock=FakeClock())
    first, second = factory.informer(PODS), factory.informer(PODS)
    heard: dict[str, list[str]] = {"first": [], "second": []}
    first.add_handlers(on_add=lambda o: heard["first"].append(o["metadata"]["name"]))
    second.add_handlers(on_add=lambda o: heard["second"].append(o["metadata"]["name"]))
    consumers = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    await asyncio.wait_for(factory.wait_for_cache_sync(), 1)
    await settle()
    client.push_watch(PODS, WatchEvent("ADDED", pod("b", "5")))
    await settle()
    assert heard == {"first": ["a", "b"], "second": ["a", "b"]}
    assert len([a for a in client.actions if a.verb == "list"]) == 1
    assert len([a for a in client.actions if a.verb == "watch"]) == 1
    assert first.consumers == 2
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


async def test_the_loop_runs_until_the_last_consumer_stops() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    factory = SharedInformerFactory(client, clock=FakeClock())
    informer = factory.informer(PODS)
    one, two = asyncio.create_task(informer.run()), asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.has_synced.wait(), 1)
    one.cancel()
    await asyncio.gather(one, return_exceptions=True)
    assert informer.consumers == 1
    client.push_watch(PODS, WatchEvent("ADDED", pod("b", "5")))
    await settle()
    assert names(informer.list()) == ["a", "b"], "the other consumer's cache is still kept current"
    two.cancel()
    await asyncio.gather(two, return_exceptions=True)
    assert informer.consumers == 0
    assert not informer.has_synced.is_set(), "nobody keeps the cache current any more"


async def test_a_late_handler_is_told_of_what_is_cached_and_can_be_removed() -> None:
    client = FakeApiClient()
    client.add(PODS, pod("a", "1"))
    informer = SharedInformerFactory(client, clock=FakeClock()).informer(PODS)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.has_synced.wait(), 1)
    await settle()
    late: list[str] = []
    registration = informer.add_handlers(on_add=lambda o: late.append(o["metadata"]["name"]))
    assert late == ["a"]
    informer.remove_handlers(registration)
    client.push_watch(PODS, WatchEvent("ADDED", pod("b", "5")))
    await settle()
    assert late == ["a"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_indexes_are_added_once_per_function() -> None:
    informer = SharedInformerFactory(FakeApiClient()).informer(PODS)

    def by_name(obj: dict[str, Any]) -> list[str]:
        return [obj["metadata"]["name"]]

    informer.add_index("name", by_name)
    informer.add_index("name", by_name)  # a second consumer reading the same index
    informer.store.add(pod("a", "1"))
    assert names(informer.by_index("name", "a")) == ["a"]
    with pytest.raises(ValueError, match="already exists"):
        informer.add_index("name", lambda obj: [])


async def test_stop_ends_loops_whose_consumers_linger() -> None:
    client = FakeApiClient()
    factory = SharedInformerFactory(client, clock=FakeClock())
    informer = factory.informer(PODS)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.has_synced.wait(), 1)
    await factory.stop()
    with pytest.raises(asyncio.CancelledError):
        await task
