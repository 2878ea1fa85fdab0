"""The image layer's errors: one hierarchy, each message says what happened and what to do.

Callers catch the subclass they can act on: the node agent turns :class:`ManifestUnknownError` and
:class:`UnauthorizedError` into ``ErrImagePull`` events, the CLI prints any :class:`ImageError`
as a user-facing message. Registry bodies are truncated so a hostile or broken server cannot flood
a log line.
"""

from __future__ import annotations

# Re-exported: the layer's modules quote payloads through it.
from kuberya.meta.text import truncate as truncate


class ImageError(Exception):
    """Base of every error of :mod:`kuberya.images`."""


class InvalidReferenceError(ImageError, ValueError):
    """An image name that is not a valid reference (``name[:tag][@digest]``)."""


class ImageNotFoundError(ImageError):
    """No image by that name or id in the local store."""


class BlobNotFoundError(ImageError):
    """A blob the store should hold is missing (a broken store or a concurrent gc)."""


class DigestMismatchError(ImageError):
    """Content did not hash to the digest that named it: corrupt or tampered with."""


class UnsafeLayerError(ImageError):
    """A layer archive tried to write outside its directory (``../``, through a symlink, a hostile link)."""


class ArchiveError(ImageError):
    """An image archive (docker-save or OCI) that cannot be read."""


class RegistryError(ImageError):
    """A registry answered with an error (``status`` is the HTTP status, 0 when unreachable)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        """The distribution error code (``MANIFEST_UNKNOWN``, ``DENIED``…), when the registry gave one."""


class ManifestUnknownError(RegistryError):
    """The registry has no such repository, tag or digest (404)."""


class UnauthorizedError(RegistryError):
    """The registry refused our credentials, or wants some and we have none (401/403)."""


class TransferCancelledError(ImageError):
    """A pull or push was cancelled (its task cancelled, or a sibling blob failed); a partial blob is kept to resume."""


class PlatformNotFoundError(ImageError):
    """A manifest list / OCI index without an image for the wanted platform."""


class BuildError(ImageError):
    """``kuberya build`` failed: buildah failed, or the app could not be detected."""


class BuildahMissingError(BuildError):
    """buildah is not installed; the message says how to install it."""
