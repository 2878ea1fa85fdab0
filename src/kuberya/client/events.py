"""Writing ``core/v1`` Events, de-duplicated as client-go's ``EventCorrelator`` does.

Every component that reports what happened (the controllers, the node agent) writes Events
through one :class:`EventCorrelator`. An event equal to one written before — same involved object
(and ``fieldPath``), type, reason and message — is not created again: the earlier Event gets
``count + 1`` and a new ``lastTimestamp``, so ``kubectl describe`` shows "(x12 over 5m)" rather
than twelve rows. The correlator remembers what it wrote in a bounded LRU; an Event deleted
meanwhile (events expire) is simply created again.

What to record and when (queued off the hot path, or inline and best-effort) is each recorder's
own business; this module only writes. API errors propagate, except the one that means nothing
was lost (two events named alike within one nanosecond: the first is kept).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from kuberya.client.errors import AlreadyExistsError, NotFoundError
from kuberya.client.interface import KubeClient
from kuberya.client.resources import EVENTS
from kuberya.meta.types import Obj

CACHE_SIZE = 4096
"""How many distinct events a correlator remembers (upstream's ``maxLruCacheEntries``)."""

CorrelationKey = tuple[str, ...]


@dataclass(slots=True)
class _Written:
    name: str
    count: int


class EventCorrelator:
    """Writes Events for one component (``source.component``, ``reportingComponent``) on ``host``."""

    def __init__(self, client: KubeClient, *, component: str, host: str = "", cache_size: int = CACHE_SIZE) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._cache_size = cache_size
        self._written: collections.OrderedDict[CorrelationKey, _Written] = collections.OrderedDict()

    async def write(
        self, involved: Obj, *, type: str, reason: str, message: str, stamp: str, name_ns: int
    ) -> Obj | None:
        """Create the Event, or bump the equal one written before; returns the Event as stored.

        ``involved`` is the ``ObjectReference``; ``stamp`` the RFC 3339 time of the occurrence;
        ``name_ns`` the nanoseconds a new Event is named by (upstream: ``<object>.<hex ns>``).
        Returns None when a same-named Event already existed (nothing is lost).
        """
        namespace = str(involved.get("namespace") or "default")
        key = correlation_key(involved, type=type, reason=reason, message=message)
        written = self._written.get(key)
        if written is not None:
            try:
                bumped = await self.client.patch(
                    EVENTS,
                    written.name,
                    {"count": written.count + 1, "lastTimestamp": stamp},
                    namespace=namespace,
                    patch_type="merge",
                )
            except NotFoundError:
                pass  # deleted (or expired) meanwhile: create a fresh one below
            else:
                written.count += 1
                self._written.move_to_end(key)
                return bumped
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved.get('name')}.{name_ns:x}", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        try:
            created = await self.client.create(EVENTS, body, namespace=namespace)
        except AlreadyExistsError:
            return None
        self._written[key] = _Written(str(created["metadata"]["name"]), 1)
        self._written.move_to_end(key)
        while len(self._written) > self._cache_size:
            self._written.popitem(last=False)
        return created


def correlation_key(involved: Obj, *, type: str, reason: str, message: str) -> CorrelationKey:
    """What makes two events "the same" (upstream's ``getEventKey``, less the source, which is fixed)."""
    return (
        str(involved.get("namespace") or "default"),
        str(involved.get("kind")),
        str(involved.get("name")),
        str(involved.get("uid")),
        str(involved.get("fieldPath") or ""),
        type,
        reason,
        message,
    )
