"""LimitRange defaults and bounds, as upstream's LimitRanger applies them (kuberya.apiserver.limitranger)."""

from __future__ import annotations

from typing import Any

from kuberya.apiserver.limitranger import claim_problems, mutate_pod, pod_problems
from kuberya.resources.kinds.limitrange import SPEC as LIMIT_RANGE


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"}, "spec": {"limits": list(items)}}
    LIMIT_RANGE.defaults(lr)
    return lr


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"qosClass": "BestEffort"}}


def test_the_limit_range_defaults_its_items_as_upstream() -> None:
    lr = limit_range({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "16Mi"}})
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1"}  # default limit from max
    assert item["defaultRequest"] == {"cpu": "1", "memory": "16Mi"}  # request from default, then min
    pod_item = limit_range({"type": "Pod", "max": {"cpu": "1"}})["spec"]["limits"][0]
    assert "default" not in pod_item


def test_containers_without_resources_get_the_defaults() -> None:
    lr = limit_range({"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}})
    p = pod({"name": "web"}, {"name": "side", "resources": {"requests": {"cpu": "200m"}}}, init=[{"name": "init"}])
    mutate_pod([lr], p)
    web, side = p["spec"]["containers"]
    assert web["resources"] == {"limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}}
    assert side["resources"] == {"limits": {"cpu": "500m"}, "requests": {"cpu": "200m"}}  # its own request kept
    assert p["spec"]["initContainers"][0]["resources"]["limits"] == {"cpu": "500m"}
    assert p["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu request for container web; cpu limit for container web; "
        "cpu limit for container side; cpu request for init container init; cpu limit for init container init"
    )
    assert p["status"]["qosClass"] == "Burstable"  # recomputed from what was filled in


def test_a_pod_with_its_own_resources_is_left_alone() -> None:
    lr = limit_range({"type": "Container", "default": {"cpu": "500m"}})
    p = pod({"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}})
    mutate_pod([lr], p)
    assert "annotations" not in p["metadata"]


def test_container_bounds_with_upstream_messages() -> None:
    item = {"type": "Container", "max": {"cpu": "500m"}, "min": {"memory": "64Mi"}}
    too_big = pod({"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1", "memory": "1Gi"}}})
    assert pod_problems(item, too_big) == [
        "maximum cpu usage per Container is 500m, but limit is 1",
    ]
    no_limit = pod({"name": "web", "resources": {"requests": {"memory": "32Mi"}}})
    assert pod_problems(item, no_limit) == [
        "minimum memory usage per Container is 64Mi, but request is 32Mi",
        "maximum cpu usage per Container is 500m.  No limit is specified",
    ]


def test_the_limit_to_request_ratio() -> None:
    item = {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}
    p = pod({"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "250m"}}})
    assert pod_problems(item, p) == [
        "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
    ]
    ok = pod({"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}})
    assert pod_problems(item, ok) == []


def test_pod_bounds_apply_to_the_sum_of_the_containers() -> None:
    item = {"type": "Pod", "max": {"memory": "1Gi"}}
    each = {"limits": {"memory": "768Mi"}, "requests": {"memory": "768Mi"}}
    p = pod({"name": "a", "resources": each}, {"name": "b", "resources": each})
    assert pod_problems(item, p) == ["maximum memory usage per Pod is 1Gi, but limit is 1536Mi"]


def test_claims_are_held_to_their_storage_bounds() -> None:
    item = {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}
    small = {"spec": {"resources": {"requests": {"storage": "500Mi"}}}}
    large = {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    right = {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    assert claim_problems(item, small) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
    ]
    assert claim_problems(item, large) == [
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"
    ]
    assert claim_problems(item, right) == []


def test_limit_range_items_are_validated_as_upstream() -> None:
    lr = limit_range(
        {"type": "Container", "max": {"cpu": "500m"}, "min": {"cpu": "1"}},
        {"type": "Pod", "default": {"cpu": "1"}},
        {"type": "Pod"},
        {"type": "Weird", "maxLimitRequestRatio": {"memory": "0.5"}},
    )
    assert LIMIT_RANGE.validate is not None
    assert [(c.field, c.message) for c in LIMIT_RANGE.validate(lr, None)] == [
        ("spec.limits[0].min[cpu]", 'Invalid value: "1": min value 1 is greater than max value 500m'),
        (
            "spec.limits[0].defaultRequest[cpu]",
            'Invalid value: "500m": min value 1 is greater than default request value 500m',
        ),
        ("spec.limits[0].default[cpu]", 'Invalid value: "1": min value 1 is greater than default value 500m'),
        ("spec.limits[1].default", "Forbidden: may not be specified when `type` is 'Pod'"),
        ("spec.limits[2].type", 'Duplicate value: "Pod"'),
        ("spec.limits[3].type", 'Invalid value: "Weird": must be a standard limit type or fully qualified'),
        ("spec.limits[3].maxLimitRequestRatio[memory]", 'Invalid value: "500m": ratio 500m is less than 1'),
    ]
