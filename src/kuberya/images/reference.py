"""Image references: parsing and normalisation with Docker's rules, so names mean what users expect.

``python:3.12`` is ``docker.io/library/python:3.12``; ``ghcr.io/o/app`` is ``ghcr.io/o/app:latest``;
``127.0.0.1:5000/app@sha256:…`` pins a digest. The first path component is a registry host only when
it looks like one (contains ``.`` or ``:``, or is ``localhost``), exactly as the Docker CLI and
containerd decide, so the same string never resolves to two different images in two tools.

The store indexes images by the fully normalised string (:attr:`Reference.name`); :attr:`familiar`
is what people read (``python:3.12``). Digests are kept as given: a reference with both a tag and a
digest is resolved by the digest, the tag is only a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kuberya.images.errors import InvalidReferenceError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
"""Where Docker Hub's distribution API lives; ``docker.io`` itself only redirects."""
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference; build it with :func:`parse_reference`."""

    domain: str
    """The registry host[:port] (``docker.io``, ``127.0.0.1:5000``)."""
    path: str
    """The repository inside the registry (``library/python``)."""
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path``: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def name(self) -> str:
        """The full normalised reference, the store's key: ``docker.io/library/python:3.12``."""
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The short form people type: ``python:3.12``, ``user/app:v1``, ``ghcr.io/o/app:v1``."""
        repo = self.familiar_repository
        text = repo + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar_repository(self) -> str:
        if self.domain != DOCKER_HUB:
            return self.repository
        return self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path

    @property
    def api_host(self) -> str:
        """The host serving the distribution API for this reference's registry."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def selector(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        if not _TAG.match(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r}: letters, digits, '_', '.', '-', at most 128")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        return self.name


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; a missing tag becomes ``latest`` unless a digest pins it.

    ``default_tag=False`` keeps a bare name bare (``kuberya rmi python`` must not invent a tag when
    listing by repository).
    """
    original = text
    if not text or text != text.strip():
        raise InvalidReferenceError(f"invalid image reference {original!r}: empty or surrounded by spaces")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReferenceError(f"invalid digest in {original!r}: expected algorithm:hex, e.g. sha256:…")
    tag: str | None = None
    slash, colon = text.rfind("/"), text.rfind(":")
    if colon > slash:  # a ':' after the last '/' is a tag, before it a registry port
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidReferenceError(
                f"invalid tag {tag!r} in {original!r}: letters, digits, '_', '.', '-', at most 128 characters"
            )
    domain, path = _split_domain(text)
    if not _DOMAIN.match(domain):
        raise InvalidReferenceError(f"invalid registry host {domain!r} in {original!r}")
    if not _PATH.match(path):
        hint = " (repository names must be lowercase)" if path.lower() != path else ""
        raise InvalidReferenceError(f"invalid repository name {path!r} in {original!r}{hint}")
    if len(f"{domain}/{path}") > _MAX_NAME:
        raise InvalidReferenceError(f"image name {original!r} is longer than {_MAX_NAME} characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return domain, path


def normalize(text: str) -> str:
    """The store key for ``text``: ``python:3.12`` → ``docker.io/library/python:3.12``."""
    return parse_reference(text).name
