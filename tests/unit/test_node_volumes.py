"""Pod volumes: emptyDir, configMap/secret/downwardAPI projection with the ..data swap, mounts."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from kuberya.client.resources import CONFIGMAPS, SECRETS
from kuberya.runtime.base import Mount
from tests.unit.test_node_support import pod, running

VOLUMES = [
    {"name": "scratch", "emptyDir": {}},
    {
        "name": "conf",
        "configMap": {
            "name": "conf",
            "defaultMode": 0o644,
            "items": [{"key": "a", "path": "dir/a.txt", "mode": 0o600}],
        },
    },
    {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
    {
        "name": "info",
        "downwardAPI": {
            "defaultMode": 0o644,
            "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}],
        },
    },
]
MOUNTS = [
    {"name": "scratch", "mountPath": "/tmp/scratch"},
    {"name": "conf", "mountPath": "/etc/conf", "readOnly": True},
    {"name": "creds", "mountPath": "/etc/creds"},
    {"name": "info", "mountPath": "/etc/info"},
]


async def test_volumes_are_projected_mounted_and_updated(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.client.add(CONFIGMAPS, {"metadata": {"name": "conf", "namespace": "default"}, "data": {"a": "one", "b": "x"}})
        h.client.add(
            SECRETS,
            {"metadata": {"name": "creds", "namespace": "default"}, "data": {"pw": base64.b64encode(b"s3").decode()}},
        )
        body = pod(volumes=VOLUMES)
        body["metadata"]["labels"] = {"app": "web"}
        body["spec"]["containers"][0]["volumeMounts"] = MOUNTS
        h.add_pod(body)
        await h.settle()
        assert "running" in h.container()["state"]
        uid = h.get_pod()["metadata"]["uid"]
        root = tmp_path / "pods" / uid / "volumes"
        conf = root / "kubernetes.io~configmap" / "conf"
        assert (root / "kubernetes.io~empty-dir" / "scratch").is_dir()
        assert (conf / "dir" / "a.txt").read_text() == "one"
        assert not (conf / "b").exists()
        assert os.readlink(conf / "dir") == "..data/dir"
        assert (conf / "..data").is_symlink()
        assert oct((conf / "dir" / "a.txt").stat().st_mode & 0o777) == oct(0o600)
        creds = root / "kubernetes.io~secret" / "creds" / "pw"
        assert creds.read_bytes() == b"s3" and creds.stat().st_mode & 0o777 == 0o400
        assert (root / "kubernetes.io~downward-api" / "info" / "labels").read_text() == 'app="web"'
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert config.mounts == (
            Mount(root / "kubernetes.io~empty-dir" / "scratch", "/tmp/scratch"),
            Mount(conf, "/etc/conf", True),
            Mount(root / "kubernetes.io~secret" / "creds", "/etc/creds"),
            Mount(root / "kubernetes.io~downward-api" / "info", "/etc/info"),
        )
        old_target = os.readlink(conf / "..data")
        h.client.add(CONFIGMAPS, {"metadata": {"name": "conf", "namespace": "default"}, "data": {"a": "two"}})
        await h.settle()
        assert (conf / "dir" / "a.txt").read_text() == "two"
        assert os.readlink(conf / "..data") != old_target
        assert not (conf / old_target).exists()
        assert h.container()["restartCount"] == 0  # files change under a running container
        await h.client.delete(CONFIGMAPS, "conf", namespace="default")
        await h.client.delete(SECRETS, "creds", namespace="default")
    await asyncio.sleep(0)


async def test_missing_configmap_volume_is_a_failed_mount(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod(volumes=[{"name": "conf", "configMap": {"name": "conf"}}]))
        await h.settle()
        assert h.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}
        message = 'MountVolume.SetUp failed for volume "conf" : configmap "conf" not found'
        assert ("Warning", "FailedMount", message) in h.events()
        h.client.add(CONFIGMAPS, {"metadata": {"name": "conf", "namespace": "default"}, "data": {"k": "v"}})
        await h.settle()
        assert "running" in h.container()["state"]
