"""networking.k8s.io/v1 IngressClass: which controller serves an Ingress, cluster-scoped.

As upstream: ``spec.controller`` is a domain-prefixed path (``example.com/ingress``) that never
changes; ``spec.parameters`` references a resource, its ``scope`` defaulting to ``Cluster`` (a
``Namespace`` scope needs a namespace, a ``Cluster`` one forbids it). A class annotated
``ingressclass.kubernetes.io/is-default-class: "true"`` is given to new Ingresses that name none
(:mod:`kuberya.apiserver.ingressclass`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.names import dns1123_label_errors, dns1123_subdomain_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required
from kuberya.resources.validation_networking import typed_local_object_reference_causes

NETWORKING_V1 = "io.k8s.api.networking.v1"
MAX_CONTROLLER_LENGTH = 250
SCOPES = ("Cluster", "Namespace")
HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_HTTP_PATH = re.compile(f"^{HTTP_PATH_FMT}$")


def _default(ingress_class: JSONObject) -> None:
    parameters = (ingress_class.get("spec") or {}).get("parameters")
    if isinstance(parameters, dict) and parameters.get("scope") is None:
        parameters["scope"] = "Cluster"


def _controller_causes(controller: str) -> list[Cause]:
    """``IsDomainPrefixedPath`` (and the length bound)."""
    field = "spec.controller"
    causes: list[Cause] = []
    if len(controller) > MAX_CONTROLLER_LENGTH:
        causes.append(
            Cause(field, "FieldValueTooLong", f"Too long: may not be more than {MAX_CONTROLLER_LENGTH} bytes")
        )
    if not controller:
        return [*causes, required(field)]
    host, _, path = controller.partition("/")
    if not host or not path:
        return [*causes, invalid(field, controller, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    causes += [invalid(field, host, m) for m in dns1123_subdomain_errors(host)]
    if not _HTTP_PATH.match(path):
        causes.append(invalid(field, path, f"Invalid path (regex used for validation is '{HTTP_PATH_FMT}')"))
    return causes


def _parameters_causes(parameters: Any) -> list[Cause]:
    if not isinstance(parameters, dict):
        return []
    field = "spec.parameters"
    causes = typed_local_object_reference_causes(parameters, field)
    scope = parameters.get("scope")
    if scope is None:
        return [*causes, required(f"{field}.scope")]
    if scope not in SCOPES:
        return [*causes, not_supported(f"{field}.scope", scope, SCOPES)]
    namespace = parameters.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            causes.append(required(f"{field}.namespace", "`parameters.scope` is set to 'Namespace'"))
        else:
            causes += [invalid(f"{field}.namespace", namespace, m) for m in dns1123_label_errors(str(namespace))]
    elif namespace is not None:
        causes.append(forbidden(f"{field}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return causes


def _validate(ingress_class: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = ingress_class.get("spec") or {}
    controller = str(spec.get("controller") or "")
    causes: list[Cause] = []
    if old is not None and controller != str((old.get("spec") or {}).get("controller") or ""):
        causes.append(invalid("spec.controller", controller, "field is immutable"))
    return causes + _controller_causes(controller) + _parameters_causes(spec.get("parameters"))


COLUMNS = (
    NAME,
    column("Controller", "string", "Controller that is responsible for handling this class"),
    column("Parameters", "string", "A reference to a resource with additional parameters"),
    AGE,
)


def _print(ingress_class: JSONObject, now: datetime) -> list[Any]:
    spec = ingress_class.get("spec") or {}
    parameters = spec.get("parameters")
    shown = "<none>"
    if isinstance(parameters, dict):
        shown = str(parameters.get("kind") or "")
        if parameters.get("apiGroup") is not None:
            shown += "." + str(parameters["apiGroup"])
        shown += "/" + str(parameters.get("name") or "")
    return [name(ingress_class), str(spec.get("controller") or ""), shown, age(ingress_class, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="networking.k8s.io",
            version="v1",
            resource="ingressclasses",
            kind="IngressClass",
            singular="ingressclass",
            namespaced=False,
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": NETWORKING_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
