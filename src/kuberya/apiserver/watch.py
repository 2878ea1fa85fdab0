"""Watch: newline-delimited JSON events over a chunked response that stays open.

Semantics follow upstream's cacher/etcd watch (KUBE_API.md §5):

- ``resourceVersion`` unset or ``"0"``: a synthetic ADDED for every matching object, then
  live events; ``N``: every change after N, exactly once, in order; too old: one ERROR
  event carrying a 410 ``Expired`` Status, then the stream ends.
- ``sendInitialEvents=true`` (WatchList, kubectl ≥ 1.35): the initial ADDED events end with a
  BOOKMARK annotated ``k8s.io/initial-events-end: "true"``.
- ``allowWatchBookmarks=true``: a BOOKMARK with the current revision every so often, so a
  client can resume from a recent revision after a quiet period.
- ``timeoutSeconds``: the stream ends cleanly.

One task reads the store into a queue; the response loop writes from the queue, so bookmarks
and timeouts never have to cancel a read in flight.

A watcher that stops reading costs bounded memory and nobody else's time: storage never waits
for a watcher (it drops one that falls too far behind, and the stream then ends cleanly so the
client resumes from its last resourceVersion, as upstream's cacher closes an unresponsive
watcher), the queue here is bounded, and a write that cannot reach the socket within
``write_timeout`` seconds aborts the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.handlers import ResourceHandlers
from kuberya.apiserver.objectstore import WatchEvent
from kuberya.apiserver.request import (
    ResourcePath,
    list_options,
    query_flag,
    query_int,
    resource_version,
    selection_from_query,
    wants_table,
)
from kuberya.apiserver.tables import include_object_mode, to_table
from kuberya.meta import gojson
from kuberya.resources import kinds
from kuberya.resources.types import Cause, JSONObject
from kuberya.storage import WatcherTooSlowError

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
_END = object()


class _StalledWatcher(Exception):
    """The client has not read for the whole write timeout."""


async def serve_watch(
    request: web.Request,
    path: ResourcePath,
    handlers: ResourceHandlers,
    *,
    bookmark_interval: float,
    write_timeout: float,
) -> web.StreamResponse:
    rt = path.rt
    storage_rt = kinds.storage_type(rt)
    store = handlers.store
    list_options(request)
    selection = selection_from_query(request, rt, path.namespace)
    rv = resource_version(request)
    send_initial = request.query.get("sendInitialEvents", "").lower() == "true"
    if send_initial and request.query.get("resourceVersionMatch", "") != "NotOlderThan":
        raise errors.invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            [
                _cause(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )
            ],
        )
    bookmarks = query_flag(request, "allowWatchBookmarks")
    timeout = query_int(request, "timeoutSeconds")
    as_table = wants_table(request)
    include_object = include_object_mode(request) if as_table else "Object"

    initial: list[JSONObject] = []
    if rv in ("", "0") or send_initial:
        page = await store.list(storage_rt, selection=selection, resource_version=0 if rv in ("", "0") else int(rv))
        initial, after = page.items, page.resource_version
    else:
        after = int(rv)  # resource_version() has checked it

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)

    def render(event_type: str, obj: JSONObject) -> bytes:
        served = handlers.to_served_version(rt, obj)
        if as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            payload: JSONObject = to_table(
                rt,
                [served],
                resource_version=served["metadata"].get("resourceVersion", ""),
                include_object=include_object,
                with_columns=True,
            )
        else:
            payload = served
        return gojson.encode({"type": event_type, "object": payload}) + b"\n"

    def bookmark(revision: int, *, initial_end: bool = False) -> bytes:
        metadata: JSONObject = {"resourceVersion": str(revision)}
        if initial_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": metadata}
        return gojson.encode({"type": "BOOKMARK", "object": obj}) + b"\n"

    async def send(chunk: bytes) -> None:
        # response.write waits for the socket to drain once aiohttp's buffer is full: without a
        # bound, a client that never reads would hold this handler, its queue and its storage
        # subscription for ever.
        try:
            async with asyncio.timeout(write_timeout):
                await response.write(chunk)
        except TimeoutError:
            raise _StalledWatcher from None

    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

    async def pump() -> None:
        try:
            async for event in store.watch(storage_rt, selection=selection, after_revision=after):
                await queue.put(event)
        except WatcherTooSlowError as e:
            log.info("ending a watch on %s: %s", rt.resource, e)
        except errors.StatusError as e:
            await queue.put(e)
        except Exception as e:  # the stream must end with a message, never hang
            log.exception("watch on %s failed", rt.resource)
            await queue.put(errors.internal_error(str(e)))
        finally:
            await queue.put(_END)

    pump_task = asyncio.create_task(pump(), name=f"watch-pump:{rt.resource}")
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last_revision = after
    try:
        for obj in initial:
            await send(render("ADDED", obj))
        if send_initial:
            await send(bookmark(after, initial_end=True))
        while True:
            wait = bookmark_interval if bookmarks else 5.0
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                async with asyncio.timeout(wait):
                    item = await queue.get()
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break
                if bookmarks and (deadline is None or time.monotonic() < deadline):
                    await send(bookmark(last_revision))
                continue
            if item is _END:
                break
            if isinstance(item, errors.StatusError):
                await send(json.dumps({"type": "ERROR", "object": item.status()}).encode() + b"\n")
                break
            assert isinstance(item, WatchEvent)
            last_revision = item.revision
            await send(render(item.type, item.object))
    except ConnectionResetError:
        return response
    except _StalledWatcher:
        log.info(
            "dropping a watch on %s: the client read nothing for %gs (%s)", rt.resource, write_timeout, request.remote
        )
        if request.transport is not None:
            request.transport.abort()  # close() would wait for a buffer that never drains
        return response
    finally:
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump_task
    try:
        async with asyncio.timeout(write_timeout):
            await response.write_eof()
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionResetError, RuntimeError):
        pass
    return response


def _cause(field: str, message: str) -> Cause:
    return Cause(field=field, reason="FieldValueForbidden", message=f"Forbidden: {message}")
