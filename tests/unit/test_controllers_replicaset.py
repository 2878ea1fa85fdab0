import asyncio
import datetime
from typing import Any

import pytest

from kuberya.client import FakeClock, ForbiddenError
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import PODS, REPLICASETS
from kuberya.client.watch import WatchEvent
from kuberya.controllers.replicaset import ManageReplicasError, ReplicaSetController, slow_start_batch
from tests.builders import controller_ref
from tests.fake_api import recorded_events, seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def replicaset(name: str = "web-abc", *, replicas: int = 3, min_ready: int = 0, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 2},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"note": "x"}},
                "spec": {"containers": [{"name": "web", "image": "web:v1"}]},
            },
        },
        "status": status,
    }


def pod(
    name: str,
    *,
    owner: str | None = "web-abc",
    node: str = "",
    phase: str = "Pending",
    ready_for: float | None = None,
    age: float = 100,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": labels if labels is not None else {"app": "web", "tier": "front"},
        "creationTimestamp": stamp(age),
    }
    if owner:
        meta["ownerReferences"] = [controller_ref("apps/v1", "ReplicaSet", owner)]
    if deleting:
        meta["deletionTimestamp"] = stamp(0)
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"name": "web", "restartCount": restarts}]}
    if ready_for is not None:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready_for)}]
    spec = {"containers": [{"name": "web", "image": "web:v1"}], **({"nodeName": node} if node else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.rsc = ReplicaSetController(self.client, clock=self.clock, now=lambda: NOW)

    def seed_rs(self, rs: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.rsc.replicasets, rs)

    def seed_pod(self, p: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.rsc.pods, p)

    async def sync(self, key: str = "default/web-abc") -> list[Action]:
        return await writes_of_sync(self.client, self.rsc, key)

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


async def test_creates_the_missing_pods_from_the_template() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=3))
    actions = await w.sync()
    creates = [a for a in actions if a.verb == "create"]
    assert len(creates) == 3
    body = creates[0].body
    assert body["metadata"] == {
        "generateName": "web-abc-",
        "namespace": "default",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": "x"},
        "ownerReferences": [controller_ref("apps/v1", "ReplicaSet", "web-abc", block=True)],
    }
    assert body["spec"] == {"containers": [{"name": "web", "image": "web:v1"}]}
    status = actions[-1]
    assert (status.verb, status.subresource) == ("patch", "status")
    assert status.body["status"]["observedGeneration"] == 2
    assert [e[1] for e in w.events()] == ["SuccessfulCreate"] * 3


async def test_no_second_round_of_creates_before_the_first_is_observed() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=3))
    await w.sync()
    assert w.rsc.expectations.pending("default/web-abc") == (3, frozenset())
    # The cache does not show the new pods yet: a second sync must not create three more.
    assert [a.verb for a in await w.sync() if a.verb == "create"] == []
    # The pods arrive through the informer: the expectations are met, and nothing is missing.
    for item in (await w.client.list(PODS, namespace="default"))["items"]:
        w.rsc.pods.apply(WatchEvent("ADDED", item))
    assert w.rsc.expectations.satisfied("default/web-abc")
    assert [a.verb for a in await w.sync() if a.verb == "create"] == []


async def test_slow_start_stops_at_the_first_failing_batch() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=10))
    creates = 0

    def quota(action: Action) -> Any:
        nonlocal creates
        if action.verb == "create" and action.resource == "pods":
            creates += 1
            if creates > 1:
                msg = 'pods "web-abc-x" is forbidden: exceeded quota: compute'
                raise ForbiddenError(403, "Forbidden", msg, {"message": msg})
        return None

    w.client.reactors.append(quota)
    with pytest.raises(ManageReplicasError):
        await w.sync()
    assert creates == 3, "a batch of 1 succeeded, the batch of 2 failed, nothing after it was tried"
    assert w.rsc.expectations.pending("default/web-abc")[0] == 1, "only the pod really created is expected"
    status = w.client.stored(REPLICASETS, "web-abc", namespace="default")["status"]  # type: ignore[index]
    (failure,) = status["conditions"]
    assert (failure["type"], failure["status"], failure["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert "exceeded quota" in failure["message"]
    assert ("Warning", "FailedCreate") in [(t, r) for t, r, _ in w.events()]


async def test_slow_start_batches_double() -> None:
    sizes: list[int] = []
    running = 0

    async def create() -> None:
        nonlocal running
        running += 1
        await asyncio.sleep(0)
        sizes.append(running)
        running -= 1

    assert await slow_start_batch(10, create) == 10
    assert max(sizes) == 4  # batches of 1, 2, 4, 3


async def test_scale_down_deletes_in_upstream_order() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=2))
    for p in (
        pod("ready-old", node="n1", phase="Running", ready_for=500, age=900),
        pod("ready-new", node="n1", phase="Running", ready_for=50, age=800),
        pod("running-unready", node="n1", phase="Running"),
        pod("pending-bound", node="n1"),
        pod("unscheduled"),
        pod("restarting", node="n1", phase="Running", ready_for=500, age=900, restarts=5),
    ):
        w.seed_pod(p)
    assert [p["metadata"]["name"] for p in w.rsc.pods_to_delete(replicaset(), w.rsc.pods.list(), 5)] == [
        "unscheduled",
        "pending-bound",
        "running-unready",
        "ready-new",
        "restarting",
    ], "the pod kept is the one ready longest with fewest restarts"
    actions = await w.sync()
    assert [(a.verb, a.name) for a in actions if a.verb == "delete"] == [
        ("delete", "unscheduled"),
        ("delete", "pending-bound"),
        ("delete", "running-unready"),
        ("delete", "ready-new"),
    ]
    assert w.rsc.expectations.pending("default/web-abc")[1] == {
        "default/unscheduled",
        "default/pending-bound",
        "default/running-unready",
        "default/ready-new",
    }
    assert next(m for _, _, m in w.events()) == "Deleted pod: unscheduled"


async def test_terminating_and_finished_pods_do_not_count() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=2))
    w.seed_pod(pod("alive"))
    w.seed_pod(pod("going", deleting=True))
    w.seed_pod(pod("done", phase="Succeeded"))
    actions = await w.sync()
    assert [a.verb for a in actions] == ["create", "patch"]
    assert actions[-1].body["status"]["replicas"] == 1


async def test_adopts_matching_orphans_and_releases_strays() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=2))
    w.seed_pod(pod("orphan", owner=None))
    w.seed_pod(pod("stray", labels={"app": "other"}))
    w.seed_pod(pod("foreign", owner="someone-else"))
    actions = await w.sync()
    patches = {a.name: a.body for a in actions if a.verb == "patch" and a.subresource is None}
    assert patches["orphan"]["metadata"]["ownerReferences"][0]["uid"] == "uid-web-abc"
    assert patches["stray"]["metadata"]["ownerReferences"] is None
    assert "foreign" not in patches
    # The orphan counts; one more pod is created.
    assert [a.verb for a in actions if a.verb == "create"] == ["create"]


async def test_status_counts_ready_and_available_pods_with_min_ready_seconds() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=2, min_ready=30))
    w.seed_pod(pod("long-ready", node="n1", phase="Running", ready_for=60))
    w.seed_pod(pod("just-ready", node="n1", phase="Running", ready_for=5, labels={"app": "web"}))
    actions = await w.sync()
    assert actions[-1].body["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 2,
        "conditions": None,
    }
    assert w.clock.pending == 1, "looked at again when the second pod becomes available"
    # Status already right: no write at all.
    rs = w.client.stored(REPLICASETS, "web-abc", namespace="default")
    assert rs is not None
    w.rsc.replicasets.store.add(rs)
    assert await w.sync() == []


async def test_pod_handlers_enqueue_the_owner_and_observe_deletions() -> None:
    w = World()
    w.seed_rs(replicaset(replicas=1))
    w.rsc.expectations.expect_deletions("default/web-abc", {"default/p"})
    p = pod("p")
    w.rsc.pods.apply(WatchEvent("ADDED", p))
    w.rsc.pods.apply(WatchEvent("DELETED", p))
    assert w.rsc.expectations.satisfied("default/web-abc")
    assert await w.rsc.queue.get() == "default/web-abc"
