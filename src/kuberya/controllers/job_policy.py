"""The Job controller's pure rules: which pods count, what a failure means, when to try again.

Each function here is a piece of upstream's ``pkg/controller/job`` that needs no API and no cache
(``pod_failure_policy.go``, ``backoff_utils.go``, ``indexed_job_utils.go``, ``success_policy.go``
and the condition helpers of ``job_controller.go``), so :mod:`kuberya.controllers.job` reads as the
sync loop alone and each rule can be tested by itself.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from kuberya.controllers import ownership
from kuberya.controllers.ownership import meta
from kuberya.controllers.pods import phase
from kuberya.controllers.wallclock import format_time, parse_time
from kuberya.meta.intervals import indexes_of
from kuberya.meta.types import Obj

spec_of = ownership.spec
"""A workload's ``spec`` (empty when missing or malformed), as the modules of its controller read it."""

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation and label of an Indexed Job's pod: its index."""
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"

DEFAULT_BACKOFF = 10.0
"""Upstream's ``DefaultJobPodFailureBackOff``: the first retry waits 10 s, each next one twice as long…"""
MAX_BACKOFF = 360.0
"""…up to ``MaxJobPodFailureBackOff``, 6 minutes."""

# Reasons and messages of the Job's conditions (k8s.io/api batch/v1 and job_controller.go).
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
MAX_FAILED_INDEXES_EXCEEDED = (
    "MaxFailedIndexesExceeded",
    "Job has exceeded the specified maximal number of failed indexes",
)
FAILED_INDEXES = ("FailedIndexes", "Job has failed indexes")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
POD_FAILURE_POLICY = "PodFailurePolicy"
SUCCESS_POLICY = "SuccessPolicy"


# ---- the Job's spec and conditions ---------------------------------------------------------------


def is_indexed(job: Obj) -> bool:
    return spec_of(job).get("completionMode") == "Indexed"


def is_suspended(job: Obj) -> bool:
    return spec_of(job).get("suspend") is True


def completions(job: Obj) -> int | None:
    value = spec_of(job).get("completions")
    return None if value is None else int(value)


def find_condition(job: Obj, ctype: str) -> dict[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def condition_true(job: Obj, ctype: str) -> bool:
    cond = find_condition(job, ctype)
    return cond is not None and cond.get("status") == "True"


def is_finished(job: Obj) -> bool:
    """Complete or Failed (``IsJobFinished``): nothing more is done for the Job but cleanup."""
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def new_condition(
    ctype: str, reason: str, message: str, now: datetime.datetime, status: str = "True"
) -> dict[str, Any]:
    stamp = format_time(now)
    return {
        "type": ctype,
        "status": status,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def ensure_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Upstream ``ensureJobConditionStatus``: add or update the condition of ``new``'s type.

    Returns the conditions and whether anything changed. An absent condition is not added with
    status False (there is nothing to say yet); a present one keeps its transition time unless
    its status flips.
    """
    for i, cond in enumerate(conditions):
        if cond.get("type") != new["type"]:
            continue
        if (
            cond.get("status") == new["status"]
            and cond.get("reason") == new["reason"]
            and (cond.get("message") == new["message"])
        ):
            return conditions, False
        updated = dict(new)
        if cond.get("status") == new["status"]:
            updated["lastTransitionTime"] = cond.get("lastTransitionTime", new["lastTransitionTime"])
        return [*conditions[:i], updated, *conditions[i + 1 :]], True
    if new["status"] == "False":
        return conditions, False
    return [*conditions, new], True


# ---- pods ----------------------------------------------------------------------------------------


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or [])


def is_terminating(pod: Obj) -> bool:
    """Deleted but still running (``IsPodTerminating``): counts in ``status.terminating``."""
    return bool(meta(pod).get("deletionTimestamp")) and phase(pod) not in ("Succeeded", "Failed")


def only_replace_failed_pods(job: Obj) -> bool:
    """A replacement waits for the old pod to be Failed, not just deleted (``onlyReplaceFailedPods``)."""
    spec = spec_of(job)
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Upstream ``isPodFailed``: Failed, or (unless only failed pods are replaced) deleted unfinished."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool(meta(pod).get("deletionTimestamp")) and phase(pod) != "Succeeded"


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index (from its annotation), or None when absent or malformed."""
    text = (meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    if not isinstance(text, str) or not text.isdigit():
        return None
    return int(text)


def valid_index(pod: Obj, job: Obj) -> int | None:
    index, total = completion_index(pod), completions(job)
    if index is None or total is None or index >= total:
        return None
    return index


def finished_at(pod: Obj, now: datetime.datetime) -> datetime.datetime:
    """When the pod's last container ended (its failure time for back-off), else ``now``."""
    status = pod.get("status") or {}
    latest: datetime.datetime | None = None
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            terminated = ((container or {}).get("state") or {}).get("terminated") or {}
            when = parse_time(terminated.get("finishedAt"))
            if when is not None and (latest is None or when > latest):
                latest = when
    return latest or now


def index_failure_count(pod: Obj) -> int:
    text = (meta(pod).get("annotations") or {}).get(INDEX_FAILURE_COUNT)
    return int(text) if isinstance(text, str) and text.isdigit() else 0


# ---- the pod failure policy (pod_failure_policy.go) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyMatch:
    """What the pod failure policy says about one failed pod."""

    action: str | None
    """The matching rule's action (FailJob, FailIndex, Ignore, Count), None when no rule matched."""
    counts: bool
    """Whether the failure counts towards ``backoffLimit`` (all but Ignore)."""
    message: str | None = None
    """For FailJob: the Job's failure message, naming the container, exit code and rule."""


def _exit_code_match(pod: Obj, requirement: dict[str, Any]) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    values = set(requirement.get("values") or [])
    wanted_name = requirement.get("containerName")
    for key in ("containerStatuses", "initContainerStatuses"):
        for container in status.get(key) or []:
            terminated = ((container or {}).get("state") or {}).get("terminated")
            if not isinstance(terminated, dict):
                continue  # still terminating: no exit code to match
            if wanted_name is not None and container.get("name") != wanted_name:
                continue
            code = int(terminated.get("exitCode") or 0)
            if code == 0:
                continue
            matched = code in values if requirement.get("operator") == "In" else code not in values
            if matched:
                return dict(container)
    return None


def _condition_match(pod: Obj, patterns: list[dict[str, Any]]) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        for pattern in patterns:
            if cond.get("type") == pattern.get("type") and cond.get("status") == pattern.get("status", "True"):
                return dict(cond)
    return None


def match_pod_failure_policy(job: Obj, pod: Obj) -> PolicyMatch:
    """Upstream ``matchPodFailurePolicy``: the first rule that matches the failed ``pod`` decides."""
    policy = spec_of(job).get("podFailurePolicy")
    if not isinstance(policy, dict):
        return PolicyMatch(None, True)
    namespace, name = meta(pod).get("namespace"), meta(pod).get("name")
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        container = condition = None
        if isinstance(rule.get("onExitCodes"), dict):
            container = _exit_code_match(pod, rule["onExitCodes"])
            if container is None:
                continue
        elif isinstance(rule.get("onPodConditions"), list):
            condition = _condition_match(pod, rule["onPodConditions"])
            if condition is None:
                continue
        else:
            continue
        if action == "Ignore":
            return PolicyMatch(action, False)
        if action in ("FailIndex", "Count"):
            return PolicyMatch(action, True)
        if action == "FailJob":
            if container is not None:
                code = container["state"]["terminated"].get("exitCode")
                message = (
                    f"Container {container.get('name')} for pod {namespace}/{name} failed with exit code "
                    f"{code} matching FailJob rule at index {index}"
                )
            else:
                assert condition is not None
                message = (
                    f"Pod {namespace}/{name} has condition {condition.get('type')} "
                    f"matching FailJob rule at index {index}"
                )
            return PolicyMatch(action, True, message)
    return PolicyMatch(None, True)


# ---- back-off (backoff_utils.go) -----------------------------------------------------------------


def backoff_delay(failures: int, *, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """The wait before the next pod after ``failures`` failures in a row: 10 s, 20 s, 40 s… ≤ 6 min."""
    if failures <= 0:
        return 0.0
    delay = base
    for _ in range(1, failures):
        delay *= 2
        if delay >= cap:
            return cap
    return min(delay, cap)


@dataclass(slots=True)
class BackoffRecord:
    """Failures since the Job's last success and when the last one happened (``backoffRecord``)."""

    failures_after_last_success: int = 0
    last_failure: datetime.datetime | None = None

    def remaining(self, now: datetime.datetime, *, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
        if self.failures_after_last_success == 0 or self.last_failure is None:
            return 0.0
        delay = backoff_delay(self.failures_after_last_success, base=base, cap=cap)
        elapsed = (now - self.last_failure).total_seconds()
        return max(0.0, delay - elapsed)


# ---- the success policy (success_policy.go) ------------------------------------------------------


def match_success_policy(job: Obj, succeeded: set[int]) -> str | None:
    """The message of the first success policy rule the succeeded indexes satisfy, or None."""
    policy = spec_of(job).get("successPolicy")
    if not isinstance(policy, dict) or not succeeded:
        return None
    total = completions(job)
    for index, rule in enumerate(policy.get("rules") or []):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = indexes_of(str(rule["succeededIndexes"]), limit=total)
            if not required:
                continue
            done = len(required & succeeded)
            if (count is not None and done >= int(count)) or (count is None and done == len(required)):
                return f"Matched rules at index {index}"
        elif count is not None and len(succeeded) >= int(count):
            return f"Matched rules at index {index}"
    return None


def indexes_of_status(job: Obj, field_name: str) -> set[int]:
    """The indexes ``status.completedIndexes`` or ``status.failedIndexes`` names (below completions)."""
    text = (job.get("status") or {}).get(field_name)
    return indexes_of(text, limit=completions(job)) if isinstance(text, str) else set()
