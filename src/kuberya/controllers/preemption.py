"""Preemption: make room on a node for a pending pod by evicting pods of lower priority.

The default scheduler's ``DefaultPreemption`` PostFilter plugin, for the pods that fit no node:

* only a pod whose ``preemptionPolicy`` is not ``Never`` preempts, and not while pods it already
  preempted on its nominated node are still terminating (it waits for them instead);
* on each node, every pod of lower ``spec.priority`` is a potential victim. If the pod does not fit
  even with all of them gone, the node is no candidate (removing pods cannot cure a taint, a
  selector or a cordon). Otherwise victims are *reprieved* one by one, most important first
  (higher priority, then earlier start), those whose eviction would violate a
  PodDisruptionBudget before the others, as long as the pod still fits: what is left is the
  fewest victims, violating budgets only where nothing else makes room;
* of the candidate nodes the one with the fewest budget violations wins, then the lowest
  highest-victim priority, the lowest sum of priorities, the fewest victims, the latest start of
  its most important victim;
* each victim gets the ``DisruptionTarget`` condition (reason ``PreemptionByScheduler``), is
  deleted (gracefully), and gets a ``Preempted`` event ("Preempted by pod <uid> on node <node>");
  the pod gets ``status.nominatedNodeName`` and stays Pending until the room is there. Pending
  pods of lower priority nominated to that node lose their nomination.

While a pod is nominated to a node, pods of no higher priority are scheduled as if it were already
there (:func:`nominated_requests`), so that the room made for it is not taken by another.

When no victim makes room, :meth:`Preemption.preempt` says why in upstream's words, which the
scheduler appends to its ``FitError`` (``... 1 Insufficient cpu. preemption: 0/1 nodes are
available: 1 No preemption victims found for incoming pod.``): a pod that may not preempt says so
("not eligible due to preemptionPolicy=Never."); otherwise each node is judged as upstream's
``findCandidates`` does. A node whose rejection is *unresolvable* (a cordon, a taint, a selector,
a request larger than the whole node: upstream's ``UnschedulableAndUnresolvable``) is not even
tried ("Preemption is not helpful for scheduling"); a node with no pod of lower priority has "No
preemption victims found for incoming pod"; a node where the pod does not fit even with all of
them gone keeps its filter reasons ("Insufficient cpu").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kuberya.client import ApiError, KubeClient, NotFoundError, SharedInformerFactory
from kuberya.client.resources import PODDISRUPTIONBUDGETS, PODS
from kuberya.controllers import scheduling
from kuberya.controllers.disruption import selects
from kuberya.controllers.events import EventRecorder
from kuberya.controllers.ownership import meta
from kuberya.controllers.pods import phase
from kuberya.controllers.wallclock import WallClock, format_time, parse_time
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

Fits = Callable[[Obj, Obj, Mapping[str, int], int], bool]
"""Whether a pod fits a node given the node's requested resources and pod count."""

# Upstream's PostFilter messages (``default_preemption.go``, ``preemption.go``).
PREEMPTION_PREFIX = "preemption: "
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    """What preemption did for a pod: the node it was nominated to, or why it made no room."""

    nominated: str | None = None
    message: str = ""
    """Upstream's PostFilter message (``preemption: …``), empty when a node was nominated."""

    @property
    def suffix(self) -> str:
        """What ``FitError.Error()`` appends: a space and the message, when there is one."""
        return f" {self.message}" if self.message else ""


def after_prefilter(pod: Obj, total_nodes: int) -> PostFilterResult:
    """Preemption's word when a PreFilter rejected the pod: every node is unresolvable then."""
    if not may_preempt(pod):
        return PostFilterResult(message=PREEMPTION_PREFIX + NOT_ELIGIBLE_NEVER)
    return no_candidates(total_nodes, {}) if total_nodes else PostFilterResult()


def no_candidates(total_nodes: int, reasons: Mapping[str, Sequence[str]]) -> PostFilterResult:
    """Upstream's inner ``FitError`` over the nodes tried (``reasons``); the others are not helpful."""
    untried = [[NOT_HELPFUL]] * (total_nodes - len(reasons))
    inner = scheduling.fit_error(total_nodes, [*(list(r) for r in reasons.values()), *untried])
    return PostFilterResult(message=PREEMPTION_PREFIX + inner)


def resolvable(pod: Obj, node: Obj, reasons: Iterable[str]) -> bool:
    """Whether removing pods could cure these filter reasons.

    Upstream's ``Unschedulable`` code, not ``UnschedulableAndUnresolvable``: too many pods, or a
    resource the node has, only not free.
    """
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    wants = scheduling.pod_requests(pod)
    for reason in reasons:
        if reason == scheduling.TOO_MANY_PODS:
            continue
        name = reason.removeprefix("Insufficient ")
        if (
            name == reason
            or name not in allocatable
            or wants.get(name, 0) > scheduling.to_units(name, allocatable[name])
        ):
            return False
    return True


def priority(pod: Obj) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _start(pod: Obj) -> float:
    started = parse_time((pod.get("status") or {}).get("startTime")) or parse_time(meta(pod).get("creationTimestamp"))
    return started.timestamp() if started is not None else float("inf")


def importance_key(pod: Obj) -> tuple[int, float, str]:
    """Sorts the most important pod first: ``MoreImportantPod`` (higher priority, earlier start)."""
    return (-priority(pod), _start(pod), str(meta(pod).get("name") or ""))


def may_preempt(pod: Obj) -> bool:
    return (pod.get("spec") or {}).get("preemptionPolicy") != "Never"


@dataclass(slots=True)
class Candidate:
    node: str
    victims: list[Obj] = field(default_factory=list)
    pdb_violations: int = 0


def _selects(pdb: Obj, pod: Obj) -> bool:
    # Here an empty selector selects nothing, as in the eviction handler.
    return not selectors.is_empty((pdb.get("spec") or {}).get("selector")) and selects(pdb, pod)


def _pdb_violating(victims: list[Obj], budgets: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """Upstream's ``filterPodsWithPDBViolation``: (violating, non-violating), in the given order."""
    allowed = {id(b): int((b.get("status") or {}).get("disruptionsAllowed") or 0) for b in budgets}
    violating: list[Obj] = []
    fine: list[Obj] = []
    for pod in victims:
        breaks = False
        for pdb in budgets:
            if meta(pdb).get("namespace") != meta(pod).get("namespace") or not _selects(pdb, pod):
                continue
            if str(meta(pod).get("name")) in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue  # already counted by the budget
            allowed[id(pdb)] -= 1
            if allowed[id(pdb)] < 0:
                breaks = True
        (violating if breaks else fine).append(pod)
    return violating, fine


def without_lower(pod: Obj, node_pods: list[Obj]) -> tuple[list[Obj], dict[str, int], int]:
    """The node's pods of lower priority (most important first), and its requests and pod count.

    The requests and count are the node's with all of those pods gone.
    """
    requested: dict[str, int] = {}
    for other in node_pods:
        for name, value in scheduling.pod_requests(other).items():
            requested[name] = requested.get(name, 0) + value
    count = len(node_pods)
    lower = sorted((p for p in node_pods if priority(p) < priority(pod)), key=importance_key)
    for victim in lower:
        for name, value in scheduling.pod_requests(victim).items():
            requested[name] -= value
        count -= 1
    return lower, requested, count


def no_room_reasons(pod: Obj, node: Obj, node_pods: list[Obj]) -> list[str]:
    """Why no victim on ``node`` makes room, as upstream's ``SelectVictimsOnNode`` status says."""
    lower, requested, count = without_lower(pod, node_pods)
    if not lower:
        return [NO_VICTIMS]
    return scheduling.fit_failures(pod, node, requested=requested, pod_count=count) or [NO_VICTIMS]


def select_victims(pod: Obj, node: Obj, node_pods: list[Obj], budgets: list[Obj], *, fits: Fits) -> Candidate | None:
    """Upstream's ``SelectVictimsOnNode`` for one node; None when preemption cannot help there."""
    lower, requested, count = without_lower(pod, node_pods)
    if not fits(pod, node, requested, count):
        return None
    violating, fine = _pdb_violating(lower, budgets)
    candidate = Candidate(str(meta(node).get("name")))
    for group, counts_against in ((violating, True), (fine, False)):
        for victim in group:
            back = dict(requested)
            for name, value in scheduling.pod_requests(victim).items():
                back[name] = back.get(name, 0) + value
            if fits(pod, node, back, count + 1):
                requested, count = back, count + 1  # reprieved
                continue
            candidate.victims.append(victim)
            if counts_against:
                candidate.pdb_violations += 1
    candidate.victims.sort(key=importance_key)
    return candidate


def pick_candidate(candidates: list[Candidate]) -> Candidate | None:
    """Upstream's ``pickOneNodeForPreemption`` ordering."""
    if not candidates:
        return None

    def key(c: Candidate) -> tuple[Any, ...]:
        priorities = [priority(v) for v in c.victims]
        highest = max(priorities, default=-(2**31))
        top_start = min((_start(v) for v in c.victims if priority(v) == highest), default=0.0)
        return (c.pdb_violations, highest, sum(priorities), len(c.victims), -top_start, c.node)

    return min(candidates, key=key)


def nominated_requests(pod: Obj, pending: list[Obj], node: str) -> tuple[dict[str, int], int]:
    """What pods nominated to ``node`` with at least ``pod``'s priority will need there."""
    total: dict[str, int] = {}
    count = 0
    for other in pending:
        if other is pod or meta(other).get("uid") == meta(pod).get("uid"):
            continue
        if (other.get("status") or {}).get("nominatedNodeName") != node or priority(other) < priority(pod):
            continue
        for name, value in scheduling.pod_requests(other).items():
            total[name] = total.get(name, 0) + value
        count += 1
    return total, count


def with_nominated(
    pod: Obj, pods: list[Obj], node: str, requested: Mapping[str, int], count: int
) -> tuple[dict[str, int], int]:
    """The node's usage as ``pod`` must see it: plus the pods of no lower priority nominated to it."""
    pending = [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
    extra, extra_count = nominated_requests(pod, pending, node)
    total = dict(requested)
    for name, value in extra.items():
        total[name] = total.get(name, 0) + value
    return total, count + extra_count


def _fits(pod: Obj, node: Obj, requested: Mapping[str, int], count: int) -> bool:
    return not scheduling.fit_failures(pod, node, requested=requested, pod_count=count)


def _fit_failures(pod: Obj, node: Obj, node_pods: list[Obj]) -> list[str]:
    requested: dict[str, int] = {}
    for other in node_pods:
        for name, value in scheduling.pod_requests(other).items():
            requested[name] = requested.get(name, 0) + value
    return scheduling.fit_failures(pod, node, requested=requested, pod_count=len(node_pods))


class Preemption:
    """The scheduler's PostFilter: picks victims for a pod that fits nowhere and evicts them."""

    def __init__(
        self,
        client: KubeClient,
        *,
        informers: SharedInformerFactory,
        events: EventRecorder,
        now: WallClock,
        scheduler_name: str,
    ) -> None:
        self.client = client
        self.events = events
        self._now = now
        self.scheduler_name = scheduler_name
        self.budgets = informers.informer(PODDISRUPTIONBUDGETS)

    async def preempt(
        self, pod: Obj, nodes: list[Obj], pods: list[Obj], *, failures: Mapping[str, Sequence[str]] | None = None
    ) -> PostFilterResult:
        """Make room for ``pod`` if lower-priority pods stand in its way: the nominated node, or why not.

        ``failures`` are the scheduler's filter reasons per node name (a node missing from it is
        judged on its bound pods alone).
        """
        if not may_preempt(pod):
            return PostFilterResult(message=PREEMPTION_PREFIX + NOT_ELIGIBLE_NEVER)
        bound = [p for p in pods if (p.get("spec") or {}).get("nodeName") and phase(p) not in ("Succeeded", "Failed")]
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated and any(
            (p.get("spec") or {}).get("nodeName") == nominated
            and meta(p).get("deletionTimestamp")
            and priority(p) < priority(pod)
            for p in bound
        ):
            # its victims are still going: wait for them rather than pick more
            return PostFilterResult(message=PREEMPTION_PREFIX + NOT_ELIGIBLE_TERMINATING)
        budgets = self.budgets.list()
        candidates = []
        tried: dict[str, list[str]] = {}  # why each node that removing pods might cure is no candidate
        for node in nodes:
            name = str(meta(node).get("name"))
            on_node = [p for p in bound if (p.get("spec") or {}).get("nodeName") == name]
            rejected = failures.get(name) if failures is not None else None
            if rejected is None:
                rejected = _fit_failures(pod, node, on_node)
            if not resolvable(pod, node, rejected):
                continue
            candidate = select_victims(pod, node, on_node, budgets, fits=_fits)
            if candidate is not None and candidate.victims:
                candidates.append(candidate)
            else:
                tried[name] = no_room_reasons(pod, node, on_node)
        chosen = pick_candidate(candidates)
        if chosen is None:
            return no_candidates(len(nodes), tried) if nodes else PostFilterResult()
        for victim in chosen.victims:
            await self._evict(pod, victim, chosen.node)
        await self._clear_lower_nominations(pod, pods, chosen.node)
        await self._nominate(pod, chosen.node)
        return PostFilterResult(nominated=chosen.node)

    async def _evict(self, pod: Obj, victim: Obj, node: str) -> None:
        name, namespace = str(meta(victim).get("name")), meta(victim).get("namespace")
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": format_time(self._now()),
            "reason": "PreemptionByScheduler",
            "message": f"{self.scheduler_name}: preempting to accommodate a higher priority pod",
        }
        try:
            if not meta(victim).get("deletionTimestamp"):
                await self.client.patch(
                    PODS,
                    name,
                    {"status": {"conditions": [condition]}},
                    namespace=namespace,
                    patch_type="strategic",
                    subresource="status",
                    field_manager=self.scheduler_name,
                )
            await self.client.delete(PODS, name, namespace=namespace)
        except NotFoundError:
            return
        except ApiError as exc:
            logger.warning("preemption: cannot preempt %s/%s: %s", namespace, name, exc)
            return
        logger.info("preemption: %s/%s preempted for %s", namespace, name, meta(pod).get("name"))
        await self.events.record(
            victim,
            type="Normal",
            reason="Preempted",
            message=f"Preempted by pod {meta(pod).get('uid')} on node {node}",
        )

    async def _clear_lower_nominations(self, pod: Obj, pods: list[Obj], node: str) -> None:
        for other in pods:
            if (
                (other.get("status") or {}).get("nominatedNodeName") == node
                and not (other.get("spec") or {}).get("nodeName")
                and priority(other) < priority(pod)
            ):
                await self._set_nomination(other, None)

    async def _nominate(self, pod: Obj, node: str) -> None:
        if (pod.get("status") or {}).get("nominatedNodeName") != node:
            await self._set_nomination(pod, node)

    async def _set_nomination(self, pod: Obj, node: str | None) -> None:
        try:
            await self.client.patch(
                PODS,
                str(meta(pod).get("name")),
                {"status": {"nominatedNodeName": node}},
                namespace=meta(pod).get("namespace"),
                patch_type="merge",
                subresource="status",
                field_manager=self.scheduler_name,
            )
        except ApiError as exc:
            logger.info("preemption: cannot set the nominated node of %s: %s", meta(pod).get("name"), exc)
