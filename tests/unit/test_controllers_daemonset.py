"""The DaemonSet controller, sample-controller style: seed the caches, sync one key, check the actions."""

import datetime
from typing import Any

from kuberya.client import AlreadyExistsError, FakeClock, ForbiddenError
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import CONTROLLERREVISIONS, DAEMONSETS
from kuberya.controllers import daemonset_placement as placement
from kuberya.controllers import scheduling
from kuberya.controllers.daemonset import DaemonSetController
from kuberya.controllers.daemonset_history import revision_data, template_hash
from tests.builders import controller_ref
from tests.fake_api import recorded_events, seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
KEY = "default/logs"


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def daemonset(
    *,
    image: str = "logs:v1",
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    strategy: dict[str, Any] | None = None,
    history_limit: int = 10,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "logs", "image": image}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "logs",
            "namespace": "default",
            "uid": "uid-logs",
            "generation": 2,
            "annotations": {placement.TEMPLATE_GENERATION_ANNOTATION: "2"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "logs"}},
            "template": {"metadata": {"labels": {"app": "logs"}}, "spec": pod_spec},
            "updateStrategy": strategy
            or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": history_limit,
        },
        "status": {},
    }


def node(
    name: str,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def pod(
    name: str,
    node_name: str,
    *,
    hash_: str,
    ready_for: float | None = 100,
    age: float = 200,
    phase: str = "Running",
    owner: bool = True,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": {"app": "logs", placement.REVISION_HASH_LABEL: hash_},
        "creationTimestamp": stamp(age),
    }
    if owner:
        meta["ownerReferences"] = [controller_ref("apps/v1", "DaemonSet", "logs")]
    status: dict[str, Any] = {"phase": phase}
    if ready_for is not None:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready_for)}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node_name, "containers": [{"name": "logs", "image": "logs:v1"}]},
        "status": status,
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.dsc = DaemonSetController(self.client, clock=self.clock, now=lambda: NOW)

    def seed_ds(self, ds: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.dsc.daemonsets, ds)

    def seed_node(self, n: dict[str, Any]) -> None:
        seed(self.client, self.dsc.nodes, n)

    def seed_pod(self, p: dict[str, Any]) -> None:
        seed(self.client, self.dsc.pods, p)

    def seed_revision(self, ds: dict[str, Any], *, number: int) -> dict[str, Any]:
        hash_ = template_hash(ds)
        revision = {
            "metadata": {
                "name": f"logs-{hash_}",
                "namespace": "default",
                "labels": {"app": "logs", placement.REVISION_HASH_LABEL: hash_},
                "ownerReferences": [controller_ref("apps/v1", "DaemonSet", "logs")],
            },
            "data": revision_data(ds),
            "revision": number,
        }
        return seed(self.client, self.dsc.revisions, revision)

    async def sync(self) -> list[Action]:
        return await writes_of_sync(self.client, self.dsc, KEY)

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


def created_pods(actions: list[Action]) -> list[dict[str, Any]]:
    return [a.body for a in actions if a.verb == "create" and a.resource == "pods"]


def deleted_pods(actions: list[Action]) -> list[str]:
    return sorted(str(a.name) for a in actions if a.verb == "delete" and a.resource == "pods")


def status_patch(actions: list[Action]) -> dict[str, Any]:
    [patch] = [a for a in actions if a.resource == "daemonsets.apps" and a.subresource == "status"]
    status: dict[str, Any] = patch.body["status"]
    return status


def target(body: dict[str, Any]) -> str | None:
    return placement.target_node(body)


# ---- one pod per eligible node -----------------------------------------------------------------


async def test_creates_one_pod_per_node_bound_through_node_affinity() -> None:
    w = World()
    ds = w.seed_ds(daemonset())
    w.seed_node(node("n1"))
    w.seed_node(node("n2"))
    actions = await w.sync()
    # The current revision comes first: its hash labels the pods.
    revision = next(a.body for a in actions if a.resource == "controllerrevisions.apps")
    hash_ = template_hash(ds)
    assert revision["metadata"]["name"] == f"logs-{hash_}"
    assert revision["revision"] == 1
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    pods = created_pods(actions)
    assert sorted(target(p) or "" for p in pods) == ["n1", "n2"]
    body = pods[0]
    assert "nodeName" not in body["spec"]  # the scheduler binds it
    assert body["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [target(body)]}]}]
    }
    assert body["metadata"]["generateName"] == "logs-"
    assert body["metadata"]["labels"] == {
        "app": "logs",
        placement.REVISION_HASH_LABEL: hash_,
        placement.TEMPLATE_GENERATION_LABEL: "2",
    }
    assert body["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert body["metadata"]["ownerReferences"][0]["controller"] is True
    keys = [(t["key"], t["effect"]) for t in body["spec"]["tolerations"]]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    assert [e[1] for e in w.events()] == ["SuccessfulCreate", "SuccessfulCreate"]
    status = status_patch(actions)
    assert status["desiredNumberScheduled"] == 2
    assert status["currentNumberScheduled"] == 0  # the cache does not show the new pods yet
    assert status["observedGeneration"] == 2


async def test_no_second_round_of_creates_before_the_first_is_observed() -> None:
    w = World()
    w.seed_ds(daemonset())
    w.seed_node(node("n1"))
    await w.sync()
    assert created_pods(await w.sync()) == []


async def test_node_selector_tolerations_and_conditions_decide_eligibility() -> None:
    w = World()
    ds = w.seed_ds(daemonset(node_selector={"disk": "ssd"}, tolerations=[{"key": "gpu", "operator": "Exists"}]))
    w.seed_node(node("plain"))
    w.seed_node(node("ssd", labels={"disk": "ssd"}))
    w.seed_node(node("ssd-cordoned", labels={"disk": "ssd"}, unschedulable=True))
    w.seed_node(node("ssd-gpu", labels={"disk": "ssd"}, taints=[{"key": "gpu", "effect": "NoSchedule"}]))
    w.seed_node(
        node("ssd-dedicated", labels={"disk": "ssd"}, taints=[{"key": "team", "value": "a", "effect": "NoSchedule"}])
    )
    w.seed_node(node("ssd-not-ready", labels={"disk": "ssd"}, ready=False))
    actions = await w.sync()
    assert sorted(target(p) or "" for p in created_pods(actions)) == ["ssd", "ssd-cordoned", "ssd-gpu"]
    assert status_patch(actions)["desiredNumberScheduled"] == 3
    assert placement.should_run(ds, node("ssd-not-ready", labels={"disk": "ssd"}, ready=False)) == (False, True)


async def test_a_selector_matching_no_node_wants_no_pod() -> None:
    w = World()
    w.seed_ds(daemonset(node_selector={"no": "such-node"}))
    w.seed_node(node("n1"))
    actions = await w.sync()
    assert created_pods(actions) == []
    assert status_patch(actions)["desiredNumberScheduled"] == 0


async def test_an_untolerated_no_execute_taint_evicts_but_no_schedule_keeps_the_pod() -> None:
    w = World()
    ds = w.seed_ds(daemonset())
    hash_ = template_hash(ds)
    w.seed_revision(ds, number=1)
    w.seed_node(node("evicting", taints=[{"key": "maintenance", "effect": "NoExecute"}]))
    w.seed_node(node("closed", taints=[{"key": "maintenance", "effect": "NoSchedule"}]))
    w.seed_pod(pod("logs-a", "evicting", hash_=hash_))
    w.seed_pod(pod("logs-b", "closed", hash_=hash_))
    actions = await w.sync()
    assert deleted_pods(actions) == ["logs-a"]
    assert created_pods(actions) == []
    status = status_patch(actions)
    assert (status["desiredNumberScheduled"], status["numberMisscheduled"]) == (0, 2)


async def test_misscheduled_and_surplus_pods_are_deleted() -> None:
    w = World()
    ds = w.seed_ds(daemonset(node_selector={"role": "log"}))
    hash_ = template_hash(ds)
    w.seed_revision(ds, number=1)
    w.seed_node(node("log", labels={"role": "log"}))
    w.seed_node(node("web"))
    w.seed_pod(pod("logs-old", "log", hash_=hash_, age=500))
    w.seed_pod(pod("logs-young", "log", hash_=hash_, age=10))
    w.seed_pod(pod("logs-web", "web", hash_=hash_))
    actions = await w.sync()
    # One per node, the oldest kept; the one on a node the selector no longer picks goes.
    assert deleted_pods(actions) == ["logs-web", "logs-young"]
    assert [e[1] for e in w.events()] == ["SuccessfulDelete", "SuccessfulDelete"]


async def test_failed_pods_are_replaced_no_faster_than_the_backoff() -> None:
    w = World()
    ds = w.seed_ds(daemonset())
    w.seed_revision(ds, number=1)
    w.seed_node(node("n1"))
    w.seed_pod(pod("logs-x", "n1", hash_=template_hash(ds), phase="Failed", ready_for=None))
    actions = await w.sync()
    assert deleted_pods(actions) == ["logs-x"]
    assert ("Warning", "FailedDaemonPod", "Found failed daemon pod default/logs-x on node n1, will try to kill it") in (
        w.events()
    )
    # The kubelet rejects it again at once: not deleted again within the backoff.
    w.dsc.deletions.forget(KEY)
    assert deleted_pods(await w.sync()) == []
    w.clock.advance(1.5)
    assert deleted_pods(await w.sync()) == ["logs-x"]


async def test_an_orphan_pod_that_matches_is_adopted() -> None:
    w = World()
    ds = w.seed_ds(daemonset())
    w.seed_revision(ds, number=1)
    w.seed_node(node("n1"))
    w.seed_pod(pod("logs-orphan", "n1", hash_=template_hash(ds), owner=False))
    actions = await w.sync()
    adoption = next(a for a in actions if a.resource == "pods" and a.verb == "patch")
    assert adoption.body["metadata"]["ownerReferences"][0]["uid"] == "uid-logs"
    assert created_pods(actions) == []


async def test_status_counts_ready_available_and_updated_pods() -> None:
    w = World()
    ds = daemonset()
    ds["spec"]["minReadySeconds"] = 30
    ds = w.seed_ds(ds)
    hash_ = template_hash(ds)
    w.seed_revision(ds, number=1)
    for name in ("n1", "n2", "n3"):
        w.seed_node(node(name))
    w.seed_pod(pod("logs-1", "n1", hash_=hash_, ready_for=100))
    w.seed_pod(pod("logs-2", "n2", hash_=hash_, ready_for=5))  # ready, not yet available
    w.seed_pod(pod("logs-3", "n3", hash_="old", ready_for=None))
    status = status_patch(await w.sync())
    assert status == {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "numberReady": 2,
        "updatedNumberScheduled": 2,
        "numberAvailable": 1,
        "numberUnavailable": 2,
        "observedGeneration": 2,
    }


# ---- rolling updates ---------------------------------------------------------------------------


def _old_world(strategy: dict[str, Any], nodes: int = 4) -> tuple[World, dict[str, Any]]:
    w = World()
    old = daemonset(image="logs:v1")
    new = w.seed_ds(daemonset(image="logs:v2", strategy=strategy))
    w.seed_revision(old, number=1)
    for i in range(nodes):
        w.seed_node(node(f"n{i}"))
        w.seed_pod(pod(f"logs-{i}", f"n{i}", hash_=template_hash(old)))
    return w, new


async def test_rolling_update_deletes_at_most_max_unavailable_old_pods() -> None:
    w, _ = _old_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    actions = await w.sync()
    revision = next(a.body for a in actions if a.resource == "controllerrevisions.apps" and a.verb == "create")
    assert revision["revision"] == 2
    assert deleted_pods(actions) == ["logs-0"]
    assert created_pods(actions) == []


async def test_rolling_update_replaces_unavailable_old_pods_at_once() -> None:
    w = World()
    old = daemonset(image="logs:v1")
    w.seed_ds(daemonset(image="logs:v2"))
    w.seed_revision(old, number=1)
    for i in range(3):
        w.seed_node(node(f"n{i}"))
        w.seed_pod(pod(f"logs-{i}", f"n{i}", hash_=template_hash(old), ready_for=None if i < 2 else 100))
    # Two old pods are not available anyway: replacing them costs nothing; the available one waits.
    assert deleted_pods(await w.sync()) == ["logs-0", "logs-1"]


async def test_rolling_update_with_a_percentage_rounds_up() -> None:
    w, _ = _old_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "30%", "maxSurge": 0}})
    assert deleted_pods(await w.sync()) == ["logs-0", "logs-1"]  # 30% of 4 nodes is 1.2: 2


async def test_rolling_update_counts_an_unavailable_new_pod_against_max_unavailable() -> None:
    w, ds = _old_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    # n0 was already replaced; its new pod is not ready yet: no further old pod may go.
    w.dsc.pods.store.delete("default/logs-0")
    w.seed_pod(pod("logs-0-new", "n0", hash_=template_hash(ds), ready_for=None))
    assert deleted_pods(await w.sync()) == []
    # Once it is ready, the next old pod goes.
    w.seed_pod(pod("logs-0-new", "n0", hash_=template_hash(ds), ready_for=1))
    assert deleted_pods(await w.sync()) == ["logs-1"]


async def test_after_a_deletion_the_node_gets_a_new_pod() -> None:
    w, ds = _old_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}, nodes=2)
    w.dsc.pods.store.delete("default/logs-0")
    actions = await w.sync()
    [body] = created_pods(actions)
    assert target(body) == "n0"
    assert body["metadata"]["labels"][placement.REVISION_HASH_LABEL] == template_hash(ds)
    assert body["spec"]["containers"][0]["image"] == "logs:v2"


async def test_rolling_update_with_max_surge_starts_new_pods_beside_old_ones() -> None:
    w, ds = _old_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    actions = await w.sync()
    assert deleted_pods(actions) == []
    assert [target(p) for p in created_pods(actions)] == ["n0"]
    # The new pod on n0 is not available yet: nothing more happens.
    w.seed_pod(pod("logs-0-new", "n0", hash_=template_hash(ds), ready_for=None, age=1))
    w.dsc.creations.forget(KEY)
    actions = await w.sync()
    assert (deleted_pods(actions), created_pods(actions)) == ([], [])
    # Available: the old pod on n0 goes.
    w.seed_pod(pod("logs-0-new", "n0", hash_=template_hash(ds), ready_for=1, age=1))
    actions = await w.sync()
    assert deleted_pods(actions) == ["logs-0"]


async def test_on_delete_leaves_old_pods_until_they_are_deleted() -> None:
    w, _ = _old_world({"type": "OnDelete"})
    actions = await w.sync()
    assert (deleted_pods(actions), created_pods(actions)) == ([], [])
    status = status_patch(actions)
    # No pod is up to date, and upstream omits a zero count: the merge patch removes it.
    assert (status["updatedNumberScheduled"], status["numberAvailable"]) == (None, 4)


# ---- history -----------------------------------------------------------------------------------


async def test_rolling_back_renumbers_the_old_revision() -> None:
    w = World()
    ds = w.seed_ds(daemonset(image="logs:v1"))
    w.seed_revision(ds, number=1)
    w.seed_revision(daemonset(image="logs:v2"), number=2)
    w.seed_node(node("n1"))
    w.seed_pod(pod("logs-1", "n1", hash_=template_hash(ds)))
    actions = await w.sync()
    renumber = next(a for a in actions if a.resource == "controllerrevisions.apps" and a.verb == "patch")
    assert (renumber.name, renumber.body) == (f"logs-{template_hash(ds)}", {"revision": 3})


async def test_revisions_beyond_the_limit_are_deleted_oldest_first_unless_a_pod_runs_them() -> None:
    w = World()
    ds = w.seed_ds(daemonset(image="logs:v9", history_limit=1))
    w.seed_revision(ds, number=9)
    running = daemonset(image="logs:v1")
    w.seed_revision(running, number=1)
    for n in (2, 3, 4):
        w.seed_revision(daemonset(image=f"logs:v{n}"), number=n)
    w.seed_node(node("n1"))
    w.seed_pod(pod("logs-1", "n1", hash_=template_hash(running)))
    actions = await w.sync()
    deleted = sorted(str(a.name) for a in actions if a.resource == "controllerrevisions.apps" and a.verb == "delete")
    # Four old revisions, one kept: three go, but the one logs-1 still runs is skipped, not counted.
    expected = sorted(f"logs-{template_hash(daemonset(image=f'logs:v{n}'))}" for n in (2, 3, 4))
    assert deleted == expected


async def test_a_hash_collision_bumps_the_collision_count_and_retries() -> None:
    w = World()
    ds = w.seed_ds(daemonset(image="logs:v2"))
    w.seed_node(node("n1"))
    # Another revision already holds the name this template hashes to, with other data.
    squatter = {
        "metadata": {"name": f"logs-{template_hash(ds)}", "namespace": "default", "labels": {"other": "x"}},
        "data": revision_data(daemonset(image="logs:v1")),
        "revision": 1,
    }
    w.client.add(CONTROLLERREVISIONS, squatter)
    try:
        await w.sync()
    except AlreadyExistsError:
        pass
    else:
        raise AssertionError("the sync should fail so that it runs again under the new hash")
    stored = w.client.stored(DAEMONSETS, "logs", namespace="default")
    assert stored is not None and stored["status"]["collisionCount"] == 1
    assert created_pods(w.client.mutations()) == []  # no pod is labelled with a hash that is not its own
    w.dsc.daemonsets.store.add(stored)
    actions = await w.sync()
    revision = next(a.body for a in actions if a.resource == "controllerrevisions.apps" and a.verb == "create")
    assert revision["metadata"]["name"] == f"logs-{template_hash(stored)}" != squatter["metadata"]["name"]


async def test_a_failed_create_is_reported_and_retried() -> None:
    w = World()
    w.seed_ds(daemonset())
    for name in ("n1", "n2", "n3"):
        w.seed_node(node(name))

    def quota(action: Action) -> Any:
        if action.verb == "create" and action.resource == "pods":
            raise ForbiddenError(403, "Forbidden", "exceeded quota", {})
        return None

    w.client.reactors.append(quota)
    try:
        await w.sync()
    except ForbiddenError:
        pass
    else:
        raise AssertionError("the sync should fail so that the key is retried")
    assert [e[1] for e in w.events()] == ["FailedCreate"]  # slow start: one attempt, not three
    assert w.dsc.satisfied(KEY)


def test_node_events_enqueue_only_when_a_decision_changes() -> None:
    w = World()
    w.seed_ds(daemonset(node_selector={"role": "log"}))
    before = node("n1", labels={"role": "log"})
    heartbeat = node("n1", labels={"role": "log"})
    heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = stamp(0)
    w.dsc._on_node_update(before, heartbeat)
    w.dsc._on_node_update(before, node("n1", labels={"role": "log"}, unschedulable=True))  # tolerated
    assert len(w.dsc.queue) == 0
    w.dsc._on_node_update(before, node("n1"))  # no longer selected
    assert len(w.dsc.queue) == 1


# ---- the pure pieces ---------------------------------------------------------------------------


def test_default_tolerations_replace_a_matching_one_and_keep_others() -> None:
    spec: dict[str, Any] = {
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 5,
            },
            {"key": "custom", "operator": "Exists"},
        ],
        "hostNetwork": True,
    }
    placement.add_daemon_tolerations(spec)
    assert spec["tolerations"][0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    assert spec["tolerations"][1] == {"key": "custom", "operator": "Exists"}
    assert spec["tolerations"][-1]["key"] == "node.kubernetes.io/network-unavailable"
    assert len(spec["tolerations"]) == 8


def test_node_name_affinity_replaces_only_the_required_terms() -> None:
    affinity: dict[str, Any] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": []}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}],
        },
        "podAntiAffinity": {"x": 1},
    }
    result = placement.node_name_affinity(affinity, "n7")
    assert result["podAntiAffinity"] == {"x": 1}
    assert result["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 1}]
    assert placement.target_node({"spec": {"affinity": result}}) == "n7"
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": []}]
    }


def test_the_scheduler_honours_match_fields_on_the_node_name() -> None:
    # What binds a daemon pod to its node: required node affinity by metadata.name.
    pod_for_n1 = placement.daemon_pod(daemonset(), "n1", hash_="h")
    assert scheduling.fit_failures(pod_for_n1, node("n1"), requested={}, pod_count=0) == []
    assert scheduling.fit_failures(pod_for_n1, node("n2"), requested={}, pod_count=0) == [scheduling.AFFINITY_MISMATCH]
    # …and its default tolerations let it onto a cordoned node.
    assert scheduling.fit_failures(pod_for_n1, node("n1", unschedulable=True), requested={}, pod_count=0) == []
