"""Image archives in and out: ``docker save`` tarballs and OCI image layouts (tar or directory).

**Reading** (``kuberya load -i``) recognises the format by its contents, not its name:

- an *OCI layout* has ``oci-layout`` + ``index.json`` + ``blobs/sha256/…``; blobs are copied in and
  verified against their digests; image names come from the ``io.containerd.image.name`` or
  ``org.opencontainers.image.ref.name`` annotations (Docker ≥ 25 writes this format too, and its
  ``manifest.json`` ``RepoTags`` also name the images);
- a classic *docker save* archive has ``manifest.json`` listing ``Config``, ``RepoTags`` and
  ``Layers`` (``<id>/layer.tar``): the config is kept byte-for-byte (so the image id is Docker's),
  each layer becomes a blob as it is, and an OCI manifest is made for them; the layers must hash to
  the config's ``diff_ids`` when uncompressed.

**Writing** (``kuberya save``) produces what Docker 25 writes: an OCI layout *plus* a
``manifest.json`` whose ``Layers`` point at the blobs, so one archive loads with ``docker load``
(old and new), ``skopeo``/``buildah`` (``oci-archive:``), ``podman load`` and kuberya itself.
:func:`export_oci_layout` writes the same as a directory (``oci:DIR`` for skopeo and buildah).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from kuberya.images.errors import ArchiveError, DigestMismatchError, ImageError
from kuberya.images.image import Image
from kuberya.images.layers import compression_of, diff_id_of
from kuberya.images.oci import (
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    REF_NAME_ANNOTATION,
    Descriptor,
    Digest,
    Index,
    Platform,
    canonical_json,
    check_digest,
    hex_of,
    host_platform,
    load_json,
    platform_matches,
)
from kuberya.images.reference import parse_reference
from kuberya.images.store import ImageStore

CONTAINERD_NAME = "io.containerd.image.name"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


class _Source(Protocol):
    """Files of an archive, tar or directory alike."""

    def exists(self, name: str) -> bool: ...
    def read(self, name: str) -> bytes: ...
    def copy_to_store(self, name: str, store: ImageStore, expected: str | None, *, layer: bool = False) -> Digest: ...


class _DirSource:
    def __init__(self, root: Path, *, move: bool, adopt_layers: bool = False) -> None:
        self.root = root
        self.move = move
        self.adopt_layers = adopt_layers and move

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ArchiveError(f"archive entry {name!r} points outside {self.root}")
        return path

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError as e:
            raise ArchiveError(f"{self.root} has no {name}") from e

    def copy_to_store(self, name: str, store: ImageStore, expected: str | None, *, layer: bool = False) -> Digest:
        if layer and expected is not None and self.adopt_layers:
            return store.adopt_layer(self._path(name), expected)
        return store.import_file(self._path(name), expected, move=self.move)


class _TarSource:
    def __init__(self, archive: tarfile.TarFile, label: str) -> None:
        self.archive = archive
        self.label = label
        self.members = {m.name.removeprefix("./"): m for m in archive.getmembers() if m.isfile() or m.issym()}

    def _open(self, name: str) -> IO[bytes]:
        member = self.members.get(name.removeprefix("./"))
        seen = 0
        while member is not None and member.issym() and seen < 8:  # docker save links duplicate layers
            target = str(Path(member.name).parent / member.linkname)
            member = self.members.get(str(Path(target)).replace("\\", "/"))
            seen += 1
        stream = self.archive.extractfile(member) if member is not None else None
        if stream is None:
            raise ArchiveError(f"{self.label} has no file {name!r}")
        return stream

    def exists(self, name: str) -> bool:
        return name.removeprefix("./") in self.members

    def read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def copy_to_store(self, name: str, store: ImageStore, expected: str | None, *, layer: bool = False) -> Digest:
        import hashlib

        hasher = hashlib.sha256()
        tmp = store.temp_path("load")
        with self._open(name) as src, tmp.open("wb") as out:
            while chunk := src.read(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
        digest = Digest("sha256:" + hasher.hexdigest())
        if expected is not None and digest != expected:
            tmp.unlink()
            raise DigestMismatchError(f"{self.label}: {name} hashes to {digest}, but is named {expected}")
        store.commit_blob(tmp, digest)
        return digest


@contextmanager
def _open_source(path: Path, *, move: bool = False, adopt_layers: bool = False) -> Iterator[_Source]:
    if path.is_dir():
        yield _DirSource(path, move=move, adopt_layers=adopt_layers)
        return
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the `with` below, after the check
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"{path} is not an image archive (a tar from `docker save` or an OCI layout): {e}") from e
    with archive:
        yield _TarSource(archive, str(path))


def load_archive(
    path: Path,
    store: ImageStore,
    *,
    names: tuple[str, ...] = (),
    platform: Platform | None = None,
    move: bool = False,
    adopt_layers: bool = False,
) -> list[Image]:
    """Import every image of the archive or layout at ``path``; ``names`` replace the archive's own.

    ``move`` (layout directories only) moves the blobs into the store instead of copying them: the
    layout is consumed, as :mod:`.build` does with buildah's output. ``adopt_layers`` (with ``move``)
    takes layer blobs by the digests their file names give, unhashed, after checking their sizes:
    only for a layout that a trusted tool wrote into a directory of ours, as buildah does for
    :mod:`.build` - it names each blob by the digest it computed while writing it. Hashing a built
    layer again was most of a build's hand-over time; its content is still verified before any
    container uses it (unpacking checks it against the image config's diff_id) and by the registry
    it is pushed to.
    """
    with _open_source(path, move=move, adopt_layers=adopt_layers) as source, store.lease():
        if source.exists("index.json") and (source.exists("oci-layout") or not source.exists("manifest.json")):
            docker_tags = _docker_tags(source) if source.exists("manifest.json") else {}
            return _load_oci(source, store, names=names, platform=platform or host_platform(), docker_tags=docker_tags)
        if source.exists("manifest.json"):
            return _load_docker(source, store, names=names)
    raise ArchiveError(f"{path} has neither index.json (OCI layout) nor manifest.json (docker save)")


def _docker_tags(source: _Source) -> dict[str, list[str]]:
    """Config digest -> RepoTags from a docker manifest.json next to an OCI layout."""
    result: dict[str, list[str]] = {}
    for entry in load_json(source.read("manifest.json"), "manifest.json"):
        config = str(entry.get("Config", ""))
        result["sha256:" + Path(config).name.removesuffix(".json")] = list(entry.get("RepoTags") or [])
    return result


def _load_oci(
    source: _Source, store: ImageStore, *, names: tuple[str, ...], platform: Platform, docker_tags: dict[str, list[str]]
) -> list[Image]:
    index = cast(Index, load_json(source.read("index.json"), "index.json"))
    images: list[Image] = []
    for descriptor in index.get("manifests", []):
        manifest_descriptor = _pick_platform(source, descriptor, platform)
        data = _blob(source, manifest_descriptor["digest"])
        manifest = load_json(data, "manifest")
        for child in (manifest["config"], *manifest["layers"]):
            digest = check_digest(child["digest"])
            if not store.has_blob(digest):
                name = f"blobs/sha256/{hex_of(digest)}"
                source.copy_to_store(name, store, digest, layer=child is not manifest["config"])
                if (size := store.blob_path(digest).stat().st_size) != child["size"]:
                    raise ArchiveError(f"{name} has {size} bytes, but its manifest says {child['size']}")
        annotations = descriptor.get("annotations", {})
        own = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME_ANNOTATION, "")
        tags = tuple(docker_tags.get(manifest["config"]["digest"], ()))
        chosen = names or tags or ((own,) if own and _is_full_name(own) else ())
        images.append(store.add_image(data, names=chosen))
    if not images:
        raise ArchiveError("the OCI layout's index.json lists no images")
    return images


def _pick_platform(source: _Source, descriptor: Descriptor, platform: Platform) -> Descriptor:
    if descriptor.get("mediaType") not in INDEX_TYPES:
        return descriptor
    nested = cast(Index, load_json(_blob(source, descriptor["digest"]), "nested index"))
    manifests = nested.get("manifests", [])
    for child in manifests:
        if "platform" in child and platform_matches(child["platform"], platform):
            return child
    if len(manifests) == 1:
        return manifests[0]
    raise ImageError(
        f"the archive's index {descriptor['digest']} has no image for {platform['os']}/{platform['architecture']}"
    )


def _blob(source: _Source, digest: str) -> bytes:
    data = source.read(f"blobs/sha256/{hex_of(digest)}")
    from kuberya.images.oci import verify

    verify(data, digest)
    return data


def _is_full_name(text: str) -> bool:
    """An annotation that names an image (``busybox:1``), not only a tag (``latest``)."""
    if ":" not in text and "/" not in text:
        return False
    try:
        parse_reference(text)
    except ImageError:
        return False
    return True


def _load_docker(source: _Source, store: ImageStore, *, names: tuple[str, ...]) -> list[Image]:
    entries = load_json(source.read("manifest.json"), "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ArchiveError("manifest.json of the docker archive lists no images")
    images = []
    for entry in entries:
        config_bytes = source.read(entry["Config"])
        config = load_json(config_bytes, "image config")
        config_digest = store.put_bytes(config_bytes)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(entry["Layers"]):
            raise ArchiveError(f"{entry['Config']}: {len(entry['Layers'])} layers but {len(diff_ids)} diff_ids")
        layers: list[Descriptor] = []
        for name, diff_id in zip(entry["Layers"], diff_ids, strict=True):
            digest = source.copy_to_store(name, store, None)
            path = store.blob_path(digest)
            kind = _layer_type(path)
            actual = digest if kind == OCI_LAYER else diff_id_of(path)
            if actual != diff_id:
                raise DigestMismatchError(f"layer {name} of the archive is {actual}, but its config says {diff_id}")
            layers.append(Descriptor(mediaType=kind, digest=digest, size=path.stat().st_size))
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": layers,
        }  # fmt: skip
        data = canonical_json(manifest)
        images.append(store.add_image(data, names=names or tuple(entry.get("RepoTags") or ())))
    return images


def _layer_type(path: Path) -> str:
    with path.open("rb") as f:
        kind = compression_of(f.read(4))
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}.get(kind, OCI_LAYER)


# -- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    image: Image
    name: str
    """The full reference to record in the archive (``docker.io/library/busybox:latest``)."""


class _Sink(Protocol):
    def add_bytes(self, name: str, data: bytes) -> None: ...
    def add_file(self, name: str, path: Path) -> None: ...


class _TarSink:
    def __init__(self, archive: tarfile.TarFile) -> None:
        self.archive = archive
        self.seen: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self.archive.addfile(info, io.BytesIO(data))

    def add_file(self, name: str, path: Path) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode = path.stat().st_size, 0o644
        with path.open("rb") as f:
            self.archive.addfile(info, f)


class _DirSink:
    def __init__(self, root: Path) -> None:
        self.root = root

    def add_bytes(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def add_file(self, name: str, path: Path) -> None:
        import shutil

        target = self.root / name
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _write_layout(sink: _Sink, store: ImageStore, images: list[Named], *, docker_manifest: bool) -> None:
    sink.add_bytes("oci-layout", _LAYOUT)
    entries: list[Descriptor] = []
    docker: list[dict[str, Any]] = []
    for named in images:
        image = named.image
        manifest = image.manifest
        for descriptor in (manifest["config"], *manifest["layers"]):
            sink.add_file(f"blobs/sha256/{hex_of(descriptor['digest'])}", store.blob_path(descriptor["digest"]))
        data = store.read_blob(image.digest)
        sink.add_file(f"blobs/sha256/{hex_of(image.digest)}", store.blob_path(image.digest))
        ref = parse_reference(named.name)
        annotations = {CONTAINERD_NAME: ref.name, REF_NAME_ANNOTATION: ref.tag or ref.name}
        entries.append(Descriptor(mediaType=image.media_type or OCI_MANIFEST, digest=image.digest, size=len(data),
                                  annotations=annotations))  # fmt: skip
        docker.append({
            "Config": f"blobs/sha256/{hex_of(image.id)}",
            "RepoTags": [ref.familiar] if ref.tag else [],
            "Layers": [f"blobs/sha256/{hex_of(d['digest'])}" for d in manifest["layers"]],
        })  # fmt: skip
    sink.add_bytes(
        "index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    )
    if docker_manifest:
        sink.add_bytes("manifest.json", json.dumps(docker).encode())


def save_archive(store: ImageStore, images: list[Named], out: Path) -> None:
    """Write ``images`` as one tar readable by ``docker load`` and OCI tools (see the module docstring)."""
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as archive:
            _write_layout(_TarSink(archive), store, images, docker_manifest=True)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def export_oci_layout(store: ImageStore, images: list[Named], out: Path) -> None:
    """Write ``images`` as an OCI layout directory (``oci:DIR`` for skopeo and buildah)."""
    out.mkdir(parents=True, exist_ok=True)
    _write_layout(_DirSink(out), store, images, docker_manifest=False)
