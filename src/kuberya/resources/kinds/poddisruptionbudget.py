"""policy/v1 PodDisruptionBudget: how many of a set of pods voluntary disruptions may take down.

As upstream (``pkg/apis/policy/validation``, ``pkg/registry/policy/poddisruptionbudget``): at
most one of ``minAvailable`` and ``maxUnavailable``, each a non-negative count or a percentage of
at most 100%; a valid label selector; ``unhealthyPodEvictionPolicy`` ``IfHealthyBudget`` or
``AlwaysAllow`` (unset means ``IfHealthyBudget``). Upstream requires neither field (a budget
with both unset allows no disruption) and defaults nothing in policy/v1, so neither does this.
The spec may change (since 1.15); the status is the disruption controller's, written through
``/status``, and its counts are never negative. The eviction subresource
(:mod:`kuberya.apiserver.eviction`) and the disruption controller
(:mod:`kuberya.controllers.disruption`) give the budget its meaning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.meta.labels import SelectorError, selector_from_spec
from kuberya.resources.kinds.spec import KindSpec, status_of
from kuberya.resources.patchmeta import BY_TYPE, PatchMeta
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import int_or_percent, invalid, non_negative, not_supported

POLICY_V1 = "io.k8s.api.policy.v1"

IF_HEALTHY_BUDGET = "IfHealthyBudget"
ALWAYS_ALLOW = "AlwaysAllow"
UNHEALTHY_POD_EVICTION_POLICIES = (IF_HEALTHY_BUDGET, ALWAYS_ALLOW)
STATUS_COUNTS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")


def _validate_spec(spec: JSONObject) -> list[Cause]:
    causes: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for field in ("minAvailable", "maxUnavailable"):
        if spec.get(field) is not None:
            found, _, _ = int_or_percent(spec[field], f"spec.{field}")
            causes.extend(found)
    selector = spec.get("selector")
    if selector is not None:
        try:
            selector_from_spec(selector)
        except SelectorError as e:
            causes.append(invalid("spec.selector", selector, str(e)))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return causes


def _validate(pdb: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # the spec may change; nothing is immutable
    spec = pdb.get("spec")
    causes = _validate_spec(spec if isinstance(spec, dict) else {})
    status = pdb.get("status")
    if isinstance(status, dict):
        for field in STATUS_COUNTS:
            causes.extend(non_negative(f"status.{field}", status.get(field)))
    return causes


COLUMNS = (
    NAME,
    column("Min Available", "string", "The minimum number of pods that must be available."),
    column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
)


def _int_or_string(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _print(pdb: JSONObject, now: datetime) -> list[Any]:
    spec = pdb.get("spec") or {}
    status = pdb.get("status") or {}
    return [
        name(pdb),
        _int_or_string(spec.get("minAvailable")),
        _int_or_string(spec.get("maxUnavailable")),
        int(status.get("disruptionsAllowed") or 0),
        age(pdb, now),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="policy",
            version="v1",
            resource="poddisruptionbudgets",
            kind="PodDisruptionBudget",
            singular="poddisruptionbudget",
            namespaced=True,
            short_names=("pdb",),
            subresources=(status_of("PodDisruptionBudget"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": POLICY_V1},
    protobuf=True,  # kubectl create pdb sends protobuf
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    patch_meta={"spec.selector": PatchMeta("replace", atomic=True), "status.conditions": BY_TYPE},
)
