"""The ClusterRole aggregation controller, sample-controller style: seed, sync, compare the writes."""

from __future__ import annotations

from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.controllers.clusterrole_aggregation import ClusterRoleAggregationController
from tests.fake_api import seed, writes_of_sync

VIEW_SELECTOR = {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}


def cluster_role(
    name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels or {}},
        "rules": list(rules),
        **extra,
    }


def rule(resource: str, *verbs: str) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": [resource], "verbs": list(verbs)}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.controller = ClusterRoleAggregationController(self.client, clock=FakeClock())

    def seed(self, obj: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.controller.cluster_roles, obj)


VIEW_LABEL = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}


async def test_aggregated_role_gets_the_union_of_the_selected_roles_rules_by_name() -> None:
    world = World()
    world.seed(cluster_role("view", aggregationRule={"clusterRoleSelectors": [VIEW_SELECTOR]}))
    world.seed(cluster_role("z-widgets", rule("widgets", "get"), rule("pods", "get"), labels=VIEW_LABEL))
    world.seed(cluster_role("a-pods", rule("pods", "get"), labels=VIEW_LABEL))
    world.seed(cluster_role("unlabelled", rule("secrets", "get")))
    writes = await writes_of_sync(world.client, world.controller, "view")
    assert [(a.verb, a.name) for a in writes] == [("update", "view")]
    assert writes[0].body["rules"] == [rule("pods", "get"), rule("widgets", "get")]


async def test_rules_already_right_are_not_written_and_plain_roles_are_left_alone() -> None:
    world = World()
    world.seed(cluster_role("view", rule("pods", "get"), aggregationRule={"clusterRoleSelectors": [VIEW_SELECTOR]}))
    world.seed(cluster_role("a-pods", rule("pods", "get"), labels=VIEW_LABEL))
    assert await writes_of_sync(world.client, world.controller, "view") == []
    assert await writes_of_sync(world.client, world.controller, "a-pods") == []


async def test_a_role_no_longer_selected_takes_its_rules_with_it() -> None:
    world = World()
    world.seed(
        cluster_role(
            "view",
            rule("pods", "get"),
            rule("widgets", "get"),
            aggregationRule={"clusterRoleSelectors": [VIEW_SELECTOR]},
        )
    )
    world.seed(cluster_role("a-pods", rule("pods", "get"), labels=VIEW_LABEL))
    world.seed(cluster_role("z-widgets", rule("widgets", "get")))  # label removed
    writes = await writes_of_sync(world.client, world.controller, "view")
    assert writes[0].body["rules"] == [rule("pods", "get")]


async def test_any_cluster_role_change_enqueues_every_aggregated_role() -> None:
    world = World()
    world.seed(cluster_role("view", aggregationRule={"clusterRoleSelectors": [VIEW_SELECTOR]}))
    world.seed(cluster_role("edit", aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}))
    world.seed(cluster_role("plain"))
    world.controller.enqueue_aggregated(cluster_role("anything"))
    assert sorted(world.controller.queue._queue) == ["edit", "view"]
