"""The StatefulSet controller, sample-controller style: seed the caches, sync, compare the actions."""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from kuberya.controllers import history
from kuberya.controllers import statefulset_pods as sp
from kuberya.controllers.statefulset import StatefulSetController
from tests.fake_api import recorded_events, seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
KEY = "default/web"


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def statefulset(
    *,
    replicas: int = 3,
    image: str = "web:v1",
    policy: str = "OrderedReady",
    partition: int = 0,
    max_unavailable: int | str = 1,
    strategy: str = "RollingUpdate",
    claims: bool = False,
    retention: tuple[str, str] = ("Retain", "Retain"),
    start: int | None = None,
    **status: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": "web",
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]},
        },
        "updateStrategy": {"type": strategy},
        "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": retention[0], "whenScaled": retention[1]},
    }
    if strategy == "RollingUpdate":
        spec["updateStrategy"]["rollingUpdate"] = {"partition": partition, "maxUnavailable": max_unavailable}
    if claims:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ]
    if start is not None:
        spec["ordinals"] = {"start": start}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "generation": 1},
        "spec": spec,
        "status": status,
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.ssc = StatefulSetController(self.client, clock=self.clock, now=lambda: NOW)

    def seed_set(self, sts: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.ssc.sets, sts)

    def refresh(self) -> None:
        """Let the caches catch up with everything the fake holds (the informers' watch events)."""
        for ref, informer in (
            (STATEFULSETS, self.ssc.sets),
            (PODS, self.ssc.pods),
            (PERSISTENTVOLUMECLAIMS, self.ssc.claims),
            (CONTROLLERREVISIONS, self.ssc.revisions),
        ):
            for key in list(informer.store.keys()):
                informer.store.delete(key)
            for (resource, _ns, _name), obj in self.client._objects.items():
                if resource == ref.group_resource:
                    cached = dict(obj, apiVersion=ref.api_version, kind=ref.kind)
                    if ref is PODS and not (cached.get("status") or {}).get("phase"):
                        cached["status"] = {"phase": "Pending"}  # the API server's default
                    informer.store.add(cached)

    def run_pod(self, name: str, *, ready: bool = True) -> None:
        """What the node agent would do: the pod runs (and is ready)."""
        pod = self.client.stored(PODS, name, namespace="default")
        assert pod is not None, name
        pod["status"] = {"phase": "Running"}
        if ready:
            pod["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(60)}]
        self.client.add(PODS, pod)

    async def sync(self) -> list[Action]:
        self.refresh()
        return await writes_of_sync(self.client, self.ssc, KEY)

    def pods(self) -> list[str]:
        return sorted(name for (res, _ns, name) in self.client._objects if res == "pods")

    def stored_set(self) -> dict[str, Any]:
        found = self.client.stored(STATEFULSETS, "web", namespace="default")
        assert found is not None
        return found

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


def creates(actions: list[Action], resource: str = "pods") -> list[str]:
    return [a.body["metadata"]["name"] for a in actions if a.verb == "create" and a.resource == resource]


def deletes(actions: list[Action]) -> list[str]:
    return [str(a.name) for a in actions if a.verb == "delete" and a.resource == "pods"]


async def test_ordered_ready_creates_one_pod_at_a_time_with_its_identity() -> None:
    w = World()
    w.seed_set(statefulset(replicas=3))
    actions = await w.sync()
    assert creates(actions) == ["web-0"]
    (revision,) = creates(actions, "controllerrevisions.apps")
    pod = next(a.body for a in actions if a.verb == "create" and a.resource == "pods")
    assert pod["metadata"]["labels"] == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-0",
        "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": revision,
    }
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-0", "web")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert ("Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in w.events()
    status = w.stored_set()["status"]
    assert (status["updateRevision"], status["currentRevision"], status["collisionCount"]) == (revision, revision, 0)

    # web-0 exists but is not ready: nothing more happens.
    assert creates(await w.sync()) == []
    w.run_pod("web-0", ready=False)
    assert creates(await w.sync()) == []
    # Ready: web-1 comes next, then web-2.
    w.run_pod("web-0")
    assert creates(await w.sync()) == ["web-1"]
    w.run_pod("web-1")
    assert creates(await w.sync()) == ["web-2"]
    w.run_pod("web-2")
    await w.sync()
    status = w.stored_set()["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert (status["currentReplicas"], status["updatedReplicas"], status["observedGeneration"]) == (3, 3, 1)


async def test_parallel_creates_every_pod_at_once_and_ordinals_start_where_told() -> None:
    w = World()
    w.seed_set(statefulset(replicas=3, policy="Parallel", start=5))
    assert sorted(creates(await w.sync())) == ["web-5", "web-6", "web-7"]


async def ready_set(w: World, **kwargs: Any) -> None:
    w.seed_set(statefulset(**kwargs))
    for _ in range(int(kwargs.get("replicas", 3))):
        await w.sync()
        for name in w.pods():
            w.run_pod(name)
    await w.sync()


async def test_scale_down_deletes_the_highest_ordinal_first_one_at_a_time() -> None:
    w = World()
    await ready_set(w, replicas=3)
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=1)["spec"]))
    actions = await w.sync()
    assert deletes(actions) == ["web-2"]
    assert ("Normal", "SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful") in w.events()
    # web-2 is still terminating in the cache: web-1 waits for it.
    pod = w.client.stored(PODS, "web-1", namespace="default")
    assert pod is not None


async def test_failed_pods_are_deleted_to_be_recreated() -> None:
    w = World()
    await ready_set(w, replicas=1)
    pod = w.client.stored(PODS, "web-0", namespace="default")
    assert pod is not None
    pod["status"] = {"phase": "Failed"}
    w.client.add(PODS, pod)
    assert deletes(await w.sync()) == ["web-0"]
    assert creates(await w.sync()) == ["web-0"]


async def test_a_rolling_update_replaces_pods_from_the_top_down_to_the_partition() -> None:
    w = World()
    await ready_set(w, replicas=3)
    old_revision = w.stored_set()["status"]["currentRevision"]
    updated = dict(w.stored_set())
    updated["spec"] = statefulset(replicas=3, image="web:v2", partition=2)["spec"]
    updated["metadata"] = dict(updated["metadata"], generation=2)
    w.seed_set(updated)
    actions = await w.sync()
    assert deletes(actions) == ["web-2"], "the highest ordinal goes first"
    new_revision = w.stored_set()["status"]["updateRevision"]
    assert new_revision != old_revision
    assert w.stored_set()["status"]["currentRevision"] == old_revision
    # web-2 is recreated at the update revision, with the new image.
    actions = await w.sync()
    (pod,) = [a.body for a in actions if a.verb == "create" and a.resource == "pods"]
    assert pod["metadata"]["labels"]["controller-revision-hash"] == new_revision
    assert pod["spec"]["containers"][0]["image"] == "web:v2"
    w.run_pod("web-2")
    # web-1 and web-0 are below the partition: they stay.
    assert deletes(await w.sync()) == []
    status = w.stored_set()["status"]
    assert (status["updatedReplicas"], status["currentReplicas"]) == (1, 2)
    # Partition 0: web-1 next, then web-0; then the update revision is current.
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=3, image="web:v2")["spec"]))
    assert deletes(await w.sync()) == ["web-1"]
    await w.sync()
    w.run_pod("web-1")
    assert deletes(await w.sync()) == ["web-0"]
    await w.sync()
    w.run_pod("web-0")
    await w.sync()
    status = w.stored_set()["status"]
    assert status["currentRevision"] == status["updateRevision"] == new_revision
    assert (status["updatedReplicas"], status["currentReplicas"]) == (3, 3)


async def test_max_unavailable_replaces_several_pods_at_once() -> None:
    w = World()
    await ready_set(w, replicas=3, policy="Parallel")
    w.seed_set(
        dict(w.stored_set(), spec=statefulset(replicas=3, image="web:v2", policy="Parallel", max_unavailable=2)["spec"])
    )
    assert deletes(await w.sync()) == ["web-2", "web-1"]


async def test_on_delete_replaces_nothing_by_itself() -> None:
    w = World()
    await ready_set(w, replicas=2, strategy="OnDelete")
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=2, image="web:v2", strategy="OnDelete")["spec"]))
    assert deletes(await w.sync()) == []


async def test_rollback_renumbers_the_old_revision() -> None:
    w = World()
    await ready_set(w, replicas=1)
    first = w.stored_set()["status"]["currentRevision"]
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=1, image="web:v2")["spec"]))
    await w.sync()
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=1, image="web:v1")["spec"]))
    actions = await w.sync()
    renumber = [a for a in actions if a.resource == "controllerrevisions.apps" and a.verb == "patch"]
    assert [(a.name, a.body) for a in renumber] == [(first, {"revision": 3})]
    assert w.stored_set()["status"]["updateRevision"] == first


async def test_claims_are_created_before_their_pod_and_mounted() -> None:
    w = World()
    w.seed_set(statefulset(replicas=1, claims=True))
    actions = await w.sync()
    assert [(a.resource, a.body["metadata"]["name"]) for a in actions if a.verb == "create"][-2:] == [
        ("persistentvolumeclaims", "data-web-0"),
        ("pods", "web-0"),
    ]
    claim = next(a.body for a in actions if a.resource == "persistentvolumeclaims")
    assert claim["metadata"]["labels"] == {"app": "web"}
    pod = next(a.body for a in actions if a.resource == "pods" and a.verb == "create")
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}]
    assert ("Normal", "SuccessfulCreate", "create Claim data-web-0 Pod web-0 in StatefulSet web success") in w.events()
    assert not w.client.stored(PERSISTENTVOLUMECLAIMS, "data-web-0", namespace="default")["metadata"].get(  # type: ignore[index]
        "ownerReferences"
    ), "Retain/Retain: nobody owns the claim"


async def test_retention_delete_owns_claims_by_the_set_and_by_scaled_down_pods() -> None:
    w = World()
    await ready_set(w, replicas=2, claims=True, retention=("Delete", "Delete"))
    claim = w.client.stored(PERSISTENTVOLUMECLAIMS, "data-web-1", namespace="default")
    assert claim is not None
    assert [r["kind"] for r in claim["metadata"]["ownerReferences"]] == ["StatefulSet"]
    w.seed_set(dict(w.stored_set(), spec=statefulset(replicas=1, claims=True, retention=("Delete", "Delete"))["spec"]))
    await w.sync()
    claim = w.client.stored(PERSISTENTVOLUMECLAIMS, "data-web-1", namespace="default")
    assert claim is not None
    assert [r["kind"] for r in claim["metadata"]["ownerReferences"]] == ["Pod"], "the scaled-down pod owns it now"


async def test_history_is_truncated_to_the_limit() -> None:
    w = World()
    await ready_set(w, replicas=1)
    for image in ("web:v2", "web:v3", "web:v4"):
        spec = statefulset(replicas=1, image=image)["spec"]
        spec["revisionHistoryLimit"] = 1
        w.seed_set(dict(w.stored_set(), spec=spec))
        await w.sync()  # the new revision; web-0 is replaced
        await w.sync()
        w.run_pod("web-0")
        await w.sync()
    names = sorted(n for (res, _ns, n) in w.client._objects if res == "controllerrevisions.apps")
    live = {w.stored_set()["status"]["currentRevision"], w.stored_set()["status"]["updateRevision"]}
    assert len(names) == len(live) + 1, names


def test_revision_data_restores_the_template() -> None:
    sts = statefulset(image="web:v2")
    data = sp.revision_data(sts)
    assert data["spec"]["template"]["$patch"] == "replace"
    rev = history.new_revision(
        sts, parent_ref=STATEFULSETS, template_labels={}, data=data, revision=1, collision_count=0
    )
    restored = sp.apply_revision(statefulset(image="web:v1"), rev)
    assert restored["spec"]["template"] == sts["spec"]["template"]


def test_max_unavailable_percentages_round_up() -> None:
    assert sp.max_unavailable(statefulset(replicas=10, max_unavailable="25%")) == 3
    assert sp.max_unavailable(statefulset(replicas=1, max_unavailable="10%")) == 1
