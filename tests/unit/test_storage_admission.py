"""Storage admission (protection finalizers, claim resize), the PV status strategy and VolumeBinding's Filter."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kuberya.apiserver import errors
from kuberya.apiserver.storageadmission import (
    PV_PROTECTION_FINALIZER,
    PVC_PROTECTION_FINALIZER,
    RESIZE_NOT_ALLOWED,
    admit_claim_resize,
    protect_storage_object,
)
from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS
from kuberya.client.watch import WatchEvent
from kuberya.controllers import scheduling
from kuberya.controllers.scheduler import Scheduler
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def rt(resource: str, group: str = "", version: str = "v1") -> ResourceType:
    found = kinds.lookup(group, version, resource)
    assert found is not None
    return found


PVCS, PVS, PODS_RT = rt("persistentvolumeclaims"), rt("persistentvolumes"), rt("pods")


# -- StorageObjectInUseProtection ------------------------------------------------------------------


def test_new_claims_and_volumes_get_their_protection_finalizer_once() -> None:
    claim: dict[str, Any] = {"metadata": {"name": "data", "finalizers": ["example.com/x"]}}
    protect_storage_object(PVCS, claim)
    protect_storage_object(PVCS, claim)
    assert claim["metadata"]["finalizers"] == ["example.com/x", PVC_PROTECTION_FINALIZER]
    volume: dict[str, Any] = {"metadata": {"name": "pv-1"}}
    protect_storage_object(PVS, volume)
    assert volume["metadata"]["finalizers"] == [PV_PROTECTION_FINALIZER]
    pod: dict[str, Any] = {"metadata": {"name": "web"}}
    protect_storage_object(PODS_RT, pod)
    assert "finalizers" not in pod["metadata"]


# -- PersistentVolumeClaimResize -------------------------------------------------------------------


class ClassStore:
    """The one read the resize plugin makes: a StorageClass by name."""

    def __init__(self, *classes: dict[str, Any]) -> None:
        self.classes = {c["metadata"]["name"]: c for c in classes}

    async def get_or_none(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert (rtype.group, rtype.resource, namespace) == ("storage.k8s.io", "storageclasses", None)
        return self.classes.get(name)


def sc(name: str, expansion: bool | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name}, "provisioner": "kuberya.io/local-path"}
    if expansion is not None:
        obj["allowVolumeExpansion"] = expansion
    return obj


STORE = ClassStore(sc("local-path", True), sc("fixed", False), sc("unsaid", None))


def pvc(size: str, *, class_name: str | None = "local-path", phase: str = "Bound") -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": size}}}
    if class_name is not None:
        spec["storageClassName"] = class_name
    return {"metadata": {"name": "data", "namespace": "default"}, "spec": spec, "status": {"phase": phase}}


async def test_a_bound_claim_of_an_expandable_class_may_grow() -> None:
    await admit_claim_resize(STORE, PVCS, pvc("2Gi"), pvc("1Gi"))  # type: ignore[arg-type]


@pytest.mark.parametrize("class_name", ["fixed", "unsaid", "gone", "", None])
async def test_growing_needs_a_class_that_allows_expansion(class_name: str | None) -> None:
    with pytest.raises(errors.StatusError) as caught:
        await admit_claim_resize(STORE, PVCS, pvc("2Gi", class_name=class_name), pvc("1Gi", class_name=class_name))  # type: ignore[arg-type]
    assert caught.value.code == 403
    assert caught.value.message == f'persistentvolumeclaims "data" is forbidden: {RESIZE_NOT_ALLOWED}'


async def test_growing_needs_a_bound_claim() -> None:
    with pytest.raises(errors.StatusError) as caught:
        await admit_claim_resize(STORE, PVCS, pvc("2Gi", phase="Pending"), pvc("1Gi", phase="Pending"))  # type: ignore[arg-type]
    assert caught.value.message.endswith("Only bound persistent volume claims can be expanded")


async def test_what_does_not_grow_a_claim_is_not_the_plugins_business() -> None:
    fixed = pvc("1Gi", class_name="fixed")
    await admit_claim_resize(STORE, PVCS, pvc("1Gi", class_name="fixed"), fixed)  # type: ignore[arg-type]
    await admit_claim_resize(STORE, PVCS, pvc("512Mi", class_name="fixed"), fixed)  # type: ignore[arg-type]
    await admit_claim_resize(STORE, PVCS, pvc("2Gi", class_name="fixed"), fixed, subresource="status")  # type: ignore[arg-type]
    await admit_claim_resize(STORE, PODS_RT, pvc("2Gi", class_name="fixed"), fixed)  # type: ignore[arg-type]


def test_shrinking_below_the_capacity_is_invalid_and_the_rest_of_the_spec_is_fixed() -> None:
    old = pvc("2Gi")
    old["apiVersion"], old["kind"] = "v1", "PersistentVolumeClaim"
    old["spec"].update(accessModes=["ReadWriteOnce"], volumeName="pv-1", volumeMode="Filesystem")
    old["status"]["capacity"] = {"storage": "2Gi"}
    smaller = {**old, "spec": {**old["spec"], "resources": {"requests": {"storage": "1Gi"}}}}
    causes = kinds.validate(smaller, old=old)
    assert [(c.field, c.message) for c in causes] == [
        ("spec.resources.requests.storage", "Forbidden: field can not be less than status.capacity")
    ]
    other_modes = {**old, "spec": {**old["spec"], "accessModes": ["ReadWriteMany"]}}
    assert [c.field for c in kinds.validate(other_modes, old=old)] == ["spec"]


# -- lastPhaseTransitionTime -----------------------------------------------------------------------


def status_update(new_status: dict[str, Any], old_status: dict[str, Any]) -> dict[str, Any]:
    old = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"}, "status": old_status}
    new = {**old, "status": new_status}
    kinds.spec_of(PVS).prepare_status_update(new, old)
    return dict(new["status"])


def test_a_phase_change_stamps_the_transition_time() -> None:
    old = {"phase": "Available", "lastPhaseTransitionTime": "2020-01-01T00:00:00Z"}
    stamped = status_update({"phase": "Bound"}, old)["lastPhaseTransitionTime"]
    assert stamped != "2020-01-01T00:00:00Z"
    assert datetime.datetime.strptime(stamped, "%Y-%m-%dT%H:%M:%SZ")  # RFC 3339, seconds
    # The writer's copy of the old time counts as no time: stamped too.
    assert status_update({**old, "phase": "Released"}, old)["lastPhaseTransitionTime"] == stamped


def test_the_same_phase_keeps_the_time_and_a_time_sent_with_a_change_is_kept() -> None:
    old = {"phase": "Bound", "lastPhaseTransitionTime": "2020-01-01T00:00:00Z"}
    assert status_update({"phase": "Bound"}, old)["lastPhaseTransitionTime"] == "2020-01-01T00:00:00Z"
    sent = {"phase": "Released", "lastPhaseTransitionTime": "2025-05-05T05:05:05Z"}
    assert status_update(sent, old)["lastPhaseTransitionTime"] == "2025-05-05T05:05:05Z"


def test_a_new_volume_is_pending_since_now() -> None:
    volume: dict[str, Any] = {"metadata": {"name": "pv-1"}, "status": {"phase": "Bound"}}
    kinds.spec_of(PVS).prepare_create(volume)
    assert volume["status"]["phase"] == "Pending"
    assert volume["status"]["lastPhaseTransitionTime"]


# -- VolumeBinding's Filter ------------------------------------------------------------------------

NODE = {
    "metadata": {"name": "kuberya", "labels": {"kubernetes.io/hostname": "kuberya"}},
    "status": {
        "allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def pinned_volume(host: str) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}
    return {
        "metadata": {"name": "pv-1"},
        "spec": {"capacity": {"storage": "1Gi"}, "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}},
        "status": {"phase": "Bound"},
    }


class World:
    def __init__(self, *volumes: dict[str, Any]) -> None:
        self.client = FakeApiClient()
        self.sched = Scheduler(self.client, node_name="kuberya", clock=FakeClock(), now=lambda: NOW)
        self.sched.nodes.store.add(self.client.add(NODES, NODE))
        pod = {
            "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-web-0"},
            "spec": {
                "containers": [{"name": "c", "image": "x"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            },
            "status": {"phase": "Pending"},
        }
        self.sched.pods.store.add(self.client.add(PODS, pod))
        bound = {
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"volumeName": "pv-1"},
            "status": {"phase": "Bound"},
        }
        self.sched.claims.store.add(self.client.add(PERSISTENTVOLUMECLAIMS, bound))
        for volume in volumes:
            self.sched.volumes.store.add(self.client.add(PERSISTENTVOLUMES, volume))

    async def schedule(self) -> tuple[str, str]:
        """The node the pod got, and the FailedScheduling message ("" for none)."""
        await self.sched.sync("default/web-0")
        stored = self.client.stored(PODS, "web-0", namespace="default")
        assert stored is not None
        events = [a.body for a in self.client.actions if a.resource == "events" and a.verb == "create"]
        failed = [e["message"] for e in events if e["reason"] == "FailedScheduling"]
        return str(stored["spec"].get("nodeName") or ""), failed[0] if failed else ""


async def test_a_volume_pinned_to_another_node_keeps_the_pod_off_this_one() -> None:
    node, message = await World(pinned_volume("elsewhere")).schedule()
    assert node == ""
    assert message.startswith("0/1 nodes are available: 1 node(s) had volume node affinity conflict.")


async def test_a_volume_pinned_to_this_node_lets_the_pod_on() -> None:
    assert await World(pinned_volume("kuberya")).schedule() == ("kuberya", "")


async def test_a_claim_bound_to_a_volume_that_is_not_there_keeps_the_pod_off() -> None:
    node, message = await World().schedule()
    assert node == ""
    assert message.startswith(f"0/1 nodes are available: 1 {scheduling.BOUND_TO_MISSING_VOLUME}.")


async def test_a_volume_arriving_requeues_pending_pods() -> None:
    w = World()
    assert len(w.sched.queue) == 0
    w.sched.volumes.apply(WatchEvent("ADDED", pinned_volume("kuberya")))
    assert await w.sched.queue.get() == "default/web-0"
