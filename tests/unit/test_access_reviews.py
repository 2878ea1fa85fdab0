"""The access reviews and SelfSubjectReview, answered from an RBAC index, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from kuberya.apiserver import errors, rbac_bootstrap
from kuberya.apiserver.rbac_index import RBACIndex
from kuberya.apiserver.reviews import answer
from kuberya.apiserver.users import UserInfo, authenticated

ADMIN = authenticated("kuberya-admin", ["system:masters"])
ALICE = authenticated("alice", [])
V1 = "authorization.k8s.io/v1"


def _index(*bindings: dict[str, Any]) -> RBACIndex:
    index = RBACIndex()
    roles = {role["metadata"]["name"]: role for role in rbac_bootstrap.cluster_roles()}
    # What the aggregation controller does for view (only system:aggregate-to-view carries its label).
    roles["view"] = {**roles["view"], "rules": roles["system:aggregate-to-view"]["rules"]}
    for role in roles.values():
        index.put("clusterroles", role)
    for crb in rbac_bootstrap.cluster_role_bindings():
        index.put("clusterrolebindings", crb)
    for rb in bindings:
        index.put("rolebindings", rb)
    return index


def _view_in(namespace: str, user: str = "alice") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{user}-view", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def _review(kind: str, spec: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": V1, "kind": kind, "metadata": metadata, "spec": spec}


def _can(verb: str, resource: str, namespace: str = "", **extra: str) -> dict[str, Any]:
    return {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace, **extra}}


def _invalid(index: RBACIndex, review: dict[str, Any], sender: UserInfo = ALICE) -> errors.StatusError:
    with pytest.raises(errors.StatusError) as caught:
        answer(index, review, sender)
    return caught.value


def test_subject_access_review_follows_the_bindings_with_upstreams_reason() -> None:
    spec = {**_can("get", "pods", "x"), "user": "alice"}
    assert answer(_index(), _review("SubjectAccessReview", spec), ADMIN)["status"] == {"allowed": False}
    status = answer(_index(_view_in("x")), _review("SubjectAccessReview", spec), ADMIN)["status"]
    assert status["allowed"] is True
    assert status["reason"] == 'RBAC: allowed by RoleBinding "alice-view/x" of ClusterRole "view" to User "alice"'
    # The binding reaches only its namespace, and view does not delete.
    other = {**_can("get", "pods", "y"), "user": "alice"}
    assert answer(_index(_view_in("x")), _review("SubjectAccessReview", other), ADMIN)["status"]["allowed"] is False
    delete = {**_can("delete", "pods", "x"), "user": "alice"}
    assert answer(_index(_view_in("x")), _review("SubjectAccessReview", delete), ADMIN)["status"]["allowed"] is False


def test_a_review_by_group_and_of_a_non_resource_url() -> None:
    spec = {**_can("delete", "nodes"), "groups": ["system:masters"]}
    assert answer(_index(), _review("SubjectAccessReview", spec), ADMIN)["status"]["allowed"] is True
    healthz = {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}, "user": "nobody"}
    # system:public-info-viewer is bound to system:unauthenticated and system:authenticated.
    assert answer(_index(), _review("SubjectAccessReview", healthz), ADMIN)["status"]["allowed"] is False
    healthz["groups"] = ["system:authenticated"]
    assert answer(_index(), _review("SubjectAccessReview", healthz), ADMIN)["status"]["allowed"] is True


def test_self_subject_access_review_asks_for_the_sender() -> None:
    review = _review("SelfSubjectAccessReview", _can("create", "pods", "default"))
    assert answer(_index(), review, ADMIN)["status"] == {"allowed": True}
    assert answer(_index(), review, ALICE)["status"] == {"allowed": False}
    answered = answer(_index(), review, ADMIN)
    assert answered["spec"] == review["spec"] and answered["kind"] == "SelfSubjectAccessReview"
    assert review.get("status") is None  # the caller's object is not changed


def test_local_subject_access_review_is_confined_to_its_namespace() -> None:
    spec = {**_can("list", "pods", "x"), "user": "alice"}
    assert answer(_index(_view_in("x")), _review("LocalSubjectAccessReview", spec, "x"), ADMIN)["status"]["allowed"]
    e = _invalid(_index(), _review("LocalSubjectAccessReview", spec, "y"))
    assert e.code == 422
    assert e.message == (
        'LocalSubjectAccessReview.authorization.k8s.io "" is invalid: '
        'spec.resourceAttributes.namespace: Invalid value: "x": must match metadata.namespace'
    )
    non_resource = {"nonResourceAttributes": {"verb": "get", "path": "/x"}, "user": "alice"}
    e = _invalid(_index(), _review("LocalSubjectAccessReview", non_resource, "y"))
    assert "spec.nonResourceAttributes: Invalid value: " in e.message
    assert "disallowed on this kind of request" in e.message


def test_invalid_reviews_get_upstreams_messages() -> None:
    e = _invalid(_index(), _review("SubjectAccessReview", {"user": "alice"}))
    assert e.code == 422 and e.reason == "Invalid"
    assert e.message == (
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    )
    e = _invalid(_index(), _review("SubjectAccessReview", _can("get", "pods")))
    assert e.message.endswith('spec.user: Invalid value: "": at least one of user or group must be specified')
    both = {**_can("get", "pods"), "nonResourceAttributes": {"verb": "get", "path": "/"}}
    e = _invalid(_index(), _review("SelfSubjectAccessReview", both))
    assert "spec.nonResourceAttributes: Invalid value: " in e.message
    assert e.message.endswith("cannot be specified in combination with resourceAttributes")
    named = _review("SelfSubjectAccessReview", _can("get", "pods"))
    named["metadata"]["name"] = "mine"
    e = _invalid(_index(), named)
    assert [c["field"] for c in (e.details or {})["causes"]] == ["metadata"]
    assert e.message.endswith("must be empty")


def test_rules_review_lists_the_senders_rules_split_as_upstream() -> None:
    index = _index(_view_in("x"))
    status = answer(index, _review("SelfSubjectRulesReview", {"namespace": "x"}), ALICE)["status"]
    assert status["incomplete"] is False
    pods = [r for r in status["resourceRules"] if "pods" in r["resources"] and r["apiGroups"] == [""]]
    assert pods and all(set(r["verbs"]) <= {"get", "list", "watch"} for r in pods)
    # system:basic-user and system:discovery come from the bootstrap bindings.
    assert any("selfsubjectaccessreviews" in r["resources"] for r in status["resourceRules"])
    assert any("/version" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    elsewhere = answer(index, _review("SelfSubjectRulesReview", {"namespace": "y"}), ALICE)["status"]
    assert not any("pods" in r["resources"] for r in elsewhere["resourceRules"])
    admin = answer(index, _review("SelfSubjectRulesReview", {"namespace": "x"}), ADMIN)["status"]
    assert admin["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert admin["nonResourceRules"] == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    e = _invalid(index, _review("SelfSubjectRulesReview", {}))
    assert (e.code, e.message) == (400, "no namespace on request")


def test_self_subject_review_reports_the_user() -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}
    status = answer(_index(), review, ADMIN)["status"]
    assert status == {"userInfo": {"username": "kuberya-admin", "groups": ["system:masters", "system:authenticated"]}}
