"""The ephemeral volume controller, sample-controller style: seed the caches, sync, compare writes."""

from __future__ import annotations

from typing import Any

from kuberya.client import ApiError, FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import BUILTIN, PERSISTENTVOLUMECLAIMS
from kuberya.client.watch import WatchEvent
from kuberya.controllers.ephemeral import EphemeralVolumeController, claim_names
from tests.fake_api import recorded_events, seed, writes_of_sync

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}, "annotations": {"note": "scratch"}},
    "spec": {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "local-path",
        "resources": {"requests": {"storage": "1Gi"}},
    },
}


def pod(name: str = "web", *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {
            "containers": [{"name": "c", "image": "x"}],
            "volumes": [
                {"name": "cache", "emptyDir": {}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": TEMPLATE}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}},
            ],
        },
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient(resources=[*BUILTIN, PERSISTENTVOLUMECLAIMS])
        self.clock = FakeClock()
        self.controller = EphemeralVolumeController(self.client, clock=self.clock)

    def seed_pod(self, obj: Any) -> Any:
        return seed(self.client, self.controller.pods, obj)

    def seed_claim(self, obj: Any) -> Any:
        return seed(self.client, self.controller.claims, obj)

    async def sync(self, key: str = "default/web") -> list[Action]:
        return await writes_of_sync(self.client, self.controller, key)


def test_a_pods_claims_are_its_claim_volumes_and_ephemeral_ones() -> None:
    assert claim_names(pod()) == [("web-scratch", True), ("shared", False)]


async def test_creates_the_claim_from_the_template_owned_by_the_pod() -> None:
    w = World()
    w.seed_pod(pod())
    actions = await w.sync()
    assert [(a.verb, a.resource, a.namespace) for a in actions] == [("create", "persistentvolumeclaims", "default")]
    assert actions[0].body == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "web-scratch",
            "namespace": "default",
            "labels": {"app": "web"},
            "annotations": {"note": "scratch"},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "web",
                    "uid": "uid-web",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": TEMPLATE["spec"],
    }


async def test_an_existing_claim_of_the_pod_is_not_made_twice() -> None:
    w = World()
    w.seed_pod(pod())
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "uid-web", "controller": True}
    w.seed_claim({"metadata": {"name": "web-scratch", "namespace": "default", "ownerReferences": [owner]}, "spec": {}})
    assert await w.sync() == []
    assert recorded_events(w.client) == []


async def test_a_claim_in_the_way_that_the_pod_does_not_own_is_reported_and_retried() -> None:
    w = World()
    w.seed_pod(pod())
    w.seed_claim({"metadata": {"name": "web-scratch", "namespace": "default"}, "spec": {}})
    assert await w.sync() == []
    message = "ephemeral volume scratch: PVC default/web-scratch was not created for pod default/web (pod is not owner)"
    assert recorded_events(w.client) == [("Warning", "FailedBinding", message)]
    # Retried with backoff: back in the queue once the delay has passed.
    assert len(w.controller.queue) == 0
    w.clock.advance(60)
    assert await w.controller.queue.get() == "default/web"


async def test_a_failed_create_is_reported() -> None:
    w = World()
    w.seed_pod(pod())

    def refuse(action: Action) -> None:
        if action.verb == "create" and action.resource == "persistentvolumeclaims":
            raise ApiError(403, "Forbidden", "exceeded quota", {})

    w.client.reactors.append(refuse)
    await w.sync()
    [(kind, reason, message)] = recorded_events(w.client)
    assert (kind, reason) == ("Warning", "FailedBinding")
    assert message.startswith("ephemeral volume scratch: create PVC web-scratch: ")


async def test_a_pod_being_deleted_gets_no_claim() -> None:
    w = World()
    w.seed_pod(pod(deleting=True))
    assert await w.sync() == []


async def test_the_claim_in_the_way_going_requeues_the_pod() -> None:
    w = World()
    w.controller.pods.apply(WatchEvent("ADDED", pod()))
    assert await w.controller.queue.get() == "default/web"
    w.controller.queue.done("default/web")
    other = {"metadata": {"name": "web-scratch", "namespace": "default"}, "spec": {}}
    w.controller.claims.apply(WatchEvent("ADDED", other))
    assert len(w.controller.queue) == 0
    w.controller.claims.apply(WatchEvent("DELETED", other))
    assert await w.controller.queue.get() == "default/web"
