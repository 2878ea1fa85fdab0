"""The store: names, lookups, unpacked layers, gc, and concurrent writers."""

from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kuberya.images.archive import Named, load_archive, save_archive
from kuberya.images.compose import compose_image, tar_of
from kuberya.images.errors import DigestMismatchError, ImageError, ImageNotFoundError
from kuberya.images.store import ImageStore


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def base_layers() -> list[bytes]:
    return [tar_of({"bin/tool": b"#!/bin/sh\n"}, symlinks={"bin/sh": "tool"}), tar_of({"etc/os": "test\n"})]


def test_compose_lookup_and_names(store: ImageStore) -> None:
    image = compose_image(store, base_layers(), names=("app:v1",), config={"Cmd": ["/bin/sh"]})
    assert image.names == ("docker.io/library/app:v1",)
    for ref in ("app:v1", "docker.io/library/app:v1", image.digest, image.id, image.short_id, image.id[7:11],
                f"app@{image.digest}"):  # fmt: skip
        assert store.get(ref).digest == image.digest, ref
    with pytest.raises(ImageNotFoundError, match="pull, load or build"):
        store.get("app:v2")
    again = compose_image(store, base_layers(), names=("app:v1",), config={"Cmd": ["/bin/sh"]})
    assert again.digest == image.digest  # deterministic


def test_unpack_shares_layers_by_diff_id(store: ImageStore) -> None:
    a = compose_image(store, base_layers(), names=("a:1",))
    b = compose_image(store, [*base_layers(), tar_of({"app": "b"})], names=("b:1",), compress=False)
    ua, ub = store.unpack(a), store.unpack(b)
    assert ua.layers[0].path == ub.layers[0].path  # same diff_id, one directory, however compressed
    assert (ub.layers[2].path / "app").read_text() == "b"
    assert ub.lower_dirs[0] == ub.layers[-1].path
    assert (ua.layers[0].path / "bin/sh").is_symlink()


def test_unpack_checks_the_diff_id(store: ImageStore) -> None:
    image = compose_image(store, base_layers(), names=("a:1",))
    config = dict(image.config)
    config["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + "0" * 64, image.config["rootfs"]["diff_ids"][1]]}
    config_bytes = json.dumps(config).encode()
    digest = store.put_bytes(config_bytes)
    manifest = dict(image.manifest, config={"mediaType": image.manifest["config"]["mediaType"], "digest": digest,
                                             "size": len(config_bytes)})  # fmt: skip
    bad = store.add_image(json.dumps(manifest).encode(), names=("bad:1",))
    with pytest.raises(DigestMismatchError):
        store.unpack(bad)
    assert not list(store.tmp.iterdir())


def test_gc_keeps_what_names_reach(store: ImageStore) -> None:
    a = compose_image(store, base_layers(), names=("a:1",))
    b = compose_image(store, [*base_layers(), tar_of({"only-b": "x"})], names=("b:1", "b:latest"))
    store.unpack(a)
    store.unpack(b)
    (store.tmp / "abandoned.partial").write_bytes(b"half a blob")
    assert store.gc().blobs_removed == 0
    store.untag("b:1")
    assert store.gc().blobs_removed == 0  # b:latest still names it
    store.untag("b:latest")
    result = store.gc()
    assert (result.blobs_removed, result.layers_removed) == (3, 1)  # b's manifest, config and own layer
    assert store.get("a:1").digest == a.digest
    assert store.unpack(a).layers[0].path.exists()
    assert not list(store.tmp.iterdir())
    store.untag("a:1")
    store.gc()
    assert not list(store.blobs.iterdir()) and not list(store.layers.iterdir())


def test_concurrent_taggers_lose_nothing(store: ImageStore) -> None:
    image = compose_image(store, base_layers())

    def tag(i: int) -> None:
        store.tag_digest(image.digest, (f"app:{i}",))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(tag, range(64)))
    assert len(store.names()) == 64


def test_concurrent_unpacks_of_one_layer(store: ImageStore) -> None:
    image = compose_image(store, base_layers(), names=("a:1",))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: store.unpack(image), range(8)))
    assert len({r.layers[0].path for r in results}) == 1
    assert not list(store.tmp.iterdir())


def test_add_image_needs_its_blobs(store: ImageStore) -> None:
    manifest = {"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1},
                "layers": []}  # fmt: skip
    with pytest.raises(ImageError, match="not in the store"):
        store.add_image(json.dumps(manifest).encode(), names=("x:1",))


def test_save_and_load_round_trip(store: ImageStore, tmp_path: Path) -> None:
    image = compose_image(store, base_layers(), names=("app:v1",))
    archive = tmp_path / "app.tar"
    save_archive(store, [Named(image, "app:v1")], archive)
    with tarfile.open(archive) as t:
        names = set(t.getnames())
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    other = ImageStore(tmp_path / "other")
    (loaded,) = load_archive(archive, other)
    assert (loaded.digest, loaded.names) == (image.digest, ("docker.io/library/app:v1",))


def test_load_classic_docker_save(store: ImageStore, tmp_path: Path) -> None:
    """The pre-25 `docker save` layout: <id>/layer.tar, <config>.json, manifest.json with RepoTags."""
    import hashlib
    import io

    layers = base_layers()
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}  # fmt: skip
    config_bytes = json.dumps(config).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    files = {f"{config_hex}.json": config_bytes}
    for i, layer in enumerate(layers):
        files[f"layer{i}/layer.tar"] = layer
    files["manifest.json"] = json.dumps(
        [
            {
                "Config": f"{config_hex}.json",
                "RepoTags": ["old:save"],
                "Layers": [f"layer{i}/layer.tar" for i in range(2)],
            }
        ]
    ).encode()
    archive = tmp_path / "docker.tar"
    with tarfile.open(archive, "w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (image,) = load_archive(archive, store)
    assert image.names == ("docker.io/library/old:save",)
    assert image.id == "sha256:" + config_hex  # the image id is Docker's
    assert (store.unpack(image).layers[0].path / "bin/tool").exists()
