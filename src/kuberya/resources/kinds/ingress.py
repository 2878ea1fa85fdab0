"""networking.k8s.io/v1 Ingress: HTTP routes from hosts and paths to Services.

Validated as upstream (``pkg/apis/networking/validation``): every path names a ``pathType``
(``Exact``, ``Prefix`` or ``ImplementationSpecific``) and a backend (a Service by name and port
name or number, or a typed resource); hosts are DNS names, ``*.`` wildcards allowed, IPs not;
TLS hosts and secret names likewise. The default IngressClass is filled in on create by the API
server's DefaultIngressClass plugin (:mod:`kuberya.apiserver.ingressclass`). kuberya does not
route Ingresses yet, and says so: every create and update answers with a Warning.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec, status_of
from kuberya.resources.names import dns1035_label_errors, dns1123_subdomain_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import go_value, invalid, not_supported, required
from kuberya.resources.validation_networking import (
    port_name_errors,
    port_number_errors,
    typed_local_object_reference_causes,
    wildcard_subdomain_errors,
)

NETWORKING_V1 = "io.k8s.api.networking.v1"
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
NOT_ROUTED = "Ingress is stored but not yet routed by kuberya: no controller serves its rules"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _backend_causes(backend: Any, path: str) -> list[Cause]:
    """``validateIngressBackend``: a Service (name and port) or a resource, not both."""
    if not isinstance(backend, dict):
        backend = {}
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return typed_local_object_reference_causes(resource, f"{path}.resource")
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    causes: list[Cause] = []
    svc_name = str(service.get("name") or "")
    if not svc_name:
        causes.append(required(f"{path}.service.name"))
    else:
        causes += [invalid(f"{path}.service.name", svc_name, m) for m in dns1035_label_errors(svc_name)]
    port = service.get("port") or {}
    port_name, number = str(port.get("name") or ""), port.get("number") or 0
    if port_name and number:
        causes.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        causes += [invalid(f"{path}.service.port.name", port_name, m) for m in port_name_errors(port_name)]
    elif number:
        causes += [invalid(f"{path}.service.port.number", number, m) for m in port_number_errors(number)]
    else:
        causes.append(required(path, "port name or number is required"))
    return causes


def _http_path_causes(http_path: JSONObject, path: str) -> list[Cause]:
    """``validateHTTPIngressPath``."""
    path_type = http_path.get("pathType")
    if path_type is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    value = str(http_path.get("path") or "")
    causes: list[Cause] = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
        if value:
            causes += [
                invalid(f"{path}.path", value, f"must not contain '{s}'") for s in INVALID_PATH_SEQUENCES if s in value
            ]
            causes += [
                invalid(f"{path}.path", value, f"cannot end with '{s}'")
                for s in INVALID_PATH_SUFFIXES
                if value.endswith(s)
            ]
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        causes.append(not_supported(f"{path}.pathType", path_type, PATH_TYPES))
    return causes + _backend_causes(http_path.get("backend"), f"{path}.backend")


def _host_causes(host: str, path: str) -> tuple[list[Cause], bool]:
    """The problems with a rule's host, and whether they are wildcard ones (which skip the paths)."""
    causes: list[Cause] = []
    if _is_ip(host):
        causes.append(invalid(path, host, "must be a DNS name, not an IP address"))
    if "*" in host:
        wildcard = [invalid(path, host, m) for m in wildcard_subdomain_errors(host)]
        return causes + wildcard, bool(wildcard)
    return causes + [invalid(path, host, m) for m in dns1123_subdomain_errors(host)], False


def _rules_causes(rules: list[JSONObject]) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(rules):
        path = f"spec.rules[{i}]"
        host = str(rule.get("host") or "")
        wildcard_problem = False
        if host:
            found, wildcard_problem = _host_causes(host, f"{path}.host")
            causes += found
        http = rule.get("http")
        if wildcard_problem or http is None:
            continue
        paths = http.get("paths") or []
        if not paths:
            causes.append(required(f"{path}.http.paths"))
        for j, http_path in enumerate(paths):
            causes += _http_path_causes(http_path, f"{path}.http.paths[{j}]")
    return causes


def _tls_causes(tls: list[JSONObject]) -> list[Cause]:
    """``validateIngressTLS``: hosts as in rules (wildcard problems last), secret names."""
    causes: list[Cause] = []
    wildcard: list[Cause] = []
    for i, entry in enumerate(tls):
        for j, host in enumerate(entry.get("hosts") or []):
            path = f"spec.tls[{i}].hosts[{j}]"
            if "*" in host:
                wildcard += [invalid(path, host, m) for m in wildcard_subdomain_errors(host)]
            else:
                causes += [invalid(path, host, m) for m in dns1123_subdomain_errors(host)]
        secret = str(entry.get("secretName") or "")
        if secret:
            causes += [invalid(f"spec.tls[{i}].secretName", secret, m) for m in dns1123_subdomain_errors(secret)]
    return causes + wildcard


def _validate(ingress: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # ValidateIngressUpdate checks the new spec as a create does
    spec = ingress.get("spec") or {}
    causes: list[Cause] = []
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        causes.append(
            Cause(
                "spec",
                "FieldValueInvalid",
                f"Invalid value: {go_value(rules) if rules else 'null'}: either `defaultBackend` or `rules` must be "
                "specified",
            )
        )
    if spec.get("defaultBackend") is not None:
        causes += _backend_causes(spec["defaultBackend"], "spec.defaultBackend")
    causes += _rules_causes(rules)
    causes += _tls_causes(spec.get("tls") or [])
    class_name = spec.get("ingressClassName")
    if class_name is not None:
        causes += [invalid("spec.ingressClassName", class_name, m) for m in dns1123_subdomain_errors(str(class_name))]
    return causes


def _warnings(ingress: JSONObject, old: JSONObject | None) -> list[str]:
    """Upstream's ``warningsForIngress`` (the deprecated class annotation), then kuberya's own."""
    del old
    out: list[str] = []
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if INGRESS_CLASS_ANNOTATION in annotations:
        out.append(
            f"annotation \"{INGRESS_CLASS_ANNOTATION}\" is deprecated, please use 'spec.ingressClassName' instead"
        )
    return [*out, NOT_ROUTED]


# -- Table ---------------------------------------------------------------------------------------

LOAD_BALANCER_WIDTH = 16

COLUMNS = (
    NAME,
    column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
    column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
    column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
    column("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
)


def format_hosts(rules: list[JSONObject]) -> str:
    """``formatHosts``: the first four hosts, ``*`` when there are none."""
    hosts = [str(r["host"]) for r in rules[:4] if r.get("host")]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 4} more..." if len(rules) > 4 else text


def load_balancer_address(ingress: JSONObject) -> str:
    """``ingressLoadBalancerStatusStringer`` (not wide: cut to 16 characters)."""
    points = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = sorted({str(p.get("ip") or p.get("hostname")) for p in points if p.get("ip") or p.get("hostname")})
    text = ",".join(found)
    return text[: LOAD_BALANCER_WIDTH - 3] + "..." if len(text) > LOAD_BALANCER_WIDTH else text


def _print(ingress: JSONObject, now: datetime) -> list[Any]:
    spec = ingress.get("spec") or {}
    class_name = spec.get("ingressClassName")
    return [
        name(ingress),
        "<none>" if class_name is None else str(class_name),
        format_hosts(spec.get("rules") or []),
        load_balancer_address(ingress),
        "80, 443" if spec.get("tls") else "80",
        age(ingress, now),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="networking.k8s.io",
            version="v1",
            resource="ingresses",
            kind="Ingress",
            singular="ingress",
            namespaced=True,
            short_names=("ing",),
            verbs=ALL_VERBS,
            subresources=(status_of("Ingress"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": NETWORKING_V1},
    protobuf=True,  # kubectl create ingress sends protobuf
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    warnings=_warnings,
)
