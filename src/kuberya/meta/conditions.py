"""``metav1.Condition`` lists as apimachinery's ``meta.SetStatusCondition`` keeps them.

Also upstream's ``component-helpers/apps/poddisruptionbudget``: the API server's eviction handler
and the disruption controller both set a PodDisruptionBudget's ``DisruptionAllowed`` condition
from ``disruptionsAllowed``, and must agree on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.meta.timefmt import format_time

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"


def find_condition(conditions: Any, ctype: str) -> dict[str, Any] | None:
    for cond in conditions if isinstance(conditions, list) else []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def set_status_condition(
    status: dict[str, Any],
    ctype: str,
    *,
    status_value: str,
    reason: str,
    message: str,
    observed_generation: int,
    now: datetime,
) -> None:
    """Set one condition in ``status["conditions"]``; its transition time moves only with its status."""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    existing = find_condition(conditions, ctype)
    if existing is None:
        existing = {"type": ctype, "status": status_value, "lastTransitionTime": format_time(now)}
        conditions.append(existing)
    elif existing.get("status") != status_value:
        existing["lastTransitionTime"] = format_time(now)
    existing.update(status=status_value, reason=reason, message=message, observedGeneration=observed_generation)
    status["conditions"] = conditions


def update_disruption_allowed_condition(pdb: dict[str, Any], *, now: datetime) -> None:
    """``UpdateDisruptionAllowedCondition``: True/SufficientPods while a disruption is allowed."""
    status = pdb.setdefault("status", {})
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    set_status_condition(
        status,
        DISRUPTION_ALLOWED,
        status_value="True" if allowed else "False",
        reason=SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS,
        message="",
        observed_generation=int(status.get("observedGeneration") or 0),
        now=now,
    )


def disruption_condition_current(pdb: dict[str, Any]) -> bool:
    """``ConditionsAreUpToDate``: the condition exists, is for this generation and matches the count."""
    status = pdb.get("status") or {}
    cond = find_condition(status.get("conditions"), DISRUPTION_ALLOWED)
    if cond is None or int(status.get("observedGeneration") or 0) != int(
        (pdb.get("metadata") or {}).get("generation") or 0
    ):
        return False
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return bool(cond.get("status") == "True" and cond.get("reason") == SUFFICIENT_PODS)
    return bool(cond.get("status") == "False" and cond.get("reason") == INSUFFICIENT_PODS)
