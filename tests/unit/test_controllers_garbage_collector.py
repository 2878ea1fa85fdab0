import asyncio
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DEPLOYMENTS, EVENTS, PODS, REPLICASETS, ResourceRef
from kuberya.client.watch import WatchEvent
from kuberya.controllers.garbage_collector import GarbageCollector, ObjectKey
from tests.waiting import eventually_async


def owner_ref(kind: str, name: str, uid: str, *, block: bool = True) -> dict[str, Any]:
    api_version = "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": block,
    }


def obj(
    name: str,
    uid: str,
    *,
    owners: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    finalizers: list[str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid}
    if owners:
        meta["ownerReferences"] = owners
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta}


class World:
    """A fake API server and a collector whose caches agree with it."""

    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.gc = GarbageCollector(self.client, clock=FakeClock())
        self.gc.set_resources([PODS, REPLICASETS, DEPLOYMENTS, EVENTS])

    def seed(self, ref: ResourceRef, o: dict[str, Any], *, in_server: bool = True) -> dict[str, Any]:
        stored = self.client.add(ref, o) if in_server else {"apiVersion": ref.api_version, "kind": ref.kind, **o}
        self.gc.informer(ref).store.add(stored)
        return stored

    def forget(self, ref: ResourceRef, name: str) -> None:
        self.gc.informer(ref).store.delete(f"default/{name}")

    async def sync(self, ref: ResourceRef, name: str) -> list[Action]:
        self.client.clear()
        await self.gc.sync(ObjectKey(ref, "default", name))
        return self.client.mutations()


def test_events_are_not_collected() -> None:
    w = World()
    assert ("", "events") not in w.gc.informers
    assert set(w.gc.informers) == {("", "pods"), ("apps", "replicasets"), ("apps", "deployments")}


async def test_a_replicaset_whose_deployment_is_gone_is_deleted_in_the_background() -> None:
    w = World()
    w.seed(REPLICASETS, obj("web-1", "rs-uid", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    actions = await w.sync(REPLICASETS, "web-1")
    assert actions == [
        Action(
            "delete",
            "replicasets.apps",
            "default",
            "web-1",
            body={"propagationPolicy": "Background", "preconditions": {"uid": "rs-uid"}},
        )
    ]
    # The absence was confirmed with the server before deleting.
    gets = [a for a in w.client.actions if a.verb == "get"]
    assert [(a.resource, a.name) for a in gets] == [("deployments.apps", "web")]


async def test_a_cached_owner_keeps_its_dependent_without_asking_the_server() -> None:
    w = World()
    w.seed(DEPLOYMENTS, obj("web", "dep-uid"))
    w.seed(REPLICASETS, obj("web-1", "rs-uid", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    assert await w.sync(REPLICASETS, "web-1") == []
    assert [a.verb for a in w.client.actions] == []


async def test_a_lagging_cache_never_costs_an_object() -> None:
    w = World()
    w.client.add(DEPLOYMENTS, obj("web", "dep-uid"))  # in the server, not yet in the cache
    w.seed(REPLICASETS, obj("web-1", "rs-uid", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    assert await w.sync(REPLICASETS, "web-1") == []


async def test_an_owner_name_reused_by_a_new_object_counts_as_gone() -> None:
    w = World()
    w.client.add(DEPLOYMENTS, obj("web", "new-uid"))
    w.seed(REPLICASETS, obj("web-1", "rs-uid", owners=[owner_ref("Deployment", "web", "old-uid")]))
    actions = await w.sync(REPLICASETS, "web-1")
    assert [(a.verb, a.name) for a in actions] == [("delete", "web-1")]


async def test_a_dependent_with_a_living_owner_loses_only_the_dangling_reference() -> None:
    w = World()
    w.seed(REPLICASETS, obj("rs-a", "rs-a-uid"))
    w.seed(
        PODS,
        obj(
            "p",
            "p-uid",
            owners=[owner_ref("ReplicaSet", "rs-a", "rs-a-uid"), owner_ref("ReplicaSet", "gone", "gone-uid")],
        ),
    )
    actions = await w.sync(PODS, "p")
    assert len(actions) == 1
    patch = actions[0]
    assert (patch.verb, patch.resource, patch.name, patch.options["patch_type"]) == (
        "patch",
        "pods",
        "p",
        "merge",
    )
    assert patch.body["metadata"]["ownerReferences"] == [owner_ref("ReplicaSet", "rs-a", "rs-a-uid")]
    assert patch.body["metadata"]["resourceVersion"]  # optimistic: a concurrent change conflicts


async def test_the_dependent_keeps_its_own_deletion_policy() -> None:
    w = World()
    w.seed(
        REPLICASETS,
        obj("web-1", "rs-uid", owners=[owner_ref("Deployment", "web", "d")], finalizers=["orphan"]),
    )
    actions = await w.sync(REPLICASETS, "web-1")
    assert actions[0].body["propagationPolicy"] == "Orphan"


async def test_an_unknown_owner_kind_is_retried_not_deleted() -> None:
    w = World()
    strange = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "w-uid"}
    w.seed(PODS, obj("p", "p-uid", owners=[strange]))
    with pytest.raises(LookupError, match="Widget"):
        await w.sync(PODS, "p")
    assert w.client.mutations() == []


async def test_orphan_strips_references_then_drops_the_finalizer() -> None:
    w = World()
    dep = w.seed(DEPLOYMENTS, obj("web", "dep-uid", deleting=True, finalizers=["orphan"]))
    w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    other = owner_ref("Deployment", "other", "other-uid")
    w.seed(REPLICASETS, obj("web-2", "rs2", owners=[owner_ref("Deployment", "web", "dep-uid"), other]))
    w.seed(REPLICASETS, obj("unrelated", "rs3", owners=[other]))
    actions = await w.sync(DEPLOYMENTS, "web")
    assert [(a.verb, a.resource, a.name) for a in actions] == [
        ("patch", "replicasets.apps", "web-1"),
        ("patch", "replicasets.apps", "web-2"),
        ("patch", "deployments.apps", "web"),
    ]
    assert actions[0].body["metadata"]["ownerReferences"] is None
    assert actions[1].body["metadata"]["ownerReferences"] == [other]
    assert actions[2].body["metadata"] == {
        "finalizers": None,
        "resourceVersion": dep["metadata"]["resourceVersion"],
    }
    assert w.client.stored(DEPLOYMENTS, "web", namespace="default") is None, "no finalizer left: gone"
    assert "ownerReferences" not in w.client.stored(REPLICASETS, "web-1", namespace="default")["metadata"]  # type: ignore[index]


async def test_foreground_deletes_dependents_first_then_drops_the_finalizer() -> None:
    w = World()
    w.seed(
        DEPLOYMENTS,
        obj("web", "dep-uid", deleting=True, finalizers=["foregroundDeletion", "example.com/keep"]),
    )
    w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    actions = await w.sync(DEPLOYMENTS, "web")
    assert actions == [
        Action(
            "delete",
            "replicasets.apps",
            "default",
            "web-1",
            body={"propagationPolicy": "Foreground", "preconditions": {"uid": "rs1"}},
        )
    ], "the owner keeps its finalizer while a blocking dependent exists"

    # The ReplicaSet is gone: its DELETED event queues the waiting owner again.
    w.forget(REPLICASETS, "web-1")
    actions = await w.sync(DEPLOYMENTS, "web")
    assert [(a.verb, a.name) for a in actions] == [("patch", "web")]
    assert actions[0].body["metadata"]["finalizers"] == ["example.com/keep"]


async def test_foreground_waits_for_dependents_already_going_away() -> None:
    w = World()
    w.seed(DEPLOYMENTS, obj("web", "dep-uid", deleting=True, finalizers=["foregroundDeletion"]))
    w.seed(
        REPLICASETS,
        obj(
            "web-1",
            "rs1",
            owners=[owner_ref("Deployment", "web", "dep-uid")],
            deleting=True,
            finalizers=["foregroundDeletion"],
        ),
    )
    assert await w.sync(DEPLOYMENTS, "web") == []


async def test_non_blocking_dependents_do_not_hold_the_owner() -> None:
    w = World()
    w.seed(DEPLOYMENTS, obj("web", "dep-uid", deleting=True, finalizers=["foregroundDeletion"]))
    w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid", block=False)]))
    actions = await w.sync(DEPLOYMENTS, "web")
    assert [(a.verb, a.resource) for a in actions] == [
        ("delete", "replicasets.apps"),
        ("patch", "deployments.apps"),
    ]


async def test_objects_without_owners_or_work_are_left_alone() -> None:
    w = World()
    w.seed(PODS, obj("lonely", "u"))
    w.seed(DEPLOYMENTS, obj("going", "g", deleting=True, finalizers=["example.com/other"]))
    assert await w.sync(PODS, "lonely") == []
    assert await w.sync(DEPLOYMENTS, "going") == []
    assert await w.sync(PODS, "not-cached") == []


async def test_handlers_queue_dependents_of_a_deleted_owner() -> None:
    w = World()
    deployment = w.seed(DEPLOYMENTS, obj("web", "dep-uid"))
    w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    w.seed(PODS, obj("lonely", "u"))
    informer = w.gc.informer(DEPLOYMENTS)
    informer.apply(WatchEvent("DELETED", deployment))
    assert len(w.gc.queue) == 1
    assert await w.gc.queue.get() == ObjectKey(REPLICASETS, "default", "web-1")


async def test_handlers_queue_a_foreground_owner_when_its_dependent_goes() -> None:
    w = World()
    w.seed(DEPLOYMENTS, obj("web", "dep-uid", deleting=True, finalizers=["foregroundDeletion"]))
    rs = w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    w.gc.informer(REPLICASETS).apply(WatchEvent("DELETED", rs))
    assert await w.gc.queue.get() == ObjectKey(DEPLOYMENTS, "default", "web")


async def test_background_cascade_deployment_to_pods() -> None:
    # Each level's DELETED event queues the next; drive it by hand, as the informers would.
    w = World()
    dep = w.seed(DEPLOYMENTS, obj("web", "dep-uid"))
    w.seed(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    w.seed(PODS, obj("web-1-a", "p1", owners=[owner_ref("ReplicaSet", "web-1", "rs1")]))
    w.seed(PODS, obj("web-1-b", "p2", owners=[owner_ref("ReplicaSet", "web-1", "rs1")]))
    await w.client.delete(DEPLOYMENTS, "web", namespace="default")
    w.client.clear()
    w.gc.informer(DEPLOYMENTS).apply(WatchEvent("DELETED", dep))
    deleted: list[str] = []
    while len(w.gc.queue):
        key = await w.gc.queue.get()
        assert key is not None
        await w.gc.sync(key)
        w.gc.queue.done(key)
        for action in w.client.mutations():
            if action.verb == "delete" and action.name not in deleted:
                deleted.append(str(action.name))
                ref = REPLICASETS if action.resource == "replicasets.apps" else PODS
                gone = w.gc.informer(ref).get(f"default/{action.name}")
                assert gone is not None
                w.gc.informer(ref).apply(WatchEvent("DELETED", gone))
    assert deleted == ["web-1", "web-1-a", "web-1-b"]
    assert (await w.client.list(PODS))["items"] == []


async def test_run_collects_a_deleted_deployments_family() -> None:
    client = FakeApiClient(watch_events=True, resources=[PODS, REPLICASETS, DEPLOYMENTS])
    client.add(DEPLOYMENTS, obj("web", "dep-uid"))
    client.add(REPLICASETS, obj("web-1", "rs1", owners=[owner_ref("Deployment", "web", "dep-uid")]))
    for i in range(3):
        client.add(PODS, obj(f"web-1-{i}", f"p{i}", owners=[owner_ref("ReplicaSet", "web-1", "rs1")]))
    client.add(PODS, obj("keep", "k"))
    gc = GarbageCollector(client, clock=FakeClock())
    task = asyncio.create_task(gc.run())
    await eventually_async(
        lambda: len(gc.informers) == 3 and all(i.has_synced.is_set() for i in gc.informers.values()),
        interval=0,
        what="three synced informers",
    )
    assert client.mutations() == []

    await client.delete(DEPLOYMENTS, "web", namespace="default", propagation_policy="Background")
    family = [(DEPLOYMENTS, "web"), (REPLICASETS, "web-1"), *((PODS, f"web-1-{i}") for i in range(3))]
    await eventually_async(
        lambda: all(client.stored(ref, name, namespace="default") is None for ref, name in family),
        interval=0,
        what="the whole family collected",
    )
    assert client.stored(PODS, "keep", namespace="default") is not None

    # Foreground: the owner stays until its dependents are gone, then loses the finalizer.
    client.add(DEPLOYMENTS, obj("api", "api-uid"))
    client.add(REPLICASETS, obj("api-1", "ars", owners=[owner_ref("Deployment", "api", "api-uid")]))
    await client.delete(DEPLOYMENTS, "api", namespace="default", propagation_policy="Foreground")
    await eventually_async(
        lambda: client.stored(DEPLOYMENTS, "api", namespace="default") is None, interval=0, what="api collected"
    )
    assert client.stored(REPLICASETS, "api-1", namespace="default") is None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
