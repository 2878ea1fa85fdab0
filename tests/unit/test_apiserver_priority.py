"""The Priority admission plugin over an in-memory store: what a new pod's spec becomes, or why not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberya.apiserver import errors, priority
from kuberya.apiserver.admission import Admission
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.settings import APIServerSettings
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType
from kuberya.storage import MemoryBackend

Obj = dict[str, Any]


def rt(group: str, resource: str) -> ResourceType:
    found = kinds.lookup(group, "v1", resource)
    assert found is not None
    return found


PODS = rt("", "pods")
CLASSES = rt("scheduling.k8s.io", "priorityclasses")


@pytest.fixture
async def store() -> AsyncIterator[ObjectStore]:
    backend = MemoryBackend()
    await backend.start()
    yield ObjectStore(backend)
    await backend.close()


async def add_class(store: ObjectStore, name: str, value: int, **fields: Any) -> None:
    pc: Obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}}
    await store.create(CLASSES, {**pc, "value": value, **fields})


def new_pod(**spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec}


async def test_no_class_and_no_default_is_priority_zero(store: ObjectStore) -> None:
    pod = new_pod()
    await priority.admit(store, PODS, pod)
    assert pod["spec"] == {"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}


async def test_the_named_class_gives_value_and_policy(store: ObjectStore) -> None:
    await add_class(store, "batch", 10, preemptionPolicy="Never")
    pod = new_pod(priorityClassName="batch")
    await priority.admit(store, PODS, pod)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (10, "Never")


async def test_the_lowest_global_default_wins_and_is_named(store: ObjectStore) -> None:
    await add_class(store, "a", 300, globalDefault=True)
    await add_class(store, "b", 200, globalDefault=True)  # two defaults can exist after a race
    pod = new_pod()
    await priority.admit(store, PODS, pod)
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("b", 200)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"priorityClassName": "missing"}, 'pods "p" is forbidden: no PriorityClass with name missing was found'),
        (
            {"priority": 7},
            'pods "p" is forbidden: the integer value of priority (7) must not be provided in pod spec; '
            "priority admission controller computed 0 from the given PriorityClass name",
        ),
        (
            {"preemptionPolicy": "Never"},
            'pods "p" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; '
            "priority admission controller computed PreemptLowerPriority from the given PriorityClass name",
        ),
    ],
    ids=["unknown-class", "wrong-priority", "wrong-policy"],
)
async def test_refusals_are_403_with_upstreams_words(store: ObjectStore, spec: Obj, message: str) -> None:
    with pytest.raises(errors.StatusError) as refused:
        await priority.admit(store, PODS, new_pod(**spec))
    assert (refused.value.code, refused.value.reason, refused.value.message) == (403, "Forbidden", message)


async def test_an_update_keeps_the_priority_it_was_created_with() -> None:
    old = new_pod(priority=10, preemptionPolicy="Never")
    new = new_pod()
    priority.keep_on_update(PODS, new, old)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (10, "Never")


async def test_the_built_in_classes_are_created_once(store: ObjectStore) -> None:
    admission = Admission(store, APIServerSettings())
    await priority.ensure_system_classes(store, admission)
    await priority.ensure_system_classes(store, admission)  # already there: nothing happens
    page = await store.list(CLASSES, selection=ObjectFilter())
    values = {pc["metadata"]["name"]: (pc["value"], pc.get("globalDefault", False)) for pc in page.items}
    assert values == {"system-cluster-critical": (2000000000, False), "system-node-critical": (2000001000, False)}
