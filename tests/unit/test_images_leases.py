"""Leases: gc keeps what containers use, whatever the names say, and drops leases whose container is gone.

The holder of a lease stands for a container's state directory: a plain directory here. The CLI
(``kuberya rmi`` / ``images`` / ``prune``) runs in-process through click's runner on the same store.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kuberya.cli.images import images_command, prune_command, rmi_command
from kuberya.images.compose import compose_image, tar_of
from kuberya.images.errors import ImageError
from kuberya.images.image import Image
from kuberya.images.leases import Lease, release_lease
from kuberya.images.store import ImageStore


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "data" / "images")


def make_image(store: ImageStore, name: str, marker: str) -> Image:
    layers = [tar_of({"bin/tool": b"#!/bin/sh\n"}), tar_of({f"app/{marker}": marker})]
    return compose_image(store, layers, names=(name,), config={"Cmd": ["/bin/tool"]})


def lease_on(store: ImageStore, image: Image, holder: Path, lease_id: str = "runc-0123") -> Lease:
    holder.mkdir(parents=True, exist_ok=True)
    unpacked = store.unpack(image)
    lease = Lease(id=lease_id, holder=holder, image=image.digest, image_id=image.id,
                  layers=tuple(layer.diff_id for layer in unpacked.layers), reference="app:v1",
                  description="container app of pod default/web", created=time.time())  # fmt: skip
    store.add_lease(lease)
    return lease


def content_of(store: ImageStore, image: Image) -> list[Path]:
    blobs = [image.digest, image.manifest["config"]["digest"], *(d["digest"] for d in image.manifest["layers"])]
    return [store.blob_path(d) for d in blobs] + [store.layer_dir(d) for d in image.diff_ids]


def test_a_lease_keeps_an_untagged_image_until_its_holder_is_gone(store: ImageStore, tmp_path: Path) -> None:
    image = make_image(store, "app:v1", "a")
    holder = tmp_path / "containers" / "0123"
    lease_on(store, image, holder)
    store.untag("app:v1")

    result = store.gc()
    assert (result.blobs_removed, result.layers_removed, result.leases_kept) == (0, 0, 1)
    assert all(path.exists() for path in content_of(store, image))
    assert (store.unpack(store.load(image.digest)).layers[1].path / "app/a").read_text() == "a"

    holder.rmdir()  # the container was deleted, but its lease was not (a crash in between)
    result = store.gc()
    assert (result.leases_removed, result.blobs_removed, result.layers_removed) == (1, 4, 2)
    assert not any(path.exists() for path in content_of(store, image))
    assert store.leases() == []


def test_removing_the_lease_frees_the_content(store: ImageStore, tmp_path: Path) -> None:
    image = make_image(store, "app:v1", "a")
    lease = lease_on(store, image, tmp_path / "holder")
    store.untag("app:v1")
    store.remove_lease(lease.id)
    release_lease(store.root, lease.id)  # idempotent
    assert store.gc().layers_removed == 2


def test_leased_layers_are_kept_even_without_the_image(store: ImageStore, tmp_path: Path) -> None:
    """A lease by diff_id alone (a resolver that knows no manifest) still protects the layer directories."""
    image = make_image(store, "app:v1", "a")
    holder = tmp_path / "holder"
    holder.mkdir()
    store.unpack(image)
    store.add_lease(Lease(id="layers-only", holder=holder, layers=image.diff_ids))
    store.untag("app:v1")
    result = store.gc()
    assert (result.blobs_removed, result.layers_removed) == (4, 0)
    assert all(store.layer_dir(d).is_dir() for d in image.diff_ids)


def test_other_images_are_still_collected(store: ImageStore, tmp_path: Path) -> None:
    used, unused = make_image(store, "used:1", "u"), make_image(store, "unused:1", "x")
    store.unpack(unused)
    lease_on(store, used, tmp_path / "holder")
    store.untag("used:1")
    store.untag("unused:1")
    result = store.gc()
    # unused's manifest, config and own layer go; the shared bottom layer stays for `used`
    assert (result.blobs_removed, result.layers_removed) == (3, 1)
    assert all(path.exists() for path in content_of(store, used))


def test_a_lease_on_a_collected_layer_is_refused(store: ImageStore, tmp_path: Path) -> None:
    """gc between resolving an image and leasing it: the runtime is told, not left with a hole under its mount."""
    image = make_image(store, "app:v1", "a")
    unpacked = store.unpack(image)
    store.untag("app:v1")
    store.gc()
    holder = tmp_path / "holder"
    holder.mkdir()
    lease = Lease(id="late", holder=holder, image=image.digest, layers=tuple(x.diff_id for x in unpacked.layers),
                  reference="app:v1")  # fmt: skip
    with pytest.raises(ImageError, match="garbage-collected while the container was being created"):
        store.add_lease(lease)
    assert store.leases() == []


def test_lease_ids_and_holders_are_checked(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="lease id"):
        store.add_lease(Lease(id="../escape", holder=tmp_path))
    with pytest.raises(ImageError, match="absolute"):
        store.add_lease(Lease(id="relative", holder=Path("containers/1")))


def test_users_of_and_unreadable_leases(store: ImageStore, tmp_path: Path) -> None:
    image, other = make_image(store, "app:v1", "a"), make_image(store, "other:1", "o")
    holder = tmp_path / "holder"
    lease = lease_on(store, image, holder)
    assert store.users_of(image) == [lease]
    assert store.users_of(other) == []
    (store.leases_dir / "garbage.json").write_text("{not json")
    result = store.gc()
    assert (result.leases_kept, result.leases_removed) == (1, 1)
    holder.rmdir()
    assert store.users_of(image) == []


def kuberya(command: object, *args: str, data: Path) -> tuple[int, str]:
    result = CliRunner().invoke(command, [*args, "--data-dir", str(data)], env={"DOCKER_CONFIG": str(data / "none")})  # type: ignore[arg-type]
    return result.exit_code, result.output


def test_rmi_refuses_an_image_in_use_unless_forced(store: ImageStore, tmp_path: Path) -> None:
    data = store.root.parent
    image = make_image(store, "app:v1", "a")
    store.tag_digest(image.digest, ("app:alias",))
    holder = tmp_path / "holder"
    lease_on(store, image, holder)

    code, output = kuberya(images_command, data=data)
    header, *rows = output.splitlines()
    assert header.split()[-1] == "CONTAINERS" and [row.split()[-1] for row in rows] == ["1", "1"]

    # One of two names: an untag, as docker does; the image is still listed.
    assert kuberya(rmi_command, "app:alias", data=data) == (0, "untagged: docker.io/library/app:alias\n"
                                                                "✓ removed 0 blobs (0B), 0 unpacked layers; "
                                                                "kept the images of 1 container\n")  # fmt: skip
    code, output = kuberya(rmi_command, "app:v1", data=data)
    assert code == 1
    assert "image app:v1 is being used by 1 container (container app of pod default/web)" in output
    assert "--force" in output and store.get("app:v1").digest == image.digest
    code, output = kuberya(rmi_command, image.short_id, data=data)  # by id: the same conflict
    assert code == 1 and "being used" in output

    code, output = kuberya(rmi_command, "--force", "app:v1", data=data)
    assert code == 0 and "untagged: docker.io/library/app:v1" in output and "kept: its layers" in output
    assert all(path.exists() for path in content_of(store, image))
    code, output = kuberya(images_command, data=data)
    assert [row.split()[:3] for row in output.splitlines()[1:]] == [["<none>", "<none>", image.short_id]]

    holder.rmdir()
    code, output = kuberya(prune_command, data=data)
    assert code == 0 and "removed 4 blobs" in output and "2 unpacked layers" in output
    assert kuberya(images_command, data=data)[1].splitlines()[1:] == []
