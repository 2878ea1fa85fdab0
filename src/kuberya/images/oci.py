"""OCI and Docker image formats: media types, the JSON documents as ``TypedDict``s, digests.

Images are content-addressed: a *digest* (``sha256:<64 hex>``) names a blob by the hash of its bytes,
so anything fetched or read back can be verified against its name. An image is a *manifest* (config
descriptor + ordered layer descriptors), the manifest's *config* (platform, environment, entrypoint,
``rootfs.diff_ids`` = digests of the uncompressed layers), and the layer blobs. A manifest list / OCI
index points to one manifest per platform.

Docker's v2 schema 2 and OCI v1 are the same shapes with different media type strings; both are
accepted everywhere and kept byte-for-byte as received, so digests never change on the way through.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, NewType, NotRequired, TypedDict

from kuberya.images.errors import DigestMismatchError, ImageError

Digest = NewType("Digest", str)
"""``sha256:<64 lowercase hex>``."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Descriptor(TypedDict):
    mediaType: str
    digest: str
    size: int
    annotations: NotRequired[dict[str, str]]
    platform: NotRequired[Platform]
    urls: NotRequired[list[str]]


class Platform(TypedDict):
    architecture: str
    os: str
    variant: NotRequired[str]


class Manifest(TypedDict):
    schemaVersion: int
    mediaType: NotRequired[str]
    config: Descriptor
    layers: list[Descriptor]
    annotations: NotRequired[dict[str, str]]


class Index(TypedDict):
    schemaVersion: int
    mediaType: NotRequired[str]
    manifests: list[Descriptor]
    annotations: NotRequired[dict[str, str]]


class RootFS(TypedDict):
    type: str
    diff_ids: list[str]


class ContainerConfig(TypedDict, total=False):
    """The runtime part of an image config (``config`` key); every field may be absent."""

    User: str
    Env: list[str]
    Entrypoint: list[str] | None
    Cmd: list[str] | None
    WorkingDir: str
    ExposedPorts: dict[str, Any]
    Volumes: dict[str, Any]
    Labels: dict[str, str]
    StopSignal: str


class ImageConfig(TypedDict):
    architecture: str
    os: str
    rootfs: RootFS
    config: NotRequired[ContainerConfig]
    created: NotRequired[str]
    history: NotRequired[list[dict[str, Any]]]
    variant: NotRequired[str]


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def check_digest(text: str) -> Digest:
    """``text`` as a :data:`Digest`, or :class:`ImageError` (only sha256 is supported, as in practice)."""
    if not _DIGEST.match(text):
        raise ImageError(f"unsupported or malformed digest {text!r}: expected sha256:<64 hex digits>")
    return Digest(text)


def verify(data: bytes, expected: str) -> Digest:
    """Check that ``data`` hashes to ``expected`` and return the digest."""
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatchError(f"content hashes to {actual}, but was named {expected}")
    return actual


def hex_of(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


def canonical_json(doc: Any) -> bytes:
    """Bytes for a document we create (compact, sorted): stable, so the same image gets the same digest."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from e


def media_type_of(doc: dict[str, Any], fallback: str = "") -> str:
    """A manifest's own media type; OCI makes the field optional, so guess from the shape."""
    explicit = doc.get("mediaType")
    if isinstance(explicit, str) and explicit:
        return explicit
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc:
        return OCI_MANIFEST
    return fallback


def host_platform() -> Platform:
    """linux/<this machine's architecture> with Go's names (amd64, arm64…), as registries use them."""
    machine = os.uname().machine.lower()  # what platform.machine() returns, without importing platform
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386",
            "i386": "386", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(
        machine, machine
    )  # fmt: skip
    result = Platform(architecture=arch, os="linux")
    if arch == "arm64":
        result["variant"] = "v8"
    elif arch == "arm":
        result["variant"] = "v7"
    return result


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]`` (``linux/amd64``, ``linux/arm64/v8``)."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    result = Platform(os=parts[0], architecture=parts[1])
    if len(parts) == 3:
        result["variant"] = parts[2]
    return result


def format_platform(p: Platform) -> str:
    variant = p.get("variant")
    return f"{p['os']}/{p['architecture']}" + (f"/{variant}" if variant else "")


def platform_matches(candidate: Platform, wanted: Platform) -> bool:
    """Same os and architecture; a variant only has to match when both sides give one (arm64 is v8)."""
    if candidate.get("os") != wanted["os"] or candidate.get("architecture") != wanted["architecture"]:
        return False
    have, want = candidate.get("variant"), wanted.get("variant")
    return not have or not want or have == want
