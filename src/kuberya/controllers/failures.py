"""What a controller does with an object it cannot act on: say so once, back off, go on.

Every controller's ``sync(key)`` runs through :meth:`InvalidObjects.sync`. When the sync fails
because of the object itself (:func:`kuberya.client.malformed.is_malformed`: a field of the wrong
type, caught by a shape check or met while reading), it

* records one ``Warning`` event ``FailedSync`` on the object, whose message names the field and
  says how to fix it (the kubelet's reason for a pod it cannot sync; the recorder de-duplicates a
  repeat into a count);
* logs one warning, and only debug lines while the same failure repeats;
* re-adds the key rate-limited, so it is retried 5 ms, 10 ms, ... up to 1000 s later (the
  work queue keeps that backoff growing as the sync asked for the retry), and returns: the
  worker goes on to other keys, nothing crashes and nothing spins.

An API error is not the object's fault and is raised on, to the work queue's own retry. A fixed
object syncs again at once: the informer's update event adds its key without backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from kuberya.client import ApiError, WorkQueue
from kuberya.client.malformed import REASON, MalformedObjectError, describe, is_malformed
from kuberya.controllers.events import EventRecorder
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class InvalidObjects(Generic[K]):
    """Turns a sync's failure on a malformed object into one event, one log line and a backoff."""

    def __init__(
        self,
        *,
        name: str,
        queue: WorkQueue[K],
        events: EventRecorder | None,
        lookup: Callable[[K], Obj | None],
    ) -> None:
        self.name = name
        self.queue = queue
        self.events = events
        self.lookup = lookup
        self._reported: dict[K, str] = {}  # key -> the message last reported for it

    async def sync(self, key: K, sync: Callable[[K], Awaitable[None]]) -> None:
        """Run ``sync(key)``; if the object makes it fail, report that once and retry with backoff."""
        try:
            await sync(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_malformed(exc):
                raise
            await self._report(key, exc)
            self.queue.add_rate_limited(key)
        else:
            self._reported.pop(key, None)

    async def _report(self, key: K, exc: Exception) -> None:
        obj = self.lookup(key)
        message = describe(obj, exc)
        if self._reported.get(key) == message:
            logger.debug("%s: %r still cannot be synced (retry %d): %s", self.name, key, self.queue.retries(key), exc)
            return
        self._reported[key] = message
        # A shape check's message is the whole story; any other read error is a guard missing
        # somewhere, and its traceback (once) says where.
        logger.warning(
            "%s: cannot sync %r: %s", self.name, key, message, exc_info=not isinstance(exc, MalformedObjectError)
        )
        if obj is not None and self.events is not None:
            await self.events.record(obj, type="Warning", reason=REASON, message=message)


def namespace_terminating(exc: ApiError) -> bool:
    """Whether a create failed because its namespace is being deleted (no event is worth it then)."""
    causes = (exc.body.get("details") or {}).get("causes") or []
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)
