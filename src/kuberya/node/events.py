"""The kubelet's event recorder: v1 Events about pods, de-duplicated, written off the hot path.

:meth:`EventRecorder.record` only queues; one task (:meth:`EventRecorder.run`) writes them in order,
so a pod worker never waits on the API for an event. An event equal to an earlier one (same pod,
container, type, reason and message) is not created again: the earlier object gets ``count + 1``
and a new ``lastTimestamp`` (:class:`kuberya.client.events.EventCorrelator`, which the controllers'
recorder shares). Failures are logged and dropped: events are best-effort, like upstream's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kuberya.client import ApiError, KubeClient
from kuberya.client.events import EventCorrelator
from kuberya.meta.timefmt import rfc3339
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "kubelet"


@dataclass(frozen=True, slots=True)
class _Pending:
    involved: Obj
    type: str
    reason: str
    message: str
    at: float


class EventRecorder:
    """Queue events about pods; :meth:`run` writes them."""

    def __init__(self, client: KubeClient, *, node_name: str, wall: Callable[[], float] = time.time) -> None:
        self.client = client
        self.node_name = node_name
        self._wall = wall
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._correlator = EventCorrelator(client, component=COMPONENT, host=node_name)

    def record(self, pod: Obj, type_: str, reason: str, message: str, *, container: str | None = None) -> None:
        """Queue an event about ``pod`` (or one of its containers); returns at once."""
        meta = pod.get("metadata") or {}
        involved: Obj = {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion"),
        }
        if container is not None:
            involved["fieldPath"] = _field_path(pod, container)
        self._queue.put_nowait(_Pending(involved, type_, reason, message, self._wall()))

    async def flush(self) -> None:
        """Wait until every queued event has been written (tests)."""
        await self._queue.join()

    async def run(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                raise
            except (ApiError, OSError) as exc:
                logger.warning("event %s about %s not written: %s", pending.reason, pending.involved.get("name"), exc)
            except Exception:
                logger.exception("event %s about %s not written", pending.reason, pending.involved.get("name"))
            finally:
                self._queue.task_done()

    async def _write(self, ev: _Pending) -> None:
        await self._correlator.write(
            ev.involved,
            type=ev.type,
            reason=ev.reason,
            message=ev.message,
            stamp=rfc3339(ev.at),
            name_ns=time.time_ns(),
        )


def _field_path(pod: Obj, container: str) -> str:
    spec = pod.get("spec") or {}
    for section in ("initContainers", "containers", "ephemeralContainers"):
        if any(c.get("name") == container for c in spec.get(section) or []):
            return f"spec.{section}{{{container}}}"
    return f"spec.containers{{{container}}}"
