"""The objects fuzzing starts from: a valid ``fuzz-a`` of every served kind.

Path parameters name ``fuzz-a`` or ``fuzz-b`` in the ``fuzz`` namespace (see
:mod:`tests.fuzz.harness`), so a generated get, update, patch or delete lands on an object that
exists only if one was created first. Every stored kind of the registry has one here;
``tests/fuzz/test_seeds.py`` fails for a kind that is served but not seeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from kuberya.resources import kinds
from kuberya.resources.types import ResourceType

FUZZ_NAMESPACE = "fuzz"
OBJECT_NAMES = ("fuzz-a", "fuzz-b")
"""The names path parameters take; ``fuzz-a`` of every kind is created before fuzzing."""


def collection_path(rt: ResourceType, namespace: str = FUZZ_NAMESPACE) -> str:
    """The path objects of ``rt`` are created at, in ``namespace`` when it is namespaced."""
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    return f"{prefix}/namespaces/{namespace}/{rt.resource}" if rt.namespaced else f"{prefix}/{rt.resource}"


def stored_collection(path: str) -> str | None:
    """The seed collection behind an operation's path template: that of the version it is stored as.

    ``/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers/{name}/status`` →
    ``/apis/autoscaling/v2/namespaces/fuzz/horizontalpodautoscalers``; None for a path of no kind.
    """
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"]:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[1] == "{namespace}":
        rest = rest[2:]  # a namespaced resource; ``namespaces/{name}`` is the namespace itself
    rt = kinds.lookup(group, version, rest[0]) if rest else None
    return None if rt is None else collection_path(kinds.storage_type(rt))


def seed_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    """A valid ``fuzz-a`` of every stored kind, as (collection path, object)."""
    ns = f"/api/v1/namespaces/{FUZZ_NAMESPACE}"
    apps = f"/apis/apps/v1/namespaces/{FUZZ_NAMESPACE}"
    meta = {"name": OBJECT_NAMES[0], "labels": {"app": "web"}}
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    workload = {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}
    run_once: dict[str, Any] = {  # a Job's pods may not restart Always
        "metadata": template["metadata"],
        "spec": {**template["spec"], "restartPolicy": "Never"},
    }
    yield "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OBJECT_NAMES[0]}}
    yield "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": meta}
    yield (
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": meta,
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/kuberya-fuzz-pv"},
            },
        },
    )
    storage = "/apis/storage.k8s.io/v1"
    yield (
        f"{storage}/storageclasses",
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta, "provisioner": "example.com/x"},
    )
    yield (
        f"{storage}/csidrivers",
        {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": meta, "spec": {}},
    )
    yield (
        f"{storage}/csinodes",
        {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": meta, "spec": {"drivers": []}},
    )
    yield (
        f"{storage}/volumeattachments",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "VolumeAttachment",
            "metadata": meta,
            "spec": {"attacher": "example.com", "nodeName": "n", "source": {"persistentVolumeName": "pv"}},
        },
    )
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    subjects = [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]
    yield (
        f"{rbac}/clusterroles",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules},
    )
    yield (
        f"{rbac}/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": role_ref,
            "subjects": subjects,
        },
    )
    yield (
        f"{rbac}/namespaces/{FUZZ_NAMESPACE}/roles",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
    )
    yield (
        f"{rbac}/namespaces/{FUZZ_NAMESPACE}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": role_ref,
            "subjects": subjects,
        },
    )
    yield f"{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}
    yield f"{ns}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": "v"}}
    yield f"{ns}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    yield f"{ns}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
    yield (
        f"{ns}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    yield (
        f"{ns}/endpoints",
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
        },
    )
    # events.k8s.io/v1 Events are these, stored once: its fuzz-a is this one.
    yield (
        f"{ns}/events",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta,
            "involvedObject": {"kind": "Pod", "name": OBJECT_NAMES[0], "namespace": FUZZ_NAMESPACE},
            "reason": "Fuzz",
            "message": "seeded",
        },
    )
    yield f"{ns}/podtemplates", {"apiVersion": "v1", "kind": "PodTemplate", "metadata": meta, "template": template}
    yield (
        f"{ns}/replicationcontrollers",
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": meta,
            "spec": {"replicas": 1, "selector": {"app": "web"}, "template": template},
        },
    )
    yield (
        f"{ns}/limitranges",
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": meta,
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]},
        },
    )
    yield (
        f"{ns}/resourcequotas",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta,
            "spec": {"hard": {"pods": "100"}},
        },
    )
    yield (
        f"{ns}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    yield f"{apps}/deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": workload}
    yield f"{apps}/replicasets", {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": workload}
    yield (
        f"{apps}/statefulsets",
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": {**workload, "serviceName": "web"}},
    )
    yield (
        f"{apps}/daemonsets",
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": meta,
            "spec": {"selector": workload["selector"], "template": template},
        },
    )
    yield (
        f"{apps}/controllerrevisions",
        {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "revision": 1, "data": {}},
    )
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": OBJECT_NAMES[0]}
    yield (
        f"/apis/autoscaling/v2/namespaces/{FUZZ_NAMESPACE}/horizontalpodautoscalers",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": 3},
        },
    )
    batch = f"/apis/batch/v1/namespaces/{FUZZ_NAMESPACE}"
    job_spec = {"template": run_once}
    yield f"{batch}/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec}
    yield (
        f"{batch}/cronjobs",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": job_spec}},
        },
    )
    yield (
        f"/apis/discovery.k8s.io/v1/namespaces/{FUZZ_NAMESPACE}/endpointslices",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": meta,
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"port": 80}],
        },
    )
    net = "/apis/networking.k8s.io/v1"
    yield (
        f"{net}/ingressclasses",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": meta,
            "spec": {"controller": "example.com/ingress"},
        },
    )
    yield (
        f"{net}/namespaces/{FUZZ_NAMESPACE}/ingresses",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": {"defaultBackend": {"service": {"name": OBJECT_NAMES[0], "port": {"number": 80}}}},
        },
    )
    yield (
        f"{net}/namespaces/{FUZZ_NAMESPACE}/networkpolicies",
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": {"podSelector": {}}},
    )
    yield (
        f"/apis/policy/v1/namespaces/{FUZZ_NAMESPACE}/poddisruptionbudgets",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    yield (
        f"/apis/coordination.k8s.io/v1/namespaces/{FUZZ_NAMESPACE}/leases",
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {"holderIdentity": "fuzz", "leaseDurationSeconds": 40},
        },
    )
    yield (
        "/apis/node.k8s.io/v1/runtimeclasses",
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": meta, "handler": "runc"},
    )
    yield (
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": meta, "value": 1000},
    )


def create_seed_objects(session: requests.Session, url: str) -> None:
    """The fuzz namespace and a ``fuzz-a`` of every kind in it (existing ones are kept)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FUZZ_NAMESPACE}}
    for path, obj in [("/api/v1/namespaces", namespace), *seed_objects()]:
        answer = session.post(f"{url}{path}", json=obj, timeout=30)
        if answer.status_code not in (201, 409):
            raise AssertionError(f"creating the seed {obj['kind']} failed: {answer.status_code} {answer.text[:500]}")
