"""Validation of objects before they are stored: what makes the API server answer 422 Invalid.

:func:`validate` returns a list of :class:`Cause` (empty = valid). The API server runs it after
defaulting, on the storage version, with ``old`` set for updates so immutability can be checked.
Messages, reasons and field paths follow upstream (``pkg/apis/*/validation``), because users see
them verbatim: ``spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}:
`selector` does not match template `labels```.

The checks cover what matters in practice — names, labels and annotations on every kind, then per
kind the mistakes people make (a Deployment whose selector misses its template, a Service port
out of range, an HPA with ``maxReplicas < minReplicas``…). It is deliberately not exhaustive:
clarity over completeness. Pod specs are checked by :mod:`.validation_pods`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from kuberya.resources.names import (
    config_key_errors,
    dns1123_label_errors,
    label_value_errors,
    path_segment_errors,
    qualified_name_errors,
)
from kuberya.resources.types import Cause, JSONObject
from kuberya.resources.validation_base import (
    duplicate,
    forbidden,
    immutable_selector,
    int_or_percent,
    invalid,
    non_negative,
    not_supported,
    port_range,
    required,
    selector_selects_template,
    too_long,
)
from kuberya.resources.validation_owners import validate_owner_references
from kuberya.resources.validation_pods import validate_pod_spec, validate_pod_update

NameRule = Callable[[str], list[str]]

TOTAL_ANNOTATION_SIZE = 256 * 1024
CONFIG_MAP_MAX_SIZE = 1024 * 1024


# ---- metadata --------------------------------------------------------------------------------


def _generate_name_errors(rule: NameRule, prefix: str) -> list[str]:
    # Upstream masks a trailing dash before checking a generateName prefix: `web-` is fine.
    return rule(prefix[:-1] + "a" if prefix.endswith("-") and len(prefix) > 1 else prefix)


def validate_labels(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (labels or {}).items():
        causes.extend(invalid(path, key, e) for e in qualified_name_errors(key))
        if not isinstance(value, str):
            causes.append(invalid(path, value, "must be a string"))
        else:
            causes.extend(invalid(path, value, e) for e in label_value_errors(value))
    return causes


def validate_metadata(metadata: JSONObject, *, name_rule: NameRule) -> list[Cause]:
    causes: list[Cause] = []
    name, generate_name = metadata.get("name") or "", metadata.get("generateName") or ""
    if generate_name:
        causes.extend(
            invalid("metadata.generateName", generate_name, e) for e in _generate_name_errors(name_rule, generate_name)
        )
    if name:
        causes.extend(invalid("metadata.name", name, e) for e in name_rule(name))
    elif not generate_name:
        causes.append(required("metadata.name", "name or generateName is required"))
    causes.extend(validate_labels(metadata.get("labels"), "metadata.labels"))
    annotations = metadata.get("annotations") or {}
    size = 0
    for key, value in annotations.items():
        causes.extend(invalid("metadata.annotations", key, e) for e in qualified_name_errors(key.lower()))
        size += len(key) + len(str(value))
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append(too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE))
    causes.extend(validate_owner_references(metadata.get("ownerReferences")))
    return causes


# ---- apps: deployments and replica sets ------------------------------------------------------


def _validate_replicated(obj: JSONObject, *, kind_word: str) -> list[Cause]:
    """Check what Deployment and ReplicaSet specs share: replicas, selector, template."""
    spec = obj.get("spec") or {}
    causes = non_negative("spec.replicas", spec.get("replicas"))
    causes.extend(non_negative("spec.minReadySeconds", spec.get("minReadySeconds")))
    selector_spec = spec.get("selector")
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    causes.extend(selector_selects_template(selector_spec, template_labels, kind_word))
    causes.extend(validate_labels(template_labels, "spec.template.metadata.labels"))
    causes.extend(validate_pod_spec(template.get("spec"), "spec.template.spec", restart_policies=("Always",)))
    return causes


def validate_long_running_template(
    template: Any, kind: str, *, claim_volumes: frozenset[str] = frozenset()
) -> list[Cause]:
    """The pod template of a DaemonSet, StatefulSet or ReplicationController (``spec.template``).

    Valid labels, a pod spec that restarts ``Always`` and, since its pods are meant to run for
    ever, no ``activeDeadlineSeconds`` (upstream's ``ValidatePodTemplateSpecForReplicaSet`` and
    its siblings, whose message names ``kind``). ``claim_volumes``: the names a StatefulSet's
    volumeClaimTemplates give, which its containers may mount besides the template's volumes.
    """
    template = template if isinstance(template, dict) else {}
    pod_spec = template.get("spec")
    causes = validate_labels((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
    causes.extend(
        validate_pod_spec(pod_spec, "spec.template.spec", restart_policies=("Always",), claim_volumes=claim_volumes)
    )
    if isinstance(pod_spec, dict) and pod_spec.get("activeDeadlineSeconds") is not None:
        detail = f"activeDeadlineSeconds in {kind} is not Supported"
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds", detail))
    return causes


def validate_deployment(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes = _validate_replicated(obj, kind_word="deployment")
    causes.extend(immutable_selector(obj, old))
    strategy = spec.get("strategy") or {}
    strategy_type = strategy.get("type")
    if strategy_type and strategy_type not in ("Recreate", "RollingUpdate"):
        causes.append(not_supported("spec.strategy.type", strategy_type, ("Recreate", "RollingUpdate")))
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "Recreate" and rolling is not None:
        causes.append(
            forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        )
    elif isinstance(rolling, dict):
        unavailable_causes, unavailable, _ = int_or_percent(
            rolling.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable"
        )
        surge_causes, surge, _ = int_or_percent(rolling.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge")
        causes.extend(unavailable_causes + surge_causes)
        if unavailable == 0 and surge == 0:
            causes.append(
                invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    rolling.get("maxUnavailable"),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
    causes.extend(non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
        causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes


def validate_replica_set(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    return _validate_replicated(obj, kind_word="replicaset") + immutable_selector(obj, old)


def validate_pod(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = obj.get("spec")
    causes = validate_pod_spec(spec, "spec")
    if old is not None and isinstance(spec, dict):
        causes.extend(validate_pod_update(spec, old.get("spec") or {}))
    return causes


# ---- core: services --------------------------------------------------------------------------

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
NODE_PORT_RANGE = (30000, 32767)
_IANA_SVC_NAME = re.compile(r"[-a-z0-9]+")


def _target_port(value: Any, path: str) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool):
        return port_range(path, value)
    if isinstance(value, str):
        if len(value) > 15:
            return [invalid(path, value, "must be no more than 15 characters")]
        if not _IANA_SVC_NAME.fullmatch(value) or not re.search("[a-z]", value):
            return [invalid(path, value, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")]
    return []


def _validate_service_ports(spec: JSONObject) -> list[Cause]:
    causes: list[Cause] = []
    ports = spec.get("ports") or []
    svc_type = spec.get("type", "ClusterIP")
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        pname = port.get("name") or ""
        if len(ports) > 1 and not pname:
            causes.append(required(f"{path}.name"))
        elif pname:
            causes.extend(invalid(f"{path}.name", pname, e) for e in dns1123_label_errors(pname))
            if pname in names:
                causes.append(duplicate(f"{path}.name", pname))
            names.add(pname)
        causes.extend(port_range(f"{path}.port", port.get("port")))
        protocol = port.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP"):
            causes.append(not_supported(f"{path}.protocol", protocol, ("SCTP", "TCP", "UDP")))
        key = (port.get("port"), protocol)
        if key in keys:
            causes.append(duplicate(path, f"{key[0]}/{key[1]}"))
        keys.add(key)
        causes.extend(_target_port(port.get("targetPort"), f"{path}.targetPort"))
        node_port = port.get("nodePort")
        if node_port:
            if svc_type not in ("NodePort", "LoadBalancer"):
                causes.append(forbidden(f"{path}.nodePort", f"may not be used when `type` is '{svc_type}'"))
            elif not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                causes.append(
                    invalid(
                        f"{path}.nodePort",
                        node_port,
                        "provided port is not in the valid range. The range of "
                        f"valid ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}",
                    )
                )
    return causes


def validate_service(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    svc_type = spec.get("type", "ClusterIP")
    if svc_type not in SERVICE_TYPES:
        causes.append(not_supported("spec.type", svc_type, SERVICE_TYPES))
    headless = spec.get("clusterIP") == "None"
    if svc_type == "ExternalName":
        if not spec.get("externalName"):
            causes.append(required("spec.externalName"))
    elif not spec.get("ports") and not headless:
        causes.append(required("spec.ports"))
    causes.extend(_validate_service_ports(spec))
    affinity = spec.get("sessionAffinity")
    if affinity and affinity not in ("None", "ClientIP"):
        causes.append(not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    for i, ip in enumerate(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])):
        if ip != "None":
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                causes.append(
                    invalid(
                        f"spec.clusterIPs[{i}]",
                        ip,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )
                )
    for key, value in (spec.get("selector") or {}).items():
        causes.extend(invalid("spec.selector", key, e) for e in qualified_name_errors(key))
        causes.extend(invalid("spec.selector", value, e) for e in label_value_errors(str(value)))
    if old is not None:
        old_spec = old.get("spec") or {}
        old_ip, new_ip = old_spec.get("clusterIP") or "", spec.get("clusterIP") or ""
        external_name = "ExternalName" in (svc_type, old_spec.get("type"))
        # An update that omits clusterIP keeps the allocated one (the server copies it over first).
        if old_ip and new_ip and new_ip != old_ip and not external_name:
            causes.append(invalid("spec.clusterIPs[0]", spec.get("clusterIPs") or [new_ip], "may not change once set"))
    return causes


# ---- core: config maps, secrets --------------------------------------------------------------


def _validate_data_keys(obj: JSONObject, old: JSONObject | None, *, fields: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    seen: dict[str, str] = {}
    size = 0
    for field in fields:
        for key, value in (obj.get(field) or {}).items():
            causes.extend(invalid(f"{field}[{key}]", key, e) for e in config_key_errors(key))
            if key in seen:
                causes.append(invalid(f"{field}[{key}]", key, f"duplicate of key present in {seen[key]}"))
            seen[key] = field
            size += len(key) + len(str(value))
    if size > CONFIG_MAP_MAX_SIZE:
        causes.append(too_long("", CONFIG_MAP_MAX_SIZE))
    if old is not None and old.get("immutable"):
        if not obj.get("immutable"):
            causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for field in fields:
            if (obj.get(field) or {}) != (old.get(field) or {}):
                causes.append(forbidden(field, "field is immutable when `immutable` is set"))
    return causes


def validate_config_map(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    return _validate_data_keys(obj, old, fields=("data", "binaryData"))


def validate_secret(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    causes = _validate_data_keys(obj, old, fields=("data",))
    if old is not None and old.get("type") and obj.get("type") != old.get("type"):
        causes.append(invalid("type", obj.get("type"), "field is immutable"))
    if obj.get("type") == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in (obj.get("data") or {}):
        causes.append(required("data[.dockerconfigjson]"))
    return causes


# ---- autoscaling/v2 --------------------------------------------------------------------------

METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
TARGET_TYPES = ("AverageValue", "Utilization", "Value")


def _validate_metric(metric: JSONObject, path: str) -> list[Cause]:
    metric_type = metric.get("type")
    if metric_type not in METRIC_TYPES:
        return [not_supported(f"{path}.type", metric_type or "", METRIC_TYPES)]
    field = {
        "Resource": "resource",
        "ContainerResource": "containerResource",
        "Pods": "pods",
        "Object": "object",
        "External": "external",
    }[metric_type]
    source = metric.get(field)
    if not isinstance(source, dict):
        return [required(f"{path}.{field}", "must populate information for the given metric source")]
    causes: list[Cause] = []
    if metric_type in ("Resource", "ContainerResource") and not source.get("name"):
        causes.append(required(f"{path}.{field}.name"))
    target = source.get("target") or {}
    target_type = target.get("type")
    if target_type not in TARGET_TYPES:
        causes.append(not_supported(f"{path}.{field}.target.type", target_type or "", TARGET_TYPES))
    utilization = target.get("averageUtilization")
    if utilization is not None and (not isinstance(utilization, int) or utilization <= 0):
        causes.append(invalid(f"{path}.{field}.target.averageUtilization", utilization, "must be greater than 0"))
    return causes


def validate_hpa(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("kind"):
        causes.append(required("spec.scaleTargetRef.kind"))
    if not ref.get("name"):
        causes.append(required("spec.scaleTargetRef.name"))
    else:
        causes.extend(invalid("spec.scaleTargetRef.name", ref["name"], e) for e in path_segment_errors(ref["name"]))
    min_replicas = spec.get("minReplicas", 1)
    max_replicas = spec.get("maxReplicas", 0)
    if isinstance(min_replicas, int) and min_replicas < 1:
        causes.append(invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    if not isinstance(max_replicas, int) or max_replicas < 1:
        causes.append(invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    elif isinstance(min_replicas, int) and max_replicas < min_replicas:
        causes.append(invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        causes.extend(_validate_metric(metric, f"spec.metrics[{i}]"))
    return causes
