"""Recording ``core/v1`` Events about objects, de-duplicated as client-go's recorder does.

An event is ``{involvedObject, type, reason, message, source.component}``; one that repeats is not
written again but has its ``count`` raised and ``lastTimestamp`` moved (the
``EventCorrelator``'s de-duplication), so a pod that cannot be scheduled shows "(x12 over 5m)" in
``kubectl describe`` rather than twelve rows. The recorder remembers the events it wrote (a
bounded LRU); one deleted meanwhile (events expire) is simply created again.

Recording is best-effort: a failure is logged and never fails the controller's sync.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any, Literal

from kuberya.client import AlreadyExistsError, ApiError, KubeClient, NotFoundError
from kuberya.client.resources import EVENTS
from kuberya.controllers.wallclock import WallClock, format_time, utc_now

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
EventType = Literal["Normal", "Warning"]

_CACHE_SIZE = 4096


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str


class EventRecorder:
    """Writes Events on behalf of one component (``source.component``, ``reportingComponent``)."""

    def __init__(self, client: KubeClient, *, component: str, host: str = "", now: WallClock | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._now: WallClock = now or utc_now
        self._seen: collections.OrderedDict[tuple[str, ...], _Seen] = collections.OrderedDict()

    async def record(self, obj: Obj, *, type: EventType, reason: str, message: str) -> Obj | None:
        """Record that ``reason``/``message`` happened to ``obj``; returns the Event written, if any."""
        involved = involved_object(obj)
        namespace = involved.get("namespace") or "default"
        key = (
            namespace,
            str(involved.get("kind")),
            str(involved.get("name")),
            str(involved.get("uid")),
            type,
            reason,
            message,
        )
        now = self._now()
        stamp = format_time(now)
        try:
            seen = self._seen.get(key)
            if seen is not None:
                self._seen.move_to_end(key)
                updated = await self._bump(seen, stamp)
                if updated is not None:
                    return updated
            # Upstream's naming: the object's name and the time in nanoseconds, in hex.
            name = f"{involved.get('name')}.{int(now.timestamp() * 1e9):x}"
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "type": type,
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
            try:
                created = await self.client.create(EVENTS, body, namespace=namespace)
            except AlreadyExistsError:
                # Two events within the same nanosecond: the name repeats; keep the first.
                return None
            self._remember(key, _Seen(str(created["metadata"]["name"]), namespace, 1, stamp))
            return created
        except ApiError as exc:
            logger.warning("%s: cannot record event %s %s on %s: %s", self.component, type, reason, key[2], exc)
            return None

    async def _bump(self, seen: _Seen, stamp: str) -> Obj | None:
        seen.count += 1
        try:
            return await self.client.patch(
                EVENTS,
                seen.name,
                {"count": seen.count, "lastTimestamp": stamp},
                namespace=seen.namespace,
                patch_type="merge",
            )
        except NotFoundError:
            return None

    def _remember(self, key: tuple[str, ...], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)


def involved_object(obj: Obj) -> dict[str, Any]:
    """The ``ObjectReference`` of ``obj`` (what ``kubectl describe`` matches events on)."""
    meta = obj.get("metadata") or {}
    ref = {
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}
