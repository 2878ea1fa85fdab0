"""HorizontalPodAutoscaler's conversions between the versions it is served in.

A kind's spec names its conversions (``KindSpec.conversions``) and
:func:`kuberya.resources.kinds.convert` runs them. Only HorizontalPodAutoscaler has two served
versions: ``autoscaling/v2`` (stored, preferred) and ``autoscaling/v1`` (what kubectl ≤1.32
``autoscale`` creates). v1 knows a single CPU target (``targetCPUUtilizationPercentage``) where v2
has a list of metrics, so — as upstream's
``pkg/apis/autoscaling/v1/conversion.go`` does — what v1 cannot say travels in annotations and
comes back when the object is converted to v2 again:

* ``autoscaling.alpha.kubernetes.io/metrics``: the full v2 ``spec.metrics`` when it is more than
  one CPU-utilization metric;
* ``autoscaling.alpha.kubernetes.io/behavior``: v2 ``spec.behavior``;
* ``autoscaling.alpha.kubernetes.io/conditions`` and ``…/current-metrics``: v2 status fields.

Upstream stores those annotations in the v1 (v2beta1-like) metric shape; kuberya stores the v2
JSON, which no client reads but which makes v2 → v1 → v2 lossless. A v1 writer that changes
``targetCPUUtilizationPercentage`` changes the CPU metric inside the kept list.

Every other kind has one version: conversion is a deep copy with ``apiVersion`` set.
Each function here takes a deep copy the caller owns and returns the converted object.
"""

from __future__ import annotations

import json
from typing import Any

from kuberya.resources.types import JSONObject

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"


def _is_cpu_utilization(metric: Any) -> bool:
    return (
        isinstance(metric, dict)
        and metric.get("type") == "Resource"
        and (metric.get("resource") or {}).get("name") == "cpu"
        and ((metric.get("resource") or {}).get("target") or {}).get("type") == "Utilization"
    )


def _annotations(obj: JSONObject) -> dict[str, str]:
    metadata = obj.setdefault("metadata", {})
    annotations: dict[str, str] = metadata.get("annotations") or {}
    metadata["annotations"] = annotations
    return annotations


def _drop_empty_annotations(obj: JSONObject) -> None:
    metadata = obj.get("metadata") or {}
    if "annotations" in metadata and not metadata["annotations"]:
        del metadata["annotations"]


def hpa_v2_to_v1(hpa: JSONObject) -> JSONObject:
    spec: JSONObject = hpa.get("spec") or {}
    status: JSONObject = hpa.get("status") or {}
    metrics = spec.get("metrics") or []
    annotations = _annotations(hpa)

    v1_spec: JSONObject = {key: spec[key] for key in ("scaleTargetRef", "minReplicas", "maxReplicas") if key in spec}
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        target = cpu["resource"]["target"].get("averageUtilization")
        if target is not None:
            v1_spec["targetCPUUtilizationPercentage"] = target
    if metrics and not (len(metrics) == 1 and cpu is not None):
        annotations[METRICS_ANNOTATION] = json.dumps(metrics, separators=(",", ":"))
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(spec["behavior"], separators=(",", ":"))

    v1_status: JSONObject = {
        key: status[key]
        for key in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
        if key in status
    }
    # Both are required (non-omitempty) in v1; the Python client rejects a status without them.
    v1_status.setdefault("currentReplicas", 0)
    v1_status.setdefault("desiredReplicas", 0)
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, dict)]
    for metric in current:
        resource = metric.get("resource") or {}
        utilization = (resource.get("current") or {}).get("averageUtilization")
        if metric.get("type") == "Resource" and resource.get("name") == "cpu" and utilization is not None:
            v1_status["currentCPUUtilizationPercentage"] = utilization
            break
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(current, separators=(",", ":"))
    if status.get("conditions"):
        annotations[CONDITIONS_ANNOTATION] = json.dumps(status["conditions"], separators=(",", ":"))

    hpa["spec"] = v1_spec
    if "status" in hpa:
        hpa["status"] = v1_status
    _drop_empty_annotations(hpa)
    return hpa


def _load(annotations: dict[str, str], key: str) -> Any:
    raw = annotations.pop(key, None)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None  # a hand-edited, unparseable annotation is dropped, as upstream ignores it


def hpa_v1_to_v2(hpa: JSONObject) -> JSONObject:
    spec: JSONObject = hpa.get("spec") or {}
    status: JSONObject = hpa.get("status") or {}
    annotations = _annotations(hpa)

    metrics = _load(annotations, METRICS_ANNOTATION)
    metrics = [m for m in metrics if isinstance(m, dict)] if isinstance(metrics, list) else []
    target = spec.get("targetCPUUtilizationPercentage")
    if target is None:
        metrics = [m for m in metrics if not _is_cpu_utilization(m)]
    else:
        cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
        if cpu is None:
            metrics.insert(0, _cpu_metric(target))
        else:
            cpu["resource"]["target"]["averageUtilization"] = target

    v2_spec: JSONObject = {key: spec[key] for key in ("scaleTargetRef", "minReplicas", "maxReplicas") if key in spec}
    if metrics:
        v2_spec["metrics"] = metrics
    behavior = _load(annotations, BEHAVIOR_ANNOTATION)
    if isinstance(behavior, dict):
        v2_spec["behavior"] = behavior

    v2_status: JSONObject = {
        key: status[key]
        for key in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
        if key in status
    }
    current = _load(annotations, CURRENT_METRICS_ANNOTATION)
    current = [m for m in current if isinstance(m, dict)] if isinstance(current, list) else []
    utilization = status.get("currentCPUUtilizationPercentage")
    if utilization is not None:
        cpu_status = next(
            (m for m in current if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"),
            None,
        )
        if cpu_status is None:
            current.insert(
                0,
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": utilization}},
                },
            )
        else:
            cpu_status["resource"].setdefault("current", {})["averageUtilization"] = utilization
    if current:
        v2_status["currentMetrics"] = current
    conditions = _load(annotations, CONDITIONS_ANNOTATION)
    if isinstance(conditions, list):
        v2_status["conditions"] = conditions

    hpa["spec"] = v2_spec
    if "status" in hpa:
        hpa["status"] = v2_status
    _drop_empty_annotations(hpa)
    return hpa


def _cpu_metric(percent: Any) -> JSONObject:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    }
