"""pods/eviction and pod priority against the in-process API server (memory store, real client).

The disruption controller does not run here: each test writes the budget's status itself, as
the controller would, so that what is checked is the eviction handler's reading of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from kuberya.client import ApiError, ForbiddenError, NotFoundError, TooManyRequestsError
from kuberya.client.resources import PODDISRUPTIONBUDGETS, PODS, PRIORITYCLASSES
from tests.integration.conftest import ServedAPI

Obj = dict[str, Any]


def pod_body(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels if labels is not None else {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


async def running_pod(api: ServedAPI, name: str, *, ready: bool = True, labels: dict[str, str] | None = None) -> Obj:
    await api.client.create(PODS, pod_body(name, labels=labels), namespace="default")
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return await api.client.patch(
        PODS, name, {"status": status}, namespace="default", patch_type="merge", subresource="status"
    )


async def budget(
    api: ServedAPI, name: str = "web", *, allowed: int, healthy: int = 2, desired: int = 2, **spec: Any
) -> Obj:
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }
    await api.client.create(PODDISRUPTIONBUDGETS, body, namespace="default")
    status = {
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": 3,
        "observedGeneration": 1,
    }
    return await api.client.patch(
        PODDISRUPTIONBUDGETS, name, {"status": status}, namespace="default", patch_type="merge", subresource="status"
    )


async def evict(api: ServedAPI, name: str, *, api_version: str = "policy/v1", **options: Any) -> Any:
    body: Obj = {"apiVersion": api_version, "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}}
    if options:
        body["deleteOptions"] = options
    return await api.client.raw("POST", f"/api/v1/namespaces/default/pods/{name}/eviction", body=body)


async def test_eviction_is_advertised_as_upstream_does(api_server: ServedAPI) -> None:
    listing = await api_server.client.raw("GET", "/api/v1")
    (entry,) = [r for r in listing["resources"] if r["name"] == "pods/eviction"]
    assert (entry["group"], entry["version"], entry["kind"], entry["verbs"]) == ("policy", "v1", "Eviction", ["create"])


async def test_a_pod_without_a_budget_is_just_deleted(api_server: ServedAPI) -> None:
    await running_pod(api_server, "lonely", labels={"app": "other"})
    answer = await evict(api_server, "lonely")
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    with pytest.raises(NotFoundError):
        await api_server.client.get(PODS, "lonely", namespace="default")


async def test_the_evicted_pod_is_marked_as_a_disruption_target(api_server: ServedAPI) -> None:
    # Bound to the node, its deletion is graceful: the pod stays, terminating, and shows why.
    await api_server.client.create(PODS, pod_body("bound", nodeName="kuberya"), namespace="default")
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await api_server.client.patch(
        PODS, "bound", {"status": status}, namespace="default", patch_type="merge", subresource="status"
    )
    stale = await api_server.client.get(PODS, "bound", namespace="default")
    await api_server.client.patch(PODS, "bound", {"metadata": {"labels": {"x": "y"}}}, namespace="default",
                                  patch_type="merge")  # fmt: skip
    with pytest.raises(ApiError) as conflict:
        await evict(api_server, "bound", preconditions={"resourceVersion": stale["metadata"]["resourceVersion"]})
    assert conflict.value.status == 409 and "The object might have been modified" in conflict.value.message
    await evict(api_server, "bound")
    pod = await api_server.client.get(PODS, "bound", namespace="default")
    assert pod["metadata"]["deletionTimestamp"]
    (target,) = [c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "EvictionByEvictionAPI",
        "Eviction API: evicting",
    )


async def test_a_budget_that_allows_no_disruption_refuses_with_429(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await budget(api_server, allowed=0, healthy=1, desired=1)
    with pytest.raises(TooManyRequestsError) as refused:
        await evict(api_server, "web-0")
    status = refused.value.body
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [
        {"reason": "DisruptionBudget", "message": "The disruption budget web needs 1 healthy pods and has 1 currently"}
    ]
    assert "retryAfterSeconds" not in status["details"]
    assert (await api_server.client.get(PODS, "web-0", namespace="default"))["metadata"]["name"] == "web-0"


async def test_an_allowed_eviction_takes_one_disruption_and_deletes(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await running_pod(api_server, "web-1")
    await budget(api_server, allowed=1, healthy=2, desired=1)
    await evict(api_server, "web-0")
    pdb = await api_server.client.get(PODDISRUPTIONBUDGETS, "web", namespace="default")
    assert pdb["status"]["disruptionsAllowed"] == 0
    assert list(pdb["status"]["disruptedPods"]) == ["web-0"]
    (cond,) = pdb["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")
    with pytest.raises(NotFoundError):
        await api_server.client.get(PODS, "web-0", namespace="default")
    # The budget is spent: the next one must wait for the controller.
    with pytest.raises(TooManyRequestsError):
        await evict(api_server, "web-1")


async def test_dry_run_takes_nothing(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await budget(api_server, allowed=1, healthy=2, desired=1)
    await evict(api_server, "web-0", dryRun=["All"])
    pdb = await api_server.client.get(PODDISRUPTIONBUDGETS, "web", namespace="default")
    assert pdb["status"]["disruptionsAllowed"] == 1 and "disruptedPods" not in pdb["status"]
    assert await api_server.client.get(PODS, "web-0", namespace="default")


async def test_a_stale_budget_asks_to_come_back_later(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await budget(api_server, allowed=1)
    pdb = await api_server.client.patch(
        PODDISRUPTIONBUDGETS, "web", {"spec": {"minAvailable": 1}}, namespace="default", patch_type="merge"
    )
    assert pdb["metadata"]["generation"] == 2  # observedGeneration is 1: the status is stale
    with pytest.raises(TooManyRequestsError) as refused:
        await evict(api_server, "web-0")
    assert refused.value.body["details"]["retryAfterSeconds"] == 10
    assert "is still being processed by the server" in refused.value.body["details"]["causes"][0]["message"]


async def test_unhealthy_pods_and_the_eviction_policy(api_server: ServedAPI) -> None:
    await running_pod(api_server, "sick", ready=False)
    # The budget is not met (1 of 2 healthy): an unready pod is protected under IfHealthyBudget…
    await budget(api_server, allowed=0, healthy=1, desired=2)
    with pytest.raises(TooManyRequestsError):
        await evict(api_server, "sick")
    # …and may always go with AlwaysAllow, without taking a disruption.
    await api_server.client.patch(
        PODDISRUPTIONBUDGETS,
        "web",
        {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}},
        namespace="default",
        patch_type="merge",
    )
    await evict(api_server, "sick", api_version="policy/v1beta1")
    with pytest.raises(NotFoundError):
        await api_server.client.get(PODS, "sick", namespace="default")


async def test_a_pending_pod_is_deleted_whatever_the_budget(api_server: ServedAPI) -> None:
    await api_server.client.create(PODS, pod_body("waiting"), namespace="default")
    await budget(api_server, allowed=0)
    await evict(api_server, "waiting")
    with pytest.raises(NotFoundError):
        await api_server.client.get(PODS, "waiting", namespace="default")


async def test_two_budgets_are_not_supported(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await budget(api_server, "one", allowed=1)
    await budget(api_server, "two", allowed=1)
    with pytest.raises(ApiError) as failed:
        await evict(api_server, "web-0")
    assert failed.value.status == 500
    assert "more than one PodDisruptionBudget" in failed.value.message


def protobuf_eviction(name: str, **options: Any) -> bytes:
    """The body client-go ≥ 1.32 sends (``kubectl drain``): an Eviction in a ``k8s\\0`` envelope."""
    from kuberya.resources.protobuf._codec import _UNKNOWN, MAGIC, _codec

    registry, converter = _codec()
    message = registry.classes["k8s.io.api.policy.v1.Eviction"]()
    converter.to_message({"metadata": {"name": name, "namespace": "default"}, "deleteOptions": options},
                         "k8s.io.api.policy.v1.Eviction", message)  # fmt: skip
    envelope = registry.classes[_UNKNOWN]()
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = "policy/v1", "Eviction"
    envelope.raw = message.SerializeToString()
    return bytes(MAGIC + envelope.SerializeToString())


async def test_kubectl_drains_protobuf_body_is_understood(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    await budget(api_server, allowed=0)
    path = "/api/v1/namespaces/default/pods/web-0/eviction"
    protobuf = "application/vnd.kubernetes.protobuf"
    with pytest.raises(TooManyRequestsError):
        await api_server.client.raw("POST", path, body=protobuf_eviction("web-0"), content_type=protobuf)
    # Its deleteOptions are read too: a dry run (as ``drain --dry-run=server`` sends) deletes nothing.
    await api_server.client.patch(
        PODDISRUPTIONBUDGETS, "web", {"status": {"disruptionsAllowed": 1}}, namespace="default",
        patch_type="merge", subresource="status",
    )  # fmt: skip
    body = protobuf_eviction("web-0", dryRun=["All"])
    await api_server.client.raw("POST", path, body=body, content_type=protobuf)
    assert await api_server.client.get(PODS, "web-0", namespace="default")
    await api_server.client.raw("POST", path, body=protobuf_eviction("web-0"), content_type=protobuf)
    with pytest.raises(NotFoundError):
        await api_server.client.get(PODS, "web-0", namespace="default")


async def test_the_body_must_name_the_pod(api_server: ServedAPI) -> None:
    await running_pod(api_server, "web-0")
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}
    with pytest.raises(ApiError) as refused:
        await api_server.client.raw("POST", "/api/v1/namespaces/default/pods/web-0/eviction", body=body)
    assert (refused.value.status, refused.value.message) == (400, "name in URL does not match name in Eviction object")


async def test_pdb_validation_speaks_upstream(api_server: ServedAPI) -> None:
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "bad"},
        "spec": {"minAvailable": 1, "maxUnavailable": "150%", "unhealthyPodEvictionPolicy": "Sometimes"},
    }
    with pytest.raises(ApiError) as refused:
        await api_server.client.create(PODDISRUPTIONBUDGETS, body, namespace="default")
    causes = {(c["field"], c["message"].split(": ")[-1]) for c in refused.value.body["details"]["causes"]}
    assert ("spec", "minAvailable and maxUnavailable cannot be both set") in causes
    assert ("spec.maxUnavailable", "must not be greater than 100%") in causes
    assert ('"AlwaysAllow", "IfHealthyBudget"') in {m for _, m in causes}


# ---- priority -----------------------------------------------------------------------------


async def test_the_built_in_classes_exist(api_server: ServedAPI) -> None:
    node = await api_server.client.get(PRIORITYCLASSES, "system-node-critical")
    cluster = await api_server.client.get(PRIORITYCLASSES, "system-cluster-critical")
    assert (node["value"], cluster["value"]) == (2000001000, 2000000000)
    assert not node.get("globalDefault") and node["preemptionPolicy"] == "PreemptLowerPriority"


async def test_a_pod_takes_its_class_priority(api_server: ServedAPI) -> None:
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000}
    pc["preemptionPolicy"] = "Never"
    await api_server.client.create(PRIORITYCLASSES, pc)
    created = await api_server.client.create(PODS, pod_body("important", priorityClassName="high"), namespace="default")
    assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (1000, "Never")
    plain = await api_server.client.create(PODS, pod_body("plain"), namespace="default")
    assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    critical = await api_server.client.create(
        PODS, pod_body("critical", priorityClassName="system-node-critical"), namespace="default"
    )
    assert critical["spec"]["priority"] == 2000001000


async def test_unknown_classes_and_wrong_priorities_are_forbidden(api_server: ServedAPI) -> None:
    with pytest.raises(ForbiddenError) as missing:
        await api_server.client.create(PODS, pod_body("x", priorityClassName="nope"), namespace="default")
    assert missing.value.message == 'pods "x" is forbidden: no PriorityClass with name nope was found'
    with pytest.raises(ForbiddenError) as wrong:
        await api_server.client.create(PODS, pod_body("y", priority=5), namespace="default")
    assert "the integer value of priority (5) must not be provided in pod spec" in wrong.value.message
    assert "computed 0 from the given PriorityClass name" in wrong.value.message
    # The value that would be computed anyway is accepted.
    assert (await api_server.client.create(PODS, pod_body("z", priority=0), namespace="default"))["spec"][
        "priority"
    ] == 0


async def test_the_global_default_class_applies_and_is_unique(api_server: ServedAPI) -> None:
    def pc(name: str, value: int) -> Obj:
        return {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "globalDefault": True,
        }

    await api_server.client.create(PRIORITYCLASSES, pc("normal", 100))
    created = await api_server.client.create(PODS, pod_body("defaulted"), namespace="default")
    assert (created["spec"]["priorityClassName"], created["spec"]["priority"]) == ("normal", 100)
    with pytest.raises(ForbiddenError) as second:
        await api_server.client.create(PRIORITYCLASSES, pc("other", 5))
    assert "PriorityClass normal is already marked as default. Only one default can exist" in second.value.message
