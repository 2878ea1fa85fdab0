"""Recording ``core/v1`` Events about objects, on behalf of one controller.

An event is ``{involvedObject, type, reason, message, source.component}``; one that repeats is
written as ``count + 1`` on the earlier Event (:class:`kuberya.client.events.EventCorrelator`, the
de-duplication the node agent's recorder shares), so a pod that cannot be scheduled shows
"(x12 over 5m)" in ``kubectl describe`` rather than twelve rows.

Recording is best-effort: a failure is logged and never fails the controller's sync.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from kuberya.client import ApiError, KubeClient
from kuberya.client.events import EventCorrelator
from kuberya.controllers.wallclock import WallClock, format_time, utc_now
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]


class EventRecorder:
    """Writes Events on behalf of one component (``source.component``, ``reportingComponent``)."""

    def __init__(self, client: KubeClient, *, component: str, host: str = "", now: WallClock | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._now: WallClock = now or utc_now
        self._correlator = EventCorrelator(client, component=component, host=host)

    async def record(self, obj: Obj, *, type: EventType, reason: str, message: str) -> Obj | None:
        """Record that ``reason``/``message`` happened to ``obj``; returns the Event written, if any."""
        involved = involved_object(obj)
        now = self._now()
        try:
            # Upstream names an Event after the object and the time in nanoseconds.
            return await self._correlator.write(
                involved,
                type=type,
                reason=reason,
                message=message,
                stamp=format_time(now),
                name_ns=int(now.timestamp() * 1e9),
            )
        except ApiError as exc:
            name = involved.get("name")
            logger.warning("%s: cannot record event %s %s on %s: %s", self.component, type, reason, name, exc)
            return None


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
