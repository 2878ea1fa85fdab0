"""The pvc-protection and pv-protection controllers, sample-controller style: seed, sync, compare writes."""

from __future__ import annotations

from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import BUILTIN, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS
from kuberya.client.watch import WatchEvent
from kuberya.controllers.pv_protection import PV_PROTECTION_FINALIZER, PVProtectionController
from kuberya.controllers.pvc_protection import PVC_PROTECTION_FINALIZER, PVCProtectionController
from tests.fake_api import seed, writes_of_sync

DELETED = "2026-01-01T00:00:00Z"


def claim(name: str = "data", *, deleting: bool = True, finalizers: list[str] | None = None, **meta: Any) -> Any:
    m: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "finalizers": [PVC_PROTECTION_FINALIZER] if finalizers is None else finalizers,
        **meta,
    }
    if deleting:
        m["deletionTimestamp"] = DELETED
    return {"metadata": m, "spec": {"resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound"}}


def pod(
    name: str = "web",
    *,
    volume: dict[str, Any] | None = None,
    node: str = "node-a",
    phase: str = "Running",
    **meta: Any,
) -> Any:
    volume = volume if volume is not None else {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}], "volumes": [volume]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **meta},
        "spec": spec,
        "status": {"phase": phase},
    }


def ephemeral_volume(name: str = "scratch") -> dict[str, Any]:
    return {"name": name, "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}


def owned_by(pod_name: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": f"uid-{pod_name}", "controller": True}]


class ClaimWorld:
    def __init__(self) -> None:
        self.client = FakeApiClient(resources=[*BUILTIN, PERSISTENTVOLUMECLAIMS])
        self.controller = PVCProtectionController(self.client, clock=FakeClock())

    def seed_claim(self, obj: Any) -> Any:
        return seed(self.client, self.controller.claims, obj)

    def seed_pod(self, obj: Any, *, cached: bool = True) -> Any:
        if cached:
            return seed(self.client, self.controller.pods, obj)
        return self.client.add(PODS, obj)

    async def sync(self, key: str = "default/data") -> list[Action]:
        return await writes_of_sync(self.client, self.controller, key)


def finalizers_written(actions: list[Action]) -> list[Any]:
    return [(a.verb, a.body["metadata"].get("finalizers")) for a in actions]


async def test_a_deleted_claim_no_pod_uses_loses_its_finalizer() -> None:
    w = ClaimWorld()
    w.seed_claim(claim(finalizers=[PVC_PROTECTION_FINALIZER, "example.com/keep"]))
    actions = await w.sync()
    assert finalizers_written(actions) == [("update", ["example.com/keep"])]
    assert actions[0].resource == "persistentvolumeclaims"


async def test_a_claim_used_by_a_running_pod_keeps_its_finalizer() -> None:
    w = ClaimWorld()
    w.seed_claim(claim())
    w.seed_pod(pod())
    assert await w.sync() == []


async def test_a_pod_the_cache_has_not_seen_yet_is_found_by_a_live_list() -> None:
    w = ClaimWorld()
    w.seed_claim(claim())
    w.seed_pod(pod(), cached=False)
    assert await w.sync() == []


async def test_a_terminated_pod_still_holds_its_claim_as_upstream() -> None:
    # Upstream's podUsesPVC counts any scheduled pod naming the claim, whatever its phase.
    w = ClaimWorld()
    w.seed_claim(claim())
    w.seed_pod(pod(phase="Succeeded"))
    assert await w.sync() == []


async def test_an_unscheduled_pod_does_not_hold_the_claim() -> None:
    # The node refuses to start a pod whose claim is being deleted, so it cannot come to use it.
    w = ClaimWorld()
    w.seed_claim(claim())
    w.seed_pod(pod(node=""))
    assert finalizers_written(await w.sync()) == [("update", None)]


async def test_a_pod_of_another_claim_does_not_hold_it() -> None:
    w = ClaimWorld()
    w.seed_claim(claim())
    w.seed_pod(pod(volume={"name": "v", "persistentVolumeClaim": {"claimName": "other"}}))
    assert finalizers_written(await w.sync()) == [("update", None)]


async def test_an_ephemeral_claim_is_held_by_its_own_pod_until_it_is_shut_down() -> None:
    w = ClaimWorld()
    w.seed_claim(claim("web-scratch", ownerReferences=owned_by("web")))
    w.seed_pod(pod(volume=ephemeral_volume()))
    assert await w.sync("default/web-scratch") == []
    # Deleted with grace period 0 (the node is done with it): the claim may go.
    shut_down = pod(volume=ephemeral_volume(), deletionTimestamp=DELETED, deletionGracePeriodSeconds=0)
    w.seed_pod(shut_down)
    assert finalizers_written(await w.sync("default/web-scratch")) == [("update", None)]


async def test_an_ephemeral_claim_of_another_owner_is_not_held() -> None:
    w = ClaimWorld()
    w.seed_claim(claim("web-scratch", ownerReferences=owned_by("someone-else")))
    w.seed_pod(pod(volume=ephemeral_volume()))
    assert finalizers_written(await w.sync("default/web-scratch")) == [("update", None)]


async def test_a_claim_without_the_finalizer_gets_it() -> None:
    w = ClaimWorld()
    w.seed_claim(claim(deleting=False, finalizers=[]))
    assert finalizers_written(await w.sync()) == [("update", [PVC_PROTECTION_FINALIZER])]


async def test_a_live_claim_with_the_finalizer_is_left_alone() -> None:
    w = ClaimWorld()
    w.seed_claim(claim(deleting=False))
    w.controller.queue.add("default/data")
    assert await w.sync() == []


async def test_a_pod_going_requeues_the_claims_it_used() -> None:
    w = ClaimWorld()
    running = pod()
    w.controller.pods.apply(WatchEvent("ADDED", running))
    assert len(w.controller.queue) == 0  # a running pod cannot free anything
    w.controller.pods.apply(WatchEvent("MODIFIED", {**running, "status": {"phase": "Failed"}}))
    w.controller.pods.apply(WatchEvent("DELETED", running))
    assert len(w.controller.queue) == 1
    assert await w.controller.queue.get() == "default/data"


async def test_only_claims_that_need_work_are_queued() -> None:
    w = ClaimWorld()
    w.controller.claims.apply(WatchEvent("ADDED", claim("protected", deleting=False)))
    assert len(w.controller.queue) == 0
    w.controller.claims.apply(WatchEvent("ADDED", claim("deleting")))
    w.controller.claims.apply(WatchEvent("ADDED", claim("bare", deleting=False, finalizers=[])))
    assert sorted([await w.controller.queue.get(), await w.controller.queue.get()]) == [
        "default/bare",
        "default/deleting",
    ]


# -- pv-protection ------------------------------------------------------------------------------


def volume(phase: str, *, deleting: bool = True, finalizers: list[str] | None = None) -> Any:
    m: dict[str, Any] = {
        "name": "pv-1",
        "uid": "uid-pv-1",
        "finalizers": [PV_PROTECTION_FINALIZER] if finalizers is None else finalizers,
    }
    if deleting:
        m["deletionTimestamp"] = DELETED
    return {"metadata": m, "spec": {"capacity": {"storage": "1Gi"}}, "status": {"phase": phase}}


class VolumeWorld:
    def __init__(self) -> None:
        self.client = FakeApiClient(resources=[*BUILTIN, PERSISTENTVOLUMES])
        self.controller = PVProtectionController(self.client, clock=FakeClock())

    async def sync(self, obj: Any) -> list[Action]:
        seed(self.client, self.controller.volumes, obj)
        return await writes_of_sync(self.client, self.controller, "pv-1")


async def test_a_deleted_volume_that_is_not_bound_loses_its_finalizer() -> None:
    for phase in ("Available", "Released", "Failed", "Pending"):
        actions = await VolumeWorld().sync(volume(phase))
        assert finalizers_written(actions) == [("update", None)], phase
        assert actions[0].resource == "persistentvolumes"


async def test_a_deleted_bound_volume_keeps_its_finalizer() -> None:
    assert await VolumeWorld().sync(volume("Bound")) == []


async def test_a_volume_without_the_finalizer_gets_it() -> None:
    actions = await VolumeWorld().sync(volume("Available", deleting=False, finalizers=["example.com/x"]))
    assert finalizers_written(actions) == [("update", ["example.com/x", PV_PROTECTION_FINALIZER])]
