"""Nothing malformed gets in: the cases found by fuzzing, through real kubectl, the official
client and raw HTTP, each refused with upstream's status and leaving the store unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from tests.adminhttp import AdminHTTP
from tests.conftest import Cluster


@pytest.fixture
def raw(cluster: Cluster) -> Iterator[AdminHTTP]:
    client = AdminHTTP(cluster)
    yield client
    client.close()


@pytest.fixture
def api(cluster: Cluster) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield client
    client.close()


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: payment:v1
        resources: {limits: {cpu: CPU}}
"""


def test_kubectl_apply_of_a_string_replica_count_is_a_bad_request(cluster: Cluster, namespace: str) -> None:
    bad = DEPLOYMENT.replace("REPLICAS", '"three"').replace("CPU", '"1"')
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert "Error from server (BadRequest)" in result.stderr
    assert "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32" in result.stderr
    assert cluster.kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_kubectl_create_of_an_unparseable_quantity_is_a_bad_request(cluster: Cluster, namespace: str) -> None:
    bad = DEPLOYMENT.replace("REPLICAS", "1").replace("CPU", "lots")
    result = cluster.kubectl("create", "-n", namespace, "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert "spec.template.spec.containers[0].resources.limits.cpu: quantities must match" in result.stderr


def test_wrong_types_are_refused_before_anything_is_stored(raw: AdminHTTP, namespace: str, api: Any) -> None:
    base = f"/api/v1/namespaces/{namespace}"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("configmaps", {"metadata": {"name": "a"}, "data": {"a": 1}}, "data.a"),
        ("services", {"metadata": {"name": "s"}, "spec": {"selector": "a", "ports": [{"port": 80}]}}, "spec.selector"),
        ("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": "80"}]}}, "spec.ports[0].port"),
        ("secrets", {"metadata": {"name": "x"}, "data": {"k": "not base64!"}}, "data.k"),
        ("pods", {"metadata": {"name": "p"}, "spec": {"containers": "x"}}, "spec.containers"),
        ("pods", {"metadata": {"name": "p", "labels": ["a"]}, "spec": {"containers": []}}, "metadata.labels"),
    ]
    for resource, body, field in cases:
        status, answer = raw("POST", f"{base}/{resource}", json.dumps(body).encode())
        assert (status, answer["reason"]) == (400, "BadRequest"), (resource, answer)
        assert answer["details"]["causes"][0]["field"] == field
        assert field in answer["message"] or field.rpartition(".")[0] in answer["message"]
    # The official client lists the namespace without a validation error: nothing malformed is there.
    core = kubernetes.client.CoreV1Api(api)
    assert core.list_namespaced_config_map(namespace).items == []
    assert [s.metadata.name for s in core.list_namespaced_service(namespace).items] == []


def test_the_empty_key_is_pruned_not_a_crash(raw: AdminHTTP, namespace: str) -> None:
    status, answer = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", b'{"":null,"metadata":{"name":"e"}}')
    assert status == 201, answer
    assert "" not in answer
    strict = f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict"
    status, answer = raw("POST", strict, b'{"":null,"metadata":{"name":"f"}}')
    assert status == 400 and 'unknown field ""' in answer["message"]


def test_duplicate_keys_follow_field_validation(raw: AdminHTTP, namespace: str) -> None:
    body = b'{"metadata":{"name":"d"},"data":{"a":"1","a":"2"}}'
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, answer = raw("POST", path + "?fieldValidation=Strict", body)
    assert status == 400 and 'strict decoding error: duplicate field "data.a"' in answer["message"]
    status, answer = raw("POST", path, body)
    assert status == 201 and answer["data"] == {"a": "2"}


def test_a_patch_that_produces_a_wrong_type_is_invalid_and_changes_nothing(
    raw: AdminHTTP, namespace: str, cluster: Cluster
) -> None:
    cluster.kubectl("create", "configmap", "c", "-n", namespace, "--from-literal=a=1")
    path = f"/api/v1/namespaces/{namespace}/configmaps/c"
    _, before = raw("GET", path)
    for content_type, patch in [
        ("application/merge-patch+json", {"data": {"a": 2}}),
        ("application/strategic-merge-patch+json", {"data": {"a": True}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/data", "value": ["x"]}]),
    ]:
        status, answer = raw("PATCH", path, json.dumps(patch).encode(), content_type)
        assert (status, answer["reason"]) == (422, "Invalid"), answer
        assert answer["details"]["causes"][0]["field"].startswith("data")
    _, after = raw("GET", path)
    assert after == before


def test_scale_and_delete_options_are_decoded(raw: AdminHTTP, namespace: str, cluster: Cluster) -> None:
    cluster.kubectl("create", "deployment", "w", "-n", namespace, "--image=payment:v1")
    scale = f"/apis/apps/v1/namespaces/{namespace}/deployments/w/scale"
    status, answer = raw("PATCH", scale, b'{"spec":{"replicas":"3"}}', "application/merge-patch+json")
    assert status == 400 and answer["details"]["causes"][0]["field"] == "spec.replicas"
    status, answer = raw(
        "DELETE", f"/apis/apps/v1/namespaces/{namespace}/deployments/w", b'{"gracePeriodSeconds":"now"}'
    )
    assert status == 400 and answer["details"]["causes"][0]["field"] == "gracePeriodSeconds"
    status, _ = raw("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/w")
    assert status == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 100_000, "application/json"),
        (b'{"metadata":{"name":"n"},"data":{"a":NaN}}', "application/json"),
        (b"metadata: {name: y}\ndata: {a: .inf}\n", "application/yaml"),
        (b"a: &a [*a]\n", "application/yaml"),
    ],
    ids=["deep", "nan", "yaml-inf", "yaml-recursive"],
)
def test_bodies_go_would_not_parse_are_bad_requests(
    raw: AdminHTTP, namespace: str, body: bytes, content_type: str
) -> None:
    status, answer = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, content_type)
    assert (status, answer["reason"]) == (400, "BadRequest"), answer
