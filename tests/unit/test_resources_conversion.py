"""HPA autoscaling/v1 ↔ v2 conversion, and identity for everything else."""

from __future__ import annotations

import copy

from kuberya.resources.conversion import METRICS_ANNOTATION
from kuberya.resources.kinds import apply_defaults, convert
from kuberya.resources.types import JSONObject


def _v1() -> JSONObject:
    """What kubectl ≤1.32 ``autoscale deploy web --min=1 --max=10 --cpu-percent=50`` sends."""
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "targetCPUUtilizationPercentage": 50,
        },
    }


def test_v1_to_v2_cpu_target_becomes_a_metric() -> None:
    v2 = convert(_v1(), to_api_version="autoscaling/v2")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
        }
    ]
    assert "targetCPUUtilizationPercentage" not in v2["spec"]
    assert "annotations" not in v2["metadata"]


def test_round_trip_v1_v2_v1() -> None:
    v1 = _v1()
    back = convert(convert(v1, to_api_version="autoscaling/v2"), to_api_version="autoscaling/v1")
    assert back == v1


def test_round_trip_v2_v1_v2_keeps_other_metrics_and_status() -> None:
    v2 = convert(_v1(), to_api_version="autoscaling/v2")
    v2["spec"]["metrics"].append(
        {
            "type": "Pods",
            "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
        }
    )
    v2["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    v2["status"] = {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70}}}],
        "conditions": [{"type": "AbleToScale", "status": "True"}],
    }
    apply_defaults(v2)
    v1 = convert(v2, to_api_version="autoscaling/v1")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 70}
    assert METRICS_ANNOTATION in v1["metadata"]["annotations"]
    assert convert(v1, to_api_version="autoscaling/v2") == v2


def test_v1_writer_changing_the_cpu_target_updates_the_kept_metric() -> None:
    v2 = convert(_v1(), to_api_version="autoscaling/v2")
    v2["spec"]["metrics"].append(
        {
            "type": "Pods",
            "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}},
        }
    )
    v1 = convert(v2, to_api_version="autoscaling/v1")
    v1["spec"]["targetCPUUtilizationPercentage"] = 90
    again = convert(v1, to_api_version="autoscaling/v2")
    assert again["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 90
    assert again["spec"]["metrics"][1]["type"] == "Pods"


def test_identity_for_other_kinds_is_a_copy() -> None:
    cm: JSONObject = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    out = convert(cm, to_api_version="v1")
    assert out == cm and out is not cm
    out["data"]["a"] = "changed"
    assert cm["data"]["a"] == "b"
    original = copy.deepcopy(_v1())
    convert(original, to_api_version="autoscaling/v2")
    assert original == _v1()
