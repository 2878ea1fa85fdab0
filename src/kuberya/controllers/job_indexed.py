"""Which pods a Job needs, per index: the pending indexes, the pods no index needs, restarts as failures.

Upstream's ``indexed_job_utils.go`` (``firstPendingIndexes``, ``appendDuplicatedIndexPodsForRemoval``),
``activePodsForRemoval`` and ``pastBackoffLimitOnFailure``, as functions of the cached pods.
"""

from __future__ import annotations

import datetime

from kuberya.controllers import job_policy as policy
from kuberya.controllers.ownership import meta
from kuberya.controllers.pods import deletion_order_key, phase
from kuberya.meta.types import Obj


def pods_to_remove(
    job: Obj, active: list[Obj], succeeded_indexes: set[int], failed_indexes: set[int], want: int
) -> list[Obj]:
    """The active pods to delete: the surplus, and for Indexed Jobs the pods no index needs."""
    if not policy.is_indexed(job):
        surplus = len(active) - want
        return sorted(active, key=lambda p: deletion_order_key(p, 0))[:surplus] if surplus > 0 else []
    # Indexed: pods of invalid, finished or failed indexes go, and all but one pod per index.
    remove: list[Obj] = []
    keep: dict[int, Obj] = {}
    for pod in sorted(active, key=lambda p: str(meta(p).get("creationTimestamp") or "")):
        index = policy.valid_index(pod, job)
        if index is None or index in succeeded_indexes or index in failed_indexes or index in keep:
            remove.append(pod)
        else:
            keep[index] = pod
    surplus = len(keep) - want
    if surplus > 0:
        # Highest indexes first, as upstream's activePodsForRemoval.
        remove.extend(sorted(keep.values(), key=lambda p: -(policy.completion_index(p) or 0))[:surplus])
    return remove


def pending_indexes(
    job: Obj,
    active: list[Obj],
    pods: list[Obj],
    succeeded_indexes: set[int],
    failed_indexes: set[int],
    count: int,
    now: datetime.datetime,
    *,
    base: float,
    cap: float,
) -> tuple[list[int], float]:
    """Upstream ``firstPendingIndexes``, skipping indexes still in their per-index back-off."""
    total = policy.completions(job) or 0
    busy = {policy.valid_index(p, job) for p in active} | succeeded_indexes | failed_indexes
    per_index = policy.spec_of(job).get("backoffLimitPerIndex") is not None
    chosen: list[int] = []
    soonest = 0.0
    for index in range(total):
        if len(chosen) >= count:
            break
        if index in busy:
            continue
        if per_index:
            failures = [p for p in pods if policy.valid_index(p, job) == index and phase(p) == "Failed"]
            if failures:
                last = max(failures, key=lambda p: policy.finished_at(p, now))
                count_so_far = policy.index_failure_count(last) + 1
                delay = policy.backoff_delay(count_so_far, base=base, cap=cap)
                left = delay - (now - policy.finished_at(last, now)).total_seconds()
                if left > 0:
                    soonest = left if soonest == 0 else min(soonest, left)
                    continue
        chosen.append(index)
    return chosen, soonest


def past_backoff_limit_on_failure(job: Obj, active: list[Obj], limit: int) -> bool:
    """``restartPolicy: OnFailure``: container restarts of running pods count as failures."""
    template_spec = (policy.spec_of(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in active:
        if phase(pod) not in ("Running", "Pending"):
            continue
        status = pod.get("status") or {}
        for key in ("initContainerStatuses", "containerStatuses"):
            restarts += sum(int((c or {}).get("restartCount") or 0) for c in status.get(key) or [])
    return restarts > 0 if limit == 0 else restarts >= limit
