"""RBAC enforced: the bootstrap policy, escalation prevention and impersonation, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from kuberya.apiserver import errors, rbac_bootstrap
from kuberya.apiserver.authorization import WRITER
from kuberya.apiserver.impersonation import Impersonation, _checks, impersonated_user, requested
from kuberya.apiserver.rbac_escalation import confirm_write
from kuberya.apiserver.rbac_index import RBACIndex
from kuberya.apiserver.rbac_rules import Attributes
from kuberya.apiserver.users import UserInfo, authenticated
from kuberya.resources import kinds

ALICE = authenticated("alice", ["dev"])
ADMIN = authenticated("kuberya-admin", ["system:masters"])
ROLES = kinds.lookup("rbac.authorization.k8s.io", "v1", "roles")
CLUSTERROLES = kinds.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")
ROLEBINDINGS = kinds.lookup("rbac.authorization.k8s.io", "v1", "rolebindings")
UPSTREAM_ROLE_NAMES = {
    # A subset of upstream's testdata/cluster-roles.yaml, which kuberya's bootstrap must all have.
    "admin",
    "cluster-admin",
    "edit",
    "view",
    "system:aggregate-to-admin",
    "system:aggregate-to-edit",
    "system:aggregate-to-view",
    "system:auth-delegator",
    "system:basic-user",
    "system:discovery",
    "system:monitoring",
    "system:node-proxier",
    "system:public-info-viewer",
    "system:service-account-issuer-discovery",
}


def index_with_bootstrap() -> RBACIndex:
    index = RBACIndex()
    for role in rbac_bootstrap.cluster_roles():
        index.put("clusterroles", role)
    for binding in rbac_bootstrap.cluster_role_bindings():
        index.put("clusterrolebindings", binding)
    return index


def binding(name: str, namespace: str, role: str, user: str = "alice", kind: str = "ClusterRole") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def ask(index: RBACIndex, user: UserInfo, verb: str, resource: str, namespace: str = "", group: str = "") -> bool:
    return index.authorize(
        Attributes(user, verb, True, namespace=namespace, api_group=group, resource=resource, api_version="v1")
    )[0]


# -- bootstrap policy ---------------------------------------------------------------------------


def test_bootstrap_policy_has_upstreams_roles_labels_and_annotations() -> None:
    roles = {r["metadata"]["name"]: r for r in rbac_bootstrap.cluster_roles()}
    assert set(roles) >= UPSTREAM_ROLE_NAMES
    for role in roles.values():
        assert role["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert role["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
        assert kinds.validate(role, old=None) == [], role["metadata"]["name"]
    assert roles["cluster-admin"]["rules"] == [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ]
    assert roles["view"]["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]
    }
    assert roles["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert roles["system:public-info-viewer"]["rules"] == [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
    ]


def test_bootstrap_bindings_are_upstreams() -> None:
    bindings = {b["metadata"]["name"]: b for b in rbac_bootstrap.cluster_role_bindings()}
    subjects = {name: [(s["kind"], s["name"]) for s in b["subjects"]] for name, b in bindings.items()}
    assert subjects["cluster-admin"] == [("Group", "system:masters")]
    assert subjects["system:basic-user"] == [("Group", "system:authenticated")]
    assert subjects["system:discovery"] == [("Group", "system:authenticated")]
    assert subjects["system:public-info-viewer"] == [
        ("Group", "system:authenticated"),
        ("Group", "system:unauthenticated"),
    ]
    for b in bindings.values():
        assert b["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": b["metadata"]["name"],
        }
        assert kinds.validate(b, old=None) == [], b["metadata"]["name"]


def test_reconcile_adds_missing_rules_and_keeps_what_was_added() -> None:
    wanted = next(r for r in rbac_bootstrap.cluster_roles() if r["metadata"]["name"] == "system:basic-user")
    extra = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    existing = {**wanted, "rules": [wanted["rules"][0], extra]}
    updated = rbac_bootstrap.reconciled(existing, wanted)
    assert updated is not None
    assert updated["rules"] == [wanted["rules"][0], extra, wanted["rules"][1]]
    assert rbac_bootstrap.reconciled(updated, wanted) is None  # nothing more to add
    opted_out = {
        **existing,
        "metadata": {**existing["metadata"], "annotations": {rbac_bootstrap.AUTOUPDATE_ANNOTATION: "false"}},
    }
    assert rbac_bootstrap.reconciled(opted_out, wanted) is None


def test_discovery_and_public_info_for_everyone() -> None:
    index = index_with_bootstrap()
    anonymous = UserInfo("system:anonymous", ("system:unauthenticated",))
    assert index.authorize(Attributes(ALICE, "get", False, path="/apis/apps/v1"))[0]
    assert index.authorize(Attributes(anonymous, "get", False, path="/version"))[0]
    assert not index.authorize(Attributes(anonymous, "get", False, path="/api"))[0]
    assert not ask(index, ALICE, "list", "pods", "dev")


# -- escalation ---------------------------------------------------------------------------------


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": list(rules),
    }


PODS_GET = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
NODES = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "delete"]}


def as_writer(user: UserInfo, index: RBACIndex, call: Any) -> None:
    token = WRITER.set((user, index))
    try:
        call()
    finally:
        WRITER.reset(token)


def test_a_role_within_the_writers_rights_passes_one_beyond_is_upstreams_forbidden() -> None:
    index = index_with_bootstrap()
    index.put("rolebindings", binding("alice-admin", "dev", "admin"))
    index.put(
        "clusterroles",
        {
            "metadata": {"name": "admin"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
                # as upstream's admin: every verb on roles but escalate and bind
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["create", "update"]},
            ],
        },
    )
    assert ROLES is not None
    as_writer(ALICE, index, lambda: confirm_write(ROLES, role("ok", "dev", PODS_GET), None))
    with pytest.raises(errors.StatusError) as refused:
        as_writer(ALICE, index, lambda: confirm_write(ROLES, role("too-much", "dev", PODS_GET, NODES), None))
    assert refused.value.code == 403
    assert refused.value.message == (
        'roles.rbac.authorization.k8s.io "too-much" is forbidden: user "alice" '
        '(groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get", "delete"]}'
    )
    # Only in its own namespace: the same role elsewhere is beyond her rights.
    with pytest.raises(errors.StatusError):
        as_writer(ALICE, index, lambda: confirm_write(ROLES, role("ok", "other", PODS_GET), None))
    # The admin certificate and the server itself may grant anything.
    as_writer(ADMIN, index, lambda: confirm_write(ROLES, role("too-much", "dev", NODES), None))
    confirm_write(ROLES, role("too-much", "dev", NODES), None)


def test_escalate_verb_and_unchanged_rules_pass() -> None:
    index = index_with_bootstrap()
    assert ROLES is not None
    old = role("r", "dev", NODES)
    as_writer(
        ALICE, index, lambda: confirm_write(ROLES, {**old, "metadata": {**old["metadata"], "labels": {"a": "b"}}}, old)
    )
    index.put(
        "clusterroles",
        {
            "metadata": {"name": "escalator"},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}],
        },
    )
    index.put("rolebindings", binding("esc", "dev", "escalator"))
    as_writer(ALICE, index, lambda: confirm_write(ROLES, role("r2", "dev", NODES), None))


def test_aggregation_rule_needs_full_authority() -> None:
    index = index_with_bootstrap()
    index.put(
        "clusterroles",
        {
            "metadata": {"name": "rbac-admin"},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["create"]}],
        },
    )
    index.put(
        "clusterrolebindings",
        {**binding("x", "", "rbac-admin"), "kind": "ClusterRoleBinding", "metadata": {"name": "x"}},
    )
    aggregated = {
        "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
    }
    assert CLUSTERROLES is not None
    with pytest.raises(errors.StatusError) as refused:
        as_writer(ALICE, index, lambda: confirm_write(CLUSTERROLES, aggregated, None))
    assert refused.value.message == (
        'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: '
        "must have cluster-admin privileges to use the aggregationRule"
    )


def test_binding_needs_the_roles_rules_or_the_bind_verb() -> None:
    index = index_with_bootstrap()
    assert ROLEBINDINGS is not None
    index.put("clusterroles", {"metadata": {"name": "pod-reader"}, "rules": [PODS_GET]})
    index.put("clusterroles", {"metadata": {"name": "node-admin"}, "rules": [NODES]})
    index.put("rolebindings", binding("alice-reads", "dev", "pod-reader"))
    as_writer(ALICE, index, lambda: confirm_write(ROLEBINDINGS, binding("bob-reads", "dev", "pod-reader", "bob"), None))
    with pytest.raises(errors.StatusError) as refused:
        as_writer(
            ALICE, index, lambda: confirm_write(ROLEBINDINGS, binding("bob-nodes", "dev", "node-admin", "bob"), None)
        )
    assert refused.value.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "bob-nodes" is forbidden: '
        'user "alice" (groups=["dev" "system:authenticated"]) '
        "is attempting to grant RBAC permissions not currently held:\n"
    )
    with pytest.raises(errors.StatusError) as missing:
        as_writer(
            ALICE, index, lambda: confirm_write(ROLEBINDINGS, binding("b", "dev", "nope", "bob", kind="Role"), None)
        )
    assert (
        missing.value.message
        == 'rolebindings.rbac.authorization.k8s.io "b" is forbidden: roles.rbac.authorization.k8s.io "nope" not found'
    )
    binder = {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": ["node-admin"],
    }
    index.put("clusterroles", {"metadata": {"name": "binder"}, "rules": [binder]})
    index.put("rolebindings", binding("alice-binds", "dev", "binder"))
    as_writer(ALICE, index, lambda: confirm_write(ROLEBINDINGS, binding("bob-nodes", "dev", "node-admin", "bob"), None))


# -- impersonation ------------------------------------------------------------------------------


def test_impersonation_headers_are_read_as_upstream() -> None:
    headers = CIMultiDict(
        [
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "a"),
            ("Impersonate-Group", "b"),
            ("Impersonate-Extra-Scopes%2Fx", "v"),
        ]
    )
    wanted = requested(headers)
    assert wanted == Impersonation("bob", ("a", "b"), "", {"scopes/x": ("v",)})
    assert requested(CIMultiDict()) is None
    with pytest.raises(errors.StatusError) as bad:
        requested(CIMultiDict([("Impersonate-Group", "a")]))
    assert bad.value.code == 400
    assert bad.value.message == "requested [Impersonate-Group: a] without impersonating a user"


def test_impersonated_user_gets_upstreams_groups() -> None:
    assert impersonated_user(Impersonation("bob")) == UserInfo("bob", ("system:authenticated",))
    assert impersonated_user(Impersonation("bob", ("dev",))) == UserInfo("bob", ("dev", "system:authenticated"))
    assert impersonated_user(Impersonation("system:serviceaccount:ns:ci")) == UserInfo(
        "system:serviceaccount:ns:ci", ("system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated")
    )
    assert impersonated_user(Impersonation("system:anonymous")) == UserInfo(
        "system:anonymous", ("system:unauthenticated",)
    )


def test_impersonation_checks_each_part_with_the_impersonate_verb() -> None:
    checks = _checks(ALICE, Impersonation("system:serviceaccount:ns:ci", ("dev",), "42", {"k": ("v",)}))
    assert [(c.verb, c.api_group, c.resource, c.subresource, c.namespace, c.name) for c in checks] == [
        ("impersonate", "", "serviceaccounts", "", "ns", "ci"),
        ("impersonate", "", "groups", "", "", "dev"),
        ("impersonate", "authentication.k8s.io", "uids", "", "", "42"),
        ("impersonate", "authentication.k8s.io", "userextras", "k", "", "v"),
    ]
