"""Settings and progress reporting of registry transfers, apart from the client that does them.

Kept out of :mod:`.registry` so that describing a transfer costs no import of the HTTP client:
the CLI and the service build settings for every command, but only pulls and pushes need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kuberya.images.auth import Credentials
from kuberya.images.oci import Platform, host_platform


class Progress(Protocol):
    """Where transfers report; the CLI draws rich bars, the node agent passes :class:`NoProgress`."""

    def start(self, key: str, *, label: str, total: int) -> None: ...
    def advance(self, key: str, amount: int) -> None: ...
    def finish(self, key: str, *, note: str) -> None: ...


class NoProgress:
    def start(self, key: str, *, label: str, total: int) -> None:
        pass

    def advance(self, key: str, amount: int) -> None:
        pass

    def finish(self, key: str, *, note: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    insecure: frozenset[str] = frozenset()
    """Registry hosts (``host:port``) reached over plain http instead of https."""
    auths: Mapping[str, Credentials] = field(default_factory=dict)
    """Credentials by registry host (see :func:`kuberya.images.auth.parse_docker_config`)."""
    platform: Platform = field(default_factory=host_platform)
    """Which image of a manifest list to pull."""
    concurrency: int = 4
    """Blobs transferred at once."""
    chunk_size: int | None = None
    """Push uploads in chunks of this many bytes; None: one monolithic PUT per blob."""
    timeout: float = 600.0
    """Seconds one blob download or upload may take in all (any one socket operation: 30 s at most)."""
