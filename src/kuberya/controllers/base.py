"""What every queue-driven controller is made of, written once.

Upstream's controllers share one shape (``k8s.io/sample-controller``): shared informers feed event
handlers, the handlers only add keys of the reconciled kind to a rate-limited work queue, and a
few workers take keys off the queue and ``sync`` them from the caches. :class:`QueueController`
holds that shape, so that a controller module says only what is its own: which informers it
watches, how an event maps to keys, and what ``sync`` does.

A subclass calls ``super().__init__`` with its name and component, asks :meth:`primary` for the
informer of the kind it reconciles (which also sets up the report of malformed objects,
:class:`~kuberya.controllers.failures.InvalidObjects`) and :meth:`informer` for the others, and
implements :meth:`sync`. :meth:`run` starts exactly the informers asked for, waits for their caches
and runs the workers. What tests and the server inject (``clock``, ``informers``, ``now``,
``events``) is :class:`Wiring`, which every controller takes as ``**wiring: Unpack[Wiring]`` and
hands on unchanged: a new seam is added here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, Unpack

from kuberya.client import (
    Clock,
    ConflictError,
    KubeClient,
    LoopClock,
    NotFoundError,
    SharedInformer,
    SharedInformerFactory,
    WorkQueue,
    object_key,
    run_controller,
)
from kuberya.client.resources import ResourceRef
from kuberya.controllers.events import EventRecorder
from kuberya.controllers.failures import InvalidObjects
from kuberya.controllers.ownership import NAMESPACE_INDEX, controller_ref, meta
from kuberya.controllers.wallclock import WallClock, utc_now
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


def spec_selector(owner: Obj) -> Any:
    """An owner's ``spec.selector`` (a LabelSelector, or None)."""
    spec = owner.get("spec")
    return spec.get("selector") if isinstance(spec, dict) else None


class Wiring(TypedDict, total=False):
    """What a controller is given instead of making its own; each is optional and None means "make it"."""

    clock: Clock | None
    """The work queue's (monotonic) clock: a ``FakeClock`` in tests, the event loop's otherwise."""
    informers: SharedInformerFactory | None
    """The process's shared informers (the server passes its one factory to every component)."""
    now: WallClock | None
    """The wall clock timestamps are compared with and written from."""
    events: EventRecorder | None
    """Where Events go (a recorder of the controller's component by default)."""


class QueueController:
    """Informers → handlers → a work queue of ``namespace/name`` keys → ``workers`` × :meth:`sync`."""

    def __init__(
        self, client: KubeClient, *, name: str, component: str, workers: int, **wiring: Unpack[Wiring]
    ) -> None:
        self.client = client
        self.name = name
        """The queue's, the workers' and the malformed-object reports' name (``deployment``)."""
        self.workers = workers
        self._clock: Clock = wiring.get("clock") or LoopClock()
        self._shared = wiring.get("informers") or SharedInformerFactory(client, clock=self._clock)
        self._now: WallClock = wiring.get("now") or utc_now
        self.events = wiring.get("events") or EventRecorder(client, component=component, now=self._now)
        self.queue: WorkQueue[str] = WorkQueue(name=name, clock=self._clock)
        self._informers: list[SharedInformer] = []

    def informer(
        self, ref: ResourceRef, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> SharedInformer:
        """A shared informer this controller watches; :meth:`run` waits for its cache."""
        informer = self._shared.informer(ref, label_selector=label_selector, field_selector=field_selector)
        if informer not in self._informers:
            self._informers.append(informer)
        return informer

    def primary(
        self, ref: ResourceRef, *, enqueue_changes: bool = True, enqueue_deletes: bool = True
    ) -> SharedInformer:
        """The informer of the kind this controller reconciles: its objects' keys are the queue's.

        With ``enqueue_changes`` every add, update and (unless ``enqueue_deletes`` is False, for a
        controller that has nothing to do about an object gone) delete of one enqueues its key,
        which is what most controllers want; one that filters updates or does more on a delete
        adds its own handlers instead.
        """
        informer = self.informer(ref)
        self.invalid: InvalidObjects[str] = InvalidObjects(
            name=self.name, queue=self.queue, events=self.events, lookup=informer.get
        )
        if enqueue_changes:
            informer.add_handlers(
                on_add=self.enqueue,
                on_update=self.enqueue_new,
                on_delete=self.enqueue if enqueue_deletes else None,
            )
        return informer

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def enqueue_new(self, _old: Obj, new: Obj) -> None:
        """An update handler: the updated object's key, whatever changed."""
        self.enqueue(new)

    def enqueue_selecting(
        self, obj: Obj, owners: SharedInformer, *, selector_of: Callable[[Obj], Any] = spec_selector
    ) -> None:
        """Enqueue every cached owner in ``obj``'s namespace whose selector (``spec.selector``) matches it.

        What an orphan (an object without a controller) is worth: each of those may adopt it.
        ``owners`` must be indexed by :func:`~kuberya.controllers.ownership.namespace_index` under
        :data:`~kuberya.controllers.ownership.NAMESPACE_INDEX`. ``selector_of`` reads an owner's
        LabelSelector where it is kept in another shape (a ReplicationController's label map). A
        malformed selector selects nothing.
        """
        labels = meta(obj).get("labels")
        for owner in owners.by_index(NAMESPACE_INDEX, str(meta(obj).get("namespace") or "")):
            try:
                if selectors.matches(selector_of(owner), labels):
                    self.enqueue(owner)
            except selectors.SelectorError:
                continue

    def controller_of(self, obj: Obj, kind: str, owners: SharedInformer) -> Obj | None:
        """The cached ``kind`` that is ``obj``'s controller (same namespace, same UID), if any."""
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != kind:
            return None
        namespace = meta(obj).get("namespace")
        owner = owners.get(f"{namespace}/{ref.get('name')}" if namespace else str(ref.get("name")))
        return owner if owner is not None and meta(owner).get("uid") == ref.get("uid") else None

    async def sync_retrying_conflicts(self, key: str, sync: Callable[[str], Awaitable[None]]) -> None:
        """``sync(key)`` through :attr:`invalid` (see :meth:`primary`); a conflicting write is retried.

        A write conflicts when the cache is behind the object (after this controller's own last
        write, most often): nothing is lost and the watch event is on its way, so the key comes
        back after the rate limiter's delay, with no warning logged.
        """
        try:
            await self.invalid.sync(key, sync)
        except ConflictError as exc:
            logger.debug("%s %s: %s; retrying", self.name, key, exc)
            self.queue.add_rate_limited(key)

    async def patch_status(
        self, ref: ResourceRef, obj: Obj, status: Obj, *, field_manager: str | None = None
    ) -> Obj | None:
        """Merge ``status`` into ``obj``'s status subresource; the object written, or None if it is gone.

        A merge patch carries no resourceVersion: the status fields a controller writes are its
        alone, so there is no conflict to retry (a ``null`` removes a field). An object deleted
        meanwhile has no status left to write, which is not an error.
        """
        try:
            return await self.client.patch(
                ref,
                str(meta(obj).get("name") or ""),
                {"status": status},
                namespace=meta(obj).get("namespace"),
                patch_type="merge",
                subresource="status",
                field_manager=field_manager,
            )
        except NotFoundError:
            return None

    async def update_status(self, ref: ResourceRef, obj: Obj, *, field_manager: str | None = None) -> Obj | None:
        """Write ``obj``'s whole status, with its resourceVersion; the object written, or None if it is gone.

        Unlike :meth:`patch_status` the write is conditional: a status computed from a cache older
        than the object fails with :class:`~kuberya.client.ConflictError`, which the caller
        retries (counts must not go backwards). An object deleted meanwhile is not an error.
        """
        try:
            return await self.client.update_status(
                ref, obj, namespace=meta(obj).get("namespace"), field_manager=field_manager
            )
        except NotFoundError:
            logger.debug("%s: %s gone before its status was written", self.name, object_key(obj))
            return None

    async def run(self) -> None:
        """Reconcile until cancelled: start the informers, wait for their caches, run the workers."""
        await run_controller(
            name=self.name, informers=tuple(self._informers), queue=self.queue, sync=self.sync, workers=self.workers
        )

    async def sync(self, key: str) -> None:
        """Bring the object at ``key`` one step closer to what it asks for."""
        raise NotImplementedError
