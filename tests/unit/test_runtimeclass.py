"""RuntimeClass: the kind's rules, the admission plugin, and the node agent's handler check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberya.apiserver import errors, runtimeclass
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.node.runtimes import REASON, RETRY_SECONDS, RuntimeHandlers
from kuberya.node.state import PodState
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType
from kuberya.storage import MemoryBackend


def rt(group: str, resource: str) -> ResourceType:
    found = kinds.lookup(group, "v1", resource)
    assert found is not None
    return found


def runtime_class(name: str, handler: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name},
        "handler": handler,
    } | extra


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
        "spec": {"containers": [{"name": "c", "image": "x"}], **spec},
    }


@pytest.fixture
async def store() -> AsyncIterator[ObjectStore]:
    backend = MemoryBackend()
    await backend.start()
    yield ObjectStore(backend)
    await backend.close()


# ---- the kind ------------------------------------------------------------------------------


def test_the_handler_is_a_required_dns_label_and_immutable() -> None:
    assert [c.field for c in kinds.validate(runtime_class("a", ""))] == ["handler"]
    assert [c.field for c in kinds.validate(runtime_class("a", "Not_A_Label"))] == ["handler"]
    assert kinds.validate(runtime_class("a", "process")) == []
    changed = kinds.validate(runtime_class("a", "runc"), old=runtime_class("a", "process"))
    assert [(c.field, c.message) for c in changed] == [("handler", 'Invalid value: "runc": field is immutable')]


# ---- admission -----------------------------------------------------------------------------


async def test_a_pod_naming_a_missing_class_is_forbidden(store: ObjectStore) -> None:
    with pytest.raises(errors.StatusError) as caught:
        await runtimeclass.admit(store, rt("", "pods"), pod(runtimeClassName="gvisor"))
    assert caught.value.code == 403
    assert caught.value.message == 'pods "p" is forbidden: pod rejected: RuntimeClass "gvisor" not found'


async def test_a_pod_gets_the_class_overhead_and_scheduling(store: ObjectStore) -> None:
    await store.create(
        rt("node.k8s.io", "runtimeclasses"),
        runtime_class(
            "fast",
            "process",
            overhead={"podFixed": {"cpu": "100m"}},
            scheduling={"nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k", "operator": "Exists"}]},
        ),
    )
    admitted = pod(runtimeClassName="fast", nodeSelector={"zone": "a"})
    await runtimeclass.admit(store, rt("", "pods"), admitted)
    assert admitted["spec"]["overhead"] == {"cpu": "100m"}
    assert admitted["spec"]["nodeSelector"] == {"zone": "a", "disk": "ssd"}
    assert admitted["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
    with pytest.raises(errors.StatusError, match="Pod's Overhead doesn't match"):
        await runtimeclass.admit(store, rt("", "pods"), pod(runtimeClassName="fast", overhead={"cpu": "1"}))
    with pytest.raises(errors.StatusError, match=r"conflict: runtimeClass.scheduling.nodeSelector\[disk\] = ssd"):
        await runtimeclass.admit(store, rt("", "pods"), pod(runtimeClassName="fast", nodeSelector={"disk": "hdd"}))


async def test_an_overhead_without_a_class_is_forbidden_and_no_class_passes(store: ObjectStore) -> None:
    with pytest.raises(errors.StatusError, match="Pod Overhead set without corresponding RuntimeClass"):
        await runtimeclass.admit(store, rt("", "pods"), pod(overhead={"cpu": "1"}))
    plain = pod()
    await runtimeclass.admit(store, rt("", "pods"), plain)
    assert plain == pod()


# ---- the node agent ------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, pod: dict[str, Any], type_: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((type_, reason, message))


def state_of(p: dict[str, Any]) -> PodState:
    return PodState(uid="uid-p", namespace="default", name="p", pod=p)


CLASSES = {"process": runtime_class("process", "process"), "kata": runtime_class("kata", "kata")}


def handlers(*, synced: bool = True) -> RuntimeHandlers:
    return RuntimeHandlers(handlers=frozenset({"process"}), lookup=CLASSES.get, synced=lambda: synced)


def test_a_pod_without_a_class_or_with_this_nodes_handler_runs() -> None:
    recorder = Recorder()
    assert handlers().blocked(state_of(pod()), recorder) is None
    assert handlers().blocked(state_of(pod(runtimeClassName="process")), recorder) is None
    assert recorder.events == []


def test_an_unknown_handler_waits_with_one_warning() -> None:
    recorder, state = Recorder(), state_of(pod(runtimeClassName="kata"))
    assert handlers().blocked(state, recorder) == RETRY_SECONDS
    assert handlers().blocked(state, recorder) == RETRY_SECONDS
    assert recorder.events == [
        (
            "Warning",
            REASON,
            'Failed to create pod sandbox: failed to get sandbox runtime: no runtime for "kata" is configured',
        )
    ]


def test_nothing_is_said_before_the_classes_are_listed() -> None:
    recorder = Recorder()
    assert handlers(synced=False).blocked(state_of(pod(runtimeClassName="kata")), recorder) is not None
    assert recorder.events == []
