"""kuberya.storage: the revision log behind the API server (see :mod:`kuberya.storage.backend`).

Drivers are chosen by URL, uvicorn-style, through a small registry of scheme → factory:

- ``memory://``: :class:`MemoryBackend`, gone when the process ends;
- ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db``: :class:`SQLiteBackend`,
  which checks its file before it serves it (:mod:`kuberya.storage.sqlitecheck`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kuberya.storage.backend import (
    Backend,
    CompactedError,
    CorruptStoreError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StorageError,
    StoreClosedError,
    StoreInUseError,
    WatcherTooSlowError,
)
from kuberya.storage.memory import MemoryBackend
from kuberya.storage.sqlite import SQLiteBackend
from kuberya.storage.sqlitecheck import CheckLevel, StartupCheck

__all__ = [
    "DRIVERS",
    "Backend",
    "CheckLevel",
    "CompactedError",
    "CorruptStoreError",
    "Event",
    "EventType",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "ListResult",
    "MemoryBackend",
    "RevisionMismatchError",
    "SQLiteBackend",
    "StartupCheck",
    "StorageError",
    "StoreClosedError",
    "StoreInUseError",
    "WatcherTooSlowError",
    "open_backend",
]


def _open_memory(location: str, retain: int, _: StartupCheck) -> Backend:
    if location:
        raise ValueError(f"memory:// takes no location, got {location!r}")
    return MemoryBackend(retain)


def _open_sqlite(location: str, retain: int, check: StartupCheck) -> Backend:
    if not location:
        raise ValueError("sqlite:// needs a file: sqlite:///absolute/path.db or sqlite://relative/path.db")
    return SQLiteBackend(Path(location), retain, check=check)


DRIVERS: dict[str, Callable[[str, int, StartupCheck], Backend]] = {"memory": _open_memory, "sqlite": _open_sqlite}
"""Scheme → factory taking the part after ``scheme://``, ``retain`` and the check to run at start."""


def open_backend(url: str, *, retain: int = 1000, check: StartupCheck | None = None) -> Backend:
    """Make (not start) the backend ``url`` names, e.g. ``sqlite:///var/lib/kuberya/state.db``.

    ``check`` is what a driver with a file checks before serving it (a memory store has nothing
    to check); None is the quick check, of no values.
    """
    scheme, separator, location = url.partition("://")
    driver = DRIVERS.get(scheme) if separator else None
    if driver is None:
        known = ", ".join(f"{name}://" for name in DRIVERS)
        raise ValueError(f"unknown storage URL {url!r}: expected one of {known}")
    return driver(location, retain, check or StartupCheck())
