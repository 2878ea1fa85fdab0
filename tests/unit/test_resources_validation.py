"""Validation causes for the mistakes users actually make, worded as upstream."""

from __future__ import annotations

import copy

import pytest

from kuberya.resources.kinds import apply_defaults, validate
from kuberya.resources.types import Cause, JSONObject

pytestmark = pytest.mark.unit


def _deployment(**spec_changes: object) -> JSONObject:
    deploy: JSONObject = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    deploy["spec"].update(spec_changes)
    apply_defaults(deploy)
    return deploy


def _fields(causes: list[Cause]) -> dict[str, Cause]:
    return {c.field: c for c in causes}


def test_valid_deployment_has_no_causes() -> None:
    assert validate(_deployment()) == []


def test_name_required_unless_generate_name() -> None:
    deploy = _deployment()
    del deploy["metadata"]["name"]
    (cause,) = validate(deploy)
    assert cause == Cause("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
    deploy["metadata"]["generateName"] = "web-"
    assert validate(deploy) == []


def test_invalid_names_per_kind() -> None:
    deploy = _deployment()
    deploy["metadata"]["name"] = "Web_1"
    cause = _fields(validate(deploy))["metadata.name"]
    assert cause.reason == "FieldValueInvalid"
    assert cause.message.startswith('Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of')
    svc: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "1web"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert "DNS-1035 label" in _fields(validate(svc))["metadata.name"].message
    ns: JSONObject = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    assert "RFC 1123 label" in _fields(validate(ns))["metadata.name"].message


def test_label_syntax() -> None:
    deploy = _deployment()
    deploy["metadata"]["labels"] = {"bad key": "ok", "ok": "bad value"}
    messages = [c.message for c in validate(deploy) if c.field == "metadata.labels"]
    assert any(m.startswith('Invalid value: "bad key": name part must consist of') for m in messages)
    assert any(m.startswith('Invalid value: "bad value": a valid label must be') for m in messages)


def test_selector_must_match_template_labels() -> None:
    deploy = _deployment(selector={"matchLabels": {"app": "other"}})
    cause = _fields(validate(deploy))["spec.template.metadata.labels"]
    assert cause.message == (
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`'
    )


def test_selector_required_and_immutable() -> None:
    deploy = _deployment()
    del deploy["spec"]["selector"]
    assert _fields(validate(deploy))["spec.selector"].message == "Required value"
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    cause = _fields(validate(new, old=old))["spec.selector"]
    assert cause.message.endswith(": field is immutable")


def test_replicas_strategy_and_template_restart_policy() -> None:
    deploy = _deployment(replicas=-1, strategy={"type": "Sideways"})
    deploy["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    causes = _fields(validate(deploy))
    assert causes["spec.replicas"].message == "Invalid value: -1: must be greater than or equal to 0"
    assert causes["spec.strategy.type"].message == (
        'Unsupported value: "Sideways": supported values: "Recreate", "RollingUpdate"'
    )
    assert causes["spec.template.spec.restartPolicy"].reason == "FieldValueNotSupported"


def test_pod_container_errors() -> None:
    pod: JSONObject = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "restartPolicy": "Sometimes",
            "containers": [
                {"name": "c", "image": "x", "ports": [{"containerPort": 70000}]},
                {"name": "c"},
            ],
        },
    }
    causes = _fields(validate(pod))
    assert causes["spec.containers[0].ports[0].containerPort"].message == (
        "Invalid value: 70000: must be between 1 and 65535, inclusive"
    )
    assert causes["spec.containers[1].name"] == Cause(
        "spec.containers[1].name", "FieldValueDuplicate", 'Duplicate value: "c"'
    )
    assert causes["spec.containers[1].image"].message == "Required value"
    assert causes["spec.restartPolicy"].message == (
        'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'
    )
    empty: JSONObject = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": []},
    }
    assert _fields(validate(empty))["spec.containers"].message == "Required value"


def test_pod_update_may_change_only_images() -> None:
    old: JSONObject = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]},
    }
    apply_defaults(old)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "x:2"
    new["spec"]["nodeName"] = "node1"  # binding, once
    assert validate(new, old=old) == []
    new["spec"]["containers"][0]["command"] = ["sh"]
    (cause,) = validate(new, old=old)
    assert cause.field == "spec" and cause.reason == "FieldValueForbidden"


def test_service_errors() -> None:
    svc: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "Nope"},
    }
    causes = _fields(validate(svc))
    assert causes["spec.type"].reason == "FieldValueNotSupported"
    assert causes["spec.ports"].message == "Required value"
    svc["spec"] = {"ports": [{"port": 0}, {"port": 80}]}
    causes = _fields(validate(svc))
    assert causes["spec.ports[0].port"].message == "Invalid value: 0: must be between 1 and 65535, inclusive"
    assert causes["spec.ports[1].name"].message == "Required value"
    headless: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"clusterIP": "None"},
    }
    assert validate(headless) == []


def test_service_cluster_ip_is_immutable() -> None:
    old: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"], "ports": [{"port": 80}]},
    }
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.6"
    new["spec"]["clusterIPs"] = ["10.96.0.6"]
    (cause,) = validate(new, old=old)
    assert cause.field == "spec.clusterIPs[0]" and cause.message.endswith("may not change once set")


def test_config_keys() -> None:
    cm: JSONObject = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"ok.key": "1", "bad/key": "2"},
    }
    (cause,) = validate(cm)
    assert cause.field == "data[bad/key]"
    assert cause.message.startswith('Invalid value: "bad/key": a valid config key must consist of')


def test_hpa_replica_bounds_and_target() -> None:
    hpa: JSONObject = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1"}, "minReplicas": 3, "maxReplicas": 2},
    }
    causes = _fields(validate(hpa))
    assert causes["spec.scaleTargetRef.kind"].message == "Required value"
    assert causes["spec.scaleTargetRef.name"].message == "Required value"
    assert causes["spec.maxReplicas"].message == "Invalid value: 2: must be greater than or equal to `minReplicas`"
    hpa["spec"] = {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 0,
        "maxReplicas": 3,
    }
    assert _fields(validate(hpa))["spec.minReplicas"].message == "Invalid value: 0: must be greater than or equal to 1"


@pytest.mark.parametrize("name", ["º", "Web", "a b", "web_1", "-web"])
def test_hpa_name_is_a_dns_subdomain(name: str) -> None:
    # Found by the fuzz tier: HPAs named "º" were stored (a path-segment rule instead of upstream's subdomain).
    hpa: JSONObject = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3},
    }
    (cause,) = validate(hpa)
    assert cause.field == "metadata.name"
    assert "a lowercase RFC 1123 subdomain" in cause.message
    hpa["metadata"]["name"] = "web.v1"
    assert validate(hpa) == []


def test_volume_mounts_name_a_volume_at_a_unique_path_below_it() -> None:
    pod: JSONObject = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data", "subPath": "/etc"},
                        {"name": "data", "mountPath": "/data", "subPathExpr": "../$(POD_NAME)", "subPath": "x"},
                        {"name": "nope", "mountPath": "/other"},
                    ],
                }
            ],
        },
    }
    causes = {(c.field, c.message) for c in validate(pod)}
    mounts = "spec.containers[0].volumeMounts"
    assert causes == {
        (f"{mounts}.subPath", 'Invalid value: "/etc": must be a relative path'),
        (f"{mounts}[1].mountPath", 'Invalid value: "/data": must be unique'),
        (f"{mounts}[1].subPathExpr", 'Invalid value: "../$(POD_NAME)": subPathExpr and subPath are mutually exclusive'),
        (f"{mounts}.subPathExpr", "Invalid value: \"../$(POD_NAME)\": must not contain '..'"),
        (f"{mounts}[2].name", 'Not found: "nope"'),
    }
