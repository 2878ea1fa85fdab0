import copy
import datetime
from typing import Any

import pytest

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DEPLOYMENTS, PODS, REPLICASETS
from kuberya.controllers import rollout as ro
from kuberya.controllers.deployment import DeploymentController
from tests.builders import controller_ref
from tests.fake_api import recorded_events, seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def template(image: str = "web:v1") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent"}]},
    }


def deployment(
    *,
    replicas: int = 3,
    image: str = "web:v1",
    strategy: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "uid-web",
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
            "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            **spec,
        },
        "status": {},
    }


def replicaset(
    d: dict[str, Any],
    *,
    image: str,
    replicas: int,
    available: int | None = None,
    revision: int,
    age: float,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    t = template(image)
    pod_hash = ro.compute_hash(t, None)
    t["metadata"]["labels"][ro.HASH_LABEL] = pod_hash
    name = f"web-{pod_hash}"
    available = replicas if available is None else available
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": stamp(age),
            "labels": dict(t["metadata"]["labels"]),
            "annotations": {ro.REVISION: str(revision), **(annotations or {})},
            "ownerReferences": [controller_ref("apps/v1", "Deployment", "web")],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web", ro.HASH_LABEL: pod_hash}},
            "template": t,
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "observedGeneration": 1,
        },
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.now = NOW
        self.dc = DeploymentController(self.client, clock=self.clock, now=lambda: self.now)

    def seed(self, d: dict[str, Any], *rss: dict[str, Any]) -> None:
        seed(self.client, self.dc.deployments, d)
        for rs in rss:
            seed(self.client, self.dc.replicasets, rs)

    async def sync(self) -> list[Action]:
        return await writes_of_sync(self.client, self.dc, "default/web")

    def scalings(self, actions: list[Action]) -> list[tuple[str, int]]:
        return [
            (a.name or "", a.body["spec"]["replicas"])
            for a in actions
            if a.resource == "replicasets.apps" and a.verb == "update"
        ]

    def stored_d(self) -> dict[str, Any]:
        d = self.client.stored(DEPLOYMENTS, "web", namespace="default")
        assert d is not None
        return d

    def events(self) -> list[str]:
        return [message for _type, _reason, message in recorded_events(self.client)]


def test_pod_template_hash_is_stable_and_safe() -> None:
    t = template()
    h = ro.compute_hash(t, None)
    assert h == ro.compute_hash(copy.deepcopy(t), None)
    assert h != ro.compute_hash(t, 1)
    assert h != ro.compute_hash(template("web:v2"), None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    assert ro.resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert ro.resolve_fenceposts("25%", "25%", 1) == (1, 0)
    assert ro.resolve_fenceposts(0, "10%", 5) == (0, 1), "both zero means one may be unavailable"
    assert ro.resolve_fenceposts(2, 0, 5) == (2, 0)


async def test_a_new_deployment_gets_its_first_replica_set() -> None:
    w = World()
    notes = {
        "kubernetes.io/change-cause": "first",
        ro.LAST_APPLIED: "{}",
    }
    w.seed(deployment(replicas=3, annotations=notes))
    actions = await w.sync()
    create = next(a for a in actions if a.verb == "create")
    pod_hash = ro.compute_hash(template(), None)
    rs = create.body
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["ownerReferences"] == [controller_ref("apps/v1", "Deployment", "web", block=True)]
    assert rs["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "first",
        ro.REVISION: "1",
        ro.DESIRED_REPLICAS: "3",
        ro.MAX_REPLICAS: "4",
    }
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": pod_hash}}
    expected_template = template()
    expected_template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    assert rs["spec"]["template"] == expected_template
    assert rs["spec"]["replicas"] == 3
    d = w.stored_d()
    assert d["metadata"]["annotations"][ro.REVISION] == "1"
    assert d["status"]["observedGeneration"] == 1
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetCreated")
    assert w.events() == [f"Scaled up replica set web-{pod_hash} from 0 to 3"]


async def test_rolling_update_respects_surge_then_unavailability() -> None:
    w = World()
    d = deployment(replicas=4, image="web:v2")
    old = replicaset(d, image="web:v1", replicas=4, revision=1, age=600)
    w.seed(d, old)
    old_name = old["metadata"]["name"]
    actions = await w.sync()
    create = next(a for a in actions if a.verb == "create")
    new_name = create.body["metadata"]["name"]
    assert create.body["spec"]["replicas"] == 1, "4 + maxSurge 1 - 4 running"
    assert create.body["metadata"]["annotations"][ro.REVISION] == "2"
    # In the same sync: one old pod may go (4 available - minAvailable 3).
    assert w.scalings(actions) == [(old_name, 3)]
    assert w.events() == [
        f"Scaled up replica set {new_name} from 0 to 1",
        f"Scaled down replica set {old_name} from 4 to 3",
    ]
    # The next sync sees both: 3 old available, the new one's pod not yet: surge one more new.
    for name, available in ((old_name, 3), (new_name, 0)):
        rs = w.client.stored(REPLICASETS, name, namespace="default")
        assert rs is not None
        rs["status"] = {"replicas": rs["spec"]["replicas"], "availableReplicas": available, "observedGeneration": 2}
        w.seed(w.stored_d(), rs)
    actions = await w.sync()
    assert w.scalings(actions) == [(new_name, 2)]


async def test_recreate_scales_old_to_zero_before_creating_the_new() -> None:
    w = World()
    d = deployment(replicas=3, image="web:v2", strategy={"type": "Recreate"})
    old = replicaset(d, image="web:v1", replicas=3, revision=1, age=600)
    w.seed(d, old)
    actions = await w.sync()
    assert w.scalings(actions) == [(old["metadata"]["name"], 0)]
    assert [a for a in actions if a.verb == "create"] == []
    # Old ReplicaSet empty but a pod still there: wait.
    emptied = w.client.stored(REPLICASETS, old["metadata"]["name"], namespace="default")
    assert emptied is not None
    emptied["status"] = {"replicas": 0, "observedGeneration": 2}
    w.seed(w.stored_d(), emptied)
    lingering = {"metadata": {"name": "p", "namespace": "default", "ownerReferences": [
        {"kind": "ReplicaSet", "name": old["metadata"]["name"], "uid": emptied["metadata"]["uid"], "controller": True}
    ]}, "status": {"phase": "Running"}}  # fmt: skip
    w.dc.pods.store.add(w.client.add(PODS, lingering))
    assert [a for a in await w.sync() if a.verb == "create"] == []
    w.dc.pods.store.delete("default/p")
    actions = await w.sync()
    (create,) = [a for a in actions if a.verb == "create"]
    assert create.body["spec"]["replicas"] == 3


async def test_rollback_reuses_the_old_replica_set_as_the_next_revision() -> None:
    w = World()
    d = deployment(replicas=2, image="web:v1", annotations={ro.REVISION: "2"})
    v1 = replicaset(d, image="web:v1", replicas=0, revision=1, age=600)
    v2 = replicaset(d, image="web:v2", replicas=2, revision=2, age=300)
    w.seed(d, v1, v2)
    actions = await w.sync()
    assert [a for a in actions if a.verb == "create"] == []
    bump = next(a for a in actions if a.verb == "update" and a.name == v1["metadata"]["name"])
    assert bump.body["metadata"]["annotations"][ro.REVISION] == "3"
    assert bump.body["metadata"]["annotations"][ro.REVISION_HISTORY] == "1"
    assert w.stored_d()["metadata"]["annotations"][ro.REVISION] == "3"
    assert (v1["metadata"]["name"], 1) in w.scalings(actions), "then it is scaled up as the new ReplicaSet"


async def test_old_replica_sets_beyond_the_history_limit_are_pruned() -> None:
    w = World()
    d = deployment(replicas=1, image="web:v4", revisionHistoryLimit=1, annotations={ro.REVISION: "4"})
    d["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    rss = [replicaset(d, image=f"web:v{i}", replicas=0, revision=i, age=1000 - i) for i in (1, 2, 3)]
    current = replicaset(d, image="web:v4", replicas=1, revision=4, age=10)
    current["metadata"]["annotations"].update({ro.DESIRED_REPLICAS: "1", ro.MAX_REPLICAS: "2"})
    w.seed(d, *rss, current)
    actions = await w.sync()
    deleted = [a.name for a in actions if a.verb == "delete"]
    assert deleted == [rss[0]["metadata"]["name"], rss[1]["metadata"]["name"]]


async def test_a_paused_deployment_does_not_roll_out_but_still_scales() -> None:
    w = World()
    d = deployment(replicas=5, image="web:v2", paused=True)
    old = replicaset(d, image="web:v1", replicas=3, revision=1, age=600)
    old["metadata"]["annotations"].update({ro.DESIRED_REPLICAS: "3", ro.MAX_REPLICAS: "4"})
    w.seed(d, old)
    actions = await w.sync()
    assert [a for a in actions if a.verb == "create"] == []
    assert w.scalings(actions) == [(old["metadata"]["name"], 5)]
    progressing = next(c for c in w.stored_d()["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")


async def test_scaling_mid_rollout_is_proportional() -> None:
    w = World()
    d = deployment(replicas=15, image="web:v2", strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}})  # fmt: skip
    notes = {ro.DESIRED_REPLICAS: "10", ro.MAX_REPLICAS: "13"}
    old = replicaset(d, image="web:v1", replicas=8, available=8, revision=1, age=600, annotations=notes)
    new = replicaset(d, image="web:v2", replicas=5, available=0, revision=2, age=60, annotations=notes)
    d["metadata"]["annotations"] = {ro.REVISION: "2"}
    w.seed(d, old, new)
    actions = await w.sync()
    # 15 + surge 4 = 19 allowed, 13 running: +6 shared 8:5 → +4 and +2.
    assert sorted(w.scalings(actions)) == sorted([(old["metadata"]["name"], 12), (new["metadata"]["name"], 7)])
    for a in actions:
        if a.verb == "update":
            assert a.body["metadata"]["annotations"][ro.DESIRED_REPLICAS] == "15"
            assert a.body["metadata"]["annotations"][ro.MAX_REPLICAS] == "19"


async def test_no_progress_within_the_deadline_is_reported() -> None:
    w = World()
    d = deployment(replicas=2, progressDeadlineSeconds=60, annotations={ro.REVISION: "1"})
    rs = replicaset(d, image="web:v1", replicas=2, available=0, revision=1, age=600)
    rs["metadata"]["annotations"].update({ro.DESIRED_REPLICAS: "2", ro.MAX_REPLICAS: "3"})
    rs["status"]["readyReplicas"] = 0
    progressing = {
        "type": "Progressing",
        "status": "True",
        "reason": "ReplicaSetUpdated",
        "message": "progressing",
        "lastUpdateTime": stamp(30),
        "lastTransitionTime": stamp(30),
    }
    available = {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
        "message": "Deployment does not have minimum availability.",
        "lastUpdateTime": stamp(30),
        "lastTransitionTime": stamp(30),
    }
    d["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "unavailableReplicas": 2,
        "conditions": [available, progressing],
    }
    w.seed(d, rs)
    assert await w.sync() == [], "nothing changed yet"
    assert w.clock.pending == 1, "looked at again when the deadline passes"
    w.now = NOW + datetime.timedelta(seconds=40)
    await w.sync()
    cond = next(c for c in w.stored_d()["status"]["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'


async def test_a_complete_rollout_reports_available_and_new_replica_set_available() -> None:
    w = World()
    d = deployment(replicas=2, annotations={ro.REVISION: "1"}, generation=3)
    rs = replicaset(d, image="web:v1", replicas=2, revision=1, age=600)
    rs["metadata"]["annotations"].update({ro.DESIRED_REPLICAS: "2", ro.MAX_REPLICAS: "3"})
    w.seed(d, rs)
    await w.sync()
    status = w.stored_d()["status"]
    assert status["observedGeneration"] == 3
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2)
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }


async def test_a_replica_set_of_another_template_colliding_bumps_collision_count() -> None:
    w = World()
    d = deployment(replicas=1)
    squatter = replicaset(d, image="web:v1", replicas=0, revision=1, age=10)
    squatter["metadata"]["ownerReferences"] = []
    squatter["metadata"]["labels"] = {"other": "x"}
    squatter["spec"]["template"]["spec"]["containers"][0]["image"] = "something-else"
    w.client.add(REPLICASETS, squatter)  # exists on the server, not selected by the Deployment
    w.seed(d)
    with pytest.raises(Exception, match="already exists"):
        await w.sync()
    assert w.stored_d()["status"]["collisionCount"] == 1
