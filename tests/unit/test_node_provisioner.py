"""The node-side local-path provisioner, sample-controller style: seed the caches, sync, compare writes.

A FakeApiClient stands for the API server and a temporary directory for the data dir; the free
space of its filesystem is pinned so the capacity checks are deterministic.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kuberya.client import ApiError, FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import BUILTIN, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES
from kuberya.node.provisioner import PROVISIONER_NAME, LocalPathProvisioner
from tests.fake_api import recorded_events, seed

GI = 2**30
NODE = "node-a"


def storage_class(name: str = "local-path", *, mode: str = "WaitForFirstConsumer", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "provisioner": PROVISIONER_NAME,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": mode,
        "allowVolumeExpansion": True,
        **extra,
    }


def claim(
    name: str = "data",
    *,
    class_name: str = "local-path",
    size: str = "1Gi",
    node: str | None = NODE,
    provisioner: str | None = PROVISIONER_NAME,
    **spec: Any,
) -> dict[str, Any]:
    annotations: dict[str, str] = {}
    if provisioner:
        annotations["volume.kubernetes.io/storage-provisioner"] = provisioner
        annotations["volume.beta.kubernetes.io/storage-provisioner"] = provisioner
    if node:
        annotations["volume.kubernetes.io/selected-node"] = node
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "annotations": annotations},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": class_name,
            "volumeMode": "Filesystem",
            **spec,
        },
        "status": {"phase": "Pending"},
    }


class Harness:
    def __init__(self, tmp_path: Path, *, free: int = 100 * GI) -> None:
        self.data_dir = tmp_path / "data"
        self.free = free
        self.client = FakeApiClient(resources=[*BUILTIN, PERSISTENTVOLUMES, STORAGECLASSES])
        self.provisioner = LocalPathProvisioner(
            self.client,
            node_name=NODE,
            data_dir=self.data_dir,
            clock=FakeClock(),
            free=lambda _path: self.free,
            wall=lambda: 1_767_225_600.0,
        )

    @property
    def volumes_dir(self) -> Path:
        return self.data_dir / "volumes"

    def add_class(self, obj: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.provisioner.classes, obj)

    def add_claim(self, obj: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.provisioner.claims, obj)

    def add_volume(self, obj: dict[str, Any]) -> dict[str, Any]:
        return seed(self.client, self.provisioner.volumes, obj)

    async def sync_claim(self, name: str = "data") -> list[Action]:
        self.client.clear()
        await self.provisioner.sync(("claim", f"default/{name}"))
        return [a for a in self.client.mutations() if a.resource != "events"]

    async def sync_volume(self, name: str) -> list[Action]:
        self.client.clear()
        await self.provisioner.sync(("volume", name))
        return [a for a in self.client.mutations() if a.resource != "events"]

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def expected_volume(h: Harness, *, name: str = "data", size: str = "1Gi", class_name: str = "local-path") -> Any:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-uid-{name}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER_NAME}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "storageClassName": class_name,
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": str(h.volumes_dir / f"pvc-uid-{name}"), "type": "DirectoryOrCreate"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE]}]}
                    ]
                }
            },
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": "default",
                "name": name,
                "uid": f"uid-{name}",
            },
        },
    }


# -- provision ------------------------------------------------------------------------------


async def test_provisions_a_selected_claim_as_a_directory_and_a_prebound_volume(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim())

    writes = await harness.sync_claim()

    assert [(a.verb, a.resource) for a in writes] == [("create", "persistentvolumes")]
    assert writes[0].body == expected_volume(harness)
    directory = harness.volumes_dir / "pvc-uid-data"
    assert directory.is_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o777  # any pod user may write its data
    assert harness.events() == [
        ("Normal", "Provisioning", 'External provisioner is provisioning volume for claim "default/data"'),
        ("Normal", "ProvisioningSucceeded", "Successfully provisioned volume pvc-uid-data"),
    ]


async def test_waits_for_first_consumer_on_this_node(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim("unplaced", node=None))
    harness.add_claim(claim("elsewhere", node="node-b"))

    assert await harness.sync_claim("unplaced") == []
    assert await harness.sync_claim("elsewhere") == []
    assert not harness.volumes_dir.exists()
    assert harness.events() == []


async def test_immediate_class_provisions_without_a_selected_node(harness: Harness) -> None:
    harness.add_class(storage_class("local-path-immediate", mode="Immediate"))
    harness.add_claim(claim(class_name="local-path-immediate", node=None))

    writes = await harness.sync_claim()

    assert [a.body for a in writes] == [expected_volume(harness, class_name="local-path-immediate")]


@pytest.mark.parametrize(
    ("obj", "classes"),
    [
        (claim(provisioner=None), [storage_class()]),  # the PV controller has not asked for provisioning
        (claim(provisioner="other.io/driver"), [storage_class()]),
        (claim(), [{**storage_class(), "provisioner": "other.io/driver"}]),  # the class is someone else's
        (claim(), []),  # the class does not exist (yet)
        (claim(volumeName="static-pv"), [storage_class()]),  # already bound
    ],
    ids=["no-annotation", "other-provisioner", "other-class-provisioner", "missing-class", "bound"],
)
async def test_leaves_claims_that_are_not_ours(harness: Harness, obj: Any, classes: list[Any]) -> None:
    for c in classes:
        harness.add_class(c)
    harness.add_claim(obj)

    assert await harness.sync_claim() == []
    assert harness.events() == []
    assert not harness.volumes_dir.exists()


async def test_a_class_arriving_later_requeues_its_claims(harness: Harness) -> None:
    harness.add_claim(claim())
    harness.add_claim(claim("other", class_name="fast"))
    while len(harness.provisioner.queue):  # the claims' own add events
        key = await harness.provisioner.queue.get()
        assert key is not None
        harness.provisioner.queue.done(key)

    harness.provisioner.classes.store.add(storage_class())
    harness.provisioner._class_changed(storage_class())

    assert len(harness.provisioner.queue) == 1
    assert await harness.provisioner.queue.get() == ("claim", "default/data")
    harness.provisioner.queue.shutdown()


async def test_a_volume_already_made_is_not_made_twice(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim())
    harness.add_volume(expected_volume(harness))

    assert await harness.sync_claim() == []
    assert harness.events() == []


async def test_a_retry_after_a_crash_between_mkdir_and_create_completes_it(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim())
    directory = harness.volumes_dir / "pvc-uid-data"
    directory.mkdir(parents=True)
    (directory / "kept").write_text("x")

    writes = await harness.sync_claim()

    assert [a.body for a in writes] == [expected_volume(harness)]
    assert (directory / "kept").read_text() == "x"


async def test_a_volume_the_cache_has_not_seen_yet_counts_as_made(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim())
    harness.client.add(PERSISTENTVOLUMES, expected_volume(harness))  # in the server, not in the cache

    await harness.sync_claim()

    assert harness.events()[-1] == ("Normal", "ProvisioningSucceeded", "Successfully provisioned volume pvc-uid-data")


async def test_a_failed_create_leaves_no_directory(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim())

    def refuse(action: Action) -> None:
        if action.verb == "create" and action.resource == "persistentvolumes":
            raise ApiError(500, "InternalError", "etcd is down", {})

    harness.client.reactors.append(refuse)

    with pytest.raises(ApiError):
        await harness.sync_claim()

    assert list(harness.volumes_dir.iterdir()) == []
    assert harness.events()[-1] == (
        "Warning",
        "ProvisioningFailed",
        "Error creating provisioned PV object for claim default/data: etcd is down. Deleting the volume.",
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"selector": {"matchLabels": {"tier": "db"}}}, "claim Selector is not supported"),
        (
            {"accessModes": ["ReadWriteOnce", "ReadWriteMany"]},
            f"{PROVISIONER_NAME} only supports ReadWriteOnce and ReadWriteOncePod access modes "
            "(a directory on one node), not ReadWriteMany",
        ),
        (
            {"accessModes": ["ReadOnlyMany"]},
            f"{PROVISIONER_NAME} only supports ReadWriteOnce and ReadWriteOncePod access modes "
            "(a directory on one node), not ReadOnlyMany",
        ),
    ],
    ids=["selector", "read-write-many", "read-only-many"],
)
async def test_refuses_what_a_node_directory_cannot_give(harness: Harness, spec: Any, message: str) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim(**spec))

    assert await harness.sync_claim() == []

    assert harness.events() == [
        ("Normal", "Provisioning", 'External provisioner is provisioning volume for claim "default/data"'),
        ("Warning", "ProvisioningFailed", message),
    ]
    assert not harness.volumes_dir.exists()
    assert harness.provisioner.queue.retries(("claim", "default/data")) == 0  # not retried: the claim must change


async def test_read_write_once_pod_is_served(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim(accessModes=["ReadWriteOncePod"]))

    writes = await harness.sync_claim()

    assert writes[0].body["spec"]["accessModes"] == ["ReadWriteOncePod"]


async def test_refuses_block_volumes_before_provisioning(harness: Harness) -> None:
    harness.add_class(storage_class())
    harness.add_claim(claim(volumeMode="Block"))

    assert await harness.sync_claim() == []

    assert harness.events() == [
        ("Warning", "ProvisioningFailed", f"{PROVISIONER_NAME} does not support block volume provisioning")
    ]


async def test_a_request_beyond_the_free_disk_fails_and_is_retried(tmp_path: Path) -> None:
    harness = Harness(tmp_path, free=3 * GI)
    harness.add_class(storage_class())
    harness.add_claim(claim(size="10Gi"))

    assert await harness.sync_claim() == []

    assert harness.events()[-1] == (
        "Warning",
        "ProvisioningFailed",
        f"not enough free space on node 'node-a': 10Gi requested, 3Gi free on the filesystem of {harness.volumes_dir}",
    )
    assert not harness.volumes_dir.exists()
    assert harness.provisioner.queue.retries(("claim", "default/data")) == 1

    harness.free = 20 * GI  # space freed: the retry succeeds
    assert [a.verb for a in await harness.sync_claim()] == ["create"]
    harness.provisioner.queue.shutdown()


# -- delete ---------------------------------------------------------------------------------


def released(h: Harness, *, policy: str = "Delete", path: Path | None = None, **meta: Any) -> dict[str, Any]:
    volume = expected_volume(h)
    volume["spec"]["persistentVolumeReclaimPolicy"] = policy
    if path is not None:
        volume["spec"]["hostPath"]["path"] = str(path)
    volume["metadata"].update(meta)
    volume["status"] = {"phase": "Released"}
    return volume


async def test_deletes_a_released_volume_and_its_directory(harness: Harness) -> None:
    directory = harness.volumes_dir / "pvc-uid-data"
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "file").write_text("data")
    harness.add_volume(released(harness))

    writes = await harness.sync_volume("pvc-uid-data")

    assert [(a.verb, a.resource, a.name) for a in writes] == [("delete", "persistentvolumes", "pvc-uid-data")]
    assert not directory.exists()
    assert harness.volumes_dir.is_dir()  # only the volume's own directory goes


async def test_a_directory_already_gone_still_deletes_the_volume(harness: Harness) -> None:
    harness.add_volume(released(harness))

    writes = await harness.sync_volume("pvc-uid-data")

    assert [a.verb for a in writes] == ["delete"]


@pytest.mark.parametrize(
    "change",
    [
        {"policy": "Retain"},
        {"annotations": {}},  # not made by this provisioner
        {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["kubernetes.io/pv-protection"]},
    ],
    ids=["retain", "not-ours", "being-deleted"],
)
async def test_keeps_volumes_it_must_not_delete(harness: Harness, change: dict[str, Any]) -> None:
    directory = harness.volumes_dir / "pvc-uid-data"
    directory.mkdir(parents=True)
    harness.add_volume(released(harness, **change))

    assert await harness.sync_volume("pvc-uid-data") == []
    assert directory.is_dir()


async def test_keeps_a_bound_volume(harness: Harness) -> None:
    directory = harness.volumes_dir / "pvc-uid-data"
    directory.mkdir(parents=True)
    volume = released(harness)
    volume["status"] = {"phase": "Bound"}
    harness.add_volume(volume)

    assert await harness.sync_volume("pvc-uid-data") == []
    assert directory.is_dir()


async def test_never_removes_a_path_outside_the_volumes_directory(harness: Harness, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep me")
    harness.add_volume(released(harness, path=precious))

    assert await harness.sync_volume("pvc-uid-data") == []

    assert (precious / "file").read_text() == "keep me"
    [(kind, reason, message)] = harness.events()
    assert (kind, reason) == ("Warning", "VolumeFailedDelete")
    assert message == (
        f"refusing to delete the data of volume pvc-uid-data: {precious} is not a volume directory under "
        f"{harness.volumes_dir}"
    )


@pytest.mark.parametrize("trick", ["dotdot", "symlink", "volumes-dir-itself"])
async def test_never_follows_a_path_out_of_the_volumes_directory(harness: Harness, tmp_path: Path, trick: str) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep me")
    harness.volumes_dir.mkdir(parents=True)
    if trick == "dotdot":
        path = harness.volumes_dir / ".." / ".." / "precious"
    elif trick == "symlink":
        path = harness.volumes_dir / "pvc-uid-data"
        os.symlink(precious, path)
    else:
        path = harness.volumes_dir
    harness.add_volume(released(harness, path=path))

    assert await harness.sync_volume("pvc-uid-data") == []

    assert (precious / "file").read_text() == "keep me"
    assert harness.volumes_dir.is_dir()
    assert [reason for _, reason, _ in harness.events()] == ["VolumeFailedDelete"]


# -- expand ---------------------------------------------------------------------------------


def bound_pair(h: Harness, *, request: str = "2Gi", capacity: str = "1Gi", expandable: bool = True) -> None:
    h.add_class(storage_class(allowVolumeExpansion=expandable))
    c = claim(size=request, volumeName="pvc-uid-data")
    c["status"] = {"phase": "Bound", "capacity": {"storage": capacity}, "accessModes": ["ReadWriteOnce"]}
    h.add_claim(c)
    volume = expected_volume(h, size=capacity)
    volume["status"] = {"phase": "Bound"}
    h.add_volume(volume)


async def test_grows_the_volume_then_reports_it_in_the_claim_status(harness: Harness) -> None:
    bound_pair(harness)

    writes = await harness.sync_claim()

    assert [(a.verb, a.resource, a.subresource, a.body) for a in writes] == [
        ("patch", "persistentvolumes", None, {"spec": {"capacity": {"storage": "2Gi"}}}),
        (
            "patch",
            "persistentvolumeclaims",
            "status",
            {
                "status": {
                    "capacity": {"storage": "2Gi"},
                    "allocatedResources": {"storage": "2Gi"},
                    "conditions": None,
                    "allocatedResourceStatuses": None,
                }
            },
        ),
    ]
    stored = harness.client.stored(PERSISTENTVOLUMECLAIMS, "data", namespace="default")
    assert stored is not None and stored["status"]["capacity"] == {"storage": "2Gi"}
    assert harness.events() == [
        ("Normal", "Resizing", "External resizer is resizing volume pvc-uid-data"),
        ("Normal", "VolumeResizeSuccessful", "Resize volume succeeded"),
    ]


async def test_finishes_a_resize_interrupted_after_the_volume_grew(harness: Harness) -> None:
    bound_pair(harness, request="2Gi", capacity="1Gi")
    harness.add_volume({**expected_volume(harness, size="2Gi"), "status": {"phase": "Bound"}})

    writes = await harness.sync_claim()

    assert [(a.resource, a.subresource) for a in writes] == [("persistentvolumeclaims", "status")]


async def test_does_not_grow_without_allow_volume_expansion(harness: Harness) -> None:
    bound_pair(harness, expandable=False)

    assert await harness.sync_claim() == []
    assert harness.events() == []


async def test_nothing_to_do_for_a_claim_at_its_size(harness: Harness) -> None:
    bound_pair(harness, request="1Gi", capacity="1Gi")

    assert await harness.sync_claim() == []


async def test_refuses_growth_beyond_the_free_disk(tmp_path: Path) -> None:
    harness = Harness(tmp_path, free=2 * GI)
    bound_pair(harness, request="5Gi", capacity="1Gi")  # 4Gi more, 2Gi free

    assert await harness.sync_claim() == []

    assert harness.events()[-1] == (
        "Warning",
        "VolumeResizeFailed",
        f'resize volume "pvc-uid-data" by resizer "{PROVISIONER_NAME}" failed: not enough free space on node '
        f"'node-a': 5Gi requested, 2Gi free on the filesystem of {harness.volumes_dir}",
    )
    assert harness.provisioner.queue.retries(("claim", "default/data")) == 1
    harness.provisioner.queue.shutdown()
