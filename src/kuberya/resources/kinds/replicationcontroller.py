"""core/v1 ReplicationController: the ReplicaSet's predecessor, still served and still used.

Its selector is a plain label map, not a LabelSelector; otherwise it is a ReplicaSet, and its
controller is the ReplicaSet controller behind an adapter (:mod:`kuberya.controllers.replication`),
as upstream's is. Defaults as upstream's ``SetDefaults_ReplicationController``: the selector and
the object's labels come from the template's labels when empty, ``replicas`` is 1. Validation as
``ValidateReplicationController``: a non-empty selector matching the template's labels, a
template whose restart policy is ``Always`` and without ``activeDeadlineSeconds``.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kuberya.resources import defaults, validation
from kuberya.resources.defaults import child
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.spec import CORE_V1, SCALE, KindSpec, status_of
from kuberya.resources.patchmeta import BY_TYPE, template
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.printers_apps import replica_cells
from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    column,
    dig,
    format_labels,
)
from kuberya.resources.selectors import field_value
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import non_negative, required, selector_mismatch


def label_selector(rc: JSONObject) -> JSONObject:
    """The RC's selector as a LabelSelector (``matchLabels``), what the Scale and the controller read."""
    selector = dig(rc, "spec", "selector")
    return {"matchLabels": dict(selector)} if isinstance(selector, dict) and selector else {}


def _default(rc: JSONObject) -> None:
    spec = child(rc, "spec")
    labels = dig(spec, "template", "metadata", "labels")
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = copy.deepcopy(labels)
        metadata = child(rc, "metadata")
        if not metadata.get("labels"):
            metadata["labels"] = copy.deepcopy(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if isinstance(spec.get("template"), dict):
        defaults.default_pod_spec(child(spec["template"], "spec"))
    # `replicas` is the one non-omitempty status field; the Python client requires it.
    child(rc, "status").setdefault("replicas", 0)


def _validate(rc: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # upstream lets the selector change (the controller then releases and adopts)
    spec = rc.get("spec") or {}
    causes = non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = spec.get("selector") or {}
    if not selector:
        causes.append(required("spec.selector"))
    else:
        causes.extend(validation.validate_labels(selector, "spec.selector"))
    causes.extend(non_negative("spec.replicas", spec.get("replicas")))
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        causes.append(required("spec.template"))
        return causes
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        causes.append(selector_mismatch(labels))
    causes.extend(validation.validate_long_running_template(tmpl, "ReplicationController"))
    return causes


COLUMNS = (
    NAME,
    column(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero "
        "and unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
    ),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
    ),
    column("Ready", "integer", "The number of ready replicas for this replication controller."),
    AGE,
    CONTAINERS,
    IMAGES,
    column(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it "
        "is defaulted to the labels present on the Pod template. Label keys and values that must match in "
        "order to be controlled by this replication controller, if empty defaulted to labels on Pod "
        "template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        priority=1,
    ),
)


def _print(rc: JSONObject, now: datetime) -> list[Any]:
    return [*replica_cells(rc, now), format_labels(dig(rc, "spec", "selector"))]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="replicationcontrollers",
            kind="ReplicationController",
            singular="replicationcontroller",
            namespaced=True,
            short_names=("rc",),
            categories=("all",),
            subresources=(SCALE, status_of("ReplicationController")),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    warnings=template_warnings("spec.template"),
    columns=COLUMNS,
    printer=_print,
    fields={"status.replicas": lambda o: field_value(dig(o, "status", "replicas") or 0)},
    # spec.selector is an untagged map upstream: merged key by key.
    patch_meta={**template("spec.template"), "status.conditions": BY_TYPE},
    prepare_create=reset_status,
    label_selector=label_selector,
    default_propagation="Orphan",  # v1, for backwards compatibility (upstream's rcStrategy)
)
