"""Settings and progress reporting of registry transfers, apart from the client that does them.

Kept out of :mod:`.registry` so that describing a transfer costs no import of the HTTP client:
the CLI and the service build settings for every command, but only pulls and pushes need it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kuberya.images.auth import Credentials
from kuberya.images.oci import Platform, host_platform


class Progress(Protocol):
    """Where transfers report; the CLI draws rich bars, the node agent passes :class:`NoProgress`.

    Called from the transfer's worker threads (one per blob in flight), so it must be thread-safe.
    """

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


class Cancel:
    """Stops a transfer from any thread: the async façade sets it when its task is cancelled.

    The transfer's threads check :meth:`is_set` between blocks; callbacks registered with
    :meth:`on_set` (the HTTP pool's abort) unblock the reads they are waiting in.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_set(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the cancel is set (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()
