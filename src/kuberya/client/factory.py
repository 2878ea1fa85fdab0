"""One informer per resource and scope, shared by every component of a process (client-go's SharedInformerFactory).

The controllers, the node agent and the proxy all read Pods, Services, EndpointSlices…; each
building its own :class:`~kuberya.client.informer.Informer` would keep one watch open and one
cache in memory per consumer. A :class:`SharedInformerFactory` hands every consumer that asks for
the same resource in the same scope (namespace, label selector, field selector) the same
:class:`SharedInformer`, so a process holds one watch and one cache of each.

Sharing changes nothing a consumer sees; it keeps the informer's semantics (paged list, watch,
relist on 410, bookmarks) and adds only what sharing needs:

- **running is reference-counted**: each consumer still awaits ``informer.run()`` in its own task
  group as before; the first to do so starts the one list/watch loop, later ones join it, and the
  loop is cancelled when the last consumer stops. A consumer that stops does not stop the others'
  cache, and a crash of the loop reaches every consumer, as an unshared informer's would;
- **handlers fan out**: every consumer adds its own; one added to an informer that already holds
  objects is told of each of them as an ``on_add`` first (as client-go replays the cache to a late
  handler), and :meth:`Informer.remove_handlers` takes a consumer's handlers off again;
- **indexes are added by each consumer** that reads them; the same function under the same name
  is added once, a different function under a taken name is refused.

The server makes one factory for its components and stops it after them (:meth:`stop` cancels a
loop whose consumer did not stop in time). A component built without one (tests, a component run
on its own) makes its own, which makes its informers exactly the unshared ones they were.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

from kuberya.client.clock import Clock
from kuberya.client.informer import HandlerRegistration, Informer
from kuberya.client.interface import KubeClient
from kuberya.client.resources import ResourceRef
from kuberya.client.tasks import cancel_and_wait, start_task

ScopeKey = tuple[ResourceRef, str | None, str | None, str | None]
"""(resource, namespace, label selector, field selector): what one shared informer lists and watches."""


class SharedInformer(Informer):
    """An :class:`Informer` whose one list/watch loop runs while any of its consumers runs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._consumers = 0
        self._loop: asyncio.Task[None] | None = None

    @property
    def consumers(self) -> int:
        """How many consumers are running this informer now."""
        return self._consumers

    def _registered(self, registration: HandlerRegistration) -> None:
        if registration.on_add is not None:
            # A consumer that joins late must hear of what the others' list already stored.
            for obj in self.store.list():
                self._call(registration.on_add, obj)

    async def run(self) -> None:
        """Run (or join) the list/watch loop until this consumer is cancelled."""
        self._consumers += 1
        try:
            if self._loop is None or self._loop.done():
                self._loop = start_task(super().run(), name=f"informer:{self._scope_name()}")
            # Shielded: cancelling one consumer must not cancel the loop the others read.
            await asyncio.shield(self._loop)
        finally:
            self._consumers -= 1
            if self._consumers == 0:
                await self.stop()

    async def stop(self) -> None:
        """Cancel the list/watch loop and wait for it; the cache is kept, but no longer synced."""
        loop, self._loop = self._loop, None
        if loop is not None and not loop.done():
            await cancel_and_wait(loop)
            # Whoever runs it next must wait for a fresh list, not trust a cache nobody kept current.
            self.has_synced.clear()

    def _scope_name(self) -> str:
        scope = [s for s in (self.namespace, self.label_selector, self.field_selector) if s]
        return self.ref.group_resource + (f"[{','.join(scope)}]" if scope else "")


class SharedInformerFactory:
    """Hands out one :class:`SharedInformer` per resource and scope, all on one client and clock."""

    def __init__(self, client: KubeClient, *, clock: Clock | None = None) -> None:
        self.client = client
        self._clock = clock
        self._informers: dict[ScopeKey, SharedInformer] = {}

    def informer(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> SharedInformer:
        """The shared informer of ``ref`` in this scope, made on first request."""
        key: ScopeKey = (ref, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = SharedInformer(
                self.client,
                ref,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                clock=self._clock,
            )
            self._informers[key] = informer
        return informer

    @property
    def informers(self) -> builtins.list[SharedInformer]:
        """Every informer handed out so far."""
        return builtins.list(self._informers.values())

    async def wait_for_cache_sync(self) -> None:
        """Wait until every informer handed out so far has stored its first list."""
        await asyncio.gather(*(informer.has_synced.wait() for informer in self._informers.values()))

    async def stop(self) -> None:
        """Stop every loop still running (its consumers should have stopped it already)."""
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
