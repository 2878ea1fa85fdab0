from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kuberya.resources.schema import (
    KNOWN_GROUP_VERSIONS,
    group_version_path,
    openapi_v3_document,
    openapi_v3_document_json,
    openapi_v3_index,
)
from kuberya.resources.schema.catalog import SERVED_RESOURCES
from kuberya.resources.schema.decode import decode_object, format_path
from kuberya.resources.schema.definitions import definitions, resolve

REPO = Path(__file__).resolve().parents[2]
REF = "#/components/schemas/"


def unknown_fields(api_version: str, kind: str, obj: dict[str, Any]) -> list[str]:
    """The unknown fields the typed decoder finds (and prunes) in a copy of ``obj``."""
    found = decode_object(api_version, kind, copy.deepcopy(obj))
    return [format_path(p) for p in found.unknown]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", REPO / "scripts" / "gen_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What `kubectl create deployment web --image=nginx --replicas=2 -o json --dry-run=client` sends,
# completed with what the server adds (managedFields, status).
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "creationTimestamp": None,
        "labels": {"app": "web"},
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "generation": 1,
        "resourceVersion": "12",
        "uid": "0b9b0c6e-8d8e-4a4c-9c1e-2d1f5a0f7e11",
        "managedFields": [
            {
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2026-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}},
            }
        ],
    },
    "spec": {
        "replicas": 2,
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}],
        },
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "Always",
                    }
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
    },
    "status": {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            }
        ],
    },
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "web"},
        "clusterIP": "10.0.0.10",
        "clusterIPs": ["10.0.0.10"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "externalTrafficPolicy": "Cluster",
        "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
            {"name": "named", "port": 81, "targetPort": "http", "protocol": "TCP"},
        ],
    },
    "status": {"loadBalancer": {}},
}

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "p",
        "namespace": "default",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": "u",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "args": ["--port", "8080"],
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}},
                ],
                "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
                "livenessProbe": {
                    "httpGet": {
                        "path": "/healthz",
                        "port": "http",
                        "scheme": "HTTP",
                        "httpHeaders": [{"name": "X", "value": "y"}],
                    },
                    "initialDelaySeconds": 3,
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "readinessProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 1, "successThreshold": 1},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}, "postStart": {"exec": {"command": ["true"]}}},
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/app", "readOnly": True},
                    {"name": "scratch", "mountPath": "/tmp", "subPath": "x"},
                ],
                "securityContext": {
                    "runAsUser": 1000,
                    "capabilities": {"drop": ["ALL"]},
                    "allowPrivilegeEscalation": False,
                },
            }
        ],
        "volumes": [
            {"name": "config", "configMap": {"name": "cm", "items": [{"key": "a", "path": "a.conf"}]}},
            {"name": "secret", "secret": {"secretName": "s", "defaultMode": 420}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi", "medium": "Memory"}},
            {"name": "host", "hostPath": {"path": "/data", "type": "DirectoryOrCreate"}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "c"}},
            {
                "name": "proj",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                ]
                            }
                        },
                    ]
                },
            },
        ],
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "p"}},
                        },
                    }
                ]
            }
        },
    },
    "status": {
        "phase": "Running",
        "podIP": "10.1.0.5",
        "podIPs": [{"ip": "10.1.0.5"}],
        "hostIP": "127.0.0.1",
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "containerStatuses": [
            {
                "name": "app",
                "ready": True,
                "restartCount": 0,
                "image": "app:1",
                "imageID": "sha256:x",
                "containerID": "runc://abc",
                "started": True,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    },
}


@pytest.mark.parametrize("obj", [DEPLOYMENT, SERVICE, POD], ids=["deployment", "service", "pod"])
def test_known_objects_have_no_unknown_fields(obj: dict[str, Any]) -> None:
    assert unknown_fields(obj["apiVersion"], obj["kind"], obj) == []


def test_unknown_fields_are_reported_at_depth_in_document_order() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["foo"] = 1
    obj["metadata"]["bogus"] = "x"
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["imagee"] = "nginx"
    container["ports"] = [{"containerPort": 80}, {"containerPort": 81, "hostPortt": 1}]
    obj["spec"]["strategy"]["rollingUpdate"]["maxSurgee"] = 1
    obj["spec"]["template"]["spec"]["volumes"] = [{"name": "v", "emptyDir": {"sizeLimit": "1Gi", "x": 1}}]
    assert unknown_fields("apps/v1", "Deployment", obj) == [
        "metadata.bogus",
        "spec.strategy.rollingUpdate.maxSurgee",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.containers[0].ports[1].hostPortt",
        "spec.template.spec.volumes[0].emptyDir.x",
        "spec.foo",
    ]


def test_maps_accept_any_key() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"any/key": "v"}, "annotations": {"whatever": "x"}},
        "data": {"anything": "goes", "spec": "x"},
        "binaryData": {"b": "AA=="},
    }
    assert unknown_fields("v1", "ConfigMap", obj) == []
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q"},
        "spec": {"hard": {"pods": "10", "requests.cpu": "4"}},
        "status": {"used": {"pods": "1"}},
    }
    assert unknown_fields("v1", "ResourceQuota", quota) == []


def test_every_served_kind_is_checked() -> None:
    for resource in SERVED_RESOURCES:
        obj = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": "x"}, "nope": 1}
        assert unknown_fields(resource.api_version, resource.kind, obj) == ["nope"], resource.kind


@pytest.mark.parametrize(
    ("api_version", "kind", "obj", "expected"),
    [
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50, "targetValue": 1},
                            },
                        }
                    ],
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    },
                },
            },
            ["spec.metrics[0].resource.target.targetValue"],
        ),
        (
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            {
                "spec": {
                    "scaleTargetRef": {"kind": "Deployment", "name": "web"},
                    "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 80,
                    "metrics": [],
                },
            },
            ["spec.metrics"],
        ),
        ("autoscaling/v1", "Scale", {"spec": {"replicas": 3}, "status": {"replicas": 1, "selector": "a=b"}}, []),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            {
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "x"}],
                "endpoints": [
                    {
                        "addresses": ["10.1.0.5"],
                        "conditions": {"ready": True, "serving": True},
                        "targetRef": {"kind": "Pod", "name": "p"},
                        "nodeName": "n",
                        "zone": "z",
                        "topology": {},
                    }
                ],
            },
            ["endpoints[0].topology"],
        ),
        ("v1", "Endpoints", {"subsets": [{"addresses": [{"ip": "10.1.0.5"}], "ports": [{"port": 80}]}]}, []),
        (
            "v1",
            "Event",
            {
                "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": "Pulled",
                "type": "Normal",
                "source": {"component": "kubelet"},
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "count": 1,
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "series": {"count": 2, "lastObservedTime": None},
            },
            [],
        ),
        (
            "v1",
            "DeleteOptions",
            {
                "propagationPolicy": "Foreground",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "u"},
                "dryRun": ["All"],
                "force": True,
            },
            ["force"],
        ),
        (
            "v1",
            "Node",
            {
                "status": {"capacity": {"cpu": "2"}, "nodeInfo": {"kubeletVersion": "v1.37.0"}},
                "spec": {"podCIDR": "10.1.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
            },
            [],
        ),
        (
            "v1",
            "LimitRange",
            {
                "spec": {
                    "limits": [{"type": "Container", "default": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "2"}}]
                }
            },
            [],
        ),
    ],
)
def test_other_kinds(api_version: str, kind: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert unknown_fields(api_version, kind, {"apiVersion": api_version, "kind": kind, **obj}) == expected


def test_unknown_kinds_pass_unchecked() -> None:
    assert unknown_fields("example.com/v1", "Widget", {"spec": {"anything": 1}}) == []
    assert unknown_fields("apps/v2", "Deployment", {"spec": {"foo": 1}}) == []


def test_the_data_file_ships_as_package_data() -> None:
    data = resources.files("kuberya.resources.schema").joinpath("definitions.json")
    assert data.is_file()
    assert len(data.read_bytes()) < 1_500_000
    deployment = definitions()["io.k8s.api.apps.v1.Deployment"]
    gvk = {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert deployment["x-kubernetes-group-version-kind"] == [gvk]


def test_definitions_have_upstream_names_and_shapes() -> None:
    defs = definitions()
    int_or_string = defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["format"] == "int-or-string"
    time = defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
    assert (time["type"], time["format"]) == ("string", "date-time")
    spec = defs["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["required"] == ["selector", "template"]
    assert spec["properties"]["template"] == {"allOf": [{"$ref": REF + "io.k8s.api.core.v1.PodTemplateSpec"}]}
    selector = defs["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]
    assert resolve(spec["properties"]["selector"]) is selector
    surge = defs["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert surge["allOf"] == [{"$ref": REF + "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    limits = defs["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {
        "allOf": [{"$ref": REF + "io.k8s.apimachinery.pkg.api.resource.Quantity"}],
    }
    image = defs["io.k8s.api.core.v1.Container"]["properties"]["image"]
    assert "Container image name." in image["description"]
    assert defs["io.k8s.api.core.v1.Event"]["x-kubernetes-group-version-kind"][0]["kind"] == "Event"
    assert "io.k8s.api.discovery.v1.EndpointPort" in defs
    assert "io.k8s.api.core.v1.EndpointPort" in defs


def test_generator_output_matches_the_committed_file() -> None:
    pytest.importorskip("kubernetes")
    generator = _generator()
    data = resources.files("kuberya.resources.schema").joinpath("definitions.json")
    committed = data.read_text(encoding="utf-8")
    assert generator.render(generator.build_definitions()) == committed, "run: python scripts/gen_schemas.py"


def test_generator_refuses_to_guess_a_group() -> None:
    pytest.importorskip("kubernetes")
    generator = _generator()
    assert generator.definition_for_class("CoreV1Event") == "io.k8s.api.core.v1.Event"
    assert generator.definition_for_class("V1Endpoint") == "io.k8s.api.discovery.v1.Endpoint"
    assert generator.definition_for_class("V1Endpoints") == "io.k8s.api.core.v1.Endpoints"
    with pytest.raises(SystemExit):
        generator.definition_for_class("V1beta1Widget")


def test_index_lists_every_group_version_with_its_content_hash() -> None:
    paths = openapi_v3_index()["paths"]
    assert list(paths) == [
        "api/v1",
        "apis/apps/v1",
        "apis/autoscaling/v1",
        "apis/autoscaling/v2",
        "apis/batch/v1",
        "apis/scheduling.k8s.io/v1",
        "apis/discovery.k8s.io/v1",
        "apis/authentication.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
        "apis/coordination.k8s.io/v1",
        "apis/events.k8s.io/v1",
        "apis/networking.k8s.io/v1",
        "apis/node.k8s.io/v1",
        "apis/policy/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/storage.k8s.io/v1",
    ]
    assert len(KNOWN_GROUP_VERSIONS) == len(paths)
    for path, entry in paths.items():
        body = openapi_v3_document_json(path)
        assert body is not None
        digest = hashlib.sha512(body).hexdigest().upper()
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={digest}"
    assert openapi_v3_index() == {"paths": paths}


def _patch_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p: item["patch"] for p, item in document["paths"].items() if "patch" in item}


def test_apps_document_lets_kubectl_delegate_validation() -> None:
    document = openapi_v3_document("apis/apps/v1")
    assert document is not None
    assert document["openapi"].startswith("3.0")
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert "requestBody" not in patch
    scale = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "kind": "Scale",
        "version": "v1",
    }
    assert "/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/status" in document["paths"]
    collection = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert set(collection) >= {"get", "post"}
    assert collection["get"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    schemas = document["components"]["schemas"]
    assert {"io.k8s.api.apps.v1.Deployment", "io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.core.v1.PodSpec"} <= set(
        schemas
    )
    assert "io.k8s.api.core.v1.Service" not in schemas


@pytest.mark.parametrize("path", [group_version_path(gv) for gv in KNOWN_GROUP_VERSIONS])
def test_every_document_is_self_contained_and_every_patch_takes_field_validation(path: str) -> None:
    document = openapi_v3_document(path)
    assert document is not None
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in document["components"]["schemas"], ref
    patches = _patch_operations(document)
    # The review groups (authentication, authorization) serve create-only resources: no PATCH.
    assert patches or path in ("apis/authentication.k8s.io/v1", "apis/authorization.k8s.io/v1")
    for operation in patches.values():
        names = {(p["name"], p["in"]) for p in operation["parameters"]}
        assert {("fieldValidation", "query"), ("dryRun", "query")} <= names
    for item in document["paths"].values():
        for verb in ("get", "put", "post", "patch", "delete"):
            if verb in item:
                assert "x-kubernetes-group-version-kind" in item[verb]


def test_core_document_scopes() -> None:
    document = openapi_v3_document("api/v1")
    assert document is not None
    paths = document["paths"]
    assert "/api/v1/namespaces/{name}" in paths
    assert "/api/v1/nodes/{name}/status" in paths
    assert "/api/v1/namespaces/{namespace}/pods/{name}" in paths
    assert "/api/v1/pods" in paths
    assert "/api/v1/namespaces/{namespace}/nodes/{name}" not in paths
    kinds = {op["x-kubernetes-group-version-kind"]["kind"] for op in _patch_operations(document).values()}
    assert kinds == {
        "Namespace",
        "Pod",
        "Service",
        "Endpoints",
        "ConfigMap",
        "Secret",
        "Event",
        "PodTemplate",
        "ReplicationController",
        "Scale",  # replicationcontrollers/scale, as upstream's api/v1 document has it
        "Node",
        "ServiceAccount",
        "ResourceQuota",
        "LimitRange",
        "PersistentVolumeClaim",
        "PersistentVolume",
    }


def test_documents_are_copies_and_unknown_paths_are_none() -> None:
    first = openapi_v3_document("apis/autoscaling/v2")
    assert first is not None
    first["paths"].clear()
    again = openapi_v3_document("apis/autoscaling/v2")
    assert again is not None and again["paths"]
    assert openapi_v3_document("apis/example.com/v1") is None
    assert openapi_v3_document_json("apis/example.com/v1") is None
