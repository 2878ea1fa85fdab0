"""Make an image from layer tarballs and a runtime config, with no registry and no builder.

What ``docker import`` does, generalised to several layers: each tarball is compressed (gzip, or
stored as is), stored as a blob, its diff_id computed, and an OCI config and manifest are written
around them. Tests and benchmarks make their base images offline this way (busybox-static in a
layer is a working 1 MB image); the node agent's tests use it for fixtures.

The output is deterministic for the same inputs (fixed ``created``, canonical JSON, gzip without
a timestamp), so two runs produce the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Sequence
from typing import Any

from kuberya.images.image import Image
from kuberya.images.oci import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    ContainerConfig,
    Descriptor,
    Platform,
    canonical_json,
    host_platform,
)
from kuberya.images.store import ImageStore

EPOCH = "1970-01-01T00:00:00Z"


def compose_image(
    store: ImageStore,
    layer_tars: Sequence[bytes],
    *,
    names: tuple[str, ...] = (),
    config: ContainerConfig | None = None,
    platform: Platform | None = None,
    compress: bool = True,
    history: Sequence[str] = (),
) -> Image:
    """Store an image made of ``layer_tars`` (uncompressed tar bytes, lowest first) and name it."""
    target = platform or host_platform()
    descriptors: list[Descriptor] = []
    diff_ids: list[str] = []
    with store.lease():
        for tar in layer_tars:
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            blob = gzip.compress(tar, compresslevel=6, mtime=0) if compress else tar
            digest = store.put_bytes(blob)
            descriptors.append(Descriptor(mediaType=OCI_LAYER_GZIP if compress else OCI_LAYER, digest=digest,
                                          size=len(blob)))  # fmt: skip
        doc: dict[str, Any] = {
            "created": EPOCH, "architecture": target["architecture"], "os": target["os"],
            "config": dict(config or {}), "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": EPOCH, "created_by": history[i] if i < len(history) else "kuberya compose"}
                        for i in range(len(layer_tars))],
        }  # fmt: skip
        if "variant" in target:
            doc["variant"] = target["variant"]
        config_bytes = canonical_json(doc)
        config_digest = store.put_bytes(config_bytes)
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": descriptors,
        }  # fmt: skip
        return store.add_image(canonical_json(manifest), names=names)


def tar_of(files: dict[str, bytes | str], *, symlinks: dict[str, str] | None = None, mode: int = 0o755) -> bytes:
    """A small uncompressed layer tar: ``files`` (path -> content), ``symlinks`` (path -> target).

    Parent directories are added as entries; every mtime is 0, so the bytes are reproducible.
    """
    buffer = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        dirs: set[str] = set()
        entries = [*(files or {}), *(symlinks or {})]
        for path in sorted(entries):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    archive.addfile(info)
            info = tarfile.TarInfo(path.strip("/"))
            if symlinks and path in symlinks:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, symlinks[path], 0o777
                archive.addfile(info)
            else:
                content = files[path]
                data = content.encode() if isinstance(content, str) else content
                info.size, info.mode = len(data), mode
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
