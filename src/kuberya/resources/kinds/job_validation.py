"""Validation of batch/v1 Jobs: upstream's ``pkg/apis/batch/validation`` checks and messages (v1.32).

On create and update: the generated selector and labels (unless ``manualSelector``), the selector
matching the template, non-negative counts, the template's pod spec with ``restartPolicy``
OnFailure or Never (Never with a pod failure policy or per-index back-off limits), the completion
mode's rules (Indexed needs ``completions``; per-index limits and success policies need Indexed),
the pod failure policy's rules, the success policy's rules.

On update: ``completions`` is immutable, except that an Indexed Job may change it together with
``parallelism`` (elastic Indexed Jobs, on by default since v1.27); ``selector``,
``completionMode``, ``podFailurePolicy``, ``backoffLimitPerIndex``, ``successPolicy`` and
``managedBy`` are immutable; the template is too, except a suspended Job that never started may
change its scheduling directives (node selector, node affinity, tolerations, scheduling gates,
labels, annotations).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kuberya.meta.intervals import IntervalError, parse_intervals
from kuberya.resources.names import dns1123_subdomain_errors, qualified_name_errors
from kuberya.resources.selectors import SelectorError, selector_from_spec
from kuberya.resources.types import Cause, JSONObject
from kuberya.resources.validation import validate_labels
from kuberya.resources.validation_base import (
    forbidden,
    go_value,
    invalid,
    invalid_selector,
    non_negative,
    not_supported,
    required,
    selector_mismatch,
)
from kuberya.resources.validation_pods import RESTART_POLICIES, validate_pod_spec

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"

COMPLETION_MODES = ("NonIndexed", "Indexed")
REPLACEMENT_POLICIES = ("TerminatingOrFailed", "Failed")
ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")
OPERATORS = ("In", "NotIn")
CONDITION_STATUSES = ("True", "False", "Unknown")
MAX_INDEXED_COMPLETIONS = 100_000
MAX_INDEXED_PARALLELISM = 100_000
MAX_FAILED_INDEXES_LIMIT = 100_000
MAX_RULES = 20
MAX_EXIT_CODES = 255
MAX_PATTERNS = 20
MAX_SUCCESS_RULES = 20
MAX_MANAGED_BY_LENGTH = 63


def _not_supported_ordered(field: str, value: Any, supported: tuple[str, ...]) -> Cause:
    # Upstream lists these supported values in its own order, not sorted.
    quoted = ", ".join(json.dumps(s) for s in supported)
    return Cause(field, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {quoted}")


def _too_many(field: str, actual: int, limit: int) -> Cause:
    return Cause(field, "FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items")


def _immutable(field: str, value: Any) -> Cause:
    return invalid(field, value, "field is immutable")


# ---- the generated selector --------------------------------------------------------------------


def _has_label(labels: JSONObject, key: str, expected: str) -> list[Cause]:
    path = f"spec.template.metadata.labels[{key}]"
    if key not in labels:
        return [required(path, expected)]
    if labels[key] != expected:
        return [invalid(path, labels, f"must be '{expected}'")]
    return []


def _generated_selector(job: JSONObject, *, prefixed: bool) -> list[Cause]:
    spec, meta = job.get("spec") or {}, job.get("metadata") or {}
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    causes: list[Cause] = []
    uid, job_name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    if not uid:
        causes.append(required("metadata.uid"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    expected = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: job_name}
    if prefixed:
        expected |= {CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: job_name}
    for key, value in expected.items():
        causes.extend(_has_label(labels, key, value))
    try:
        if not selector_from_spec(spec["selector"]).matches(expected):
            causes.append(invalid("spec.selector", spec["selector"], "`selector` not auto-generated"))
    except SelectorError:
        pass  # reported by the spec's own selector check
    return causes


# ---- the spec ----------------------------------------------------------------------------------


def _selector(spec: JSONObject) -> list[Cause]:
    selector_spec = spec.get("selector")
    if selector_spec is None:
        return [required("spec.selector")]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    try:
        selector = selector_from_spec(selector_spec)
    except SelectorError as e:
        return [invalid_selector(selector_spec, str(e))]
    if not selector.matches(labels):
        return [selector_mismatch(labels)]
    return []


def _completion_mode(spec: JSONObject) -> list[Cause]:
    mode = spec.get("completionMode")
    if mode not in COMPLETION_MODES:
        return [_not_supported_ordered("spec.completionMode", mode, COMPLETION_MODES)]
    causes: list[Cause] = []
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    if mode == "Indexed":
        if completions is None:
            causes.append(required("spec.completions", "when completion mode is Indexed"))
        elif isinstance(completions, int) and completions > MAX_INDEXED_COMPLETIONS:
            causes.append(
                invalid(
                    "spec.completions",
                    completions,
                    f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed",
                )
            )
        if isinstance(parallelism, int) and parallelism > MAX_INDEXED_PARALLELISM:
            causes.append(
                invalid(
                    "spec.parallelism",
                    parallelism,
                    f"must be less than or equal to {MAX_INDEXED_PARALLELISM} when completion mode is Indexed",
                )
            )
    return causes


def _per_index(spec: JSONObject) -> list[Cause]:
    causes: list[Cause] = []
    per_index, max_failed = spec.get("backoffLimitPerIndex"), spec.get("maxFailedIndexes")
    if per_index is not None:
        causes.extend(non_negative("spec.backoffLimitPerIndex", per_index))
        if spec.get("completionMode") != "Indexed":
            causes.append(forbidden("spec.backoffLimitPerIndex", "requires indexed completion mode"))
    if max_failed is not None:
        causes.extend(non_negative("spec.maxFailedIndexes", max_failed))
        if per_index is None:
            causes.append(required("spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
        completions = spec.get("completions")
        if isinstance(completions, int) and isinstance(max_failed, int):
            if max_failed > completions:
                causes.append(invalid("spec.maxFailedIndexes", max_failed, "must be less than or equal to completions"))
            if max_failed > MAX_FAILED_INDEXES_LIMIT:
                causes.append(
                    invalid(
                        "spec.maxFailedIndexes", max_failed, f"must be less than or equal to {MAX_FAILED_INDEXES_LIMIT}"
                    )
                )
    return causes


def _container_names(spec: JSONObject) -> set[str]:
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    return {
        str(c.get("name"))
        for key in ("containers", "initContainers")
        for c in pod_spec.get(key) or []
        if isinstance(c, dict)
    }


def _on_exit_codes(spec: JSONObject, requirement: JSONObject, path: str) -> list[Cause]:
    causes: list[Cause] = []
    container = requirement.get("containerName")
    if container is not None and container not in _container_names(spec):
        causes.append(
            invalid(
                f"{path}.containerName",
                container,
                "must be one of the container or initContainer names in the pod template",
            )
        )
    operator = requirement.get("operator")
    if operator not in OPERATORS:
        causes.append(_not_supported_ordered(f"{path}.operator", operator, OPERATORS))
    values = requirement.get("values") or []
    if not values:
        causes.append(required(f"{path}.values", "at least one value is required"))
    elif len(values) > MAX_EXIT_CODES:
        causes.append(_too_many(f"{path}.values", len(values), MAX_EXIT_CODES))
    previous: int | None = None
    for i, value in enumerate(values):
        value_path = f"{path}.values[{i}]"
        if operator == "In" and value == 0:
            causes.append(invalid(value_path, value, "must not be 0 for the In operator"))
        if previous is not None and value == previous:
            causes.append(Cause(value_path, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}"))
        elif previous is not None and isinstance(value, int) and value < previous:
            causes.append(invalid(value_path, value, "must be ordered"))
        previous = value if isinstance(value, int) else previous
    return causes


def _on_pod_conditions(patterns: list[Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if len(patterns) > MAX_PATTERNS:
        causes.append(_too_many(path, len(patterns), MAX_PATTERNS))
    for i, pattern in enumerate(patterns):
        pattern_path = f"{path}[{i}]"
        status = pattern.get("status")
        if status not in CONDITION_STATUSES:
            causes.append(_not_supported_ordered(f"{pattern_path}.status", status, CONDITION_STATUSES))
        ctype = str(pattern.get("type") or "")
        if not ctype:
            causes.append(required(f"{pattern_path}.type"))
        causes.extend(invalid(f"{pattern_path}.type", ctype, e) for e in qualified_name_errors(ctype) if ctype)
    return causes


def _pod_failure_policy(spec: JSONObject) -> list[Cause]:
    policy = spec.get("podFailurePolicy")
    if policy is None:
        return []
    rules = policy.get("rules") or []
    causes: list[Cause] = []
    if len(rules) > MAX_RULES:
        causes.append(_too_many("spec.podFailurePolicy.rules", len(rules), MAX_RULES))
    for i, rule in enumerate(rules):
        path = f"spec.podFailurePolicy.rules[{i}]"
        action = rule.get("action")
        if action not in ACTIONS:
            causes.append(not_supported(f"{path}.action", action, ACTIONS))
        elif action == "FailIndex" and spec.get("backoffLimitPerIndex") is None:
            causes.append(invalid(f"{path}.action", action, "requires the backoffLimitPerIndex to be set"))
        exit_codes, conditions = rule.get("onExitCodes"), rule.get("onPodConditions")
        if exit_codes is not None and conditions is not None:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
                )
            )
        elif exit_codes is None and conditions is None:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    "Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
                )
            )
        if isinstance(exit_codes, dict):
            causes.extend(_on_exit_codes(spec, exit_codes, f"{path}.onExitCodes"))
        if isinstance(conditions, list):
            causes.extend(_on_pod_conditions(conditions, f"{path}.onPodConditions"))
    return causes


def _success_policy(spec: JSONObject) -> list[Cause]:
    policy = spec.get("successPolicy")
    if policy is None:
        return []
    if spec.get("completionMode") != "Indexed":
        return [invalid("spec.successPolicy", policy, "requires indexed completion mode")]
    rules = policy.get("rules") or []
    causes: list[Cause] = []
    if not rules:
        causes.append(
            required(
                "spec.successPolicy.rules", "at least one rules must be specified when the successPolicy is specified"
            )
        )
    if len(rules) > MAX_SUCCESS_RULES:
        causes.append(_too_many("spec.successPolicy.rules", len(rules), MAX_SUCCESS_RULES))
    completions = spec.get("completions")
    for i, rule in enumerate(rules):
        path = f"spec.successPolicy.rules[{i}]"
        indexes, count = rule.get("succeededIndexes"), rule.get("succeededCount")
        if indexes is None and count is None:
            causes.append(required(path, "at least one of succeededCount or succeededIndexes must be specified"))
        total: int | None = None
        if indexes is not None:
            try:
                total = sum(last - first + 1 for first, last in parse_intervals(str(indexes), limit=completions))
            except IntervalError as e:
                causes.append(invalid(f"{path}.succeededIndexes", indexes, f"error parsing succeededIndexes: {e}"))
        if count is not None:
            causes.extend(non_negative(f"{path}.succeededCount", count))
            if isinstance(completions, int) and isinstance(count, int) and count > completions:
                causes.append(
                    invalid(
                        f"{path}.succeededCount",
                        count,
                        f"must be less than or equal to {completions} (the number of specified completions)",
                    )
                )
            if total is not None and isinstance(count, int) and count > total:
                causes.append(
                    invalid(
                        f"{path}.succeededCount",
                        count,
                        f"must be less than or equal to {total} "
                        "(the number of indexes in the specified succeededIndexes field)",
                    )
                )
    return causes


def _managed_by(spec: JSONObject) -> list[Cause]:
    """``managedBy``: a domain-prefixed path of at most 63 characters (another controller's Job)."""
    managed_by = spec.get("managedBy")
    if managed_by is None:
        return []
    text = str(managed_by)
    domain, slash, path = text.partition("/")
    causes: list[Cause] = []
    if not slash or not path or dns1123_subdomain_errors(domain):
        causes.append(invalid("spec.managedBy", text, 'must be a domain-prefixed path (such as "acme.io/foo")'))
    if len(text) > MAX_MANAGED_BY_LENGTH:
        causes.append(
            Cause(
                "spec.managedBy", "FieldValueTooLong", f"Too long: may not be more than {MAX_MANAGED_BY_LENGTH} bytes"
            )
        )
    return causes


def _restart_policy(spec: JSONObject) -> list[Cause]:
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    path = "spec.template.spec.restartPolicy"
    if restart not in ("OnFailure", "Never"):
        return [_not_supported_ordered(path, restart, ("OnFailure", "Never"))]
    if restart != "Never":
        for feature in ("podFailurePolicy", "backoffLimitPerIndex"):
            if spec.get(feature) is not None:
                return [invalid(path, restart, f'only "Never" is supported when {feature} is specified')]
    return []


def _validate_spec(spec: JSONObject) -> list[Cause]:
    causes = _selector(spec)
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        causes.extend(non_negative(f"spec.{key}", spec.get(key)))
    causes.extend(_completion_mode(spec))
    causes.extend(_per_index(spec))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None and replacement not in REPLACEMENT_POLICIES:
        causes.append(_not_supported_ordered("spec.podReplacementPolicy", replacement, REPLACEMENT_POLICIES))
    elif replacement == "TerminatingOrFailed" and spec.get("podFailurePolicy") is not None:
        causes.append(not_supported("spec.podReplacementPolicy", replacement, ("Failed",)))
    causes.extend(_pod_failure_policy(spec))
    causes.extend(_success_policy(spec))
    causes.extend(_managed_by(spec))
    template = spec.get("template") or {}
    causes.extend(validate_labels((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels"))
    causes.extend(validate_pod_spec(template.get("spec"), "spec.template.spec", restart_policies=RESTART_POLICIES))
    causes.extend(_restart_policy(spec))
    return causes


# ---- updates -----------------------------------------------------------------------------------


def _scheduling_directives_applied(template: JSONObject, old_template: JSONObject) -> JSONObject:
    """``old_template`` with the new template's mutable scheduling directives (a suspended, unstarted Job)."""
    merged = copy.deepcopy(old_template)
    new_spec, merged_spec = template.get("spec") or {}, merged.setdefault("spec", {})
    for key in ("nodeSelector", "tolerations", "schedulingGates"):
        if key in new_spec:
            merged_spec[key] = copy.deepcopy(new_spec[key])
        else:
            merged_spec.pop(key, None)
    new_affinity, old_affinity = new_spec.get("affinity"), merged_spec.get("affinity")
    if isinstance(new_affinity, dict) or isinstance(old_affinity, dict):
        affinity = dict(old_affinity or {})
        affinity.pop("nodeAffinity", None)
        if isinstance(new_affinity, dict) and "nodeAffinity" in new_affinity:
            affinity["nodeAffinity"] = copy.deepcopy(new_affinity["nodeAffinity"])
        if affinity or new_affinity is not None:
            merged_spec["affinity"] = affinity
        else:
            merged_spec.pop("affinity", None)
    merged_meta, new_meta = merged.setdefault("metadata", {}), template.get("metadata") or {}
    for key in ("labels", "annotations"):
        if key in new_meta:
            merged_meta[key] = copy.deepcopy(new_meta[key])
        else:
            merged_meta.pop(key, None)
    return merged


def _validate_update(job: JSONObject, old: JSONObject) -> list[Cause]:
    spec, old_spec = job.get("spec") or {}, old.get("spec") or {}
    causes: list[Cause] = []
    indexed = spec.get("completionMode") == "Indexed" and old_spec.get("completionMode") == "Indexed"
    if spec.get("completions") != old_spec.get("completions"):
        if not indexed:
            causes.append(_immutable("spec.completions", spec.get("completions")))
        elif spec.get("completions") != spec.get("parallelism"):
            causes.append(
                invalid(
                    "spec.completions", spec.get("completions"), "can only be modified in tandem with spec.parallelism"
                )
            )
    for key in ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        if spec.get(key) != old_spec.get(key):
            causes.append(_immutable(f"spec.{key}", spec.get(key)))
    template, old_template = spec.get("template") or {}, old_spec.get("template") or {}
    suspended = old_spec.get("suspend") is True and not (old.get("status") or {}).get("startTime")
    if suspended:
        old_template = _scheduling_directives_applied(template, old_template)
    if template != old_template:
        causes.append(_immutable("spec.template", template))
    return causes


def validate_job(job: JSONObject, old: JSONObject | None) -> list[Cause]:
    """Every problem with ``job`` (and with the change from ``old``), worded as upstream."""
    spec = job.get("spec") or {}
    prefixed = True
    if old is not None:
        # Jobs created before v1.27 lack the prefixed labels; upstream keeps accepting them.
        old_labels = (((old.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        prefixed = JOB_NAME_LABEL in old_labels and CONTROLLER_UID_LABEL in old_labels
    causes = _generated_selector(job, prefixed=prefixed)
    causes.extend(_validate_spec(spec))
    if old is not None:
        causes.extend(_validate_update(job, old))
    return causes
