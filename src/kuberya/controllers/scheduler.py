"""The scheduler: binds each pending pod to a Ready node it fits, or says why none fits.

Pods without ``spec.nodeName`` that are ours (``schedulerName`` unset or ``default-scheduler``),
active and not gated are queued by key; ``sync(key)`` (one worker, so that two decisions never
count the same free capacity) checks every node with :mod:`kuberya.controllers.scheduling`:

* a node fits → *bind*: through the ``pods/binding`` subresource when discovery lists it (the
  server then writes ``PodScheduled=True``, as upstream's does); otherwise — kuberya's API server
  has no binding yet — a merge patch setting ``spec.nodeName`` (which its validation lets be set
  exactly once) followed by ``PodScheduled=True`` through the status subresource. Either way a
  Normal ``Scheduled`` event follows. The bound pod is *assumed* — its requests count against the node — until
  the informer shows it bound, so the next pod does not see capacity that is already taken;
* no node fits → the pod stays Pending with ``PodScheduled=False``, reason ``Unschedulable`` and
  upstream's message (``0/1 nodes are available: 1 Insufficient cpu.``), and a Warning
  ``FailedScheduling`` event (de-duplicated by the recorder into a count). Before that, pods of
  lower priority that stand in its way are preempted (:mod:`kuberya.controllers.preemption`) and
  the pod is nominated to their node, where pods of no higher priority then leave it the room;
  when none is, the message ends with preemption's reason as upstream's does (``... preemption:
  0/1 nodes are available: 1 No preemption victims found for incoming pod.``).

A pod whose ``persistentVolumeClaim`` volumes name a missing or unbound claim is not tried on any
node (VolumeBinding's PreFilter, :func:`kuberya.controllers.scheduling.unbound_claim`): it stays
Unschedulable with upstream's message until a claim is created or changes. A node that passes
the other filters is also refused when a bound claim's volume does not allow it
(:func:`kuberya.controllers.scheduling.volume_failures`: "node(s) had volume node affinity conflict").

Pending pods are looked at again whenever something that could make them fit changes: a node's
allocatable, labels, taints, schedulability or readiness (heartbeats are ignored), or a pod on a
node going away or finishing.

With ``node_name`` the scheduler considers only that node (kuberya's own); without it, every node.
"""

from __future__ import annotations

import logging
from typing import Any, Unpack

from kuberya.client import ApiError, ConflictError, InvalidError, KubeClient, NotFoundError, malformed, object_key
from kuberya.client.resources import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODDISRUPTIONBUDGETS,
    PODS,
    STORAGECLASSES,
)
from kuberya.controllers import preemption, scheduling
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import meta
from kuberya.controllers.ownership import spec as spec_of
from kuberya.controllers.pods import condition, phase
from kuberya.controllers.wallclock import format_time
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


SCHEDULER_NAME = "default-scheduler"


def _terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def _node_fingerprint(node: Obj) -> tuple[Any, ...]:
    status = node.get("status") or {}
    return (
        meta(node).get("labels"),
        spec_of(node).get("taints"),
        spec_of(node).get("unschedulable"),
        status.get("allocatable"),
        scheduling.is_ready_node(node),
    )


class Scheduler(QueueController):
    """Assigns pending pods to nodes (see the module docstring)."""

    def __init__(self, client: KubeClient, *, node_name: str | None = None, **wiring: Unpack[Wiring]) -> None:
        # One worker: each decision must see the resources the one before it took.
        super().__init__(client, name="scheduler", component=SCHEDULER_NAME, workers=1, **wiring)
        self.node_name = node_name
        # Its queue holds pending pods: only those it wants, through the handlers below.
        self.pods = self.primary(PODS, enqueue_changes=False)
        self.preemption = preemption.Preemption(
            client, informers=self._shared, events=self.events, now=self._now, scheduler_name=SCHEDULER_NAME
        )
        self.informer(PODDISRUPTIONBUDGETS)  # the one preemption reads: run() waits for it too
        self.nodes = self.informer(NODES, field_selector=f"metadata.name={node_name}" if node_name else None)
        # VolumeBinding: a pod waits for its claims; a claim created or changed may let it go on.
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.claims.add_handlers(
            on_add=lambda _claim: self._requeue_pending(), on_update=lambda _old, _new: self._requeue_pending()
        )
        # A claim of a WaitForFirstConsumer class is bound only once its first pod has a node.
        self.classes = self.informer(STORAGECLASSES)
        # A bound claim's volume must allow the node (its node affinity); one arriving may let a pod go on.
        self.volumes = self.informer(PERSISTENTVOLUMES)
        self.volumes.add_handlers(on_add=lambda _volume: self._requeue_pending())
        self._binding_supported: bool | None = None
        self.assumed: dict[str, tuple[str, dict[str, int]]] = {}
        """Pods bound by us that the cache does not show bound yet: key → (node, requests)."""
        self.pods.add_handlers(on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._on_pod_delete)
        self.nodes.add_handlers(
            on_add=lambda _node: self._requeue_pending(),
            on_update=self._on_node_update,
            on_delete=lambda _node: self._requeue_pending(),
        )

    # -- which pods, and when to look again ---------------------------------------------------

    @staticmethod
    def wants(pod: Obj) -> bool:
        """An active, ungated pod of ours that no node has yet."""
        spec = spec_of(pod)
        return (
            not spec.get("nodeName")
            and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
            and not spec.get("schedulingGates")
            and not meta(pod).get("deletionTimestamp")
            and not _terminal(pod)
        )

    def _requeue_pending(self) -> None:
        for pod in self.pods.list():
            if self.wants(pod):
                self.queue.add(object_key(pod))

    def _on_pod_add(self, pod: Obj) -> None:
        if self.wants(pod):
            self.queue.add(object_key(pod))

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = object_key(new)
        if spec_of(new).get("nodeName"):
            self.assumed.pop(key, None)
            if not _terminal(old) and _terminal(new):
                self._requeue_pending()  # its resources are free again
            return
        # Our own status writes must not bring the pod back (that would loop, event after event).
        if self.wants(new) and (
            spec_of(old) != spec_of(new) or meta(old).get("labels") != meta(new).get("labels") or not self.wants(old)
        ):
            self.queue.add(key)

    def _on_pod_delete(self, pod: Obj) -> None:
        self.assumed.pop(object_key(pod), None)
        if spec_of(pod).get("nodeName"):
            self._requeue_pending()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        if _node_fingerprint(old) != _node_fingerprint(new):
            self._requeue_pending()

    # -- one scheduling decision ----------------------------------------------------------------

    def node_usage(self, *, exclude: str) -> dict[str, tuple[dict[str, int], int]]:
        """Per node: the summed requests and the number of pods bound to it and not finished."""
        usage: dict[str, tuple[dict[str, int], int]] = {}

        def add(node: str, requests: dict[str, int]) -> None:
            total, count = usage.get(node, ({}, 0))
            for name, value in requests.items():
                total[name] = total.get(name, 0) + value
            usage[node] = (total, count + 1)

        for pod in self.pods.list():
            node = spec_of(pod).get("nodeName")
            if node and not _terminal(pod) and object_key(pod) != exclude:
                try:
                    requests = scheduling.pod_requests(pod)
                except Exception as exc:
                    if not malformed.is_malformed(exc):
                        raise
                    # A bound pod whose requests cannot be read cannot be run either (the agent
                    # says so on it); it must not stop every other pod from being scheduled.
                    continue
                add(str(node), requests)
        for key, (node, requests) in self.assumed.items():
            cached = self.pods.get(key)
            if key != exclude and (cached is None or not spec_of(cached).get("nodeName")):
                add(node, requests)
        return usage

    async def sync(self, key: str) -> None:
        """Bind pod ``key`` to a node it fits, or record why it fits none."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or not self.wants(pod) or key in self.assumed:
            return
        malformed.check(pod, malformed.POD)
        nodes = sorted(self.nodes.list(), key=lambda n: str(meta(n).get("name")))
        delayed = scheduling.delayed_claims(pod, self.claims.get, self.classes.get)
        if claim_problem := scheduling.unbound_claim(pod, self.claims.get, delayed=delayed):
            # A PreFilter rejection: no node can help, so no node is tried (and nothing preempted).
            rejected = scheduling.prefilter_error(len(nodes), claim_problem)
            await self._unschedulable(pod, rejected + preemption.after_prefilter(pod, len(nodes)).suffix)
            return
        usage = self.node_usage(exclude=key)
        feasible: list[tuple[float, str]] = []
        failures: list[list[str]] = []
        for node in nodes:
            name = str(meta(node).get("name"))
            requested, count = preemption.with_nominated(pod, self.pods.list(), name, *usage.get(name, ({}, 0)))
            reasons = scheduling.fit_failures(pod, node, requested=requested, pod_count=count)
            reasons = reasons or scheduling.volume_failures(pod, node, self.claims.get, self.volumes.get)
            if reasons:
                failures.append(reasons)
            else:
                feasible.append((scheduling.allocation_score(node, requested), name))
        if feasible and delayed:
            # VolumeBinding's PreBind: the claims are provisioned for the chosen node first; the
            # pod is bound once they are (a claim's change requeues it).
            await self._select_node(delayed, min(feasible)[1])
        elif feasible:
            await self._bind(pod, min(feasible)[1])
        else:
            # PostFilter: evict lower-priority pods if that makes room; the pod waits for it either way.
            # Every node failed, so ``failures`` lines up with ``nodes``.
            names = [str(meta(n).get("name")) for n in nodes]
            result = await self.preemption.preempt(
                pod, nodes, self.pods.list(), failures=dict(zip(names, failures, strict=True))
            )
            await self._unschedulable(pod, scheduling.fit_error(len(nodes), failures) + result.suffix)

    async def _select_node(self, claims: list[Obj], node: str) -> None:
        """Annotate each unbound WaitForFirstConsumer claim with the node its pod will run on."""
        for claim in claims:
            annotations = meta(claim).get("annotations") or {}
            if annotations.get(scheduling.SELECTED_NODE) == node:
                continue
            try:
                await self.client.patch(
                    PERSISTENTVOLUMECLAIMS,
                    str(meta(claim).get("name")),
                    {"metadata": {"annotations": {scheduling.SELECTED_NODE: node}}},
                    namespace=str(meta(claim).get("namespace")),
                    patch_type="merge",
                    field_manager=SCHEDULER_NAME,
                )
            except (NotFoundError, ConflictError) as exc:
                logger.info("scheduler: cannot select node %s for claim %s: %s", node, object_key(claim), exc)

    async def binding_supported(self) -> bool:
        """Whether the server lists ``pods/binding`` in ``/api/v1`` (asked once)."""
        if self._binding_supported is None:
            try:
                listing = await self.client.raw("GET", "/api/v1")
            except ApiError:
                listing = {}
            names = {r.get("name") for r in (listing or {}).get("resources") or [] if isinstance(r, dict)}
            self._binding_supported = "pods/binding" in names
        return self._binding_supported

    async def _bind(self, pod: Obj, node: str) -> None:
        key = object_key(pod)
        name, namespace = str(meta(pod).get("name")), str(meta(pod).get("namespace"))
        try:
            if await self.binding_supported():
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": name, "namespace": namespace},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node},
                }
                await self.client.raw("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body=binding)
                bound_by_server = True
            else:
                await self.client.patch(
                    PODS,
                    name,
                    {"spec": {"nodeName": node}},
                    namespace=namespace,
                    patch_type="merge",
                    field_manager=SCHEDULER_NAME,
                )
                bound_by_server = False
        except NotFoundError:
            return
        except (ConflictError, InvalidError) as exc:
            # Bound meanwhile (or changed under us): the informer brings the news.
            logger.info("scheduler: cannot bind %s to %s: %s", key, node, exc)
            return
        self.assumed[key] = (node, scheduling.pod_requests(pod))
        logger.info("scheduler: bound %s to %s", key, node)
        if not bound_by_server:
            await self._write_scheduled(key, name, namespace)
        await self.events.record(
            pod, type="Normal", reason="Scheduled", message=f"Successfully assigned {namespace}/{name} to {node}"
        )

    async def _write_scheduled(self, key: str, name: str, namespace: str) -> None:
        scheduled = {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": format_time(self._now()),
        }
        try:
            await self.client.patch(
                PODS,
                name,
                {"status": {"conditions": [scheduled]}},
                namespace=namespace,
                patch_type="strategic",
                subresource="status",
                field_manager=SCHEDULER_NAME,
            )
        except ApiError as exc:
            logger.warning("scheduler: %s bound, but its PodScheduled condition was not written: %s", key, exc)

    async def _unschedulable(self, pod: Obj, message: str) -> None:
        key = object_key(pod)
        logger.info("scheduler: %s: %s", key, message)
        current = condition(pod, "PodScheduled")
        if not (
            current is not None
            and current.get("status") == "False"
            and current.get("reason") == "Unschedulable"
            and current.get("message") == message
        ):
            unschedulable = {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": format_time(self._now()),
                "reason": "Unschedulable",
                "message": message,
            }
            try:
                await self.client.patch(
                    PODS,
                    str(meta(pod).get("name")),
                    {"status": {"conditions": [unschedulable]}},
                    namespace=meta(pod).get("namespace"),
                    patch_type="strategic",
                    subresource="status",
                    field_manager=SCHEDULER_NAME,
                )
            except NotFoundError:
                return
        await self.events.record(pod, type="Warning", reason="FailedScheduling", message=message)
