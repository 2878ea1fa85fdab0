"""fsGroup on a claim shared by two pods: each pod's setup gives the volume its own group, as upstream's
per-pod ``SetUp`` does (a cache keyed by the directory alone would skip the second pod)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kuberya.meta.types import Obj
from kuberya.node.env import PodFacts
from kuberya.node.volumes import VolumeManager

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root gives files to another group")


class Lookup:
    def __init__(self, directory: Path) -> None:
        self.claim: Obj = {
            "metadata": {"name": "data", "namespace": "default", "uid": "claim-uid"},
            "spec": {"volumeName": "pv1"},
            "status": {"phase": "Bound"},
        }
        self.volume: Obj = {
            "metadata": {"name": "pv1"},
            "spec": {"local": {"path": str(directory)}, "claimRef": {"uid": "claim-uid"}},
        }

    async def config_map(self, namespace: str, name: str) -> Obj | None:
        return None

    async def secret(self, namespace: str, name: str) -> Obj | None:
        return None

    async def services(self) -> list[Obj]:
        return []

    async def persistent_volume_claim(self, namespace: str, name: str) -> Obj | None:
        return self.claim

    async def persistent_volume(self, name: str) -> Obj | None:
        return self.volume


def claim_pod(uid: str, fs_group: int) -> dict[str, Any]:
    return {
        "metadata": {"name": uid, "namespace": "default", "uid": uid},
        "spec": {
            "securityContext": {"fsGroup": fs_group},
            "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }


async def test_a_second_pod_on_the_same_claim_gets_its_own_fs_group(tmp_path: Path) -> None:
    directory = tmp_path / "local"
    directory.mkdir()
    (directory / "db").write_text("x")
    manager = VolumeManager(tmp_path / "node", Lookup(directory))
    facts = PodFacts(pod_ip="10.0.0.1", host_ip="10.0.0.1")

    await manager.setup(claim_pod("first", 1111), facts)
    assert (directory / "db").stat().st_gid == 1111
    await manager.setup(claim_pod("second", 2222), facts)
    assert directory.stat().st_gid == 2222 and (directory / "db").stat().st_gid == 2222

    # The same pod's next sync does not walk the volume again (its group is already there).
    os.chown(directory / "db", -1, 0)
    await manager.setup(claim_pod("second", 2222), facts)
    assert (directory / "db").stat().st_gid == 0
    manager.cleanup("second")
    await manager.setup(claim_pod("second", 2222), facts)  # forgotten with the pod: a new pod walks again
    assert (directory / "db").stat().st_gid == 2222
