"""Table cells for representative objects, as ``kubectl get`` (1.32 printers) shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kuberya.resources import kinds
from kuberya.resources.printers import human_duration, table_columns, table_row_cells
from kuberya.resources.types import JSONObject, ResourceType

NOW = datetime(2025, 1, 1, 1, 0, 0, tzinfo=UTC)
CREATED = "2025-01-01T00:50:00Z"  # 10 minutes before NOW


def _rt(group: str, version: str, resource: str) -> ResourceType:
    rt = kinds.lookup(group, version, resource)
    assert rt is not None
    return rt


PODS = _rt("", "v1", "pods")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (190, "3m10s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 60 * 5, "7h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _pod(status: JSONObject, **meta: object) -> JSONObject:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "creationTimestamp": CREATED, **meta},
        "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "node1"},
        "status": status,
    }


def test_pod_columns_and_wide_cells() -> None:
    columns = table_columns(PODS)
    assert [c["name"] for c in columns] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    assert [c["priority"] for c in columns] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert columns[0]["format"] == "name"


def test_running_pod() -> None:
    pod = _pod(
        {
            "phase": "Running",
            "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0, "state": {"running": {}}}],
        }
    )
    assert table_row_cells(PODS, pod, now=NOW) == [
        "web-1",
        "1/1",
        "Running",
        "0",
        "10m",
        "10.0.0.5",
        "node1",
        "<none>",
        "<none>",
    ]


def test_pending_pod_creating_containers() -> None:
    pod = _pod(
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
            ],
        }
    )
    cells = table_row_cells(PODS, pod, now=NOW)
    assert cells[1:4] == ["0/1", "ContainerCreating", "0"]
    assert cells[5] == "<none>"
    assert table_row_cells(PODS, _pod({"phase": "Pending"}), now=NOW)[2] == "Pending"


def test_crash_looping_pod_shows_last_restart() -> None:
    pod = _pod(
        {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-01-01T00:58:00Z"}
                    },
                }
            ],
        }
    )
    assert table_row_cells(PODS, pod, now=NOW)[1:4] == ["0/1", "CrashLoopBackOff", "5 (2m ago)"]


def test_terminating_completed_and_init_pods() -> None:
    running: JSONObject = {
        "phase": "Running",
        "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {}}}],
    }
    assert table_row_cells(PODS, _pod(running, deletionTimestamp=CREATED), now=NOW)[2] == "Terminating"
    done: JSONObject = {
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "c", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ],
    }
    assert table_row_cells(PODS, _pod(done), now=NOW)[2] == "Completed"
    assert table_row_cells(PODS, _pod(done, deletionTimestamp=CREATED), now=NOW)[2] == "Completed"
    init = _pod(
        {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "i", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
        }
    )
    init["spec"]["initContainers"] = [{"name": "i", "image": "x"}]
    assert table_row_cells(PODS, init, now=NOW)[2] == "Init:0/1"


def test_deployment_and_replica_set() -> None:
    deploy: JSONObject = {
        "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": CREATED},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    rt = _rt("apps", "v1", "deployments")
    assert [c["name"] for c in table_columns(rt)] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert table_row_cells(rt, deploy, now=NOW) == ["web", "2/3", 3, 2, "10m", "a,b", "a:1,b:2", "app=web"]
    rs: JSONObject = {**deploy, "kind": "ReplicaSet", "status": {"replicas": 3, "readyReplicas": 1}}
    assert table_row_cells(_rt("apps", "v1", "replicasets"), rs, now=NOW)[:4] == ["web", 3, 3, 1]


def _service(spec: JSONObject, status: JSONObject | None = None) -> JSONObject:
    return {
        "kind": "Service",
        "metadata": {"name": "svc", "creationTimestamp": CREATED},
        "spec": spec,
        "status": status or {"loadBalancer": {}},
    }


def test_services() -> None:
    rt = _rt("", "v1", "services")
    cluster_ip = _service(
        {
            "type": "ClusterIP",
            "clusterIPs": ["10.96.0.10"],
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP"}],
        }
    )
    assert table_row_cells(rt, cluster_ip, now=NOW) == [
        "svc",
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "80/TCP",
        "10m",
        "app=web",
    ]
    node_port = _service(
        {
            "type": "NodePort",
            "clusterIPs": ["10.96.0.11"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
        }
    )
    assert table_row_cells(rt, node_port, now=NOW)[2:5] == ["10.96.0.11", "<none>", "80:30080/TCP"]
    pending = _service({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": []})
    assert table_row_cells(rt, pending, now=NOW)[3:5] == ["<pending>", "<none>"]
    ready = _service(
        {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"]},
        {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    )
    assert table_row_cells(rt, ready, now=NOW)[3] == "192.0.2.1"
    assert table_row_cells(rt, _service({"type": "ClusterIP", "clusterIP": "None"}), now=NOW)[6] == "<none>"


def test_hpa_targets() -> None:
    rt = _rt("autoscaling", "v2", "horizontalpodautoscalers")
    hpa: JSONObject = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "creationTimestamp": CREATED},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2},
    }
    assert table_row_cells(rt, hpa, now=NOW) == [
        "web",
        "Deployment/web",
        "cpu: <unknown>/80%",
        "1",
        10,
        2,
        "10m",
    ]
    hpa["status"]["currentMetrics"] = [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10}}}
    ]
    assert table_row_cells(rt, hpa, now=NOW)[2] == "cpu: 10%/80%"


def test_nodes_events_and_default_table() -> None:
    node: JSONObject = {
        "kind": "Node",
        "metadata": {
            "name": "n1",
            "creationTimestamp": CREATED,
            "labels": {"node-role.kubernetes.io/control-plane": ""},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }
    assert table_row_cells(_rt("", "v1", "nodes"), node, now=NOW)[:6] == [
        "n1",
        "Ready",
        "control-plane",
        "10m",
        "v1.32.0",
        "10.0.0.1",
    ]
    event: JSONObject = {
        "kind": "Event",
        "metadata": {"name": "e1"},
        "type": "Normal",
        "reason": "Scheduled",
        "message": " hi ",
        "involvedObject": {"kind": "Pod", "name": "web-1"},
        "firstTimestamp": CREATED,
        "source": {"component": "scheduler"},
    }
    assert table_row_cells(_rt("", "v1", "events"), event, now=NOW) == [
        "10m",
        "Normal",
        "Scheduled",
        "pod/web-1",
        "",
        "scheduler",
        "hi",
        "10m",
        1,
        "e1",
    ]
    limits = _rt("", "v1", "limitranges")
    assert [c["name"] for c in table_columns(limits)] == ["Name", "Created At"]
    assert table_row_cells(limits, {"metadata": {"name": "l", "creationTimestamp": CREATED}}, now=NOW) == [
        "l",
        CREATED,
    ]
