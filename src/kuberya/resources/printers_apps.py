"""Table printers for apps/v1, autoscaling and discovery.k8s.io kinds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    age,
    column,
    dig,
    format_label_selector,
    layout_template,
    list_with_more,
    name,
)
from kuberya.resources.types import JSONObject

# ---- deployments and replica sets ------------------------------------------------------------

DEPLOYMENT_COLUMNS = [
    NAME,
    column("Ready", "string", "Number of the pod with ready state"),
    column(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    column(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", "string", "Label selector for pods.", priority=1),
]

REPLICA_SET_COLUMNS = [
    NAME,
    column("Desired", "integer", "Replicas is the number of desired replicas."),
    column("Current", "integer", "Replicas is the most recently observed number of replicas."),
    column("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    column(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
        priority=1,
    ),
]


def print_deployment(deploy: JSONObject, now: datetime) -> list[Any]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    replicas = spec.get("replicas", 1)
    names, images = layout_template(spec)
    return [
        name(deploy),
        f"{status.get('readyReplicas', 0)}/{replicas}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        age(deploy, now),
        names,
        images,
        format_label_selector(spec.get("selector"), empty="", invalid="<invalid>"),
    ]


def replica_cells(obj: JSONObject, now: datetime) -> list[Any]:
    """The cells but Selector of upstream's ``printReplicaSet`` and ``printReplicationController``.

    Name, Desired, Current, Ready, Age, Containers, Images; the Selector differs (a LabelSelector, a map).
    """
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = layout_template(spec)
    return [
        name(obj),
        int(spec.get("replicas", 1)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        age(obj, now),
        names,
        images,
    ]


def print_replica_set(rs: JSONObject, now: datetime) -> list[Any]:
    return [*replica_cells(rs, now), format_label_selector(dig(rs, "spec", "selector"))]


# ---- horizontal pod autoscalers (printed from the stored autoscaling/v2 shape) ---------------

HPA_COLUMNS = [
    NAME,
    column("Reference", "string", "scaleTargetRef points to the target resource to scale."),
    column(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count.",
    ),
    column(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
    ),
    column(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
    ),
    column(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler.",
    ),
    AGE,
]

_UNKNOWN = "<unknown>"


def _percent(value: Any) -> str:
    return _UNKNOWN if value is None else f"{value}%"


def _target_text(target: JSONObject, current: JSONObject | None, *, utilization: bool) -> str:
    """``current/target`` of one metric; ``(avg)`` marks an average value of object/external metrics."""
    current = current or {}
    if target.get("averageValue") is not None:
        have = current.get("averageValue", _UNKNOWN) if current else _UNKNOWN
        return f"{have}/{target['averageValue']}"
    if utilization:
        want = _percent(target.get("averageUtilization")) if target.get("averageUtilization") is not None else "<auto>"
        return f"{_percent(current.get('averageUtilization'))}/{want}"
    return f"{current.get('value', _UNKNOWN)}/{target.get('value', _UNKNOWN)}"


def format_hpa_metrics(specs: list[JSONObject] | None, statuses: list[JSONObject] | None) -> str:
    """Upstream ``formatHPAMetrics``: ``cpu: 10%/80%`` per metric, two at most then ``+ N more...``."""
    if not specs:
        return "<none>"
    statuses = statuses or []
    shown: list[str] = []
    for i, spec in enumerate(specs):
        kind = spec.get("type", "")
        field = {
            "Resource": "resource",
            "ContainerResource": "containerResource",
            "Pods": "pods",
            "Object": "object",
            "External": "external",
        }.get(kind)
        source = spec.get(field or "") or {}
        status = statuses[i] if i < len(statuses) else {}
        current = (status.get(field or "") or {}).get("current") if status.get("type") == kind else None
        target = source.get("target") or {}
        if kind in ("Resource", "ContainerResource"):
            metric_name = source.get("name", "")
            text = _target_text(target, current, utilization=True)
        elif kind in ("Pods", "Object", "External"):
            metric_name = dig(source, "metric", "name") or ""
            text = _target_text(target, current, utilization=False)
            if kind != "Pods" and target.get("averageValue") is not None:
                text += " (avg)"
        else:
            shown.append("<unknown type>")
            continue
        shown.append(f"{metric_name}: {text}")
    text = ", ".join(shown[:2])
    return f"{text} + {len(shown) - 2} more..." if len(shown) > 2 else text


def print_hpa(hpa: JSONObject, now: datetime) -> list[Any]:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [
        name(hpa),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        format_hpa_metrics(spec.get("metrics"), status.get("currentMetrics")),
        "<unset>" if min_replicas is None else str(min_replicas),
        int(spec.get("maxReplicas", 0)),
        int(status.get("currentReplicas", 0)),
        age(hpa, now),
    ]


# ---- endpoint slices --------------------------------------------------------------


def print_endpoint_slice(eps: JSONObject, now: datetime) -> list[Any]:
    ports = eps.get("ports") or []
    port_names = [str(p["port"]) if p.get("port") is not None else (p.get("name") or "*") for p in ports]
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        name(eps),
        eps.get("addressType", ""),
        list_with_more(port_names, len(port_names), 3),
        list_with_more(addresses, len(addresses), 3),
        age(eps, now),
    ]


ENDPOINT_SLICE_COLUMNS = [
    NAME,
    column(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    column(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    column("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    AGE,
]
