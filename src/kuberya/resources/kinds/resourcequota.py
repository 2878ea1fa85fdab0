"""core/v1 ResourceQuota: a namespace's limits, enforced at admission, its usage kept in status.

The API server refuses writes that would exceed a quota (:mod:`kuberya.apiserver.quota`); the
quota controller (:mod:`kuberya.controllers.resourcequota`) keeps ``status.hard`` and
``status.used``. Validation is upstream's ``ValidateResourceQuota``: every ``spec.hard`` key is a
standard quota resource or a qualified name, every value a non-negative quantity (a whole number
for object counts); scopes are known, do not conflict (BestEffort with NotBestEffort, Terminating
with NotTerminating) and suit the resources limited; ``spec.scopes`` never changes.
"""

from __future__ import annotations

import json
from typing import Any

from kuberya.meta.names import qualified_name_errors
from kuberya.meta.quantity import parse_quantity
from kuberya.resources import printers_core
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import invalid, required

SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")
STANDARD_QUOTA_RESOURCES = frozenset(
    (
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    )
)
STANDARD_RESOURCES = STANDARD_QUOTA_RESOURCES | {"storage"}
INTEGER_RESOURCES = frozenset(
    (
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "services.nodeports",
        "services.loadbalancers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
    )
)
_POD_COUNT = frozenset(("pods",))
_POD_COMPUTE = frozenset(("cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"))
_CONFLICTING = (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating"))
_EXISTS_ONLY = ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity")


def _is_hugepages(name: str) -> bool:
    return name.startswith(("hugepages-", "requests.hugepages-", "limits.hugepages-"))


def _standard_quota(name: str) -> bool:
    return name in STANDARD_QUOTA_RESOURCES or _is_hugepages(name)


def scope_suits_resource(scope: str, resource: str) -> bool:
    """``IsResourceQuotaScopeValidForResource``: pod scopes limit only pod resources."""
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource in _POD_COUNT or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource in _POD_COUNT
    return True


def _scopes_value(scopes: list[Any]) -> str:
    return "[]core.ResourceQuotaScope{" + ", ".join(json.dumps(str(s)) for s in scopes) + "}"


def _hard_causes(hard: JSONObject) -> list[Cause]:
    causes: list[Cause] = []
    for name, value in hard.items():
        path = f"spec.hard[{name}]"
        causes += [invalid(path, name, m) for m in qualified_name_errors(name)]
        if "/" not in name:
            if name not in STANDARD_RESOURCES and not _is_hugepages(name):
                causes.append(invalid(path, name, "must be a standard resource type or fully qualified"))
            if not _standard_quota(name):
                causes.append(invalid(path, name, "must be a standard resource for quota"))
        try:
            amount = parse_quantity(value)
        except ValueError:
            continue  # typed decoding refuses a malformed quantity before validation
        if amount < 0:
            causes.append(invalid(path, str(value), "must be greater than or equal to 0"))
        elif name in INTEGER_RESOURCES and amount.denominator != 1:
            causes.append(invalid(path, str(value), "must be an integer"))
    return causes


def _scopes_causes(spec: JSONObject) -> list[Cause]:
    scopes = list(spec.get("scopes") or [])
    if not scopes:
        return []
    shown = _scopes_value(scopes)
    causes: list[Cause] = []
    for scope in scopes:
        if scope not in SCOPES:
            causes.append(Cause("spec.scopes", "FieldValueInvalid", f"Invalid value: {shown}: unsupported scope"))
        for name in sorted(spec.get("hard") or {}):
            if _standard_quota(name) and not scope_suits_resource(str(scope), name):
                causes.append(
                    Cause(
                        "spec.scopes",
                        "FieldValueInvalid",
                        f"Invalid value: {shown}: unsupported scope applied to resource",
                    )
                )
    for pair in _CONFLICTING:
        if set(pair) <= set(scopes):
            causes.append(Cause("spec.scopes", "FieldValueInvalid", f"Invalid value: {shown}: conflicting scopes"))
    return causes


def _selector_causes(spec: JSONObject) -> list[Cause]:
    selector = spec.get("scopeSelector")
    if not isinstance(selector, dict):
        return []
    path = "spec.scopeSelector.matchExpressions"
    causes: list[Cause] = []
    names: set[str] = set()
    for req in selector.get("matchExpressions") or []:
        scope, operator, values = req.get("scopeName"), req.get("operator"), req.get("values") or []
        if scope not in SCOPES:
            causes.append(invalid(f"{path}.scopeName", scope, "unsupported scope"))
        for name in sorted(spec.get("hard") or {}):
            if _standard_quota(name) and not scope_suits_resource(str(scope), name):
                causes.append(invalid(path, selector, "unsupported scope applied to resource"))
        if scope in _EXISTS_ONLY and operator != "Exists":
            causes.append(
                invalid(
                    f"{path}.operator",
                    operator,
                    "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, "
                    "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                    "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                )
            )
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(
                    required(
                        f"{path}.values",
                        "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                causes.append(
                    invalid(
                        f"{path}.values",
                        values,
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                    )
                )
        else:
            causes.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
        names.add(str(scope))
    for pair in _CONFLICTING:
        if set(pair) <= names:
            causes.append(invalid(path, selector, "conflicting scopes"))
    return causes


def _validate(quota: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = quota.get("spec") or {}
    causes = _hard_causes(spec.get("hard") or {}) + _scopes_causes(spec) + _selector_causes(spec)
    if old is not None:
        scopes, before = spec.get("scopes") or [], (old.get("spec") or {}).get("scopes") or []
        if scopes != before:
            causes.append(
                Cause("spec.scopes", "FieldValueInvalid", f"Invalid value: {_scopes_value(scopes)}: field is immutable")
            )
    return causes


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="resourcequotas",
            kind="ResourceQuota",
            singular="resourcequota",
            namespaced=True,
            short_names=("quota",),
            subresources=(status_of("ResourceQuota"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    validate=_validate,
    columns=tuple(printers_core.RESOURCE_QUOTA_COLUMNS),
    printer=printers_core.print_resource_quota,
    allow_create_on_update=True,
)
