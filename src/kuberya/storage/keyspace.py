"""The latest state of every key, kept sorted so prefix lists cost O(log n + items).

Both drivers answer ``get`` and "list now" from a :class:`Keyspace` in memory: a dict for point
reads beside a sorted list of the same keys for ranges. Inserting a new key into the sorted list
is a memmove of pointers, cheap at the sizes a single-node cluster holds (10^5 keys), and updates
of an existing key (by far the most common write) do not touch it at all.

Keys compare as Python strings (code-point order), which is also the order SQLite's BINARY
collation gives their UTF-8 encoding, so lists from memory and from SQL agree.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterator, Sequence
from operator import attrgetter

from kuberya.storage.backend import Event, KeyValue, ListResult


def prefix_end(prefix: str) -> str | None:
    """Return the smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    trimmed = prefix
    while trimmed:
        last = ord(trimmed[-1])
        if last < 0x10FFFF:
            return trimmed[:-1] + chr(last + 1)
        trimmed = trimmed[:-1]
    return None


class Keyspace:
    """Key → latest :class:`KeyValue`, with keys also held in sorted order."""

    def __init__(self) -> None:
        self._values: dict[str, KeyValue] = {}
        self._sorted_keys: list[str] = []

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> KeyValue | None:
        return self._values.get(key)

    def put(self, kv: KeyValue) -> None:
        if kv.key not in self._values:
            bisect.insort(self._sorted_keys, kv.key)
        self._values[kv.key] = kv

    def remove(self, key: str) -> None:
        if self._values.pop(key, None) is not None:
            del self._sorted_keys[bisect.bisect_left(self._sorted_keys, key)]

    def scan(self, prefix: str, *, start_after: str = "") -> Iterator[KeyValue]:
        """Values of keys starting with ``prefix`` and greater than ``start_after``, in key order."""
        yield from (self._values[key] for key in keys_in_range(self._sorted_keys, prefix, start_after))


def keys_in_range(sorted_keys: list[str], prefix: str, start_after: str) -> Iterator[str]:
    """Yield the keys of ``sorted_keys`` that start with ``prefix`` and sort after ``start_after``."""
    if start_after >= prefix:
        index = bisect.bisect_right(sorted_keys, start_after)
    else:
        index = bisect.bisect_left(sorted_keys, prefix)
    end = prefix_end(prefix)
    while index < len(sorted_keys):
        key = sorted_keys[index]
        if end is not None and key >= end:
            return
        yield key
        index += 1


def scan_before(
    keyspace: Keyspace, newer_events: Sequence[Event], prefix: str, *, start_after: str = ""
) -> Iterator[KeyValue]:
    """Like :meth:`Keyspace.scan`, but as the keys were before ``newer_events`` happened.

    ``newer_events`` are every event under ``prefix`` since the wanted revision, oldest first.
    A key they touched was, at that revision, what the first of them found (``prev_kv``;
    None for a create); every other key is as it is now. Cost: the events plus the keys read.
    """
    earlier: dict[str, KeyValue | None] = {}
    for event in newer_events:
        earlier.setdefault(event.kv.key, event.prev_kv)
    by_key = attrgetter("key")
    restored = sorted((kv for key, kv in earlier.items() if kv is not None and key > start_after), key=by_key)
    unchanged = (kv for kv in keyspace.scan(prefix, start_after=start_after) if kv.key not in earlier)
    return heapq.merge(unchanged, restored, key=by_key)


def page(scan: Iterator[KeyValue], *, revision: int, limit: int) -> ListResult:
    """Take the first ``limit`` (0: all) values of ``scan``, reading one more to set ``more``."""
    items = list(itertools.islice(scan, limit + 1)) if limit else list(scan)
    more = bool(limit) and len(items) > limit
    return ListResult(items=items[:limit] if more else items, revision=revision, more=more)
