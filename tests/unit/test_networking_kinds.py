"""networking.k8s.io/v1 NetworkPolicy, Ingress and IngressClass: defaults, validation, Tables, warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kuberya.apiserver.ingressclass import default_class
from kuberya.resources import kinds
from kuberya.resources.kinds import ingress, ingressclass, networkpolicy

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def obj(kind: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z", **meta},
        "spec": spec,
    }


def problems(o: dict[str, Any]) -> dict[str, str]:
    kinds.apply_defaults(o)
    return {c.field: c.message for c in kinds.validate(o)}


# -- NetworkPolicy -------------------------------------------------------------------------------


def test_policy_types_and_port_protocols_default_as_upstream() -> None:
    ingress_only = obj("NetworkPolicy", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})
    kinds.apply_defaults(ingress_only)
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]
    assert ingress_only["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    both = obj("NetworkPolicy", {"podSelector": {}, "egress": [{}]})
    kinds.apply_defaults(both)
    assert both["spec"]["policyTypes"] == ["Ingress", "Egress"]
    given = obj("NetworkPolicy", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
    kinds.apply_defaults(given)
    assert given["spec"]["policyTypes"] == ["Egress"]


def test_invalid_policies_are_refused_naming_the_field() -> None:
    policy = obj(
        "NetworkPolicy",
        {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
            "ingress": [
                {
                    "from": [
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/16", "nope"]}},
                        {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
                        {},
                    ],
                    "ports": [{"port": 0}, {"port": "http", "endPort": 90}, {"port": 90, "endPort": 80}],
                }
            ],
            "policyTypes": ["Sideways"],
        },
    )
    found = problems(policy)
    assert found == {
        "spec.podSelector.matchExpressions[0].values": (
            "Required value: must be specified when `operator` is 'In' or 'NotIn'"
        ),
        "spec.ingress[0].ports[0].port": "Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ingress[0].ports[1].endPort": "Invalid value: 90: may not be specified when `port` is non-numeric",
        "spec.ingress[0].ports[2].endPort": "Invalid value: 90: must be greater than or equal to `port`",
        "spec.ingress[0].from[0].ipBlock.except[1]": 'Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
        "spec.ingress[0].from[0].ipBlock.except[2]": (
            'Invalid value: "nope": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'
        ),
        "spec.ingress[0].from[1]": "Forbidden: may not specify both ipBlock and another peer",
        "spec.ingress[0].from[2]": "Required value: must specify a peer",
        "spec.policyTypes[0]": 'Unsupported value: "Sideways": supported values: "Egress", "Ingress"',
    }


def test_a_policy_table_row_and_its_warning() -> None:
    policy = obj("NetworkPolicy", {"podSelector": {"matchLabels": {"app": "web"}}})
    assert networkpolicy.SPEC.printer is not None
    assert networkpolicy.SPEC.printer(policy, NOW) == ["x", "app=web", "60m"]
    assert networkpolicy.SPEC.printer(obj("NetworkPolicy", {"podSelector": {}}), NOW)[1] == "<none>"
    assert "not yet enforced" in networkpolicy.SPEC.warnings(policy, None)[0]


# -- Ingress -------------------------------------------------------------------------------------


def rule(host: str = "foo.com", **path: Any) -> dict[str, Any]:
    http_path = {"path": "/bar", "pathType": "Prefix", "backend": {"service": {"name": "svc1", "port": {"number": 80}}}}
    return {"host": host, "http": {"paths": [{**http_path, **path}]}}


def test_a_valid_ingress_passes() -> None:
    assert problems(obj("Ingress", {"rules": [rule(), rule("*.foo.com")], "tls": [{"hosts": ["foo.com"]}]})) == {}


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({}, "spec", "Invalid value: null: either `defaultBackend` or `rules` must be specified"),
        (
            {"rules": [rule(pathType=None)]},
            "spec.rules[0].http.paths[0].pathType",
            "Required value: pathType must be specified",
        ),
        (
            {"rules": [rule(pathType="Regex")]},
            "spec.rules[0].http.paths[0].pathType",
            'Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
        ),
        (
            {"rules": [rule(path="bar")]},
            "spec.rules[0].http.paths[0].path",
            'Invalid value: "bar": must be an absolute path',
        ),
        (
            {"rules": [rule(path="/a//b")]},
            "spec.rules[0].http.paths[0].path",
            "Invalid value: \"/a//b\": must not contain '//'",
        ),
        (
            {"rules": [rule("10.0.0.1")]},
            "spec.rules[0].host",
            'Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        ),
        (
            {"rules": [rule(backend={"service": {"name": "svc1"}})]},
            "spec.rules[0].http.paths[0].backend",
            "Required value: port name or number is required",
        ),
        (
            {"rules": [rule(backend={"service": {"name": "Svc1", "port": {"number": 80}}})]},
            "spec.rules[0].http.paths[0].backend.service.name",
            "Invalid value: \"Svc1\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
            "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        (
            {"rules": [rule(backend={})]},
            "spec.rules[0].http.paths[0].backend",
            'Invalid value: "": resource or service backend is required',
        ),
        ({"rules": [rule()], "tls": [{"secretName": "Bad_Name"}]}, "spec.tls[0].secretName", None),
    ],
)
def test_invalid_ingresses_are_refused_naming_the_field(spec: dict[str, Any], field: str, message: str | None) -> None:
    found = problems(obj("Ingress", spec))
    assert field in found, found
    if message is not None:
        assert found[field] == message


def test_a_wildcard_host_must_be_a_single_leading_label() -> None:
    found = problems(obj("Ingress", {"rules": [rule("*.*.foo.com", pathType=None)]}))
    assert list(found) == ["spec.rules[0].host"]  # a bad wildcard host skips the rule's paths, as upstream
    assert "a wildcard DNS-1123 subdomain must start with '*.'" in found["spec.rules[0].host"]


def test_ingress_table_row() -> None:
    assert ingress.SPEC.printer is not None
    many = obj("Ingress", {"ingressClassName": "nginx", "rules": [rule(f"h{i}.com") for i in range(6)], "tls": [{}]})
    many["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"}]}}
    assert ingress.SPEC.printer(many, NOW) == [
        "x",
        "nginx",
        "h0.com,h1.com,h2.com,h3.com + 2 more...",
        "10.0.0.2,lb.e...",  # cut to 16 characters, as upstream
        "80, 443",
        "60m",
    ]
    assert ingress.SPEC.printer(obj("Ingress", {"rules": [{"http": {}}]}), NOW)[1:5] == ["<none>", "*", "", "80"]


def test_ingress_warnings() -> None:
    annotated = obj("Ingress", {"rules": [rule()]}, annotations={"kubernetes.io/ingress.class": "nginx"})
    warnings = ingress.SPEC.warnings(annotated, None)
    assert warnings[0] == (
        "annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"
    )
    assert "not yet routed" in warnings[1]


# -- IngressClass --------------------------------------------------------------------------------


def klass(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    o = obj("IngressClass", spec, **meta)
    del o["metadata"]["namespace"]
    return o


def test_ingress_class_parameters_scope_defaults_to_cluster() -> None:
    c = klass({"controller": "example.com/ingress", "parameters": {"kind": "Params", "name": "p"}})
    assert problems(c) == {}
    assert c["spec"]["parameters"]["scope"] == "Cluster"
    assert ingressclass.SPEC.printer is not None
    assert ingressclass.SPEC.printer(c, NOW) == ["x", "example.com/ingress", "Params/p", "60m"]


def test_invalid_ingress_classes() -> None:
    assert problems(klass({"controller": "nginx"})) == {
        "spec.controller": 'Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'
    }
    namespaced = klass(
        {"controller": "a.io/b", "parameters": {"kind": "P", "name": "p", "scope": "Namespace", "apiGroup": "x.io"}}
    )
    assert problems(namespaced) == {
        "spec.parameters.namespace": "Required value: `parameters.scope` is set to 'Namespace'"
    }
    old = klass({"controller": "a.io/b"})
    new = klass({"controller": "a.io/c"})
    assert {c.field for c in kinds.validate(new, old=old)} == {"spec.controller"}


def test_the_newest_default_class_wins() -> None:
    def marked(name: str, created: str, value: str = "true") -> dict[str, Any]:
        return klass(
            {"controller": "a.io/b"},
            name=name,
            creationTimestamp=created,
            annotations={"ingressclass.kubernetes.io/is-default-class": value},
        )

    assert default_class([]) == ""
    assert default_class([marked("old", "2026-01-01T00:00:00Z"), marked("new", "2026-01-02T00:00:00Z")]) == "new"
    assert default_class([marked("b", "2026-01-01T00:00:00Z"), marked("a", "2026-01-01T00:00:00Z")]) == "a"
    assert default_class([marked("no", "2026-01-03T00:00:00Z", "false")]) == ""
