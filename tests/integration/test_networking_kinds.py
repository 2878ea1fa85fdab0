"""networking.k8s.io/v1 through real kubectl (1.32 and 1.37): Ingress, IngressClass, NetworkPolicy.

They are stored, defaulted, validated and listed as upstream; kuberya neither routes Ingresses nor
enforces NetworkPolicies yet, and every create and update says so in a Warning that kubectl prints.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from kuberya.client import InvalidError
from kuberya.client.resources import NETWORKPOLICIES
from tests.conftest import Cluster
from tests.integration.conftest import ServedAPI

POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  podSelector:
    matchLabels: {{app: web}}
  egress:
  - to:
    - ipBlock: {{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}
    ports:
    - port: 53
      protocol: UDP
    - port: 443
"""


def test_create_ingress_warns_and_lists_upstream_columns(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    created = cluster.kubectl(
        "create", "ingress", "x", "--rule=foo.com/bar=svc1:8080", "-n", namespace, binary=kubectl_binary
    )
    assert "ingress.networking.k8s.io/x created" in created.stdout
    assert "Warning: Ingress is stored but not yet routed by kuberya" in created.stderr

    table = cluster.kubectl("get", "ing", "-n", namespace, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert table[1].split()[:4] == ["x", "<none>", "foo.com", "80"]  # no address yet

    stored = json.loads(cluster.kubectl("get", "ingress", "x", "-n", namespace, "-o", "json").stdout)
    path = stored["spec"]["rules"][0]["http"]["paths"][0]
    assert path == {
        "path": "/bar",
        "pathType": "Exact",
        "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
    }


def test_the_default_ingress_class_is_given_to_new_ingresses(cluster: Cluster, namespace: str) -> None:
    name = f"default-{uuid.uuid4().hex[:6]}"
    ingress_class = f"""
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: {name}
  annotations: {{ingressclass.kubernetes.io/is-default-class: "true"}}
spec:
  controller: example.com/ingress
  parameters: {{kind: Params, name: p}}
"""
    cluster.kubectl("apply", "-f", "-", input=ingress_class)
    try:
        table = cluster.kubectl("get", "ingressclass", name).stdout.splitlines()
        assert table[0].split() == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
        assert table[1].split()[:3] == [name, "example.com/ingress", "Params/p"]
        cluster.kubectl("create", "ingress", "classless", "--rule=bar.com/=svc:80", "-n", namespace)
        stored = json.loads(cluster.kubectl("get", "ing", "classless", "-n", namespace, "-o", "json").stdout)
        assert stored["spec"]["ingressClassName"] == name
    finally:
        cluster.kubectl("delete", "ingressclass", name, check=False)


def test_a_network_policy_manifest_is_stored_and_listed(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    applied = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=POLICY.format(name="egress-only"), binary=kubectl_binary
    )
    assert "networkpolicy.networking.k8s.io/egress-only created" in applied.stdout
    assert "Warning: NetworkPolicy is stored but not yet enforced by kuberya" in applied.stderr
    table = cluster.kubectl("get", "netpol", "-n", namespace, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    assert table[1].split()[:2] == ["egress-only", "app=web"]
    stored = json.loads(cluster.kubectl("get", "netpol", "egress-only", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]  # upstream's default with egress rules
    assert [p["protocol"] for p in stored["spec"]["egress"][0]["ports"]] == ["UDP", "TCP"]


def test_invalid_objects_are_refused_naming_the_field(cluster: Cluster, namespace: str) -> None:
    bad_policy = POLICY.format(name="bad").replace("except: [10.1.0.0/16]", "except: [192.168.0.0/16]")
    refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad_policy, check=False)
    assert refused.returncode != 0
    assert (
        'The NetworkPolicy "bad" is invalid: spec.egress[0].to[0].ipBlock.except[0]: '
        'Invalid value: "192.168.0.0/16": must be a strict subset of `cidr`' in refused.stderr
    )
    bad_ingress = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
spec:
  rules:
  - host: "*.*.example.com"
  - host: example.com
    http:
      paths:
      - path: /x
        backend: {service: {name: web, port: {number: 80}}}
"""
    refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad_ingress, check=False)
    assert refused.returncode != 0
    assert 'The Ingress "bad" is invalid' in refused.stderr  # kubectl's rendering of the 422
    assert 'spec.rules[0].host: Invalid value: "*.*.example.com": a wildcard DNS-1123 subdomain' in refused.stderr
    assert "spec.rules[1].http.paths[0].pathType: Required value: pathType must be specified" in refused.stderr


async def test_an_invalid_network_policy_is_a_422_naming_the_field(api_server: ServedAPI) -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bad"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]},
    }
    with pytest.raises(InvalidError) as refused:
        await api_server.client.create(NETWORKPOLICIES, policy, namespace="default")
    assert refused.value.status == 422
    causes = refused.value.body["details"]["causes"]
    assert causes == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
            "field": "spec.ingress[0].ports[0].protocol",
        }
    ]
