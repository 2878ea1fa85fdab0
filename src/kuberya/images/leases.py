"""Leases: records that a container uses an image's content, kept while the container exists.

A runtime writes a :class:`Lease` (``leases/<id>.json`` in the store) *before* it mounts an
image's layers, and removes it when the container is deleted; the store's gc keeps everything a
live lease reaches. A lease names a *holder*, a path that exists exactly as long as the container
does, so a lease left behind by a crash is recognised as stale (see :mod:`kuberya.images.store`).
:func:`release_lease` removes one without opening the store.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from kuberya.images.errors import ImageError
from kuberya.images.oci import Digest, check_digest, load_json

LEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""What a lease id may be: it names the lease's file."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A record that a container uses an image's content; gc keeps that content while the holder exists."""

    id: str
    """Unique in the store and usable as a file name (the runtime's container id, prefixed)."""
    holder: Path
    """An absolute path that exists exactly as long as the container (its state directory)."""
    image: str = ""
    """The manifest digest of the image; gc keeps its manifest, config and layer blobs. Empty if unknown."""
    image_id: str = ""
    """The image's config digest (Docker's image id), to match the image however it is named."""
    layers: tuple[Digest, ...] = ()
    """diff_ids of the unpacked layer directories the container's rootfs is stacked from."""
    reference: str = ""
    """The image as the pod named it (``busybox:1.36``), for messages."""
    description: str = ""
    """Who holds it, for messages: ``container app of pod default/web``."""
    created: float = 0.0

    @property
    def alive(self) -> bool:
        """False once the holder is gone: the container was deleted and the lease is garbage."""
        return self.holder.exists()

    def to_json(self) -> bytes:
        doc = {"id": self.id, "holder": str(self.holder), "image": self.image, "image_id": self.image_id,
               "layers": list(self.layers), "reference": self.reference, "description": self.description,
               "created": self.created}  # fmt: skip
        return json.dumps(doc, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, what: str) -> Lease:
        doc = load_json(data, what)
        try:
            return cls(id=str(doc["id"]), holder=Path(doc["holder"]), image=str(doc.get("image") or ""),
                       image_id=str(doc.get("image_id") or ""),
                       layers=tuple(check_digest(d) for d in doc.get("layers") or ()),
                       reference=str(doc.get("reference") or ""), description=str(doc.get("description") or ""),
                       created=float(doc.get("created") or 0.0))  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise ImageError(f"{what} is not a lease record: {e}") from e


def release_lease(store_root: Path, lease_id: str) -> None:
    """:meth:`ImageStore.remove_lease` without opening the store (which would re-create a deleted one)."""
    if LEASE_ID.fullmatch(lease_id):
        with contextlib.suppress(FileNotFoundError):
            (store_root / "leases" / f"{lease_id}.json").unlink()
