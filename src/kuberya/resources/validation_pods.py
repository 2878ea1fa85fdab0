"""Validation of pod specs — of Pods and of the templates in Deployments and ReplicaSets.

The checks are the ones users actually trip over (upstream ``ValidatePodSpec`` does far more):
containers present and uniquely, validly named, images given, ports in range, enumerations with
supported values. Field paths are relative to the ``path`` given (``spec`` for a Pod,
``spec.template.spec`` for a template), exactly as upstream reports them.
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.names import dns1123_label_errors
from kuberya.resources.types import Cause, JSONObject
from kuberya.resources.validation_base import (
    duplicate,
    forbidden,
    invalid,
    non_negative,
    not_found,
    not_supported,
    port_range,
    required,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")


def _local_descending_path(target: str, path: str) -> list[Cause]:
    """``validateLocalDescendingPath``: relative, and never climbing out with ``..``."""
    causes = [invalid(path, target, "must be a relative path")] if target.startswith("/") else []
    if ".." in target.split("/"):
        causes.append(invalid(path, target, "must not contain '..'"))
    return causes


def _volume_mounts(container: JSONObject, path: str, volumes: set[str]) -> list[Cause]:
    """``ValidateVolumeMounts``: each names a volume of the pod, at its own path, below it if at all."""
    causes: list[Cause] = []
    mount_points: set[str] = set()
    mounts_path = f"{path}.volumeMounts"
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        at = f"{mounts_path}[{i}]"
        name, mount_path = str(mount.get("name") or ""), str(mount.get("mountPath") or "")
        if not name:
            causes.append(required(f"{at}.name"))
        if name not in volumes:
            causes.append(not_found(f"{at}.name", name))
        if not mount_path:
            causes.append(required(f"{at}.mountPath"))
        if mount_path in mount_points:
            causes.append(invalid(f"{at}.mountPath", mount_path, "must be unique"))
        mount_points.add(mount_path)
        sub_path, expression = str(mount.get("subPath") or ""), str(mount.get("subPathExpr") or "")
        # upstream names these two without the index (``volumeMounts.subPath``); kept as it is
        if sub_path:
            causes.extend(_local_descending_path(sub_path, f"{mounts_path}.subPath"))
        if expression:
            if sub_path:
                exclusive = "subPathExpr and subPath are mutually exclusive"
                causes.append(invalid(f"{at}.subPathExpr", expression, exclusive))
            causes.extend(_local_descending_path(expression, f"{mounts_path}.subPathExpr"))
    return causes


def _validate_container(container: JSONObject, path: str, *, names: set[str], volumes: set[str]) -> list[Cause]:
    causes = _volume_mounts(container, path, volumes)
    name = container.get("name") or ""
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes.extend(invalid(f"{path}.name", name, e) for e in dns1123_label_errors(name))
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
    if not container.get("image"):
        causes.append(required(f"{path}.image"))
    policy = container.get("imagePullPolicy")
    if policy and policy not in PULL_POLICIES:
        causes.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(container.get("ports") or []):
        port_path = f"{path}.ports[{i}]"
        if not port.get("containerPort"):
            causes.append(required(f"{port_path}.containerPort"))
        else:
            causes.extend(port_range(f"{port_path}.containerPort", port["containerPort"]))
        if port.get("hostPort"):
            causes.extend(port_range(f"{port_path}.hostPort", port["hostPort"]))
        protocol = port.get("protocol")
        if protocol and protocol not in PROTOCOLS:
            causes.append(not_supported(f"{port_path}.protocol", protocol, PROTOCOLS))
        key = (port.get("containerPort"), protocol or "TCP")
        if port.get("containerPort") and key in seen_ports:
            causes.append(duplicate(f"{port_path}", f"{key[0]}/{key[1]}"))
        seen_ports.add(key)
    for i, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            causes.append(required(f"{path}.env[{i}].name"))
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "failureThreshold"):
                causes.extend(non_negative(f"{path}.{probe_name}.{field}", probe.get(field)))
            handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
            if len(handlers) != 1:
                causes.append(required(f"{path}.{probe_name}", "must specify a handler type"))
    return causes


def validate_pod_spec(
    spec: Any,
    path: str,
    *,
    restart_policies: tuple[str, ...] = RESTART_POLICIES,
    claim_volumes: frozenset[str] = frozenset(),
) -> list[Cause]:
    """Validate a PodSpec at ``path``; templates allow only ``restartPolicy: Always``."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[Cause] = []
    names: set[str] = set()
    volumes = {str(v.get("name") or "") for v in spec.get("volumes") or [] if isinstance(v, dict)} | claim_volumes
    containers = spec.get("containers") or []
    if not containers:
        causes.append(required(f"{path}.containers"))
    for i, container in enumerate(containers):
        causes.extend(_validate_container(container, f"{path}.containers[{i}]", names=names, volumes=volumes))
    for i, container in enumerate(spec.get("initContainers") or []):
        causes.extend(_validate_container(container, f"{path}.initContainers[{i}]", names=names, volumes=volumes))
    restart = spec.get("restartPolicy")
    if restart and restart not in restart_policies:
        causes.append(not_supported(f"{path}.restartPolicy", restart, restart_policies))
    dns = spec.get("dnsPolicy")
    if dns and dns not in DNS_POLICIES:
        causes.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    causes.extend(non_negative(f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds")))
    volume_names: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        vname = volume.get("name") or ""
        if not vname:
            causes.append(required(f"{path}.volumes[{i}].name"))
        elif vname in volume_names:
            causes.append(duplicate(f"{path}.volumes[{i}].name", vname))
        volume_names.add(vname)
    return causes


_POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _mutable_fields_masked(spec: JSONObject, old: JSONObject) -> JSONObject:
    """Return the spec with the fields a pod update may change taken from the old spec."""
    masked = dict(spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = spec.get(key) or [], old.get(key) or []
        if key in spec and len(new_list) == len(old_list):
            masked[key] = [{**c, "image": o.get("image")} for c, o in zip(new_list, old_list, strict=True)]
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        if key in old:
            masked[key] = old[key]
        else:
            masked.pop(key, None)
    # kuberya binds pods by writing spec.nodeName once (upstream: the binding subresource).
    if not old.get("nodeName"):
        if "nodeName" in old:
            masked["nodeName"] = old["nodeName"]
        else:
            masked.pop("nodeName", None)
    return masked


def validate_pod_update(spec: JSONObject, old_spec: JSONObject) -> list[Cause]:
    """Forbid changing a running pod's spec beyond what upstream allows."""
    if _mutable_fields_masked(spec, old_spec) != old_spec:
        return [forbidden("spec", _POD_UPDATE_MESSAGE)]
    return []
