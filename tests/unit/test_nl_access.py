"""kuberya.nl for access: can-i questions answered by a review, grants made as RoleBindings."""

from __future__ import annotations

from typing import Any

import pytest

from kuberya.cli.plan_runner import PlanRunner
from kuberya.client.fake import Action, FakeApiClient
from kuberya.nl import Intent, NotUnderstood, Plan, Request, StaticFacts, build_plan, parse, validate_request


def plan(text: str) -> Plan:
    return build_plan(parse(text), StaticFacts())


@pytest.mark.parametrize("text", ["can the ci account delete pods?", "ci 계정이 파드를 지울 수 있어?"])
def test_can_the_ci_account_delete_pods_is_asked_as_its_service_account(text: str) -> None:
    (step,) = plan(text).steps
    assert step.kubectl == "kubectl auth can-i delete pods --as system:serviceaccount:default:ci"
    op = step.operation
    assert (op.api_version, op.resource, op.namespace) == (
        "authorization.k8s.io/v1",
        "localsubjectaccessreviews",
        "default",
    )
    assert op.body == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": "default"},
        "spec": {
            "resourceAttributes": {"namespace": "default", "verb": "delete", "group": "", "resource": "pods"},
            "user": "system:serviceaccount:default:ci",
            # What the service-account authenticator adds: the review answers what the token meets.
            "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
        },
    }


def test_a_user_in_a_namespace_and_a_grouped_resource() -> None:
    (step,) = plan("can bob create deployments in the dev namespace").steps
    assert step.kubectl == "kubectl auth can-i create deployments --as bob -n dev"
    assert step.operation.body is not None
    assert step.operation.body["spec"]["resourceAttributes"]["group"] == "apps"
    assert step.operation.body["spec"]["user"] == "bob"


@pytest.mark.parametrize("text", ["alice한테 shop 네임스페이스 보기 권한 줘", "give alice view access to shop"])
def test_a_grant_is_a_rolebinding_to_view_in_that_namespace(text: str) -> None:
    p = plan(text)
    create_ns, bind = p.steps  # shop does not exist in these facts: it is created first
    assert create_ns.kubectl == "kubectl create namespace shop"
    assert bind.kubectl == "kubectl create rolebinding alice-view --clusterrole=view --user=alice -n shop"
    assert bind.operation.resource == "rolebindings" and bind.operation.namespace == "shop"
    assert bind.operation.body == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "alice-view", "namespace": "shop"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    }
    assert not p.destructive


def test_a_grant_to_a_service_account_names_it_in_its_namespace() -> None:
    bind = build_plan(parse("grant the ci account edit in dev"), StaticFacts(namespaces=frozenset({"dev"}))).steps[-1]
    assert bind.kubectl == "kubectl create rolebinding ci-edit --clusterrole=edit --serviceaccount=dev:ci -n dev"
    assert bind.operation.body is not None
    assert bind.operation.body["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]


def test_what_is_not_an_access_request_is_left_to_the_other_intents() -> None:
    assert parse("can you run payment for me?").intent is Intent.RUN_APP
    assert parse("can the ci account delete pods?").intent is Intent.CAN_I


def test_the_access_fields_are_validated() -> None:
    with pytest.raises(NotUnderstood, match="role must be one of view, edit, admin"):
        validate_request(Request(Intent.GRANT, subject="alice", role="root"))
    with pytest.raises(NotUnderstood, match="verb must be one of"):
        validate_request(Request(Intent.CAN_I, subject="alice", verb="fly", resource="pods"))
    with pytest.raises(NotUnderstood, match="subject is for can_i and grant"):
        validate_request(Request(Intent.RUN_APP, app="payment", subject="alice"))
    with pytest.raises(NotUnderstood, match="can_i needs verb"):
        validate_request(Request(Intent.CAN_I, subject="alice", resource="pods"))
    # What an LLM may answer goes through the same checks.
    assert Request.from_dict({"intent": "grant", "subject": "alice", "role": "view"}).role == "view"


@pytest.mark.parametrize(("allowed", "said"), [(True, "yes"), (False, "no")])
async def test_the_runner_shows_the_reviews_answer(allowed: bool, said: str) -> None:
    fake = FakeApiClient()

    def review(action: Action) -> Any:
        if action.verb == "create" and action.resource == "localsubjectaccessreviews.authorization.k8s.io":
            return {**action.body, "status": {"allowed": allowed}}
        return None

    fake.reactors.append(review)
    (outcome,) = await PlanRunner(fake, language="en").run(plan("can the ci account delete pods?"))
    assert outcome.message == said
