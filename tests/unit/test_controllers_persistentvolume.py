"""The PV binder (PersistentVolumeController), sample-controller style: seed the caches, sync, compare writes."""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import BUILTIN, PERSISTENTVOLUMES, STORAGECLASSES
from kuberya.controllers.persistentvolume import PersistentVolumeController
from tests.fake_api import recorded_events, seed, writes_of_sync

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"


def claim(
    name: str = "data",
    *,
    size: str = "1Gi",
    class_name: str = "manual",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "accessModes": list(modes),
            "resources": {"requests": {"storage": size}},
            "storageClassName": class_name,
            "volumeMode": "Filesystem",
            **spec,
        },
        "status": {"phase": "Pending"},
    }


def volume(
    name: str,
    *,
    size: str = "1Gi",
    class_name: str = "manual",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    policy: str = "Retain",
    phase: str = "Available",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {
        "metadata": meta,
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(modes),
            "storageClassName": class_name,
            "persistentVolumeReclaimPolicy": policy,
            "volumeMode": "Filesystem",
            "hostPath": {"path": f"/srv/{name}"},
            **spec,
        },
        "status": {"phase": phase},
    }


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient(resources=[*BUILTIN, PERSISTENTVOLUMES, STORAGECLASSES])
        self.controller = PersistentVolumeController(self.client, clock=FakeClock(), now=lambda: NOW)

    def seed_claim(self, obj: Any) -> Any:
        return seed(self.client, self.controller.claims, obj)

    def seed_volume(self, obj: Any) -> Any:
        return seed(self.client, self.controller.volumes, obj)

    def seed_class(self, obj: Any) -> Any:
        return seed(self.client, self.controller.classes, obj)

    async def sync(self, key: str = "default/data") -> list[Action]:
        return await writes_of_sync(self.client, self.controller, key)

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


def summary(actions: list[Action]) -> list[tuple[str, str, str | None, str | None]]:
    return [(a.verb, a.resource, a.name, a.subresource) for a in actions]


def bound_to(actions: list[Action]) -> str | None:
    """The volume the sync bound the claim to, from the claim's update."""
    for a in actions:
        if a.resource == "persistentvolumeclaims" and a.verb == "update" and not a.subresource:
            return str(a.body["spec"]["volumeName"])
    return None


async def test_binds_the_smallest_volume_of_the_class_that_fits_in_upstreams_four_writes() -> None:
    w = World()
    w.seed_claim(claim(size="2Gi"))
    w.seed_volume(volume("too-small", size="1Gi"))
    w.seed_volume(volume("other-class", size="2Gi", class_name="fast"))
    w.seed_volume(volume("big", size="10Gi"))
    w.seed_volume(volume("fits", size="5Gi"))
    actions = await w.sync()
    assert summary(actions) == [
        ("update", "persistentvolumes", "fits", None),
        ("update", "persistentvolumes", "fits", "status"),
        ("update", "persistentvolumeclaims", "data", None),
        ("update", "persistentvolumeclaims", "data", "status"),
    ]
    pv, pv_status, pvc, pvc_status = (a.body for a in actions)
    assert pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["claimRef"]["uid"] == "uid-data"
    assert pv["metadata"]["annotations"][BOUND_BY_CONTROLLER] == "yes"
    assert pv_status["status"]["phase"] == "Bound"
    assert pv_status["status"]["lastPhaseTransitionTime"] == "2026-01-01T12:00:00Z"
    assert pvc["spec"]["volumeName"] == "fits"
    assert pvc["metadata"]["annotations"] == {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
    assert pvc_status["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}}


async def test_access_modes_must_all_be_offered() -> None:
    w = World()
    w.seed_claim(claim(modes=("ReadWriteMany",)))
    w.seed_volume(volume("rwo", modes=("ReadWriteOnce",)))
    w.seed_volume(volume("rwx", modes=("ReadWriteOnce", "ReadWriteMany")))
    assert bound_to(await w.sync()) == "rwx"


async def test_the_claims_selector_must_select_the_volume() -> None:
    w = World()
    w.seed_claim(claim(selector={"matchLabels": {"tier": "gold"}}))
    w.seed_volume(volume("a-bronze", labels={"tier": "bronze"}))
    w.seed_volume(volume("b-gold", size="3Gi", labels={"tier": "gold"}))
    assert bound_to(await w.sync()) == "b-gold"


async def test_no_matching_volume_and_no_class_stays_pending_with_an_event() -> None:
    w = World()
    w.seed_claim(claim(class_name="", size="100Gi"))
    w.seed_volume(volume("small", class_name=""))
    assert await w.sync() == []  # already Pending: no status write
    assert w.events() == [
        ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
    ]


async def test_a_claim_naming_a_volume_binds_exactly_that_one() -> None:
    w = World()
    w.seed_claim(claim(volumeName="named"))
    w.seed_volume(volume("better-fit"))
    w.seed_volume(volume("named", size="8Gi"))
    actions = await w.sync()
    assert {a.name for a in actions if a.resource == "persistentvolumes"} == {"named"}
    # The user chose the volume: the claim is not marked bound-by-controller, the volume is.
    claim_update = next(a.body for a in actions if a.resource == "persistentvolumeclaims" and not a.subresource)
    assert claim_update["metadata"]["annotations"] == {BIND_COMPLETED: "yes"}


async def test_a_named_volume_that_does_not_fit_is_a_volume_mismatch() -> None:
    w = World()
    w.seed_claim(claim(size="5Gi", volumeName="named"))
    w.seed_volume(volume("named", size="1Gi"))
    assert await w.sync() == []
    assert w.events() == [
        ("Warning", "VolumeMismatch", 'Cannot bind to requested volume "named": requested PV is too small')
    ]


async def test_a_volume_pre_bound_to_the_claim_wins_and_keeps_no_controller_annotation() -> None:
    w = World()
    w.seed_claim(claim())
    w.seed_volume(volume("exact"))
    w.seed_volume(
        volume(
            "pre-bound",
            size="4Gi",
            claimRef={"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data"},
        )
    )
    actions = await w.sync()
    assert bound_to(actions) == "pre-bound"
    pv_update = next(a.body for a in actions if a.resource == "persistentvolumes" and not a.subresource)
    assert pv_update["spec"]["claimRef"]["uid"] == "uid-data"
    assert BOUND_BY_CONTROLLER not in (pv_update["metadata"].get("annotations") or {})


async def test_a_volume_whose_claim_is_gone_is_released_and_retained() -> None:
    w = World()
    ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "gone", "uid": "uid-gone"}
    w.seed_volume(volume("kept", phase="Bound", claimRef=ref))
    actions = await w.sync("kept")
    # The cache has no such claim: the API server is asked before the volume is released.
    assert summary(actions) == [("update", "persistentvolumes", "kept", "status")]
    assert actions[0].body["status"]["phase"] == "Released"
    assert [a.verb for a in w.client.actions if a.resource == "persistentvolumeclaims"] == ["get"]
    assert w.events() == []


async def test_a_newer_claim_of_the_same_name_does_not_hold_the_volume() -> None:
    w = World()
    w.seed_claim(claim("data"))  # uid-data
    ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data", "uid": "uid-older"}
    w.seed_volume(volume("old", phase="Bound", claimRef=ref))
    actions = await w.sync("old")
    assert [a.body["status"]["phase"] for a in actions] == ["Released"]


async def test_delete_without_a_deleter_fails_the_volume_with_an_event() -> None:
    w = World()
    ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "gone", "uid": "uid-gone"}
    w.seed_volume(volume("static", phase="Bound", policy="Delete", claimRef=ref))
    actions = await w.sync("static")
    assert [(a.subresource, a.body["status"]["phase"]) for a in actions] == [
        ("status", "Released"),
        ("status", "Failed"),
    ]
    message = 'error getting deleter volume plugin for volume "static": no deletable volume plugin matched'
    assert actions[-1].body["status"]["message"] == message
    assert w.events() == [("Warning", "VolumeFailedDelete", message)]


async def test_delete_of_a_provisioned_volume_is_left_to_its_provisioner() -> None:
    w = World()
    ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "gone", "uid": "uid-gone"}
    provisioned = {"pv.kubernetes.io/provisioned-by": "kuberya.io/local-path"}
    w.seed_volume(volume("pvc-x", phase="Bound", policy="Delete", annotations=provisioned, claimRef=ref))
    actions = await w.sync("pvc-x")
    assert [a.body["status"]["phase"] for a in actions] == ["Released"]
    assert w.events() == []


async def test_a_bound_claim_whose_volume_is_gone_is_lost() -> None:
    w = World()
    lost = claim(volumeName="vanished")
    lost["metadata"]["annotations"] = {BIND_COMPLETED: "yes"}
    lost["status"] = {"phase": "Bound"}
    w.seed_claim(lost)
    actions = await w.sync()
    assert [a.body["status"]["phase"] for a in actions] == ["Lost"]
    assert w.events() == [
        ("Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
    ]


async def test_an_unused_volume_becomes_available() -> None:
    w = World()
    w.seed_volume(volume("fresh", phase="Pending"))
    actions = await w.sync("fresh")
    assert [(a.subresource, a.body["status"]["phase"]) for a in actions] == [("status", "Available")]


async def test_a_claim_of_a_known_class_is_annotated_for_its_provisioner() -> None:
    w = World()
    w.seed_class(
        {
            "metadata": {"name": "local-path-immediate"},
            "provisioner": "kuberya.io/local-path",
            "volumeBindingMode": "Immediate",
        }
    )
    w.seed_claim(claim(class_name="local-path-immediate"))
    actions = await w.sync()
    assert summary(actions) == [("update", "persistentvolumeclaims", "data", None)]
    annotations = actions[0].body["metadata"]["annotations"]
    assert annotations["volume.kubernetes.io/storage-provisioner"] == "kuberya.io/local-path"
    assert annotations["volume.beta.kubernetes.io/storage-provisioner"] == "kuberya.io/local-path"
    assert [e[1] for e in w.events()] == ["ExternalProvisioning"]


async def test_a_claim_of_an_unknown_class_says_which() -> None:
    w = World()
    w.seed_claim(claim(class_name="fast"))
    assert await w.sync() == []
    assert w.events() == [("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')]
