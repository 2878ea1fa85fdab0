"""scheduling.k8s.io/v1 PriorityClass: a named pod priority, cluster-scoped.

As upstream (``pkg/apis/scheduling``): ``value`` is an int32, at most one billion unless the class
is one of the two built-in ``system-`` classes, whose names, values and ``globalDefault`` are
fixed; ``value`` and ``preemptionPolicy`` never change once created; ``preemptionPolicy``
defaults to ``PreemptLowerPriority``. The API server creates the built-in classes at startup
when they are missing, and the Priority admission plugin gives pods their class's value
(:mod:`kuberya.apiserver.priority`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required

SCHEDULING_V1 = "io.k8s.api.scheduling.v1"

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_PREFIX = "system-"
SYSTEM_CLASSES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}
"""Upstream's built-in classes and their values; both have ``globalDefault: false``."""
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
_INT32 = (-(2**31), 2**31 - 1)


def _default(pc: JSONObject) -> None:
    pc.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _system_class_error(pc: JSONObject) -> str:
    pc_name = str((pc.get("metadata") or {}).get("name", ""))
    if pc_name not in SYSTEM_CLASSES:
        return f"{pc_name} is not a known system priority class"
    if pc.get("value") != SYSTEM_CLASSES[pc_name]:
        return f"value of {pc_name} PriorityClass must be {SYSTEM_CLASSES[pc_name]}"
    if pc.get("globalDefault"):
        return f"globalDefault of {pc_name} PriorityClass must be false"
    return ""


def _validate(pc: JSONObject, old: JSONObject | None) -> list[Cause]:
    causes: list[Cause] = []
    value: Any = pc.get("value")
    if value is None:
        causes.append(required("value"))
    elif not isinstance(value, int) or isinstance(value, bool) or not _INT32[0] <= value <= _INT32[1]:
        causes.append(invalid("value", value, "must be a 32-bit integer"))
    elif str((pc.get("metadata") or {}).get("name", "")).startswith(SYSTEM_PREFIX):
        if error := _system_class_error(pc):
            causes.append(
                forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. "
                    f"error: {error}",
                )
            )
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(
            forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}")
        )
    policy = pc.get("preemptionPolicy")
    if policy == "":
        causes.append(required("preemptionPolicy"))
    elif policy is not None and policy not in PREEMPTION_POLICIES:
        causes.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    if old is not None:
        if pc.get("value") != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        if policy != old.get("preemptionPolicy"):
            causes.append(invalid("preemptionPolicy", policy, "field is immutable"))
    return causes


COLUMNS = (
    NAME,
    column(
        "Value",
        "integer",
        "value represents the integer value of this priority class. This is the actual priority that pods "
        "receive when they have the name of this class in their pod spec.",
    ),
    column(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for "
        "pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. "
        "However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the "
        "smallest value of such global default PriorityClasses will be used as the default priority.",
    ),
    AGE,
    column(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
        "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
)


def _print(pc: JSONObject, now: datetime) -> list[Any]:
    return [name(pc), pc.get("value", 0), bool(pc.get("globalDefault")), age(pc, now), pc.get("preemptionPolicy", "")]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="scheduling.k8s.io",
            version="v1",
            resource="priorityclasses",
            kind="PriorityClass",
            singular="priorityclass",
            namespaced=False,
            short_names=("pc",),
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": SCHEDULING_V1},
    protobuf=True,  # kubectl create priorityclass sends protobuf
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
