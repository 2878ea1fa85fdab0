"""What each object costs a ResourceQuota (kuberya.meta.quota), resource by resource and scope by scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from kuberya.meta import quota as q
from kuberya.meta.quantity import format_quantity
from kuberya.resources import kinds

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(*containers: dict[str, Any], phase: str = "Pending", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": list(containers) or [{"name": "c"}], **spec},
        "status": {"phase": phase},
    }


def container(name: str = "c", **resources: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "resources": resources}


def shown(usage: q.Usage) -> dict[str, str]:
    return q.render_list(usage)


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Fraction(3, 2), False, "1500m"),
        (Fraction(2000), False, "2k"),
        (Fraction(1500), False, "1500"),
        (Fraction(0), False, "0"),
        (Fraction(1610612736), True, "1536Mi"),
        (Fraction(1, 2), True, "500m"),  # binary below 1024 falls back to decimal, as upstream
        (Fraction(1025), True, "1025"),
    ],
)
def test_quantities_print_as_upstream(value: Fraction, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text


def test_a_pod_costs_its_requests_and_limits() -> None:
    p = pod(
        container("a", requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "128Mi"}),
        container("b", requests={"cpu": "250m", "ephemeral-storage": "1Gi"}),
    )
    assert shown(q.usage("", "pods", p, now=NOW)) == {
        "count/pods": "1",
        "cpu": "500m",
        "ephemeral-storage": "1Gi",
        "limits.cpu": "500m",
        "limits.memory": "128Mi",
        "memory": "64Mi",
        "pods": "1",
        "requests.cpu": "500m",
        "requests.ephemeral-storage": "1Gi",
        "requests.memory": "64Mi",
    }


def test_an_init_container_larger_than_the_containers_sets_the_request() -> None:
    p = pod(container("a", requests={"cpu": "100m"}), initContainers=[container("init", requests={"cpu": "2"})])
    assert shown(q.usage("", "pods", p, now=NOW))["requests.cpu"] == "2"


def test_pod_overhead_is_charged() -> None:
    p = pod(container("a", requests={"cpu": "100m"}), overhead={"cpu": "50m"})
    assert shown(q.usage("", "pods", p, now=NOW))["requests.cpu"] == "150m"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_terminal_pod_costs_only_its_object_count(phase: str) -> None:
    p = pod(container("a", requests={"cpu": "1"}), phase=phase)
    assert shown(q.usage("", "pods", p, now=NOW)) == {"count/pods": "1"}


def test_a_pod_past_its_deletion_grace_period_stops_counting() -> None:
    p = pod(container("a", requests={"cpu": "1"}))
    p["metadata"]["deletionTimestamp"] = (NOW - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p["metadata"]["deletionGracePeriodSeconds"] = 30
    assert "pods" not in q.usage("", "pods", p, now=NOW)
    p["metadata"]["deletionGracePeriodSeconds"] = 120
    assert "pods" in q.usage("", "pods", p, now=NOW)


def test_services_cost_node_ports_and_load_balancers() -> None:
    ports = [{"port": 80}, {"port": 443}]
    cluster_ip = {"spec": {"type": "ClusterIP", "ports": ports}}
    node_port = {"spec": {"type": "NodePort", "ports": ports}}
    balancer = {"spec": {"type": "LoadBalancer", "ports": ports}}
    assert shown(q.usage("", "services", cluster_ip, now=NOW)) == {"count/services": "1", "services": "1"}
    assert shown(q.usage("", "services", node_port, now=NOW))["services.nodeports"] == "2"
    lb = shown(q.usage("", "services", balancer, now=NOW))
    assert (lb["services.loadbalancers"], lb["services.nodeports"]) == ("1", "2")


def test_claims_cost_storage_in_total_and_per_class() -> None:
    pvc = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}}
    assert shown(q.usage("", "persistentvolumeclaims", pvc, now=NOW)) == {
        "count/persistentvolumeclaims": "1",
        "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
        "fast.storageclass.storage.k8s.io/requests.storage": "5Gi",
        "persistentvolumeclaims": "1",
        "requests.storage": "5Gi",
    }


def test_other_objects_cost_their_count_and_legacy_name() -> None:
    assert shown(q.usage("", "configmaps", {}, now=NOW)) == {"configmaps": "1", "count/configmaps": "1"}
    assert shown(q.usage("apps", "deployments", {}, now=NOW)) == {"count/deployments.apps": "1"}
    assert q.matching_resources("apps", "deployments", ["count/deployments.apps", "pods"]) == ["count/deployments.apps"]


def quota(hard: dict[str, str], *, scopes: list[str] | None = None, selector: list[Any] | None = None) -> Any:
    spec: dict[str, Any] = {"hard": hard}
    if scopes:
        spec["scopes"] = scopes
    if selector:
        spec["scopeSelector"] = {"matchExpressions": selector}
    return {"metadata": {"name": "q", "namespace": "ns"}, "spec": spec}


def test_scopes_select_pods_by_deadline_and_qos() -> None:
    best_effort = pod()
    burstable = pod(container("a", requests={"cpu": "1"}))
    deadline = pod(activeDeadlineSeconds=30)
    hard = {"pods": "5"}
    assert q.quota_matches(quota(hard, scopes=["BestEffort"]), "", "pods", best_effort)
    assert not q.quota_matches(quota(hard, scopes=["BestEffort"]), "", "pods", burstable)
    assert q.quota_matches(quota(hard, scopes=["NotBestEffort"]), "", "pods", burstable)
    assert q.quota_matches(quota(hard, scopes=["Terminating"]), "", "pods", deadline)
    assert not q.quota_matches(quota(hard, scopes=["NotTerminating"]), "", "pods", deadline)
    # every scope must match
    assert not q.quota_matches(quota(hard, scopes=["Terminating", "NotBestEffort"]), "", "pods", deadline)


def test_priority_class_scope_selector() -> None:
    high = pod(priorityClassName="high")
    plain = pod()
    in_high = quota({"pods": "1"}, selector=[{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}])
    exists = quota({"pods": "1"}, selector=[{"scopeName": "PriorityClass", "operator": "Exists"}])
    not_in = quota({"pods": "1"}, selector=[{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}])
    assert q.quota_matches(in_high, "", "pods", high) and not q.quota_matches(in_high, "", "pods", plain)
    assert q.quota_matches(exists, "", "pods", high) and not q.quota_matches(exists, "", "pods", plain)
    assert q.quota_matches(not_in, "", "pods", plain) and not q.quota_matches(not_in, "", "pods", high)


def test_a_scoped_quota_never_matches_other_resources() -> None:
    assert q.quota_matches(quota({"configmaps": "1"}), "", "configmaps", {})
    assert not q.quota_matches(quota({"configmaps": "1"}, scopes=["BestEffort"]), "", "configmaps", {})
    assert not q.quota_matches(quota({"pods": "1"}), "", "configmaps", {})


def test_a_quota_on_cpu_makes_every_container_name_it() -> None:
    p = pod(
        container("web", limits={"cpu": "1"}, requests={"cpu": "1"}),
        container("side"),
        initContainers=[container("init")],
    )
    assert q.missing_requirements(["limits.cpu", "pods"], p) == "must specify limits.cpu for: init,side"
    assert (
        q.missing_requirements(["limits.memory", "requests.cpu"], p)
        == "must specify limits.memory for: init,side,web; requests.cpu for: init,side"
    )
    assert q.missing_requirements(["pods", "requests.storage"], p) == ""


def test_an_update_is_charged_only_what_it_adds() -> None:
    new = q.usage("", "services", {"spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}}, now=NOW)
    old = q.usage("", "services", {"spec": {"type": "NodePort", "ports": [{"port": 1}]}}, now=NOW)
    assert shown(q.remove_zeros(q.subtract_non_negative(new, old))) == {"services.nodeports": "1"}
    assert q.charged_on_update("", "services") and not q.charged_on_update("", "pods")


# -- the ResourceQuota kind's validation ---------------------------------------------------------


def validate_quota(spec: dict[str, Any], old_spec: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    def rq(s: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "ns"}, "spec": s}

    old = rq(old_spec) if old_spec is not None else None
    return [(c.field, c.message) for c in kinds.validate(rq(spec), old=old)]


def test_quota_hard_values_and_names_are_validated_as_upstream() -> None:
    assert validate_quota({"hard": {"pods": "10", "count/deployments.apps": "2", "requests.nvidia.com/gpu": "1"}}) == []
    assert validate_quota({"hard": {"pods": "-1", "services": "1.5", "widgets": "1"}}) == [
        ("spec.hard[pods]", 'Invalid value: "-1": must be greater than or equal to 0'),
        ("spec.hard[services]", 'Invalid value: "1.5": must be an integer'),
        ("spec.hard[widgets]", 'Invalid value: "widgets": must be a standard resource type or fully qualified'),
        ("spec.hard[widgets]", 'Invalid value: "widgets": must be a standard resource for quota'),
    ]


def test_quota_scopes_are_validated_as_upstream() -> None:
    conflicting = validate_quota({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]})
    assert conflicting == [
        ("spec.scopes", 'Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: conflicting scopes')
    ]
    wrong_resource = validate_quota({"hard": {"services": "1"}, "scopes": ["BestEffort"]})
    assert wrong_resource == [
        ("spec.scopes", 'Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource')
    ]
    selector = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In"}]}
    assert validate_quota({"hard": {"pods": "1"}, "scopeSelector": selector}) == [
        (
            "spec.scopeSelector.matchExpressions.values",
            "Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
        )
    ]
    changed = validate_quota({"hard": {"pods": "1"}, "scopes": ["BestEffort"]}, {"hard": {"pods": "1"}})
    assert changed == [("spec.scopes", 'Invalid value: []core.ResourceQuotaScope{"BestEffort"}: field is immutable')]
