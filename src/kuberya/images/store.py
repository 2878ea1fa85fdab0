"""The content-addressed image store under ``DATA_DIR/images``, safe for several processes at once.

Layout::

    blobs/sha256/<hex>            manifests, configs and layer blobs, named by their digest
    layers/sha256/<hex>/rootfs/   one unpacked directory per layer, named by its diff_id
    layers/sha256/<hex>/layer.json   the unpack record: whiteouts, opaque dirs, size
    index.json                    image names -> manifest digests
    index.lock                    held (flock, exclusive) while index.json is rewritten
    gc.lock                       shared by every writer, exclusive for gc
    leases/<id>.json              content a container uses: its image and layers, kept while it exists
    tmp/                          partial downloads and unpacks; renamed into place when complete

Every file appears by ``rename`` of a complete, verified temporary file, so a reader (the CLI
listing while the node agent pulls) sees an entry entirely or not at all, and ``kill -9`` leaves
only garbage in ``tmp/``. Blobs are immutable: two writers of the same digest write the same bytes,
and the second rename is harmless. ``index.json`` is read without locking (renames are atomic) and
rewritten under ``index.lock`` as read-modify-write, so concurrent tags don't lose each other.

Garbage collection marks what the index reaches (manifest, config, layers, and the layer
directories by the config's diff_ids) and deletes the rest. Writers store blobs *before* naming
them in the index, so gc must not run in between: every write sequence holds ``gc.lock`` shared
(:meth:`ImageStore.lease`) and gc takes it exclusively.

Names are not the only roots: a running container's overlayfs has the unpacked layers as its lower
dirs, and deleting them under it breaks the container. So, as containerd does with leases, a runtime
records what each container uses (:meth:`ImageStore.add_lease`, a :class:`Lease` file) *before* it
mounts the layers, and removes the record when the container is deleted; gc keeps everything a lease
reaches, whether or not a name still does. The store cannot ask the runtime whether a container
exists (``kuberya.images`` imports nothing above it), so a lease names a *holder*: a path that
exists exactly as long as the container does (its state directory). A lease whose holder is gone
(the runtime's state was wiped, or a crash came between the directory's removal and the lease's) is
stale, and gc deletes it with the content only it kept.

Images are found by name (normalised: ``busybox`` is ``docker.io/library/busybox:latest``), by
``name@digest`` or bare manifest digest, or by image id (the config digest, or a prefix of its hex
of at least 4 digits, as ``docker`` accepts).

What the store hands out is defined beside it: :mod:`kuberya.images.image` (images and unpacked
layers) and :mod:`kuberya.images.leases`; the locking and atomic-write primitives are in
:mod:`kuberya.images.files`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kuberya.images.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageError,
    ImageNotFoundError,
    InvalidReferenceError,
)
from kuberya.images.files import atomic_write, flock, remove_tree
from kuberya.images.image import Image, UnpackedImage, UnpackedLayer
from kuberya.images.leases import LEASE_ID, Lease, release_lease
from kuberya.images.oci import (
    INDEX_TYPES,
    Descriptor,
    Digest,
    ImageConfig,
    Manifest,
    canonical_json,
    check_digest,
    hex_of,
    load_json,
    media_type_of,
    sha256_digest,
)
from kuberya.images.reference import parse_reference

_INDEX_VERSION = 1
_MIN_ID_PREFIX = 4


@dataclass(frozen=True, slots=True)
class GcResult:
    blobs_removed: int = 0
    layers_removed: int = 0
    bytes_freed: int = 0
    temp_removed: int = 0
    leases_kept: int = 0
    """Containers whose image content was kept because they still exist."""
    leases_removed: int = 0
    """Stale leases deleted: their holder (the container's directory) was gone."""


@dataclass
class _Index:
    names: dict[str, str] = field(default_factory=dict)


class ImageStore:
    """Blobs, image names and unpacked layers under one directory; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layers = root / "layers" / "sha256"
        self.tmp = root / "tmp"
        self.leases_dir = root / "leases"
        self._index_path = root / "index.json"
        for d in (self.blobs, self.layers, self.tmp, self.leases_dir):
            d.mkdir(parents=True, exist_ok=True)

    # -- locks --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[None]:
        """Hold off gc while blobs are written and named (shared; many writers at once).

        A short-lived hold for one write sequence; what a container uses for its whole life is a
        :class:`Lease` (:meth:`add_lease`).
        """
        with flock(self.root / "gc.lock", fcntl.LOCK_SH):
            yield

    # -- blobs ---------------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError as e:
            raise BlobNotFoundError(f"blob {digest} is missing from the store at {self.root}") from e

    def put_bytes(self, data: bytes, expected: str | None = None) -> Digest:
        digest = sha256_digest(data)
        if expected is not None and digest != expected:
            raise DigestMismatchError(f"content hashes to {digest}, but was named {expected}")
        if not self.has_blob(digest):
            tmp = self.temp_path("blob")
            tmp.write_bytes(data)
            self.commit_blob(tmp, digest)
        return digest

    def temp_path(self, prefix: str) -> Path:
        return self.tmp / f"{prefix}-{os.urandom(16).hex()}"  # (uuid and tempfile cost `kuberya pull` ~10 ms to import)

    def partial_path(self, digest: str) -> Path:
        """Where a download of ``digest`` accumulates; kept across attempts so it can resume."""
        return self.tmp / f"{hex_of(digest)}.partial"

    def commit_blob(self, tmp: Path, digest: str) -> Path:
        """Move a complete, *already verified* file into place as blob ``digest``."""
        target = self.blob_path(digest)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target

    def import_file(self, source: Path, expected: str | None = None, *, move: bool = False) -> Digest:
        """Take ``source`` in as a blob, hashing it; checked against ``expected`` if given.

        ``move`` renames the file into place instead of copying it (it must be on the store's file
        system, e.g. a layout written under :attr:`tmp`): one read to hash, no second copy.
        """
        hasher = hashlib.sha256()
        tmp = self.temp_path("blob")
        if move:
            with source.open("rb") as src:
                while chunk := src.read(1 << 20):
                    hasher.update(chunk)
            os.replace(source, tmp)
        else:
            with source.open("rb") as src, tmp.open("wb") as out:
                while chunk := src.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        digest = Digest("sha256:" + hasher.hexdigest())
        if expected is not None and digest != expected:
            tmp.unlink()
            raise DigestMismatchError(f"{source} hashes to {digest}, but was named {expected}")
        self.commit_blob(tmp, digest)
        return digest

    def adopt_layer(self, source: Path, digest: str) -> Digest:
        """Move in a layer blob whose producer named it by its digest, without hashing it again.

        For a layout buildah wrote into :attr:`tmp` (``move`` as in :meth:`import_file`, same file
        system). The content is verified later, where it matters: :meth:`unpack_layer` checks the
        unpacked layer against the image config's diff_id, and a registry checks a pushed blob.
        """
        checked = check_digest(digest)
        tmp = self.temp_path("blob")
        os.replace(source, tmp)
        self.commit_blob(tmp, checked)
        return checked

    # -- the index -----------------------------------------------------------------------------------

    def _read_index(self) -> _Index:
        try:
            raw = self._index_path.read_bytes()
        except FileNotFoundError:
            return _Index()
        doc = load_json(raw, f"image index {self._index_path}")
        return _Index(names=dict(doc.get("images", {})))

    @contextlib.contextmanager
    def _update_index(self) -> Iterator[_Index]:
        with flock(self.root / "index.lock", fcntl.LOCK_EX):
            index = self._read_index()
            yield index
            doc = {"version": _INDEX_VERSION, "images": dict(sorted(index.names.items()))}
            atomic_write(self._index_path, json.dumps(doc, indent=1).encode(), tmp_dir=self.tmp)

    def names(self) -> dict[str, Digest]:
        """Every image name and the manifest digest it points at."""
        return {name: Digest(d) for name, d in self._read_index().names.items()}

    def add_image(self, manifest_bytes: bytes, *, names: tuple[str, ...] = ()) -> Image:
        """Store a manifest whose config and layers are already blobs, and point ``names`` at it."""
        doc = load_json(manifest_bytes, "image manifest")
        media_type = media_type_of(doc)
        if media_type in INDEX_TYPES or "config" not in doc:
            raise ImageError("expected an image manifest, got a manifest list / index")
        manifest = cast(Manifest, doc)
        for descriptor in (manifest["config"], *manifest["layers"]):
            if not self.has_blob(descriptor["digest"]):
                raise BlobNotFoundError(f"manifest refers to blob {descriptor['digest']}, which is not in the store")
        digest = self.put_bytes(manifest_bytes)
        self.tag_digest(digest, names)
        return self.get(digest)

    def tag_digest(self, digest: str, names: tuple[str, ...]) -> None:
        if not names:
            return
        normalised = [parse_reference(n).name for n in names]
        with self._update_index() as index:
            for name in normalised:
                index.names[name] = digest

    def untag(self, name: str) -> Digest:
        """Remove one name; returns the digest it pointed at."""
        key = parse_reference(name).name
        with self._update_index() as index:
            digest = index.names.pop(key, None)
        if digest is None:
            raise ImageNotFoundError(f"no image named {name!r} in the store")
        return Digest(digest)

    def untag_digest(self, digest: str) -> tuple[str, ...]:
        with self._update_index() as index:
            gone = tuple(n for n, d in index.names.items() if d == digest)
            for name in gone:
                del index.names[name]
        return gone

    # -- images --------------------------------------------------------------------------------------

    def load(self, digest: str) -> Image:
        """The image whose manifest is blob ``digest``."""
        raw = self.read_blob(digest)
        doc = load_json(raw, f"manifest {digest}")
        manifest = cast(Manifest, doc)
        config = cast(ImageConfig, load_json(self.read_blob(manifest["config"]["digest"]), "image config"))
        names = tuple(sorted(n for n, d in self._read_index().names.items() if d == digest))
        return Image(digest=Digest(digest), manifest=manifest, media_type=media_type_of(doc), config=config,
                     names=names)  # fmt: skip

    def get(self, ref: str) -> Image:
        """Find an image by name, ``name@digest``, manifest digest or (prefix of) image id."""
        digest = self.resolve(ref)
        if digest is None:
            raise ImageNotFoundError(f"no image {ref!r} in the store; pull, load or build it first")
        return self.load(digest)

    def find(self, ref: str) -> Image | None:
        digest = self.resolve(ref)
        return None if digest is None else self.load(digest)

    def resolve(self, ref: str) -> Digest | None:
        names = self._read_index().names
        text = ref.removeprefix("sha256:") if ref.startswith("sha256:") and len(ref) < 71 else ref
        if ref.startswith("sha256:") and len(ref) == 71:
            digest = check_digest(ref)
            if self.has_blob(digest) and self._is_manifest(digest):
                return digest
            return self._by_id(hex_of(digest), names)
        with contextlib.suppress(InvalidReferenceError):
            parsed = parse_reference(ref)
            if parsed.name in names:
                return Digest(names[parsed.name])
            if parsed.digest and self.has_blob(parsed.digest) and self._is_manifest(parsed.digest):
                return Digest(parsed.digest)
        if len(text) >= _MIN_ID_PREFIX and all(c in "0123456789abcdef" for c in text):
            return self._by_id(text, names)
        return None

    def _is_manifest(self, digest: str) -> bool:
        try:
            doc = json.loads(self.read_blob(digest)[: 1 << 20])
        except (ValueError, BlobNotFoundError):
            return False
        return isinstance(doc, dict) and "config" in doc and "layers" in doc

    def _by_id(self, prefix: str, names: dict[str, str]) -> Digest | None:
        matches: set[str] = set()
        for digest in set(names.values()):
            with contextlib.suppress(ImageError, OSError, ValueError, KeyError):
                manifest = json.loads(self.read_blob(digest))
                if hex_of(manifest["config"]["digest"]).startswith(prefix) or hex_of(digest).startswith(prefix):
                    matches.add(digest)
        if len(matches) > 1:
            raise ImageError(f"image id prefix {prefix!r} is ambiguous: give more digits")
        return Digest(matches.pop()) if matches else None

    def images(self) -> list[Image]:
        """Every named image, one entry per manifest, names sorted."""
        by_digest: dict[str, list[str]] = {}
        for name, digest in self._read_index().names.items():
            by_digest.setdefault(digest, []).append(name)
        result = []
        for digest in by_digest:
            with contextlib.suppress(ImageError):
                result.append(self.load(digest))
        return sorted(result, key=lambda i: i.names)

    # -- unpacked layers -----------------------------------------------------------------------------

    def layer_dir(self, diff_id: str) -> Path:
        return self.layers / hex_of(diff_id)

    def unpack(self, image: Image) -> UnpackedImage:
        """Unpack each layer of ``image`` not yet in the layer cache, and describe them all."""
        descriptors = image.manifest["layers"]
        diff_ids = image.diff_ids
        if len(descriptors) != len(diff_ids):
            raise ImageError(
                f"image {image.digest} is inconsistent: {len(descriptors)} layers but {len(diff_ids)} diff_ids"
            )
        return UnpackedImage(
            image=image, layers=tuple(self.unpack_layer(d, i) for d, i in zip(descriptors, diff_ids, strict=True))
        )

    def unpack_layer(self, descriptor: Descriptor, diff_id: Digest) -> UnpackedLayer:
        final = self.layer_dir(diff_id)
        record = final / "layer.json"
        if not record.exists():
            self._unpack_into(descriptor, diff_id, final)
        doc = load_json(record.read_bytes(), f"layer record {record}")
        return UnpackedLayer(
            diff_id=diff_id, path=final / "rootfs", whiteouts=tuple(doc.get("whiteouts", ())),
            opaque_dirs=tuple(doc.get("opaque_dirs", ())), overlay_ready=bool(doc.get("overlay_ready")),
        )  # fmt: skip

    def _unpack_into(self, descriptor: Descriptor, diff_id: Digest, final: Path) -> None:
        work = self.temp_path("unpack")
        work.mkdir(mode=0o700)
        try:
            rootfs = work / "rootfs"
            rootfs.mkdir()
            from kuberya.images import layers  # tarfile, gzip…: only when unpacking (not for a pull)

            result = layers.unpack_layer(self.blob_path(descriptor["digest"]), rootfs)
            if result.diff_id != diff_id:
                raise DigestMismatchError(
                    f"layer {descriptor['digest']} unpacks to {result.diff_id}, but the image config says {diff_id}"
                )
            record = {
                "diff_id": diff_id, "blob": descriptor["digest"], "size": result.size,
                "whiteouts": list(result.whiteouts), "opaque_dirs": list(result.opaque_dirs),
                "overlay_ready": result.overlay_ready, "skipped": list(result.skipped),
            }  # fmt: skip
            (work / "layer.json").write_bytes(canonical_json(record))
            os.chmod(work, 0o755)
            try:
                os.rename(work, final)
            except OSError:
                if not (final / "layer.json").exists():
                    raise
                # Another process unpacked the same layer first: theirs is as good as ours.
        finally:
            if work.exists():
                remove_tree(work)

    # -- leases: what containers use -----------------------------------------------------------------

    def add_lease(self, lease: Lease) -> None:
        """Record that a container uses ``lease``'s content; call it *before* mounting the layers.

        Taken under ``gc.lock`` (shared) after checking every leased layer is still unpacked, so a gc
        either ran before (and the check fails: resolve the image again) or runs after and sees the
        lease: never one that deletes a layer between the check and the record.
        """
        if not LEASE_ID.fullmatch(lease.id):
            raise ImageError(f"lease id {lease.id!r} must be letters, digits, '.', '_' or '-' (at most 128)")
        if not lease.holder.is_absolute():
            raise ImageError(f"lease holder {lease.holder} must be an absolute path (gc may run in another directory)")
        with flock(self.root / "gc.lock", fcntl.LOCK_SH):
            for diff_id in lease.layers:
                if not (self.layer_dir(diff_id) / "layer.json").exists():
                    raise ImageError(
                        f"layer {diff_id} of image {lease.reference or lease.image} was garbage-collected while "
                        "the container was being created: pull or load the image again"
                    )
            atomic_write(self._lease_path(lease.id), lease.to_json(), tmp_dir=self.tmp)

    def remove_lease(self, lease_id: str) -> None:
        """Forget a lease (the container is deleted); its content goes at the next gc. Idempotent."""
        release_lease(self.root, lease_id)

    def leases(self) -> list[Lease]:
        """Every readable lease, live or stale (see :attr:`Lease.alive`), oldest first."""
        found = []
        for path in self.leases_dir.glob("*.json"):
            with contextlib.suppress(OSError, ImageError):
                found.append(Lease.from_json(path.read_bytes(), f"lease {path}"))
        return sorted(found, key=lambda lease: (lease.created, lease.id))

    def users_of(self, image: Image) -> list[Lease]:
        """The live leases on ``image`` (by manifest digest or image id): the containers using it."""
        return [
            lease
            for lease in self.leases()
            if (lease.image == image.digest or (lease.image_id and lease.image_id == image.id)) and lease.alive
        ]

    def _lease_path(self, lease_id: str) -> Path:
        return self.leases_dir / f"{lease_id}.json"

    # -- garbage collection --------------------------------------------------------------------------

    def gc(self) -> GcResult:
        """Delete what neither a name nor a live lease reaches (blobs, layer dirs), stale leases, temp files."""
        with flock(self.root / "gc.lock", fcntl.LOCK_EX), flock(self.root / "index.lock", fcntl.LOCK_EX):
            keep_blobs: set[str] = set()
            keep_layers: set[str] = set()
            for digest in set(self._read_index().names.values()):
                keep_blobs.add(hex_of(digest))
                with contextlib.suppress(ImageError, OSError, KeyError):
                    self._mark(digest, keep_blobs, keep_layers)
            kept, stale = self._mark_leases(keep_blobs, keep_layers)
            blobs = freed = layer_count = temps = 0
            for path in self.blobs.iterdir():
                if path.name not in keep_blobs:
                    freed += path.stat().st_size
                    path.unlink()
                    blobs += 1
            for path in self.layers.iterdir():
                if path.name not in keep_layers:
                    remove_tree(path)
                    layer_count += 1
            for path in self.tmp.iterdir():
                remove_tree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                temps += 1
        return GcResult(blobs_removed=blobs, layers_removed=layer_count, bytes_freed=freed, temp_removed=temps,
                        leases_kept=kept, leases_removed=stale)  # fmt: skip

    def _mark_leases(self, keep_blobs: set[str], keep_layers: set[str]) -> tuple[int, int]:
        """Mark what live leases reach; delete stale and unreadable lease files. Returns (kept, removed)."""
        kept = removed = 0
        for path in self.leases_dir.iterdir():
            try:
                lease = Lease.from_json(path.read_bytes(), f"lease {path}")
            except (OSError, ImageError):
                lease = None  # written by rename, so never half-written: not a lease of ours
            if lease is None or not lease.alive:
                remove_tree(path)
                removed += 1
                continue
            kept += 1
            keep_layers.update(hex_of(d) for d in lease.layers)
            if lease.image:
                with contextlib.suppress(ImageError, OSError, KeyError, ValueError):
                    keep_blobs.add(hex_of(lease.image))
                    self._mark(lease.image, keep_blobs, keep_layers)
        return kept, removed

    def _mark(self, digest: str, keep_blobs: set[str], keep_layers: set[str]) -> None:
        doc: dict[str, Any] = json.loads(self.read_blob(digest))
        for child in doc.get("manifests", ()):  # an index kept by name: keep what it points to
            keep_blobs.add(hex_of(child["digest"]))
            with contextlib.suppress(ImageError, OSError, KeyError):
                self._mark(child["digest"], keep_blobs, keep_layers)
        if "config" not in doc:
            return
        keep_blobs.add(hex_of(doc["config"]["digest"]))
        keep_blobs.update(hex_of(layer["digest"]) for layer in doc.get("layers", ()))
        config = json.loads(self.read_blob(doc["config"]["digest"]))
        keep_layers.update(hex_of(d) for d in config.get("rootfs", {}).get("diff_ids", ()))
