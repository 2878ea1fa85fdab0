"""Real SQLite store files for the tests of the startup check, and the ways to damage them.

A store is written through :class:`SQLiteBackend` with values shaped as the API server stores
them (JSON objects with metadata), so the server's own value check applies to it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from kuberya.storage import SQLiteBackend

PREFIX = "/registry/configmaps/default/"

DAMAGES = ("truncated", "truncated-mid-page", "overwritten-pages", "not-sqlite", "garbage-wal")
"""What :func:`damage` can do to a store; each must keep it from being served."""


def stored_object(name: str, generation: int) -> bytes:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}
    return json.dumps({**obj, "data": {"generation": str(generation), "filler": "x" * 300}}).encode()


async def write_store(path: Path, *, objects: int, keep_wal: bool = False) -> None:
    """Write ``objects`` objects, update every third, delete every seventh; close cleanly.

    With ``keep_wal`` the files are copied while the store is still open, as a ``kill -9`` would
    leave them: the last writes are then only in ``<path>-wal``, and the copy is what ``path`` holds.
    """
    target = path.with_name(path.name + ".writing") if keep_wal else path
    store = SQLiteBackend(target)
    await store.start()
    try:
        revisions = [await store.create(f"{PREFIX}o{n}", stored_object(f"o{n}", 0)) for n in range(objects)]
        for n in range(0, objects, 3):
            revisions[n] = await store.update(
                f"{PREFIX}o{n}", stored_object(f"o{n}", 1), expected_revision=revisions[n]
            )
        for n in range(0, objects, 7):
            await store.delete(f"{PREFIX}o{n}", expected_revision=revisions[n])
        if keep_wal:
            for suffix in ("", "-wal"):
                shutil.copyfile(f"{target}{suffix}", f"{path}{suffix}")
    finally:
        await store.close()


def page_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:18], "big") or 65536


def damage(path: Path, how: str) -> None:
    """Damage the store at ``path`` as ``how`` (one of :data:`DAMAGES`) says."""
    size = path.stat().st_size
    if how == "truncated":
        with open(path, "r+b") as f:
            f.truncate(size // 2 // page_size(path) * page_size(path))
    elif how == "truncated-mid-page":
        with open(path, "r+b") as f:
            f.truncate(size // 2 + 1234)
    elif how == "overwritten-pages":
        # Bytes in the middle of every page but the first (which holds the schema): the b-trees'
        # cells and the values in them.
        step = page_size(path)
        with open(path, "r+b") as f:
            for offset in range(step + step // 2, size, step):
                f.seek(offset)
                f.write(b"\xa5" * 48)
    elif how == "not-sqlite":
        path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    elif how == "garbage-wal":
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 0, "garbage-wal needs a store written with keep_wal"
        wal.write_bytes(bytes(range(256)) * (wal.stat().st_size // 256))
    else:
        raise ValueError(f"unknown damage {how!r}; one of {DAMAGES}")


def sql(path: Path, *statements: str) -> None:
    """Change the store's rows behind the driver's back (for damage that SQLite itself cannot see)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()
