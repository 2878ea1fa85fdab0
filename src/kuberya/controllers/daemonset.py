"""The DaemonSet controller: one pod of each DaemonSet on every node that should run it.

Level-triggered as upstream's ``DaemonSetsController``: informers on DaemonSets, pods, nodes and
ControllerRevisions only enqueue ``namespace/name`` keys; ``sync(key)`` reads the caches and

1. builds the DaemonSet's history (:mod:`.daemonset_history`): the ControllerRevision of its
   current template, whose hash labels the up-to-date pods;
2. *manages* — once the cache shows its earlier creations and deletions (expectations) — each
   node by :func:`~.daemonset_placement.pods_for_node`: a pod created where one should run and
   none does (bound by the scheduler through a required node affinity on the node's name, as
   upstream does), failed, succeeded, surplus and misscheduled pods deleted;
3. with the RollingUpdate strategy, takes one :func:`~.daemonset_update.rolling_update_step`
   (OnDelete leaves old pods until someone deletes them);
4. deletes revisions beyond ``revisionHistoryLimit`` and writes ``status`` (desired, current,
   ready, available, unavailable, updated and misscheduled counts, observedGeneration) through the
   status subresource, only when it changed.

Events are upstream's: ``SuccessfulCreate``/``FailedCreate``, ``SuccessfulDelete``/``FailedDelete``,
``FailedDaemonPod``, ``SucceededDaemonPod``, ``SelectingAll``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Sequence
from typing import Any, Unpack

from kuberya.client import (
    ApiError,
    KubeClient,
    NotFoundError,
    malformed,
    object_key,
)
from kuberya.client.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from kuberya.controllers import daemonset_placement as placement
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.daemonset_history import DaemonSetHistory, template_hash
from kuberya.controllers.daemonset_update import rolling_update_step
from kuberya.controllers.expectations import Expectations
from kuberya.controllers.failures import namespace_terminating
from kuberya.controllers.history import History
from kuberya.controllers.ownership import NAMESPACE_INDEX, ControllerRefManager, controller_ref, meta, namespace_index
from kuberya.controllers.pods import is_available, is_ready, phase
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "daemonset-controller"
BURST_REPLICAS = 250
"""At most this many pods are created or deleted in one sync (upstream's ``BurstReplicas``)."""

DAEMON_SET = malformed.fields(
    metadata=malformed.METADATA,
    spec=malformed.fields(
        selector=malformed.LABEL_SELECTOR,
        template=malformed.POD_TEMPLATE,
        minReadySeconds=malformed.integer,
        revisionHistoryLimit=malformed.integer,
        updateStrategy=malformed.fields(
            type=malformed.string,
            rollingUpdate=malformed.fields(maxSurge=malformed.percent_or_int, maxUnavailable=malformed.percent_or_int),
        ),
    ),
    status=malformed.fields(collisionCount=malformed.integer),
)
"""What the controller reads of a DaemonSet, and the types it needs."""

OMITTED_WHEN_ZERO = frozenset({"updatedNumberScheduled", "numberAvailable", "numberUnavailable"})
STATUS_FIELDS = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberMisscheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
)


class DaemonSetController(QueueController):
    """Keeps one pod of every DaemonSet on each node that should run it."""

    def __init__(
        self, client: KubeClient, *, workers: int = 2, burst_replicas: int = BURST_REPLICAS, **wiring: Unpack[Wiring]
    ) -> None:
        super().__init__(client, name="daemonset", component=COMPONENT, workers=workers, **wiring)
        self.burst_replicas = burst_replicas
        # Creations and deletions are expected separately: one sync may do both.
        self.creations = Expectations(self._clock)
        self.deletions = Expectations(self._clock)
        self.failed_pods = placement.FailedPodBackoff()
        self.daemonsets = self.primary(DAEMONSETS, enqueue_changes=False)
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        self.revisions = self.informer(CONTROLLERREVISIONS)
        self.history = DaemonSetHistory(client, History(client, self.revisions))
        self.daemonsets.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self.daemonsets.add_handlers(on_add=self.enqueue, on_update=self.enqueue_new, on_delete=self._on_ds_delete)
        self.pods.add_handlers(on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._on_pod_delete)
        self.nodes.add_handlers(on_add=self._on_node_add, on_update=self._on_node_update)
        self.revisions.add_handlers(
            on_add=self._on_revision, on_update=lambda _old, new: self._on_revision(new), on_delete=self._on_revision
        )

    # -- event handlers: they only enqueue keys (and lower expectations) ---------------------

    def _on_ds_delete(self, ds: Obj) -> None:
        key = object_key(ds)
        self.creations.forget(key)
        self.deletions.forget(key)
        self.queue.add(key)

    def _owner(self, obj: Obj) -> Obj | None:
        return self.controller_of(obj, "DaemonSet", self.daemonsets)

    def _on_pod_add(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._on_pod_delete(pod)  # seen for the first time already terminating (a relist)
            return
        ds = self._owner(pod)
        if ds is not None:
            self.creations.creation_observed(object_key(ds))
            self.enqueue(ds)
        elif controller_ref(pod) is None:
            self.enqueue_selecting(pod, self.daemonsets)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if meta(new).get("deletionTimestamp"):
            self._on_pod_delete(new)
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and old_ref is not None and (old_ds := self._owner(old)) is not None:
            self.enqueue(old_ds)
        ds = self._owner(new)
        if ds is not None:
            self.enqueue(ds)
            min_ready = int(placement.spec_of(ds).get("minReadySeconds") or 0)
            if min_ready > 0 and is_ready(new) and not is_ready(old):
                self.queue.add_after(object_key(ds), float(min_ready + 1))
        elif new_ref is None and (meta(old).get("labels") != meta(new).get("labels") or old_ref != new_ref):
            self.enqueue_selecting(new, self.daemonsets)

    def _on_pod_delete(self, pod: Obj) -> None:
        ds = self._owner(pod)
        if ds is not None:
            key = object_key(ds)
            self.deletions.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    def _on_node_add(self, node: Obj) -> None:
        for ds in self.daemonsets.list():
            if placement.should_run(ds, node)[0]:
                self.enqueue(ds)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        # Heartbeats change nothing a DaemonSet decides on: compare the decisions, not the nodes.
        for ds in self.daemonsets.list():
            if placement.should_run(ds, old) != placement.should_run(ds, new):
                self.enqueue(ds)

    def _on_revision(self, revision: Obj) -> None:
        ds = self._owner(revision)
        if ds is not None:
            self.enqueue(ds)
        elif controller_ref(revision) is None:
            self.enqueue_selecting(revision, self.daemonsets)

    # -- expectations -----------------------------------------------------------------------

    def satisfied(self, key: str) -> bool:
        return self.creations.satisfied(key) and self.deletions.satisfied(key)

    # -- the reconciliation -------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring DaemonSet ``key`` (as cached) to one pod per eligible node, then post its status."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None:
            self.creations.forget(key)
            self.deletions.forget(key)
            return
        malformed.check(ds, DAEMON_SET)
        selector = placement.spec_of(ds).get("selector")
        if selectors.is_empty(selector):
            await self.events.record(
                ds,
                type="Warning",
                reason="SelectingAll",
                message="This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return
        if meta(ds).get("deletionTimestamp"):
            return  # its pods and revisions may be half gone: no status can be trusted
        nodes = sorted(self.nodes.list(), key=placement.name_of)
        # Claimed once per sync and read from the cache, as upstream: what this sync writes shows
        # up in the next one (expectations hold the manage loop back until it has).
        pods = await self._claim_pods(ds)
        current, old = await self.history.construct(ds, pods)
        hash_ = str((meta(current).get("labels") or {}).get(placement.REVISION_HASH_LABEL) or template_hash(ds))
        if not self.satisfied(key):
            await self._update_status(ds, nodes, pods, hash_, observed=False)
            return
        error: Exception | None = None
        try:
            await self._manage(key, ds, nodes, pods, hash_)
            if self.satisfied(key) and _strategy(ds) == "RollingUpdate":
                await self._rolling_update(key, ds, nodes, pods, hash_)
            await self.history.cleanup(ds, old, pods)
        except ApiError as exc:
            error = exc
        await self._update_status(ds, nodes, pods, hash_, observed=True)
        if error is not None:
            raise error

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        """``getDaemonPods``: the namespace's pods this DaemonSet controls, adopting and releasing."""
        selector = placement.spec_of(ds).get("selector")
        manager = ControllerRefManager(
            self.client,
            owner=ds,
            owner_ref=DAEMONSETS,
            child_ref=PODS,
            match=lambda pod: selectors.matches(selector, meta(pod).get("labels")),
        )
        return await manager.claim(self.pods.by_index(NAMESPACE_INDEX, str(meta(ds).get("namespace") or "")))

    @staticmethod
    def nodes_to_pods(pods: Sequence[Obj], *, include_deleted_terminal: bool = False) -> dict[str, list[Obj]]:
        """``getNodesToDaemonPods``: claimed pods by the node they run on or are meant for."""
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            terminal = phase(pod) in ("Succeeded", "Failed")
            if not include_deleted_terminal and terminal and meta(pod).get("deletionTimestamp"):
                continue
            node = placement.target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> None:
        by_node = self.nodes_to_pods(pods)
        create: list[str] = []
        delete: list[str] = []
        for node in nodes:
            node_name = placement.name_of(node)
            plan = placement.pods_for_node(
                ds,
                node,
                by_node.get(node_name),
                placement.NodeContext(
                    hash_=hash_,
                    now=self._now(),
                    backoff=self.failed_pods,
                    backoff_key=f"{meta(ds).get('uid')}/{(ds.get('status') or {}).get('observedGeneration') or 0}/"
                    f"{node_name}",
                    clock_now=self._clock.now(),
                ),
            )
            for type_, reason, message in plan.events:
                await self.events.record(
                    ds, type="Warning" if type_ == "Warning" else "Normal", reason=reason, message=message
                )
            if plan.retry_after is not None:
                self.queue.add_after(key, plan.retry_after)
            if plan.create:
                create.append(node_name)
            delete.extend(plan.delete)
        # Pending pods meant for nodes that are gone: nothing else will ever remove them.
        known = {placement.name_of(n) for n in nodes}
        for node_name, node_pods in by_node.items():
            if node_name not in known:
                delete.extend(placement.name_of(p) for p in node_pods if not placement.spec_of(p).get("nodeName"))
        await self._sync_nodes(key, ds, delete=delete, create=create, hash_=hash_)

    async def _rolling_update(self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> None:
        by_name = {placement.name_of(n): n for n in nodes}

        def should_run(node_name: str) -> bool:
            node = by_name.get(node_name)
            return node is not None and placement.should_run(ds, node)[0]

        step = rolling_update_step(
            ds,
            self.nodes_to_pods(pods),
            hash_=hash_,
            now=self._now(),
            should_run=should_run,
            node_names=list(by_name),
        )
        await self._sync_nodes(key, ds, delete=step.delete, create=step.create, hash_=hash_)

    async def _sync_nodes(self, key: str, ds: Obj, *, delete: list[str], create: list[str], hash_: str) -> None:
        """``syncNodes``: delete the pods named, create one on each node named, within the burst."""
        create = create[: self.burst_replicas]
        delete = delete[: self.burst_replicas]
        namespace = str(meta(ds).get("namespace") or "")
        # Expect them all first: a creation's watch event may arrive before the create returns.
        self.creations.expect_creations(key, len(create))
        self.deletions.expect_deletions(key, {f"{namespace}/{name}" for name in delete})
        errors = await self._create_pods(key, ds, create, hash_)
        results = await asyncio.gather(*(self._delete_pod(key, ds, name) for name in delete))
        errors.extend(r for r in results if r is not None)
        if errors:
            raise errors[0]

    async def _create_pods(self, key: str, ds: Obj, nodes: list[str], hash_: str) -> list[ApiError]:
        """Create a pod on each node in slow-start batches of 1, 2, 4….

        A create that fails (a quota, say) fails once rather than once per node; the creations
        never attempted are no longer expected.
        """
        remaining, batch = list(nodes), 1
        while remaining:
            chunk, remaining = remaining[:batch], remaining[batch:]
            results = await asyncio.gather(
                *(self._create_pod(key, ds, node, hash_) for node in chunk), return_exceptions=True
            )
            failures: list[ApiError] = []
            for result in results:
                if isinstance(result, ApiError):
                    failures.append(result)
                elif isinstance(result, BaseException):
                    raise result
            if failures:
                for _ in remaining:
                    self.creations.creation_observed(key)
                return failures
            batch *= 2
        return []

    async def _create_pod(self, key: str, ds: Obj, node_name: str, hash_: str) -> None:
        body = placement.daemon_pod(ds, node_name, hash_=hash_)
        try:
            pod = await self.client.create(PODS, copy.deepcopy(body), namespace=meta(ds).get("namespace"))
        except ApiError as exc:
            self.creations.creation_observed(key)
            if namespace_terminating(exc):
                return  # the namespace is going away: every later create would fail the same way
            await self.events.record(
                ds, type="Warning", reason="FailedCreate", message=f"Error creating: {exc.message}"
            )
            raise
        await self.events.record(
            ds, type="Normal", reason="SuccessfulCreate", message=f"Created pod: {placement.name_of(pod)}"
        )

    async def _delete_pod(self, key: str, ds: Obj, name: str) -> ApiError | None:
        namespace = str(meta(ds).get("namespace") or "")
        try:
            await self.client.delete(PODS, name, namespace=namespace)
        except NotFoundError:
            self.deletions.deletion_observed(key, f"{namespace}/{name}")
            return None
        except ApiError as exc:
            self.deletions.deletion_observed(key, f"{namespace}/{name}")
            await self.events.record(
                ds, type="Warning", reason="FailedDelete", message=f"Error deleting: {exc.message}"
            )
            return exc
        await self.events.record(ds, type="Normal", reason="SuccessfulDelete", message=f"Deleted pod: {name}")
        return None

    # -- status --------------------------------------------------------------------------------

    def calculate_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> dict[str, int]:
        """``updateDaemonSetStatus``' counts, from the claimed ``pods``."""
        by_node = self.nodes_to_pods(pods)
        min_ready = int(placement.spec_of(ds).get("minReadySeconds") or 0)
        generation = placement.template_generation(ds)
        now = self._now()
        counts = dict.fromkeys(STATUS_FIELDS, 0)
        for node in nodes:
            run, _ = placement.should_run(ds, node)
            on_node = sorted(by_node.get(placement.name_of(node)) or [], key=placement.creation_order)
            if not run:
                counts["numberMisscheduled"] += 1 if on_node else 0
                continue
            counts["desiredNumberScheduled"] += 1
            if not on_node:
                continue
            counts["currentNumberScheduled"] += 1
            oldest = on_node[0]
            if is_ready(oldest):
                counts["numberReady"] += 1
                if is_available(oldest, min_ready, now):
                    counts["numberAvailable"] += 1
            if placement.is_pod_updated(oldest, hash_, generation):
                counts["updatedNumberScheduled"] += 1
        counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        return counts

    async def _update_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str, *, observed: bool) -> None:
        counts = self.calculate_status(ds, nodes, pods, hash_)
        old = ds.get("status") or {}
        generation = int(meta(ds).get("generation") or 0)
        if (
            all(int(old.get(f) or 0) == counts[f] for f in STATUS_FIELDS)
            and int(old.get("observedGeneration") or 0) >= generation
        ):
            return
        # Upstream omits these when zero (omitempty): a merge patch's null removes them.
        patch: dict[str, Any] = {f: (None if f in OMITTED_WHEN_ZERO and not v else v) for f, v in counts.items()}
        if observed:
            patch["observedGeneration"] = generation
        if await self.patch_status(DAEMONSETS, ds, patch) is None:
            logger.debug("daemonset %s: gone before its status was written", object_key(ds))
            return
        min_ready = int(placement.spec_of(ds).get("minReadySeconds") or 0)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            self.queue.add_after(object_key(ds), float(min_ready))


def _strategy(ds: Obj) -> str:
    return str((placement.spec_of(ds).get("updateStrategy") or {}).get("type") or "RollingUpdate")
