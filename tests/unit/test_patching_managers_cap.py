"""managedFields stay bounded: at most ten Update managers, the oldest merged into ``ancient-changes``.

Upstream's ``capManagersManager`` (``k8s.io/apimachinery/pkg/util/managedfields``): after every
update, Update entries beyond ``DefaultMaxUpdateManagers`` are merged, oldest first, into one
``ancient-changes`` entry per API version, which keeps their fields and takes the newest merged
time. Apply entries are never merged.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kuberya.resources.patching import record_update_manager, server_side_apply
from kuberya.resources.patching.fieldpath import decode_fields_v1

pytestmark = pytest.mark.unit

Obj = dict[str, Any]


def at(minute: int) -> str:
    return f"2025-01-01T00:{minute:02d}:00Z"


def config_map() -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}


def written_by(count: int, *, api_version: str = "v1", start: Obj | None = None, first_minute: int = 0) -> Obj:
    """``count`` managers in turn each add a key of their own, a minute apart."""
    obj = start or config_map()
    for i in range(count):
        new = copy.deepcopy(obj)
        new.setdefault("data", {})[f"k{i}"] = str(i)
        record_update_manager(
            obj, new, manager=f"writer-{i:02d}", api_version=api_version, operation_time=at(first_minute + i)
        )
        obj = new
    return obj


def entries(obj: Obj) -> list[Obj]:
    managed: list[Obj] = obj["metadata"]["managedFields"]
    return managed


def test_ten_update_managers_are_kept_as_they_are() -> None:
    obj = written_by(10)
    assert [e["manager"] for e in entries(obj)] == [f"writer-{i:02d}" for i in range(10)]


def test_the_oldest_update_managers_merge_into_ancient_changes() -> None:
    obj = written_by(13)
    managed = entries(obj)
    assert len(managed) == 10
    ancient = [e for e in managed if e["manager"] == "ancient-changes"]
    assert len(ancient) == 1
    bucket = ancient[0]
    assert bucket["operation"] == "Update"
    assert bucket["apiVersion"] == "v1"
    # writer-00..03 merged (13 - 10 + 1 entries into one bucket); the newest of them gives the time.
    assert decode_fields_v1(bucket["fieldsV1"]) == {("f:data", f"f:k{i}") for i in range(4)}
    assert bucket["time"] == at(3)
    kept = [e["manager"] for e in managed if e["manager"] != "ancient-changes"]
    assert kept == [f"writer-{i:02d}" for i in range(4, 13)]
    # Nothing owned was lost: the fields of all 13 writers are still accounted for.
    owned = set().union(*(decode_fields_v1(e["fieldsV1"]) for e in managed))
    assert {("f:data", f"f:k{i}") for i in range(13)} <= owned


def test_growth_stays_capped_over_many_writers() -> None:
    obj = written_by(40)
    managed = entries(obj)
    assert len(managed) == 10
    assert sum(e["manager"] == "ancient-changes" for e in managed) == 1


def test_buckets_are_per_api_version() -> None:
    obj = config_map()
    for i in range(12):  # writers alternate between two API versions
        new = copy.deepcopy(obj)
        new.setdefault("data", {})[f"k{i}"] = str(i)
        record_update_manager(obj, new, manager=f"writer-{i:02d}", api_version=f"v{i % 2}", operation_time=at(i))
        obj = new
    managed = entries(obj)
    assert len(managed) == 10
    buckets = {e["apiVersion"]: e for e in managed if e["manager"] == "ancient-changes"}
    assert set(buckets) == {"v0", "v1"}
    assert decode_fields_v1(buckets["v0"]["fieldsV1"]) == {("f:data", "f:k0"), ("f:data", "f:k2")}
    assert decode_fields_v1(buckets["v1"]["fieldsV1"]) == {("f:data", "f:k1"), ("f:data", "f:k3")}
    assert buckets["v1"]["time"] == at(3)


def test_apply_managers_are_not_merged_or_counted() -> None:
    applied = server_side_apply(
        None,
        {**config_map(), "data": {"applied": "yes"}},
        kind="ConfigMap",
        manager="kubectl",
        force=False,
        operation_time=at(0),
    )
    obj = written_by(12, start=applied, first_minute=1)
    managed = entries(obj)
    assert [e["manager"] for e in managed if e["operation"] == "Apply"] == ["kubectl"]
    assert sum(e["operation"] == "Update" for e in managed) == 10
