"""What the workload controllers need to know about a pod, as upstream's ``podutil`` says it.

*Active* pods count toward a ReplicaSet (not terminating, not Succeeded/Failed); *ready* pods have
the ``Ready`` condition True; *available* pods have been ready for ``minReadySeconds``. The order
in which a ReplicaSet gives up pods on scale-down (:func:`deletion_order_key`) follows upstream's
``ActivePodsWithRanks``.
"""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.controllers.wallclock import parse_time
from kuberya.meta.types import Obj

_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_active(pod: Obj) -> bool:
    """Neither finished nor terminating (upstream's ``IsPodActive``)."""
    return phase(pod) not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> datetime.datetime | None:
    """When the pod last became ready; None when it is not ready."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's ``IsPodAvailable``)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


def max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)), default=0)


def _timestamp(value: datetime.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def deletion_order_key(pod: Obj, rank: int) -> tuple[Any, ...]:
    """Sort key: pods that sort first are deleted first on scale-down.

    Upstream's ``ActivePodsWithRanks.Less``: unassigned before assigned; Pending before Unknown
    before Running; not ready before ready; more pods of the same owner family on its node (higher
    ``rank``) first; among ready pods the most recently ready first; more container restarts first;
    newer before older. The name breaks remaining ties so the choice is deterministic. (Upstream's
    optional logarithmic bucketing of timestamps is not applied.)
    """
    ready = is_ready(pod)
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_ORDER.get(phase(pod), 0),
        1 if ready else 0,
        -rank,
        -_timestamp(ready_since(pod)) if ready else 0.0,
        -max_restarts(pod),
        -_timestamp(parse_time(meta(pod).get("creationTimestamp"))),
        str(meta(pod).get("name") or ""),
    )
