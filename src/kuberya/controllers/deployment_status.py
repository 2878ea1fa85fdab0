"""A Deployment's status, computed without I/O (upstream's ``sync.go``/``progress.go`` and util).

The counts come from the ReplicaSets' own statuses; the conditions are

* ``Available``: ``MinimumReplicasAvailable`` when at least ``replicas - maxUnavailable`` are
  available, else ``MinimumReplicasUnavailable``;
* ``Progressing``: ``NewReplicaSetCreated`` / ``FoundNewReplicaSet`` when the controller creates
  or finds the new ReplicaSet, ``ReplicaSetUpdated`` whenever a sync sees progress (its
  ``lastUpdateTime`` is what the deadline counts from), ``NewReplicaSetAvailable`` when complete,
  ``ProgressDeadlineExceeded`` (False) when ``progressDeadlineSeconds`` passed without progress,
  ``DeploymentPaused`` / ``DeploymentResumed`` (Unknown) around a pause;
* ``ReplicaFailure``: copied from a ReplicaSet that cannot create or delete pods.

Conditions change as ``SetDeploymentCondition`` changes them: the same status and reason is no
change at all, and the same status keeps its ``lastTransitionTime``.

:func:`status_equal` compares two statuses as the API stores them, so the controller writes only a
status that changed.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Sequence
from typing import Any

from kuberya.controllers.ownership import meta
from kuberya.controllers.rollout import (
    AVAILABLE,
    MIN_AVAILABLE,
    MIN_UNAVAILABLE,
    NEW_RS_AVAILABLE,
    PAUSED,
    PROGRESSING,
    REPLICA_FAILURE,
    RESUMED,
    RS_UPDATED,
    TIMED_OUT,
    has_progress_deadline,
    max_unavailable,
    replicas,
    spec,
    status,
    total_replicas,
)
from kuberya.controllers.wallclock import format_time, parse_time
from kuberya.meta.types import Obj

STATUS_FIELDS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "collisionCount",
    "conditions",
)


def status_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Compare two statuses as the API stores them: an absent count is a zero count."""
    for field in STATUS_FIELDS:
        x, y = a.get(field), b.get(field)
        if x in (None, 0, []) and y in (None, 0, []):
            continue
        if x != y:
            return False
    return True


def get_condition(st: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in st.get("conditions") or [] if c.get("type") == ctype), None)


def new_condition(ctype: str, cstatus: str, reason: str, message: str, now: datetime.datetime) -> dict[str, Any]:
    stamp = format_time(now)
    return {
        "type": ctype,
        "status": cstatus,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def set_condition(st: dict[str, Any], cond: dict[str, Any]) -> None:
    """``SetDeploymentCondition``: same status and reason is no change; same status keeps the transition time."""
    current = get_condition(st, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(st, cond["type"])
    st.setdefault("conditions", []).append(cond)


def remove_condition(st: dict[str, Any], ctype: str) -> None:
    kept = [c for c in st.get("conditions") or [] if c.get("type") != ctype]
    if kept:
        st["conditions"] = kept
    else:
        st.pop("conditions", None)


def calculate_status(
    d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj | None, now: datetime.datetime
) -> dict[str, Any]:
    """``calculateStatus``: counts from the ReplicaSets, and the ``Available`` condition."""
    available = _sum(all_rss, "availableReplicas")
    unavailable = max(total_replicas(all_rss) - available, 0)
    st: dict[str, Any] = {
        "observedGeneration": int(meta(d).get("generation") or 0),
        "replicas": _sum(all_rss, "replicas"),
        "updatedReplicas": _sum([new_rs], "replicas"),
        "readyReplicas": _sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    if status(d).get("collisionCount") is not None:
        st["collisionCount"] = status(d)["collisionCount"]
    if status(d).get("conditions"):
        st["conditions"] = copy.deepcopy(status(d)["conditions"])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(st, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now))
    else:
        set_condition(
            st,
            new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now),
        )
    return st


def deployment_complete(d: Obj, st: dict[str, Any]) -> bool:
    """``DeploymentComplete``: every replica updated and available, and the spec observed."""
    want = replicas(d)
    return (
        int(st.get("updatedReplicas") or 0) == want
        and int(st.get("replicas") or 0) == want
        and int(st.get("availableReplicas") or 0) == want
        and int(st.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0)
    )


def deployment_progressing(d: Obj, st: dict[str, Any]) -> bool:
    """``DeploymentProgressing``: more updated, ready or available replicas, or fewer old ones, than before."""
    old = status(d)

    def count(s: dict[str, Any], field: str) -> int:
        return int(s.get(field) or 0)

    old_old = count(old, "replicas") - count(old, "updatedReplicas")
    new_old = count(st, "replicas") - count(st, "updatedReplicas")
    return (
        count(st, "updatedReplicas") > count(old, "updatedReplicas")
        or new_old < old_old
        or count(st, "readyReplicas") > count(old, "readyReplicas")
        or count(st, "availableReplicas") > count(old, "availableReplicas")
    )


def deployment_timed_out(d: Obj, st: dict[str, Any], now: datetime.datetime) -> bool:
    """``DeploymentTimedOut``: no progress recorded within ``progressDeadlineSeconds``."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(st, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + datetime.timedelta(seconds=int(spec(d)["progressDeadlineSeconds"])) < now


def stuck_requeue_after(d: Obj, st: dict[str, Any], now: datetime.datetime) -> float | None:
    """``requeueStuckDeployment``: seconds until the progress deadline is worth checking, if ever.

    Without it a rollout that makes no progress would be noticed only at the next unrelated event.
    """
    cond = get_condition(st, PROGRESSING)
    if not has_progress_deadline(d) or cond is None:
        return None
    if deployment_complete(d, st) or cond.get("reason") == TIMED_OUT:
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    after = (since + datetime.timedelta(seconds=int(spec(d)["progressDeadlineSeconds"])) - now).total_seconds()
    return 0.0 if after < 1.0 else after + 1.0


def _sum(rss: Sequence[Obj | None], field: str) -> int:
    return sum(int(status(rs).get(field) or 0) for rs in rss if rs is not None)


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def paused_condition(d: Obj, now: datetime.datetime) -> dict[str, Any] | None:
    """``checkPausedConditions``: the Progressing condition a pause or resume calls for, if any."""
    if not has_progress_deadline(d):
        return None
    cond = get_condition(status(d), PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return None
    paused_cond = cond is not None and cond.get("reason") == PAUSED
    if spec(d).get("paused") and not paused_cond:
        return new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
    if not spec(d).get("paused") and paused_cond:
        return new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now)
    return None


def replica_failure(all_rss: Sequence[Obj | None], new_rs: Obj | None) -> dict[str, Any] | None:
    """``getReplicaFailures``: the new ReplicaSet's ReplicaFailure condition first, else any old one's."""
    for rs in [new_rs, *all_rss]:
        if rs is None:
            continue
        cond = get_condition(status(rs), REPLICA_FAILURE)
        if cond is not None:
            return {
                "type": REPLICA_FAILURE,
                "status": cond.get("status"),
                "lastUpdateTime": cond.get("lastTransitionTime"),
                "lastTransitionTime": cond.get("lastTransitionTime"),
                "reason": cond.get("reason"),
                "message": cond.get("message"),
            }
    return None


def rollout_status(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj | None, now: datetime.datetime) -> dict[str, Any]:
    """``syncRolloutStatus``: :func:`calculate_status` plus Progressing and ReplicaFailure."""
    new_status = calculate_status(d, all_rss, new_rs, now)
    if not has_progress_deadline(d):
        remove_condition(new_status, PROGRESSING)
    current = get_condition(status(d), PROGRESSING)
    subject = f'ReplicaSet "{_name(new_rs)}"' if new_rs is not None else f'Deployment "{_name(d)}"'
    complete = (
        new_status.get("replicas") == new_status.get("updatedReplicas")
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    if has_progress_deadline(d) and not complete:
        if deployment_complete(d, new_status):
            message = f"{subject} has successfully progressed."
            set_condition(new_status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now))
        elif deployment_progressing(d, new_status):
            cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                # Progress refreshes lastUpdateTime (the deadline restarts) but is no transition.
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(new_status, PROGRESSING)
            set_condition(new_status, cond)
        elif deployment_timed_out(d, new_status, now):
            message = f"{subject} has timed out progressing."
            set_condition(new_status, new_condition(PROGRESSING, "False", TIMED_OUT, message, now))
    failure = replica_failure(all_rss, new_rs)
    if failure is not None:
        set_condition(new_status, failure)
    else:
        remove_condition(new_status, REPLICA_FAILURE)
    return new_status
