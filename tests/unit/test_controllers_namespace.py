import asyncio
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, SERVICEACCOUNTS
from kuberya.client.watch import WatchEvent
from kuberya.controllers.namespace import NamespaceController


def named(name: str, namespace: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, **meta}}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.controller = NamespaceController(self.client, clock=self.clock, recheck_seconds=0.5)

    async def namespace(self, name: str, *, delete: bool = False) -> dict[str, Any]:
        ns = await self.client.create(NAMESPACES, {"metadata": {"name": name}})
        if delete:
            ns = await self.client.delete(NAMESPACES, name)
        self.controller.namespaces.store.add(ns)
        return ns

    async def sync(self, name: str) -> list[Action]:
        self.client.clear()
        await self.controller.sync(name)
        return self.client.mutations()


async def test_a_terminating_namespace_is_emptied_then_finalized() -> None:
    w = World()
    ns = await w.namespace("team", delete=True)
    assert ns["status"]["phase"] == "Terminating"
    w.client.add(PODS, named("p1", "team", uid="u-p1"))
    w.client.add(CONFIGMAPS, named("cm", "team", uid="u-cm"))
    w.client.add(DEPLOYMENTS, named("web", "team", uid="u-web"))
    w.client.add(PODS, named("elsewhere", "default", uid="u-x"))
    actions = await w.sync("team")
    deletes = [(a.resource, a.name, a.body) for a in actions if a.verb == "delete"]
    assert sorted(deletes, key=lambda d: d[0]) == [
        ("configmaps", "cm", {"propagationPolicy": "Background", "preconditions": {"uid": "u-cm"}}),
        ("deployments.apps", "web", {"propagationPolicy": "Background", "preconditions": {"uid": "u-web"}}),
        ("pods", "p1", {"propagationPolicy": "Background", "preconditions": {"uid": "u-p1"}}),
    ]
    finalize = actions[-1]
    assert (finalize.verb, finalize.resource, finalize.name, finalize.subresource) == (
        "update",
        "namespaces",
        "team",
        "finalize",
    )
    assert finalize.body["spec"]["finalizers"] == []
    assert w.client.stored(NAMESPACES, "team") is None, "finalized: the namespace is gone"
    assert w.client.stored(PODS, "elsewhere", namespace="default") is not None


async def test_content_still_going_away_delays_the_finalize() -> None:
    w = World()
    await w.namespace("team", delete=True)
    w.client.add(PODS, named("slow", "team", uid="u1", finalizers=["example.com/hold"]))
    actions = await w.sync("team")
    assert [(a.verb, a.name) for a in actions] == [("delete", "slow")]
    assert w.clock.pending == 1, "looked at again shortly"
    # A second pass sees the pod already terminating: no new delete, still no finalize.
    assert await w.sync("team") == []
    # The pod's finalizer is removed by its owner; the next pass finalizes.
    await w.client.patch(PODS, "slow", {"metadata": {"finalizers": None}}, namespace="team", patch_type="merge")
    actions = await w.sync("team")
    assert [(a.verb, a.subresource) for a in actions] == [("update", "finalize")]


async def test_other_finalizers_are_not_ours() -> None:
    w = World()
    ns = await w.client.create(NAMESPACES, {"metadata": {"name": "x"}, "spec": {"finalizers": ["example.com/own"]}})
    ns = await w.client.delete(NAMESPACES, "x")
    w.controller.namespaces.store.add(ns)
    w.client.add(PODS, named("p", "x"))
    assert await w.sync("x") == []


async def test_a_live_namespace_gets_its_default_service_account_once() -> None:
    w = World()
    await w.namespace("team")
    actions = await w.sync("team")
    assert actions == [
        Action(
            "create",
            "serviceaccounts",
            "team",
            "default",
            body={
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": "team"},
            },
        )
    ]
    sa = w.client.stored(SERVICEACCOUNTS, "default", namespace="team")
    assert sa is not None
    w.controller.service_accounts.store.add(sa)
    assert await w.sync("team") == []
    # The cache lagging behind the server is harmless: AlreadyExists is success.
    w.controller.service_accounts.store.delete("team/default")
    assert [a.verb for a in await w.sync("team")] == ["create"]


async def test_a_deleted_default_service_account_queues_its_namespace() -> None:
    w = World()
    sa = w.client.add(SERVICEACCOUNTS, named("default", "team"))
    w.controller.service_accounts.apply(WatchEvent("ADDED", sa))
    w.controller.service_accounts.apply(WatchEvent("DELETED", sa))
    assert await w.controller.queue.get() == "team"


async def test_system_namespaces_are_created_once() -> None:
    w = World()
    await w.controller.ensure_system_namespaces()
    await w.controller.ensure_system_namespaces()
    created = [a.name for a in w.client.actions if a.verb == "create"]
    assert created == ["default", "kube-system", "kube-public", "kube-node-lease"] * 2
    names = sorted(o["metadata"]["name"] for o in (await w.client.list(NAMESPACES))["items"])
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_run_reconciles_from_the_informers() -> None:
    w = World()
    task = asyncio.create_task(w.controller.run())
    for _ in range(50):
        await asyncio.sleep(0)
        if w.client.stored(SERVICEACCOUNTS, "default", namespace="kube-public"):
            break
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert w.client.stored(SERVICEACCOUNTS, "default", namespace=name) is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
