"""Informers: a local, indexed cache of one resource kept current by list + watch.

An :class:`Informer` lists the resource (in pages), replaces its :class:`Store` with the result,
then watches from the list's resourceVersion, applying each event to the store and calling the
registered handlers. A watch that ends cleanly is resumed from the last resourceVersion seen; a
410 (history compacted) means relist; any other error relists after an exponential backoff on the
injected clock. A relist tells handlers the difference: ``on_add`` for new objects, ``on_update``
for every surviving one (a resync, as client-go's Replace), ``on_delete`` for vanished ones with
their last known state.

Handlers are plain callables that should only enqueue keys (sample-controller style); one that
raises is logged and does not stop the informer. Tests seed :attr:`Informer.store` directly.

In a process, components do not build these themselves: they share one per resource and scope
through :class:`kuberya.client.factory.SharedInformerFactory`.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kuberya.client.clock import Clock, LoopClock
from kuberya.client.errors import GoneError
from kuberya.client.interface import KubeClient
from kuberya.client.resources import ResourceRef, object_key
from kuberya.client.watch import WatchEvent
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], Iterable[str]]


class Store:
    """Objects by key (``namespace/name`` or ``name``), with secondary indexes."""

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        # Per index, the values each key was filed under: unindexing uses them rather than calling
        # the function again on the old object (which may have raised, or answer differently).
        self._filed: dict[str, dict[str, tuple[str, ...]]] = {}

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Index every object under each value ``fn(obj)`` returns; existing objects are indexed now.

        Adding the same function under the same name again is a no-op (consumers of a shared
        informer each add the indexes they read); another function under a taken name is an error.
        """
        if name in self._index_funcs:
            if self._index_funcs[name] is fn:
                return
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = fn
        self._indexes[name] = {}
        self._filed[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Obj]:
        return builtins.list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        keys = self._indexes[name].get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def add(self, obj: Obj) -> Obj | None:
        """Insert or replace ``obj``; returns the previous state."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name in self._index_funcs:
            self._index(name, key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Remove the object at ``key``; returns it (None if absent)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, name: str, key: str, obj: Obj) -> None:
        try:
            values = tuple(self._index_funcs[name](obj))
        except Exception as exc:
            # A malformed object (ownerReferences that are not a list...) is cached but found by
            # no index: one bad object must not stop the list, and so every other object, from
            # being stored.
            logger.warning("index %r cannot file %s: %s: %s", name, key, type(exc).__name__, exc)
            values = ()
        self._filed[name][key] = values
        for value in values:
            self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name in self._index_funcs:
            index = self._indexes[name]
            for value in self._filed[name].pop(key, ()):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


@dataclass(frozen=True, slots=True, eq=False)
class HandlerRegistration:
    """One consumer's handlers, as :meth:`Informer.add_handlers` returns them (to remove them later)."""

    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class Informer:
    """List + watch one resource into a :class:`Store`, calling handlers on every change."""

    def __init__(
        self,
        client: KubeClient,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        clock: Clock | None = None,
        page_size: int = 500,
        max_backoff: float = 30.0,
    ) -> None:
        self.client = client
        self.ref = ref
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store()
        self.has_synced = asyncio.Event()
        """Set once the first list has been stored (and handlers told)."""
        self.resource_version = ""
        """The last resourceVersion seen (list, event or bookmark)."""
        self._clock: Clock = clock or LoopClock()
        self._page_size = page_size
        self._max_backoff = max_backoff
        self._handlers: builtins.list[HandlerRegistration] = []

    def __repr__(self) -> str:
        return f"Informer({self.ref.group_resource}, namespace={self.namespace!r})"

    def add_handlers(
        self,
        *,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> HandlerRegistration:
        registration = HandlerRegistration(on_add, on_update, on_delete)
        self._handlers.append(registration)
        self._registered(registration)
        return registration

    def _registered(self, registration: HandlerRegistration) -> None:
        """Called with each new registration: a hook for subclasses (this informer has nothing to do)."""

    def remove_handlers(self, registration: HandlerRegistration) -> None:
        """Stop calling the handlers ``registration`` names (absent ones are ignored)."""
        if registration in self._handlers:
            self._handlers.remove(registration)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self.store.add_index(name, fn)

    def get(self, key: str) -> Obj | None:
        return self.store.get(key)

    def list(self) -> builtins.list[Obj]:
        return self.store.list()

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        return self.store.by_index(name, value)

    async def wait_synced(self) -> None:
        await self.has_synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled, relisting on expiry and backing off on errors."""
        failures = 0
        relist = True
        while True:
            try:
                if relist:
                    await self.relist()
                    relist = False
                    failures = 0
                received = await self._watch_once()
                if not received:
                    # A watch that ended with nothing in it: do not spin against the server.
                    await self._clock.sleep(min(0.1 * 2 ** min(failures, 10), self._max_backoff))
                    failures += 1
                else:
                    failures = 0
            except asyncio.CancelledError:
                raise
            except GoneError as exc:
                logger.debug("%r: %s; relisting", self, exc)
                if relist:  # the list itself expired (a stale continue token): do not spin
                    failures += 1
                    await self._clock.sleep(min(0.2 * 2 ** min(failures, 10), self._max_backoff))
                relist = True
            except Exception as exc:
                delay = min(0.2 * 2 ** min(failures, 10), self._max_backoff)
                failures += 1
                logger.warning("%r: list/watch failed (%s); retrying in %.1fs", self, exc, delay)
                relist = True
                await self._clock.sleep(delay)

    async def relist(self) -> None:
        """List everything (in pages) and make the store equal to it, telling handlers the difference."""
        items: builtins.list[Obj] = []
        continue_: str | None = None
        while True:
            page = await self.client.list(
                self.ref,
                namespace=self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self._page_size,
                continue_=continue_,
            )
            items.extend(self._typed(obj) for obj in page.get("items") or [])
            meta = page.get("metadata") or {}
            continue_ = meta.get("continue") or None
            if not continue_:
                self.resource_version = str(meta.get("resourceVersion") or "")
                break
        self.replace(items)
        self.has_synced.set()

    def replace(self, items: Iterable[Obj]) -> None:
        """Make the store hold exactly ``items``, calling handlers as a relist does."""
        fresh = {object_key(obj): obj for obj in items}
        for key in self.store.keys():  # noqa: SIM118 (a copy: the loop deletes)
            if key not in fresh:
                old = self.store.delete(key)
                if old is not None:
                    self._notify_delete(old)
        for obj in fresh.values():
            old = self.store.add(obj)
            if old is None:
                self._notify_add(obj)
            else:
                self._notify_update(old, obj)

    def apply(self, event: WatchEvent) -> None:
        """Apply one watch event to the store and tell the handlers."""
        rv = event.resource_version
        if rv:
            self.resource_version = rv
        if event.type == "BOOKMARK":
            return
        obj = self._typed(event.object)
        if event.type == "DELETED":
            self.store.delete(object_key(obj))
            self._notify_delete(obj)
            return
        old = self.store.add(obj)
        if old is None:
            self._notify_add(obj)
        else:
            self._notify_update(old, obj)

    async def _watch_once(self) -> bool:
        received = False
        stream = self.client.watch(
            self.ref,
            namespace=self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=random.randint(300, 600),
            allow_bookmarks=True,
        )
        try:
            async for event in stream:
                received = True
                self.apply(event)
        finally:
            # Close the stream now (releasing its connection), not whenever it is collected.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        return received

    def _typed(self, obj: Obj) -> Obj:
        # List items usually omit kind/apiVersion; controllers want them (owner references).
        obj.setdefault("apiVersion", self.ref.api_version)
        obj.setdefault("kind", self.ref.kind)
        return obj

    def _notify_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            logger.exception("%r: an event handler failed", self)
