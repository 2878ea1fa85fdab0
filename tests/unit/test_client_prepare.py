import json

import pytest

from kuberya.client import ResourceRef, split_key
from kuberya.client.api import parse_resource_list
from kuberya.client.prepare import (
    PatchType,
    prepare_create,
    prepare_delete,
    prepare_get,
    prepare_list,
    prepare_patch,
    prepare_update,
    prepare_watch,
)
from kuberya.client.resources import DEPLOYMENTS, HPA, NAMESPACES, NODES, PODS


def test_paths_for_core_and_group_resources() -> None:
    assert PODS.path(namespace="default") == "/api/v1/namespaces/default/pods"
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("web", namespace="ns", subresource="status") == "/api/v1/namespaces/ns/pods/web/status"
    assert DEPLOYMENTS.path("web", namespace="ns") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert NODES.path("n1", namespace="ignored") == "/api/v1/nodes/n1"
    assert NAMESPACES.path("x", subresource="finalize") == "/api/v1/namespaces/x/finalize"
    assert HPA.api_version == "autoscaling/v2"
    assert DEPLOYMENTS.group_resource == "deployments.apps"
    with pytest.raises(ValueError, match="subresource"):
        PODS.path(subresource="status")


def test_keys() -> None:
    assert split_key("ns/name") == ("ns", "name")
    assert split_key("node1") == (None, "node1")


def test_get_of_a_namespaced_resource_needs_a_namespace() -> None:
    with pytest.raises(ValueError, match="namespaced"):
        prepare_get(PODS, "p")
    assert prepare_get(NODES, "n").path == "/api/v1/nodes/n"


def test_list_params() -> None:
    req = prepare_list(
        PODS,
        namespace="default",
        label_selector="app=web,tier!=db",
        limit=500,
        continue_="tok",
        resource_version="0",
    )
    assert req.method == "GET"
    assert req.path == "/api/v1/namespaces/default/pods"
    assert dict(req.params) == {
        "labelSelector": "app=web,tier!=db",
        "resourceVersion": "0",
        "limit": "500",
        "continue": "tok",
    }


def test_watch_params() -> None:
    req = prepare_watch(PODS, resource_version="42", field_selector="metadata.name=x", timeout_seconds=300)
    assert dict(req.params) == {
        "watch": "true",
        "resourceVersion": "42",
        "fieldSelector": "metadata.name=x",
        "timeoutSeconds": "300",
        "allowWatchBookmarks": "true",
    }
    assert "allowWatchBookmarks" not in dict(prepare_watch(PODS, resource_version="1", allow_bookmarks=False).params)


def test_create_takes_the_namespace_from_the_body() -> None:
    body = {"metadata": {"name": "p", "namespace": "team"}}
    req = prepare_create(PODS, body, field_manager="kuberya", dry_run=True)
    assert req.method == "POST"
    assert req.path == "/api/v1/namespaces/team/pods"
    assert dict(req.params) == {"fieldManager": "kuberya", "dryRun": "All"}
    assert req.body is not None and json.loads(req.body) == body


def test_update_and_status_paths() -> None:
    body = {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "5"}}
    assert prepare_update(DEPLOYMENTS, body).path == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert prepare_update(DEPLOYMENTS, body, subresource="status").path.endswith("/web/status")
    assert prepare_update(DEPLOYMENTS, body).method == "PUT"
    with pytest.raises(ValueError, match=r"metadata\.name"):
        prepare_update(NODES, {"metadata": {}})


@pytest.mark.parametrize(
    ("patch_type", "content_type"),
    [
        ("merge", "application/merge-patch+json"),
        ("strategic", "application/strategic-merge-patch+json"),
        ("apply", "application/apply-patch+yaml"),
    ],
)
def test_patch_content_types(patch_type: PatchType, content_type: str) -> None:
    req = prepare_patch(
        DEPLOYMENTS,
        "web",
        {"spec": {}},
        namespace="ns",
        patch_type=patch_type,
        field_manager="m",
    )
    assert req.headers["Content-Type"] == content_type


def test_json_patch_and_apply_rules() -> None:
    req = prepare_patch(PODS, "p", [{"op": "remove", "path": "/x"}], namespace="ns", patch_type="json")
    assert req.headers["Content-Type"] == "application/json-patch+json"
    with pytest.raises(TypeError):
        prepare_patch(PODS, "p", {"a": 1}, namespace="ns", patch_type="json")
    with pytest.raises(ValueError, match="field_manager"):
        prepare_patch(PODS, "p", {"a": 1}, namespace="ns", patch_type="apply")
    req = prepare_patch(
        NODES, "n", {"status": {}}, patch_type="merge", subresource="status", force=True, field_manager="f"
    )
    assert req.path == "/api/v1/nodes/n/status"
    assert dict(req.params) == {"fieldManager": "f", "force": "true"}


def test_delete_sends_delete_options() -> None:
    req = prepare_delete(
        DEPLOYMENTS,
        "web",
        namespace="ns",
        propagation_policy="Foreground",
        grace_period_seconds=0,
        preconditions={"uid": "u1"},
    )
    assert req.method == "DELETE"
    assert req.body is not None
    assert json.loads(req.body) == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u1"},
    }


def test_discovery_list_skips_subresources() -> None:
    listing = {
        "resources": [
            {
                "name": "deployments",
                "namespaced": True,
                "kind": "Deployment",
                "verbs": ["get", "list", "watch"],
            },
            {"name": "deployments/status", "namespaced": True, "kind": "Deployment", "verbs": ["get"]},
            {"name": "deployments/scale", "namespaced": True, "kind": "Scale", "verbs": ["get"]},
        ]
    }
    refs = parse_resource_list("apps", "v1", listing)
    assert refs == [DEPLOYMENTS]
    assert refs[0].verbs == frozenset({"get", "list", "watch"})
    assert refs[0].supports("list", "watch")
    assert not refs[0].supports("delete")
    assert ResourceRef("", "v1", "x", False, "X").supports("anything")
