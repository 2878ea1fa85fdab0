"""``emptyDir.sizeLimit``: measure what each limited volume holds and evict the pod that exceeds it.

As the kubelet's eviction manager (``emptyDirLimitEviction``): a pod whose emptyDir uses more
than its ``sizeLimit`` is evicted at once (no grace period): phase ``Failed``, reason ``Evicted``,
message ``Usage of EmptyDir volume "x" exceeds the limit "1Mi". ``, and a Warning event
``Evicted`` with the same message.

Usage is the space the files take (allocated blocks, as ``du``), hard links counted once. The cost
is bounded: a volume is walked (in a thread, off the event loop) at most once every
:data:`CHECK_SECONDS`, however often its pod syncs; the pod's worker is woken for the next check.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from kuberya.meta.quantity import format_quantity, is_binary_quantity, parse_quantity
from kuberya.meta.types import Obj

CHECK_SECONDS = 5.0
"""How often a limited emptyDir is measured (the kubelet's eviction manager monitors every 10 s)."""
EVICTED = "Evicted"


@dataclass(frozen=True, slots=True)
class Limit:
    volume: str
    path: Path
    limit_bytes: int
    limit_text: str
    """``Quantity.String()`` of the limit, for the message."""


def limits(pod: Obj, paths: dict[str, Path]) -> list[Limit]:
    """The pod's emptyDirs that have a (non-zero) ``sizeLimit``."""
    found = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("emptyDir")
        raw = (source or {}).get("sizeLimit")
        name = str(volume.get("name"))
        if raw is None or name not in paths:
            continue
        amount = parse_quantity(str(raw))
        if amount <= 0:
            continue
        text = format_quantity(amount, binary=is_binary_quantity(raw))
        found.append(Limit(name, paths[name], int(amount), text))
    return found


def usage_bytes(root: Path) -> int:
    """The space the tree at ``root`` takes on disk, as ``du`` counts it."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_nlink > 1:
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


def eviction_message(limit: Limit) -> str:
    return f'Usage of EmptyDir volume "{limit.volume}" exceeds the limit "{limit.limit_text}". '


@dataclass
class EmptyDirLimits:
    """When each pod's limited emptyDirs were last measured, and which pods were evicted."""

    last_check: dict[str, float] = field(default_factory=dict)
    evicted: dict[str, str] = field(default_factory=dict)
    """uid → the eviction message of each pod evicted (its status says Failed from then on)."""

    async def exceeded(self, uid: str, pod: Obj, paths: dict[str, Path], *, now: float) -> str | None:
        """The eviction message when a limited emptyDir of the pod is over its limit; None otherwise.

        Measures only when :data:`CHECK_SECONDS` have passed since the pod's last measurement.
        """
        found = limits(pod, paths)
        if not found or now - self.last_check.get(uid, float("-inf")) < CHECK_SECONDS:
            return None
        self.last_check[uid] = now
        for limit in found:
            used = await asyncio.to_thread(usage_bytes, limit.path)
            if used > limit.limit_bytes:
                return eviction_message(limit)
        return None

    def forget(self, uid: str) -> None:
        self.last_check.pop(uid, None)
        self.evicted.pop(uid, None)
