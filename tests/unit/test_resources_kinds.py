"""The registry of kinds: lookups, storage versions and the discovery-facing shape."""

from __future__ import annotations

from kuberya.resources import kinds


def test_lookup_finds_core_and_named_groups() -> None:
    pods = kinds.lookup("", "v1", "pods")
    assert pods is not None and pods.kind == "Pod" and pods.namespaced
    assert pods.short_names == ("po",) and pods.categories == ("all",)
    deploy = kinds.lookup("apps", "v1", "deployments")
    assert deploy is not None and deploy.group_resource == "deployments.apps"
    assert kinds.lookup("apps", "v1", "nope") is None
    assert kinds.lookup("", "v2", "pods") is None


def test_scale_subresource_is_autoscaling_v1_scale() -> None:
    for resource in ("deployments", "replicasets"):
        rt = kinds.lookup("apps", "v1", resource)
        assert rt is not None
        scale = rt.subresource("scale")
        assert scale is not None
        assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
        assert scale.verbs == ("get", "patch", "update")


def test_pod_subresources_as_kubectl_needs_them() -> None:
    pods = kinds.lookup("", "v1", "pods")
    assert pods is not None and pods.has_status
    subs = {s.name: s for s in pods.subresources}
    assert subs["log"].verbs == ("get",) and subs["log"].kind == "Pod"
    assert subs["exec"].kind == "PodExecOptions" and subs["exec"].verbs == ("create", "get")
    assert subs["portforward"].kind == "PodPortForwardOptions"
    assert subs["status"].kind == "Pod"


def test_every_status_subresource_sets_has_status() -> None:
    for rt in kinds.ALL_RESOURCE_TYPES:
        assert rt.has_status == (rt.subresource("status") is not None), rt.resource


def test_hpa_is_served_in_two_versions_and_stored_in_v2() -> None:
    v1 = kinds.lookup("autoscaling", "v1", "horizontalpodautoscalers")
    v2 = kinds.lookup("autoscaling", "v2", "horizontalpodautoscalers")
    assert v1 is not None and v2 is not None
    assert kinds.storage_type(v1) is v2
    assert kinds.storage_type(v2) is v2
    assert kinds.for_kind("autoscaling", "HorizontalPodAutoscaler") is v2
    assert kinds.for_kind("", "Pod") is kinds.lookup("", "v1", "pods")


def test_api_groups_are_stable_with_preferred_version_first() -> None:
    groups = kinds.api_groups()
    assert [g.name for g in groups][:2] == ["apps", "autoscaling"]
    assert "" not in [g.name for g in groups]
    autoscaling = next(g for g in groups if g.name == "autoscaling")
    assert autoscaling.versions == ("v2", "v1")
    assert "discovery.k8s.io" in [g.name for g in groups]


def test_resources_in_and_unique_gvr() -> None:
    core = kinds.resources_in("", "v1")
    assert {"pods", "services", "namespaces", "nodes", "resourcequotas", "limitranges"} <= {r.resource for r in core}
    keys = [(r.group, r.version, r.resource) for r in kinds.ALL_RESOURCE_TYPES]
    assert len(keys) == len(set(keys))


def test_namespaces_cannot_be_deleted_as_a_collection() -> None:
    ns = kinds.lookup("", "v1", "namespaces")
    assert ns is not None and "deletecollection" not in ns.verbs and not ns.namespaced
    cm = kinds.lookup("", "v1", "configmaps")
    assert cm is not None and len(cm.verbs) == 8
