"""Access reviews through real clients: ``kubectl auth can-i`` (``--list``, ``--as``), ``whoami``, ``reconcile``.

The admin certificate is ``system:masters`` and may do everything; ``alice`` may do what a binding
grants her and no more; a bad review is a 422 with upstream's messages; nothing a review asks is
stored; discovery and ``kubectl explain`` know the review kinds, served with ``create`` only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from tests.conftest import VENV_KUBECTL, Cluster


@pytest.fixture
def client(cluster: Cluster) -> Iterator[kubernetes.client.ApiClient]:
    api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


def _can_i(cluster: Cluster, binary: Path, *args: str) -> str:
    # can-i exits 1 for "no": the answer is on stdout either way.
    result = cluster.kubectl("auth", "can-i", *args, check=False, binary=binary)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.strip()


def test_can_i_as_admin_and_list(cluster: Cluster, kubectl_binary: Path) -> None:
    assert _can_i(cluster, kubectl_binary, "create", "pods") == "yes"
    assert _can_i(cluster, kubectl_binary, "delete", "nodes", "--all-namespaces") == "yes"
    listed = cluster.kubectl("auth", "can-i", "--list", binary=kubectl_binary).stdout.splitlines()
    assert listed[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["*.*", "[]", "[]", "[*]"] in [line.split() for line in listed[1:]]
    assert ["[*]", "[]", "[*]"] in [line.split() for line in listed[1:]]


def test_can_i_as_alice_follows_her_bindings(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    # Impersonation (--as) is authorized by the admin's impersonate right (system:masters).
    assert _can_i(cluster, kubectl_binary, "get", "pods", "--as", "alice", "-n", namespace) == "no"
    role = f"pod-reader-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "role", role, "--verb=get,list", "--resource=pods", "-n", namespace)
    cluster.kubectl("create", "rolebinding", role, f"--role={role}", "--user=alice", "-n", namespace)
    assert _can_i(cluster, kubectl_binary, "get", "pods", "--as", "alice", "-n", namespace) == "yes"
    assert _can_i(cluster, kubectl_binary, "delete", "pods", "--as", "alice", "-n", namespace) == "no"
    assert _can_i(cluster, kubectl_binary, "get", "pods", "--as", "alice", "-n", "default") == "no"
    rules = cluster.kubectl("auth", "can-i", "--list", "--as", "alice", "-n", namespace, binary=kubectl_binary)
    assert ["pods", "[]", "[]", "[get", "list]"] in [line.split() for line in rules.stdout.splitlines()]


def test_subject_access_review_for_alice_through_the_official_client(
    client: kubernetes.client.ApiClient, cluster: Cluster, namespace: str
) -> None:
    authz = kubernetes.client.AuthorizationV1Api(client)

    def alice_may(verb: str) -> kubernetes.client.V1SubjectAccessReviewStatus:
        review = kubernetes.client.V1SubjectAccessReview(
            spec=kubernetes.client.V1SubjectAccessReviewSpec(
                user="alice",
                resource_attributes=kubernetes.client.V1ResourceAttributes(
                    verb=verb, resource="pods", namespace=namespace
                ),
            )
        )
        status: kubernetes.client.V1SubjectAccessReviewStatus = authz.create_subject_access_review(review).status
        return status

    assert alice_may("list").allowed is False
    cluster.kubectl("create", "role", "lister", "--verb=list", "--resource=pods", "-n", namespace)
    cluster.kubectl("create", "rolebinding", "lister", "--role=lister", "--user=alice", "-n", namespace)
    allowed = alice_may("list")
    assert allowed.allowed is True
    assert allowed.reason == f'RBAC: allowed by RoleBinding "lister/{namespace}" of Role "lister" to User "alice"'
    assert alice_may("delete").allowed is False

    own = authz.create_self_subject_access_review(
        kubernetes.client.V1SelfSubjectAccessReview(
            spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=kubernetes.client.V1ResourceAttributes(verb="delete", resource="nodes")
            )
        )
    )
    assert own.status.allowed is True and own.kind == "SelfSubjectAccessReview"


def test_bad_reviews_are_refused_with_upstreams_messages(client: kubernetes.client.ApiClient, namespace: str) -> None:
    authz = kubernetes.client.AuthorizationV1Api(client)
    empty = kubernetes.client.V1SubjectAccessReview(spec=kubernetes.client.V1SubjectAccessReviewSpec())
    with pytest.raises(ApiException) as caught:
        authz.create_subject_access_review(empty)
    assert caught.value.status == 422
    status = json.loads(caught.value.body)
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.resourceAttributes", "spec.user"]
    assert status["message"] == (
        'SubjectAccessReview.authorization.k8s.io "" is invalid: [spec.resourceAttributes: Invalid value: null: '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified, "
        'spec.user: Invalid value: "": at least one of user or group must be specified]'
    )
    elsewhere = kubernetes.client.V1LocalSubjectAccessReview(
        metadata=kubernetes.client.V1ObjectMeta(namespace=namespace),
        spec=kubernetes.client.V1SubjectAccessReviewSpec(
            user="alice",
            resource_attributes=kubernetes.client.V1ResourceAttributes(verb="get", resource="pods", namespace="other"),
        ),
    )
    with pytest.raises(ApiException) as caught:
        authz.create_namespaced_local_subject_access_review(namespace, elsewhere)
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert message.endswith('spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace')
    with pytest.raises(ApiException) as caught:
        authz.create_self_subject_rules_review(
            kubernetes.client.V1SelfSubjectRulesReview(spec=kubernetes.client.V1SelfSubjectRulesReviewSpec())
        )
    assert caught.value.status == 400 and "no namespace on request" in caught.value.body


def test_reviews_are_create_only_and_explained(cluster: Cluster, kubectl_binary: Path) -> None:
    resources = cluster.kubectl(
        "api-resources", "--api-group=authorization.k8s.io", "-o", "wide", binary=kubectl_binary
    )
    rows = {line.split()[0]: line.split() for line in resources.stdout.splitlines()[1:]}
    assert set(rows) == {
        "localsubjectaccessreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
    }
    # No short names, no categories: name, apiVersion, namespaced, kind, verbs.
    assert rows["localsubjectaccessreviews"][1:] == [
        "authorization.k8s.io/v1",
        "true",
        "LocalSubjectAccessReview",
        "create",
    ]
    assert rows["subjectaccessreviews"][2:] == ["false", "SubjectAccessReview", "create"]
    explained = cluster.kubectl("explain", "selfsubjectaccessreviews.spec", binary=kubectl_binary).stdout
    assert "GROUP:      authorization.k8s.io" in explained and "resourceAttributes" in explained
    listed = cluster.kubectl("get", "--raw", "/apis/authorization.k8s.io/v1/subjectaccessreviews", check=False)
    assert listed.returncode != 0 and "(MethodNotAllowed)" in listed.stderr


def test_whoami(cluster: Cluster, kubectl_binary: Path) -> None:
    out = cluster.kubectl("auth", "whoami", "-o", "json", binary=kubectl_binary).stdout
    info = json.loads(out)["status"]["userInfo"]
    assert info["username"] == "kuberya-admin"
    assert info["groups"] == ["system:masters", "system:authenticated"]
    table = cluster.kubectl("auth", "whoami", binary=kubectl_binary).stdout
    assert "kuberya-admin" in table and "[system:masters system:authenticated]" in table


def test_reconcile_creates_then_keeps_a_role(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    manifest = textwrap.dedent(
        f"""\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {{name: deployer, namespace: {namespace}}}
        rules:
        - {{apiGroups: [apps], resources: [deployments], verbs: [get, list, create]}}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {{name: deployer, namespace: {namespace}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}
        subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: ci}}]
        """
    )
    path = cluster.data_dir / f"reconcile-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(manifest)
    try:
        first = cluster.kubectl("auth", "reconcile", "-f", str(path), binary=kubectl_binary)
        assert "role.rbac.authorization.k8s.io/deployer reconciled" in first.stdout
        assert "reconciliation required create" in first.stderr
        assert "{Kind:User APIGroup:rbac.authorization.k8s.io Name:ci Namespace:}" in first.stderr
        assert _can_i(cluster, kubectl_binary, "create", "deployments", "--as", "ci", "-n", namespace) == "yes"
        again = cluster.kubectl("auth", "reconcile", "-f", str(path), binary=kubectl_binary)
        assert "rolebinding.rbac.authorization.k8s.io/deployer reconciled" in again.stdout
        assert "reconciliation required" not in again.stdout + again.stderr
    finally:
        path.unlink()


def test_ask_grants_view_then_answers_can_i(cluster: Cluster, namespace: str) -> None:
    def ask(text: str) -> str:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir / "home")}
        result = subprocess.run(
            [sys.executable, "-c", "from kuberya.cli.main import main; main()", "ask", text],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    before = ask(f"can carol list pods in {namespace}?")
    assert f"$ kubectl auth can-i list pods --as carol -n {namespace}" in before
    assert before.rstrip().endswith("— no")
    granted = ask(f"carol한테 {namespace} 네임스페이스 보기 권한 줘")
    assert f"$ kubectl create rolebinding carol-view --clusterrole=view --user=carol -n {namespace}" in granted
    # The view ClusterRole is aggregated by the clusterrole-aggregation controller from system:aggregate-to-view.
    after = ask(f"carol이 {namespace}에서 파드를 볼 수 있어?")
    assert after.rstrip().endswith("— yes")
    assert _can_i(cluster, VENV_KUBECTL, "list", "pods", "--as", "carol", "-n", namespace) == "yes"
    assert _can_i(cluster, VENV_KUBECTL, "delete", "pods", "--as", "carol", "-n", namespace) == "no"
