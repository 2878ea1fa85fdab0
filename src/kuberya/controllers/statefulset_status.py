"""A StatefulSet's status: the counts upstream reports, when a rollout completes, and writing it.

``replicas`` counts created pods; ``readyReplicas`` those Running and Ready, ``availableReplicas``
those ready for ``minReadySeconds``; ``currentReplicas`` / ``updatedReplicas`` the live
(created, not terminating) pods labelled with the current / update revision (upstream's
``computeReplicaStatus``). When every pod is updated and ready, a RollingUpdate is complete and
the update revision becomes the current one (``completeRollingUpdate``). The status is written
only when a field changed (``inconsistentStatus``), as a merge patch of the status subresource;
fields upstream omits when zero are removed rather than written as ``0``, so the object reads as
upstream's does.
"""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.controllers.statefulset_pods import (
    is_created,
    is_running_and_available,
    is_running_and_ready,
    is_terminating,
    pod_revision,
    strategy_type,
)
from kuberya.meta.types import Obj

COUNTS = ("replicas", "readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas")
COMPARED = (*COUNTS, "observedGeneration", "currentRevision", "updateRevision", "collisionCount")
OMITTED_WHEN_EMPTY = frozenset(
    {"readyReplicas", "currentReplicas", "updatedReplicas", "observedGeneration", "currentRevision", "updateRevision"}
)
"""Status fields with ``omitempty`` upstream (``replicas`` and ``availableReplicas`` are always there)."""


def replica_counts(
    pods: list[Obj], min_ready: int, now: datetime.datetime, current: Obj, update: Obj
) -> dict[str, int]:
    """``computeReplicaStatus`` over ``pods`` (pods only built here, not created, count for nothing)."""
    counts = dict.fromkeys(COUNTS, 0)
    current_name, update_name = meta(current).get("name"), meta(update).get("name")
    for pod in pods:
        if not is_created(pod):
            continue
        counts["replicas"] += 1
        if is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            if is_running_and_available(pod, min_ready, now):
                counts["availableReplicas"] += 1
        if not is_terminating(pod):
            revision = pod_revision(pod)
            counts["currentReplicas"] += revision == current_name
            counts["updatedReplicas"] += revision == update_name
    return counts


def complete_rolling_update(sts: Obj, status: dict[str, Any]) -> None:
    """``completeRollingUpdate``: all pods updated and ready make the update revision current."""
    if (
        strategy_type(sts) == "RollingUpdate"
        and status["updatedReplicas"] == status["replicas"]
        and status["readyReplicas"] == status["replicas"]
    ):
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = status["updateRevision"]


def _normalized(value: Any) -> Any:
    return value if value not in (None, "", 0) else None


def changed(sts: Obj, status: dict[str, Any]) -> bool:
    """``inconsistentStatus``: whether any compared field differs from what the set shows."""
    old = sts.get("status") or {}
    return any(_normalized(old.get(f)) != _normalized(status.get(f)) for f in COMPARED)


def status_patch(sts: Obj, status: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch of ``sts``'s status that writes ``status``, or None when nothing changed.

    Fields upstream omits when zero are removed (``null``) rather than written as ``0``.
    """
    if not changed(sts, status):
        return None
    return {
        key: (None if key in OMITTED_WHEN_EMPTY and value in (0, "", None) else value) for key, value in status.items()
    }
