"""Defaulting gives the shapes upstream stores."""

from __future__ import annotations

import base64
import copy

import pytest

from kuberya.resources.defaults import image_pull_policy, secret_string_data_to_data
from kuberya.resources.kinds import apply_defaults
from kuberya.resources.types import JSONObject


def _created_deployment() -> JSONObject:
    """What ``kubectl create deployment web --image=nginx --replicas=2`` sends (as JSON)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
            },
            "strategy": {},
        },
        "status": {},
    }


def test_created_deployment_gets_upstream_stored_shape() -> None:
    deploy = _created_deployment()
    apply_defaults(deploy)
    assert deploy["spec"] == {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx",
                        "resources": {},
                        "imagePullPolicy": "Always",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
    }


def test_defaulting_is_idempotent() -> None:
    deploy = _created_deployment()
    apply_defaults(deploy)
    again = copy.deepcopy(deploy)
    apply_defaults(again)
    assert again == deploy


def test_recreate_strategy_gets_no_rolling_update() -> None:
    deploy = _created_deployment()
    deploy["spec"]["strategy"] = {"type": "Recreate"}
    apply_defaults(deploy)
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_pod_defaults_include_probes_ports_env_and_pod_only_fields() -> None:
    pod: JSONObject = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "app:v1",
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"port": 8080}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "resources": {"limits": {"cpu": "1"}},
                }
            ],
            "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "cfg"}}],
        },
    }
    apply_defaults(pod)
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"] == {
        "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert container["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert spec["volumes"][0] == {"name": "scratch", "emptyDir": {}}
    assert spec["volumes"][1]["configMap"]["defaultMode"] == 420
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == "default"
    assert pod["status"] == {"phase": "Pending", "qosClass": "Burstable"}


def test_service_defaults() -> None:
    svc: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    apply_defaults(svc)
    spec = svc["spec"]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["sessionAffinity"] == "None"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert "clusterIP" not in spec and "nodePort" not in spec["ports"][0]
    plain: JSONObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 1}]},
    }
    apply_defaults(plain)
    assert plain["spec"]["type"] == "ClusterIP" and "externalTrafficPolicy" not in plain["spec"]


def test_namespace_secret_hpa_defaults() -> None:
    ns: JSONObject = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}
    apply_defaults(ns)
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "dev"}

    secret: JSONObject = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"k": "v"},
    }
    apply_defaults(secret)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"k": base64.b64encode(b"v").decode()} and "stringData" not in secret

    hpa: JSONObject = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "behavior": {}},
    }
    apply_defaults(hpa)
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert hpa["spec"]["behavior"]["scaleUp"]["policies"][0] == {
        "type": "Pods",
        "value": 4,
        "periodSeconds": 15,
    }
    assert "stabilizationWindowSeconds" not in hpa["spec"]["behavior"]["scaleDown"]


def test_string_data_overrides_data() -> None:
    secret: JSONObject = {"data": {"k": "b2xk"}, "stringData": {"k": "new"}}
    secret_string_data_to_data(secret)
    assert secret == {"data": {"k": base64.b64encode(b"new").decode()}}
