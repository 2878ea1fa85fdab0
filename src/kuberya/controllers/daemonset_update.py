"""A DaemonSet's RollingUpdate, one step at a time, as upstream's ``rollingUpdate`` (``update.go``).

Each sync computes which old pods to delete and on which nodes to start new ones, within the
strategy's bounds, and leaves the rest to the next sync (the manage loop creates the pods the
deletions make room for):

* **maxSurge 0** — delete old pods while the number of unavailable nodes stays within
  ``maxUnavailable``. An old pod that is not available anyway is replaced at once; a node with no
  pod, with two, or with an unavailable new pod counts as unavailable.
* **maxSurge > 0** — start a new pod beside an old one on up to ``maxSurge`` nodes (at once where
  the old pod is unavailable), and delete the old pod once the new one is available; old pods on
  nodes the DaemonSet no longer selects go only while enough pods elsewhere are available.

Percentages are of the nodes that should run the pod, rounded up. A strategy that allows neither
surge nor unavailability (only an old object can hold one) is treated as ``maxUnavailable: 1``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kuberya.controllers.daemonset_placement import (
    is_pod_updated,
    name_of,
    spec_of,
    surge_count,
    template_generation,
    unavailable_count,
)
from kuberya.controllers.ownership import meta
from kuberya.controllers.pods import is_available
from kuberya.meta.types import Obj


@dataclass(frozen=True)
class UpdateStep:
    """What one rolling-update step does: pods to delete by name, nodes to start a new pod on."""

    delete: list[str]
    create: list[str]


def updated_and_old(ds: Obj, pods: Sequence[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """``findUpdatedPodsOnNode``: (the new pod, the old pod, at most one of each) among non-deleted pods."""
    generation = template_generation(ds)
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def bounds(ds: Obj, desired: int) -> tuple[int, int]:
    """``updatedDesiredNodeCounts``' (maxSurge, maxUnavailable) for ``desired`` nodes."""
    max_unavailable = unavailable_count(ds, desired)
    max_surge = surge_count(ds, desired)
    if desired > 0 and max_unavailable == 0 and max_surge == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def rolling_update_step(
    ds: Obj,
    nodes_to_pods: Mapping[str, Sequence[Obj]],
    *,
    hash_: str,
    now: datetime.datetime,
    should_run: Callable[[str], bool],
    node_names: Sequence[str],
) -> UpdateStep:
    """The deletions and creations of one step; ``should_run(node)`` says if a node still wants the pod."""
    wanted = [n for n in node_names if should_run(n)]
    desired = len(wanted)
    per_node: dict[str, Sequence[Obj]] = {n: nodes_to_pods.get(n) or [] for n in wanted}
    for node, pods in nodes_to_pods.items():
        per_node.setdefault(node, pods)
    max_surge, max_unavailable = bounds(ds, desired)
    min_ready = int(spec_of(ds).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return is_available(pod, min_ready, now)

    if max_surge == 0:
        return _without_surge(ds, per_node, hash_=hash_, max_unavailable=max_unavailable, available=available)
    return _with_surge(
        ds,
        per_node,
        hash_=hash_,
        max_surge=max_surge,
        desired=desired,
        available=available,
        should_run=should_run,
    )


def _without_surge(
    ds: Obj,
    per_node: Mapping[str, Sequence[Obj]],
    *,
    hash_: str,
    max_unavailable: int,
    available: Callable[[Obj], bool],
) -> UpdateStep:
    unavailable = 0
    replacements: list[str] = []
    candidates: list[str] = []
    for node in sorted(per_node):
        new, old, ok = updated_and_old(ds, per_node[node], hash_)
        if not ok or (new is None) == (old is None):
            # Excess pods (the manage loop prunes them), none yet, or both: unavailable for now.
            unavailable += 1
        elif new is not None:
            if not available(new):
                unavailable += 1
        elif old is not None:
            if not available(old):
                replacements.append(name_of(old))  # unavailable anyway: replace it at once
                unavailable += 1
            elif unavailable < max_unavailable:
                candidates.append(name_of(old))
    room = min(max(max_unavailable - unavailable, 0), len(candidates))
    return UpdateStep(delete=replacements + candidates[:room], create=[])


def _with_surge(
    ds: Obj,
    per_node: Mapping[str, Sequence[Obj]],
    *,
    hash_: str,
    max_surge: int,
    desired: int,
    available: Callable[[Obj], bool],
    should_run: Callable[[str], bool],
) -> UpdateStep:
    to_delete: list[str] = []
    should_not_run: list[str] = []
    candidates: list[str] = []
    allowed: list[str] = []
    surging = 0
    number_available = 0
    for node in sorted(per_node):
        new, old, ok = updated_and_old(ds, per_node[node], hash_)
        if not ok:
            surging += 1  # the manage loop prunes the excess; count it as a surge node
            continue
        current = old if old is not None else new
        if current is not None and available(current):
            number_available += 1
        if old is None:
            continue  # up to date, or empty: the manage loop handles it
        if new is None:
            if not available(old):
                if not should_run(node):
                    to_delete.append(name_of(old))
                else:
                    allowed.append(node)
            elif not should_run(node):
                should_not_run.append(name_of(old))
            elif surging < max_surge:
                candidates.append(node)
        elif not available(new):
            surging += 1  # waiting for the new pod to become available
        else:
            to_delete.append(name_of(old))  # the new pod is available: the old one goes
    # Pods on nodes no longer selected go only while the others keep every wanted node available.
    deletable = min(max(number_available - desired, 0), len(should_not_run))
    to_delete.extend(should_not_run[:deletable])
    room = min(max(max_surge - surging, 0), len(candidates))
    return UpdateStep(delete=to_delete, create=allowed + candidates[:room])
