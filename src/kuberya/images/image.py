"""An image as the store holds it: :class:`Image`, and the unpacked layers a runtime stacks.

:class:`Image` is a manifest with its config and the names pointing at it; its id is the config's
digest (Docker's image id). :class:`UnpackedImage` is what a runtime needs to build a root
filesystem: one directory per layer, lowest first, and the config.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from kuberya.images.oci import Digest, ImageConfig, Manifest, hex_of


@dataclass(frozen=True, slots=True)
class Image:
    """One image in the store: a manifest, its config and the names pointing at it."""

    digest: Digest
    """The manifest's digest: what a registry calls this image (``name@digest``)."""
    manifest: Manifest
    media_type: str
    config: ImageConfig
    names: tuple[str, ...] = ()

    @property
    def id(self) -> Digest:
        """The config's digest: Docker's image id, equal for the same image however it was shipped."""
        return Digest(self.manifest["config"]["digest"])

    @property
    def short_id(self) -> str:
        return hex_of(self.id)[:12]

    @property
    def size(self) -> int:
        """Bytes of the blobs as stored (compressed layers + config)."""
        return self.manifest["config"]["size"] + sum(d["size"] for d in self.manifest["layers"])

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        return tuple(Digest(d) for d in self.config["rootfs"]["diff_ids"])

    @property
    def created(self) -> dt.datetime | None:
        text = self.config.get("created")
        if not text:
            return None
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return None


@dataclass(frozen=True, slots=True)
class UnpackedLayer:
    diff_id: Digest
    path: Path
    """The layer's root directory (``…/layers/sha256/<hex>/rootfs``)."""
    whiteouts: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    overlay_ready: bool = True
    """Whiteouts are materialised for overlayfs; when False use :func:`layers.flatten_layers`."""


@dataclass(frozen=True, slots=True)
class UnpackedImage:
    """What a runtime needs to make a root filesystem: the layer directories and the config."""

    image: Image
    layers: tuple[UnpackedLayer, ...]
    """Lowest first, in the manifest's order."""

    @property
    def lower_dirs(self) -> tuple[Path, ...]:
        """Overlayfs ``lowerdir`` order: the topmost layer first."""
        return tuple(layer.path for layer in reversed(self.layers))

    @property
    def config(self) -> ImageConfig:
        return self.image.config
