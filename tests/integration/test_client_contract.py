"""One contract, two implementations: the fake client must answer as the API server does.

Controller unit tests trust :class:`~kuberya.client.fake.FakeApiClient` to behave like the
server; this suite holds it to that. Every test runs twice: against the fake, and through the
real :class:`~kuberya.client.ApiClient` against the API handlers over a memory store
(:func:`tests.integration.conftest.api_server`). The server is the reference: where the two
disagree the fake is fixed, unless the server departs from upstream Kubernetes: then the test
says upstream's behaviour and the server is fixed (two such bugs were: an object's own finalizers
and PUT creating ConfigMaps).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberya.client.errors import AlreadyExistsError, ConflictError, NotFoundError
from kuberya.client.fake import FakeApiClient
from kuberya.client.interface import KubeClient
from kuberya.client.resources import CONFIGMAPS, DEPLOYMENTS
from kuberya.client.watch import WatchEvent
from tests.builders import config_map, deployment
from tests.integration.conftest import serve_api

NS = "default"


@pytest.fixture(params=["fake", "server"])
async def kube(request: pytest.FixtureRequest) -> AsyncIterator[KubeClient]:
    if request.param == "fake":
        yield FakeApiClient(watch_events=True)
        return
    async with serve_api() as served:
        yield served.client


async def create_deployment(kube: KubeClient, name: str = "web", **spec: Any) -> dict[str, Any]:
    return await kube.create(DEPLOYMENTS, deployment(name, **spec), namespace=NS)


# -- create, get, list ---------------------------------------------------------------------------


async def test_create_fills_in_the_system_fields_and_get_reads_them_back(kube: KubeClient) -> None:
    created = await create_deployment(kube)
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert meta["generation"] == 1
    assert (meta["name"], meta["namespace"]) == ("web", NS)
    got = await kube.get(DEPLOYMENTS, "web", namespace=NS)
    assert got["metadata"]["uid"] == meta["uid"]
    assert got["metadata"]["resourceVersion"] == meta["resourceVersion"]
    assert (got["apiVersion"], got["kind"]) == ("apps/v1", "Deployment")


async def test_create_of_an_existing_name_is_already_exists(kube: KubeClient) -> None:
    await kube.create(CONFIGMAPS, config_map("one"), namespace=NS)
    with pytest.raises(AlreadyExistsError) as raised:
        await kube.create(CONFIGMAPS, config_map("one", data={"other": "body"}), namespace=NS)
    assert raised.value.status == 409 and raised.value.reason == "AlreadyExists"


async def test_generate_name_makes_a_fresh_name_each_time(kube: KubeClient) -> None:
    body = {"metadata": {"generateName": "cm-"}, "data": {"a": "1"}}
    first = await kube.create(CONFIGMAPS, body, namespace=NS)
    second = await kube.create(CONFIGMAPS, body, namespace=NS)
    names = [first["metadata"]["name"], second["metadata"]["name"]]
    assert all(n.startswith("cm-") and len(n) > len("cm-") for n in names)
    assert names[0] != names[1]
    assert first["metadata"]["generateName"] == "cm-"


async def test_a_missing_object_is_not_found_for_every_verb(kube: KubeClient) -> None:
    with pytest.raises(NotFoundError):
        await kube.get(DEPLOYMENTS, "ghost", namespace=NS)
    with pytest.raises(NotFoundError):
        await kube.patch(DEPLOYMENTS, "ghost", {"spec": {"replicas": 2}}, namespace=NS, patch_type="merge")
    with pytest.raises(NotFoundError):
        await kube.delete(DEPLOYMENTS, "ghost", namespace=NS)
    # Deployments are not among the kinds a PUT may create (upstream's AllowCreateOnUpdate).
    with pytest.raises(NotFoundError) as raised:
        await kube.update(DEPLOYMENTS, deployment("ghost"), namespace=NS)
    assert raised.value.status == 404 and raised.value.reason == "NotFound"


async def test_update_of_a_missing_config_map_is_not_found(kube: KubeClient) -> None:
    # upstream's ConfigMap strategy: AllowCreateOnUpdate is false (found by this suite)
    with pytest.raises(NotFoundError):
        await kube.update(CONFIGMAPS, config_map("ghost"), namespace=NS)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=a", ["a1", "a2"]),
        ("app==a", ["a1", "a2"]),
        ("app!=a", ["b1", "none"]),
        ("app", ["a1", "a2", "b1"]),
        ("!app", ["none"]),
        ("app=a,tier=front", ["a1"]),
        ("app in (a,b)", ["a1", "a2", "b1"]),
        ("app notin (a)", ["b1", "none"]),
        ("tier in (front, back),app", ["a1", "b1"]),
    ],
)
async def test_list_by_label_selector(kube: KubeClient, selector: str, expected: list[str]) -> None:
    labels = {
        "a1": {"app": "a", "tier": "front"},
        "a2": {"app": "a"},
        "b1": {"app": "b", "tier": "back"},
        "none": {},
    }
    for name, wanted in labels.items():
        await kube.create(CONFIGMAPS, config_map(name, labels=wanted), namespace=NS)
    listed = await kube.list(CONFIGMAPS, namespace=NS, label_selector=selector)
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == expected
    assert listed["metadata"]["resourceVersion"]


# -- update and patch ----------------------------------------------------------------------------


async def test_an_update_from_a_stale_read_is_a_conflict(kube: KubeClient) -> None:
    read = await kube.create(CONFIGMAPS, config_map("cm", data={"v": "1"}), namespace=NS)
    fresh = await kube.update(CONFIGMAPS, {**read, "data": {"v": "2"}}, namespace=NS)
    assert int(fresh["metadata"]["resourceVersion"]) > int(read["metadata"]["resourceVersion"])
    with pytest.raises(ConflictError) as raised:
        await kube.update(CONFIGMAPS, {**read, "data": {"v": "3"}}, namespace=NS)
    assert raised.value.status == 409 and raised.value.reason == "Conflict"
    assert (await kube.get(CONFIGMAPS, "cm", namespace=NS))["data"] == {"v": "2"}


async def test_an_update_without_resource_version_is_unconditional(kube: KubeClient) -> None:
    read = await kube.create(CONFIGMAPS, config_map("cm", data={"v": "1"}), namespace=NS)
    body = copy.deepcopy(read)
    del body["metadata"]["resourceVersion"]
    body["data"] = {"v": "2"}
    assert (await kube.update(CONFIGMAPS, body, namespace=NS))["data"] == {"v": "2"}


async def test_a_merge_patch_sets_and_removes_keys(kube: KubeClient) -> None:
    await kube.create(CONFIGMAPS, config_map("cm", data={"keep": "1", "drop": "2"}, labels={"a": "b"}), namespace=NS)
    patched = await kube.patch(
        CONFIGMAPS,
        "cm",
        {"data": {"drop": None, "new": "3"}, "metadata": {"labels": {"c": "d"}}},
        namespace=NS,
        patch_type="merge",
    )
    assert patched["data"] == {"keep": "1", "new": "3"}
    assert patched["metadata"]["labels"] == {"a": "b", "c": "d"}


async def test_a_merge_patch_with_a_stale_resource_version_is_a_conflict(kube: KubeClient) -> None:
    read = await kube.create(CONFIGMAPS, config_map("cm"), namespace=NS)
    await kube.patch(CONFIGMAPS, "cm", {"data": {"a": "1"}}, namespace=NS, patch_type="merge")
    with pytest.raises(ConflictError):
        await kube.patch(
            CONFIGMAPS,
            "cm",
            {"metadata": {"resourceVersion": read["metadata"]["resourceVersion"]}, "data": {"a": "2"}},
            namespace=NS,
            patch_type="merge",
        )


async def test_a_strategic_merge_patch_merges_containers_by_name(kube: KubeClient) -> None:
    containers = [{"name": "web", "image": "web:v1"}, {"name": "sidecar", "image": "log:v1"}]
    await create_deployment(kube, template={"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:v2"}]}}}}
    patched = await kube.patch(DEPLOYMENTS, "web", patch, namespace=NS, patch_type="strategic")
    images = {c["name"]: c["image"] for c in patched["spec"]["template"]["spec"]["containers"]}
    assert images == {"web": "web:v2", "sidecar": "log:v1"}
    # A merge patch replaces the list whole.
    merged = await kube.patch(DEPLOYMENTS, "web", patch, namespace=NS, patch_type="merge")
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["web"]


async def test_a_patch_cannot_rename_or_move_the_object(kube: KubeClient) -> None:
    created = await kube.create(CONFIGMAPS, config_map("cm"), namespace=NS)
    with contextlib.suppress(Exception):  # refusing the patch is as good as ignoring those fields
        await kube.patch(
            CONFIGMAPS, "cm", {"metadata": {"uid": "forged", "labels": {"x": "y"}}}, namespace=NS, patch_type="merge"
        )
    got = await kube.get(CONFIGMAPS, "cm", namespace=NS)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]


# -- generation and the status subresource -------------------------------------------------------


async def test_generation_moves_with_the_spec_only(kube: KubeClient) -> None:
    created = await create_deployment(kube)
    assert created["metadata"]["generation"] == 1
    relabelled = await kube.patch(
        DEPLOYMENTS, "web", {"metadata": {"labels": {"app": "web", "x": "y"}}}, namespace=NS, patch_type="merge"
    )
    assert relabelled["metadata"]["generation"] == 1, "a metadata change is not a new generation"
    with_status = await kube.update_status(DEPLOYMENTS, {**relabelled, "status": {"replicas": 1}}, namespace=NS)
    assert with_status["metadata"]["generation"] == 1, "a status change is not a new generation"
    scaled = await kube.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 3}}, namespace=NS, patch_type="merge")
    assert scaled["metadata"]["generation"] == 2
    body = copy.deepcopy(scaled)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "web:v2"
    updated = await kube.update(DEPLOYMENTS, body, namespace=NS)
    assert updated["metadata"]["generation"] == 3
    unchanged = await kube.update(DEPLOYMENTS, updated, namespace=NS)
    assert unchanged["metadata"]["generation"] == 3, "an update that changes nothing keeps the generation"


async def test_create_and_update_ignore_status_where_the_kind_has_a_status_subresource(kube: KubeClient) -> None:
    created = await kube.create(DEPLOYMENTS, {**deployment("web"), "status": {"replicas": 5}}, namespace=NS)
    assert (created.get("status") or {}).get("replicas") is None
    updated = await kube.update(DEPLOYMENTS, {**created, "status": {"replicas": 7}}, namespace=NS)
    assert (updated.get("status") or {}).get("replicas") is None
    assert (updated.get("status") or {}) == (created.get("status") or {})
    reported = await kube.update_status(DEPLOYMENTS, {**updated, "status": {"replicas": 2}}, namespace=NS)
    assert reported["status"]["replicas"] == 2
    again = await kube.update(DEPLOYMENTS, {**reported, "status": {"replicas": 9}}, namespace=NS)
    assert again["status"]["replicas"] == 2, "the main resource keeps the stored status"


async def test_the_status_subresource_ignores_the_spec(kube: KubeClient) -> None:
    created = await create_deployment(kube)
    body = copy.deepcopy(created)
    body["spec"]["replicas"] = 4
    body["status"] = {"replicas": 1}
    reported = await kube.update_status(DEPLOYMENTS, body, namespace=NS)
    assert reported["spec"]["replicas"] == 1 and reported["status"]["replicas"] == 1
    patched = await kube.patch(
        DEPLOYMENTS,
        "web",
        {"spec": {"replicas": 9}, "status": {"replicas": 2}},
        namespace=NS,
        patch_type="merge",
        subresource="status",
    )
    assert patched["spec"]["replicas"] == 1 and patched["status"]["replicas"] == 2
    assert patched["metadata"]["generation"] == 1


# -- delete and finalizers -----------------------------------------------------------------------


async def test_delete_removes_the_object(kube: KubeClient) -> None:
    await kube.create(CONFIGMAPS, config_map("cm"), namespace=NS)
    await kube.delete(CONFIGMAPS, "cm", namespace=NS)
    with pytest.raises(NotFoundError):
        await kube.get(CONFIGMAPS, "cm", namespace=NS)
    assert (await kube.list(CONFIGMAPS, namespace=NS))["items"] == []


async def test_a_delete_precondition_on_another_uid_is_a_conflict(kube: KubeClient) -> None:
    await kube.create(CONFIGMAPS, config_map("cm"), namespace=NS)
    with pytest.raises(ConflictError):
        await kube.delete(CONFIGMAPS, "cm", namespace=NS, preconditions={"uid": "someone-else"})
    assert await kube.get(CONFIGMAPS, "cm", namespace=NS)


async def test_a_finalizer_holds_a_deleted_object_until_it_is_removed(kube: KubeClient) -> None:
    # The server removed such an object at once, counting only the propagation policy's
    # finalizers (found by this suite).
    await kube.create(CONFIGMAPS, config_map("cm", finalizers=["example.com/hold"]), namespace=NS)
    await kube.delete(CONFIGMAPS, "cm", namespace=NS)
    held = await kube.get(CONFIGMAPS, "cm", namespace=NS)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    await kube.patch(CONFIGMAPS, "cm", {"metadata": {"finalizers": None}}, namespace=NS, patch_type="merge")
    with pytest.raises(NotFoundError):
        await kube.get(CONFIGMAPS, "cm", namespace=NS)


async def test_foreground_deletion_adds_its_finalizer_and_keeps_the_object(kube: KubeClient) -> None:
    await create_deployment(kube)
    await kube.delete(DEPLOYMENTS, "web", namespace=NS, propagation_policy="Foreground")
    held = await kube.get(DEPLOYMENTS, "web", namespace=NS)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    body = copy.deepcopy(held)
    body["metadata"]["finalizers"] = []
    await kube.update(DEPLOYMENTS, body, namespace=NS)
    with pytest.raises(NotFoundError):
        await kube.get(DEPLOYMENTS, "web", namespace=NS)


# -- watch ---------------------------------------------------------------------------------------


async def next_events(stream: AsyncIterator[WatchEvent], count: int) -> list[tuple[str, str]]:
    """The next ``count`` events (bookmarks skipped) as (type, name)."""
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(5):
        async for event in stream:
            if event.type != "BOOKMARK":
                seen.append((event.type, event.object["metadata"]["name"]))
            if len(seen) == count:
                break
    return seen


async def test_a_watch_sees_additions_changes_and_deletions_in_order(kube: KubeClient) -> None:
    listed = await kube.list(CONFIGMAPS, namespace=NS)
    stream = kube.watch(CONFIGMAPS, namespace=NS, resource_version=listed["metadata"]["resourceVersion"])
    try:
        waiting = asyncio.ensure_future(next_events(stream, 3))
        await asyncio.sleep(0.05)  # the server's watch is open before the first write
        await kube.create(CONFIGMAPS, config_map("cm"), namespace=NS)
        await kube.patch(CONFIGMAPS, "cm", {"data": {"a": "1"}}, namespace=NS, patch_type="merge")
        await kube.delete(CONFIGMAPS, "cm", namespace=NS)
        assert await waiting == [("ADDED", "cm"), ("MODIFIED", "cm"), ("DELETED", "cm")]
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
