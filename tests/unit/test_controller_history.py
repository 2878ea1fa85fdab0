"""Controller history (kuberya.controllers.history): hashing, naming, ordering, truncation, writes."""

from __future__ import annotations

from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.informer import Informer
from kuberya.client.resources import CONTROLLERREVISIONS, STATEFULSETS
from kuberya.controllers import history
from kuberya.controllers.history import History

DATA = {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}}}


def parent() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
    }


def revision(name: str, number: int, *, created: str = "2026-01-01T00:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "revision": number,
        **extra,
    }


def test_the_hash_depends_on_data_and_collision_count_only() -> None:
    same = {"spec": {"template": {"spec": {"containers": [{"image": "web:v1", "name": "web"}]}, "$patch": "replace"}}}
    assert history.hash_revision(DATA, 0) == history.hash_revision(same, 0), "key order does not matter"
    assert history.hash_revision(DATA, 0) != history.hash_revision(DATA, 1)
    assert history.hash_revision(DATA, None) != history.hash_revision(DATA, 0)
    assert set(history.hash_revision(DATA, 0)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_new_revision_is_named_labelled_and_owned() -> None:
    rev = history.new_revision(
        parent(), parent_ref=STATEFULSETS, template_labels={"app": "web"}, data=DATA, revision=3, collision_count=0
    )
    hash_ = history.hash_revision(DATA, 0)
    assert rev["metadata"]["name"] == f"web-{hash_}"
    assert rev["metadata"]["labels"] == {"app": "web", "controller.kubernetes.io/hash": hash_}
    (owner,) = rev["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("StatefulSet", "web", "uid-web", True)
    assert (rev["revision"], rev["data"]) == (3, DATA)
    assert history.revision_name("x" * 300, "abc") == "x" * 223 + "-abc"


def test_equal_revisions_compare_data() -> None:
    a = revision("a", 1, data=DATA)
    b = revision("b", 2, data=DATA)
    c = revision("c", 3, data={"other": 1})
    assert history.equal_revision(a, b)
    assert not history.equal_revision(a, c)
    assert history.equal_revision(None, None) and not history.equal_revision(a, None)
    assert [r["metadata"]["name"] for r in history.find_equal_revisions([c, a, b], a)] == ["a", "b"]


def test_sorting_next_revision_and_truncation() -> None:
    revs = [
        revision("r3", 3),
        revision("r1b", 1, created="2026-01-01T00:00:05Z"),
        revision("r1a", 1),
        revision("r2", 2),
    ]
    ordered = history.sort_revisions(revs)
    assert [r["metadata"]["name"] for r in ordered] == ["r1a", "r1b", "r2", "r3"]
    assert history.next_revision(revs) == 4
    assert history.next_revision([]) == 1
    # r3 is live (current/update); of r1a, r1b, r2 one historic revision is kept: the newest.
    doomed = history.revisions_to_truncate(ordered, live={"r3"}, limit=1)
    assert [r["metadata"]["name"] for r in doomed] == ["r1a", "r1b"]
    assert history.revisions_to_truncate(ordered, live={"r3", "r1a"}, limit=2) == []


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.informer = Informer(self.client, CONTROLLERREVISIONS, clock=FakeClock())
        self.history = History(self.client, self.informer)

    def seed(self, obj: dict[str, Any]) -> dict[str, Any]:
        stored = self.client.add(CONTROLLERREVISIONS, obj)
        self.informer.store.add(stored)
        return stored


def test_list_keeps_owned_and_orphan_revisions_the_selector_matches() -> None:
    w = World()
    mine = {"uid": "uid-web", "controller": True, "kind": "StatefulSet", "name": "web", "apiVersion": "apps/v1"}
    theirs = {**mine, "uid": "uid-other", "name": "other"}
    w.seed({"metadata": {"name": "owned", "namespace": "default", "labels": {"app": "web"}, "ownerReferences": [mine]}})
    w.seed({"metadata": {"name": "orphan", "namespace": "default", "labels": {"app": "web"}}})
    w.seed(
        {"metadata": {"name": "foreign", "namespace": "default", "labels": {"app": "web"}, "ownerReferences": [theirs]}}
    )
    w.seed({"metadata": {"name": "unmatched", "namespace": "default", "labels": {"app": "db"}}})
    w.seed({"metadata": {"name": "elsewhere", "namespace": "other", "labels": {"app": "web"}}})
    found = w.history.list(parent(), {"matchLabels": {"app": "web"}})
    assert sorted(r["metadata"]["name"] for r in found) == ["orphan", "owned"]


async def test_create_retries_a_name_taken_by_other_data_with_a_bumped_collision_count() -> None:
    w = World()
    taken = history.revision_name("web", history.hash_revision(DATA, 0))
    w.seed({"metadata": {"name": taken, "namespace": "default"}, "data": {"something": "else"}, "revision": 1})
    rev = history.new_revision(
        parent(), parent_ref=STATEFULSETS, template_labels={}, data=DATA, revision=2, collision_count=0
    )
    created, collisions = await w.history.create(parent(), rev, 0)
    assert collisions == 1
    assert created["metadata"]["name"] == history.revision_name("web", history.hash_revision(DATA, 1))
    assert created["metadata"]["labels"][history.REVISION_HASH_LABEL] == history.hash_revision(DATA, 1)


async def test_create_returns_an_existing_revision_with_the_same_data() -> None:
    w = World()
    rev = history.new_revision(
        parent(), parent_ref=STATEFULSETS, template_labels={}, data=DATA, revision=1, collision_count=0
    )
    existing = w.seed(rev)
    created, collisions = await w.history.create(parent(), rev, 0)
    assert (created["metadata"]["uid"], collisions) == (existing["metadata"]["uid"], 0)


async def test_renumber_adopt_release_and_delete() -> None:
    w = World()
    orphan = w.seed({"metadata": {"name": "r", "namespace": "default"}, "data": DATA, "revision": 1})
    renumbered = await w.history.update_revision(orphan, 5)
    assert renumbered["revision"] == 5
    adopted = await w.history.adopt(parent(), STATEFULSETS, renumbered)
    assert [r["uid"] for r in adopted["metadata"]["ownerReferences"]] == ["uid-web"]
    released = await w.history.release(parent(), adopted)
    assert released is not None and not released["metadata"].get("ownerReferences")
    await w.history.delete(released)
    await w.history.delete(released)  # already gone: fine
    assert w.client.stored(CONTROLLERREVISIONS, "r", namespace="default") is None
