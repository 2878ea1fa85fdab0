"""apps/v1 DaemonSet: one pod of a template on every eligible node.

As upstream (``pkg/apis/apps/v1/defaults.go``, ``pkg/apis/apps/validation``,
``pkg/registry/apps/daemonset/strategy.go``, ``printDaemonSet``):

* defaults: ``updateStrategy`` RollingUpdate with ``maxUnavailable: 1`` and ``maxSurge: 0``,
  ``revisionHistoryLimit: 10``, the pod template's PodSpec defaults, and the four status counts
  upstream always serializes (the Python client requires them);
* validation: the selector must match the template's labels and may not be empty, the template
  restarts ``Always`` and has no ``activeDeadlineSeconds``, exactly one of ``maxSurge`` and
  ``maxUnavailable`` is non-zero, the selector never changes;
* the strategy keeps upstream's template generation, which apps/v1 shows as the annotation
  ``deprecated.daemonset.template.generation``: 1 at creation, one more whenever the template
  changes, never set by a client.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kuberya.resources.defaults import child, default_pod_spec
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.spec import APPS_V1, KindSpec, status_of
from kuberya.resources.patchmeta import workload
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    age,
    column,
    dig,
    format_label_selector,
    format_labels,
    layout_template,
    name,
)
from kuberya.resources.selectors import SelectorError, selector_from_spec
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation import validate_long_running_template
from kuberya.resources.validation_base import (
    go_value,
    immutable_selector,
    int_or_percent,
    invalid,
    invalid_selector,
    non_negative,
    required,
    selector_mismatch,
)

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
STRATEGY_TYPES = ("OnDelete", "RollingUpdate")
_ALWAYS_SERIALIZED_STATUS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")


# ---- defaults ----------------------------------------------------------------------------------


def default_daemon_set(ds: JSONObject) -> None:
    """``SetDefaults_DaemonSet`` plus the template's PodSpec defaults."""
    spec = child(ds, "spec")
    strategy = child(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = child(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_spec(child(child(spec, "template"), "spec"))
    status = child(ds, "status")
    for key in _ALWAYS_SERIALIZED_STATUS:
        if status.get(key) is None:
            status[key] = 0


# ---- the strategy: template generation ---------------------------------------------------------


def _template_generation(ds: JSONObject) -> int:
    value: Any = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _set_template_generation(ds: JSONObject, generation: int) -> None:
    metadata = child(ds, "metadata")
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
        metadata["annotations"] = annotations
    annotations[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


def _prepare_create(ds: JSONObject) -> None:
    reset_status(ds)
    _set_template_generation(ds, max(_template_generation(ds), 1))


def _prepare_update(new: JSONObject, old: JSONObject) -> None:
    # Compare the templates as they will be stored: the new one is not defaulted yet.
    defaulted = copy.deepcopy(new)
    default_daemon_set(defaulted)
    generation = _template_generation(old)
    if dig(defaulted, "spec", "template") != dig(old, "spec", "template"):
        generation += 1
    _set_template_generation(new, generation)


# ---- validation --------------------------------------------------------------------------------


def _validate_selector(spec: JSONObject) -> list[Cause]:
    selector_spec = spec.get("selector")
    template_labels = dig(spec, "template", "metadata", "labels") or {}
    if selector_spec is not None and not isinstance(selector_spec, dict):
        return [invalid("spec.selector", selector_spec, "must be a label selector")]
    try:
        # A missing selector selects nothing (LabelSelectorAsSelector(nil)): it matches no template.
        matches = selector_spec is not None and selector_from_spec(selector_spec).matches(template_labels)
    except SelectorError as e:
        return [invalid_selector(selector_spec, str(e))]
    causes: list[Cause] = []
    if not matches:
        causes.append(selector_mismatch(template_labels))
    if selector_spec is not None and not selector_spec.get("matchLabels") and not selector_spec.get("matchExpressions"):
        causes.append(invalid_selector(selector_spec, "empty selector is invalid for daemonset"))
    return causes


def _validate_update_strategy(strategy: Any) -> list[Cause]:
    """``ValidateDaemonSetUpdateStrategy`` and ``ValidateRollingUpdateDaemonSet``."""
    strategy = strategy if isinstance(strategy, dict) else {}
    strategy_type = strategy.get("type")
    if strategy_type == "OnDelete":
        return []
    if strategy_type != "RollingUpdate":
        # Upstream prints the Go struct (%#v); a set rollingUpdate shows as a pointer it cannot repeat.
        rolling = "(*apps.RollingUpdateDaemonSet)(nil)" if strategy.get("rollingUpdate") is None else "&{...}"
        shown = f"apps.DaemonSetUpdateStrategy{{Type:{go_value(strategy_type or '')}, RollingUpdate:{rolling}}}"
        quoted = ", ".join(f'"{t}"' for t in STRATEGY_TYPES)
        return [
            Cause(
                "spec.updateStrategy",
                "FieldValueNotSupported",
                f"Unsupported value: {shown}: supported values: {quoted}",
            )
        ]
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return [required("spec.updateStrategy.rollingUpdate")]
    path = "spec.updateStrategy.rollingUpdate"
    unavailable_causes, unavailable, _ = int_or_percent(rolling.get("maxUnavailable"), f"{path}.maxUnavailable")
    surge_causes, surge, _ = int_or_percent(rolling.get("maxSurge"), f"{path}.maxSurge")
    causes = unavailable_causes + surge_causes
    has_unavailable, has_surge = bool(unavailable), bool(surge)
    if has_unavailable and has_surge:
        causes.append(
            invalid(f"{path}.maxSurge", rolling.get("maxSurge"), "may not be set when maxUnavailable is non-zero")
        )
    elif not has_unavailable and not has_surge:
        causes.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return causes


_STATUS_COUNTS = (
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
    "observedGeneration",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "collisionCount",
)


def _validate_status(ds: JSONObject, old: JSONObject | None) -> list[Cause]:
    """``validateDaemonSetStatus``: no negative count; ``collisionCount`` never goes down."""
    status = ds.get("status") or {}
    causes = [c for key in _STATUS_COUNTS for c in non_negative(f"status.{key}", status.get(key))]
    if old is not None:
        before, after = (old.get("status") or {}).get("collisionCount"), status.get("collisionCount")
        if isinstance(before, int) and (after is None or (isinstance(after, int) and after < before)):
            causes.append(invalid("status.collisionCount", after or 0, "cannot be decremented"))
    return causes


def validate_daemon_set(ds: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = ds.get("spec") or {}
    causes = _validate_selector(spec)
    causes.extend(validate_long_running_template(spec.get("template"), "DaemonSet"))
    causes.extend(non_negative("spec.minReadySeconds", spec.get("minReadySeconds")))
    causes.extend(_validate_update_strategy(spec.get("updateStrategy")))
    causes.extend(non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    causes.extend(immutable_selector(ds, old))
    causes.extend(_validate_status(ds, old))
    return causes


# ---- the Table ---------------------------------------------------------------------------------

_STATUS_DOC = "More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
COLUMNS = (
    NAME,
    column(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running "
        f"the daemon pod). {_STATUS_DOC}",
    ),
    column(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. "
        + _STATUS_DOC,
    ),
    column(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod "
        "running and ready.",
    ),
    column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    column(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod "
        "running and available (ready for at least spec.minReadySeconds)",
    ),
    column(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match "
        "a node's labels for the pod to be scheduled on that node. More info: "
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    column(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If "
        "empty, defaulted to labels on Pod template. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        priority=1,
    ),
)


def print_daemon_set(ds: JSONObject, now: datetime) -> list[Any]:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    names, images = layout_template(spec)
    return [
        name(ds),
        int(status.get("desiredNumberScheduled") or 0),
        int(status.get("currentNumberScheduled") or 0),
        int(status.get("numberReady") or 0),
        int(status.get("updatedNumberScheduled") or 0),
        int(status.get("numberAvailable") or 0),
        format_labels(dig(spec, "template", "spec", "nodeSelector")),
        age(ds, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="apps",
            version="v1",
            resource="daemonsets",
            kind="DaemonSet",
            singular="daemonset",
            namespaced=True,
            short_names=("ds",),
            categories=("all",),
            subresources=(status_of("DaemonSet"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": APPS_V1},
    # kubectl has no `create daemonset` generator (its writes are JSON), but client-go's typed
    # clients may send protobuf: the field tables hold apps/v1 DaemonSet.
    protobuf=True,
    defaults=default_daemon_set,
    validate=validate_daemon_set,
    warnings=template_warnings("spec.template"),
    columns=COLUMNS,
    printer=print_daemon_set,
    patch_meta=workload(),
    prepare_create=_prepare_create,
    prepare_update=_prepare_update,
)
