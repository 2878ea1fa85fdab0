"""kuberya.nl for storage: sizes in words, and the plans for claims, volume lists and sized StatefulSets."""

from __future__ import annotations

import pytest

from kuberya.nl import (
    ImageFacts,
    Intent,
    NotUnderstood,
    Plan,
    Request,
    StaticFacts,
    Verb,
    build_plan,
    facts_needed,
    parse,
    validate_request,
)

FACTS = StaticFacts(images={"redis": ImageFacts("redis:7", exposed_ports=(6379,))})


def plan(text: str) -> Plan:
    return build_plan(parse(text), FACTS)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("cache 볼륨 1Gi 만들어줘", "1Gi"),
        ("cache 볼륨 1기가 만들어줘", "1Gi"),
        ("cache 볼륨 500메가 만들어줘", "500Mi"),
        ("create a 2 GB claim called cache", "2G"),
        ("create a 2GiB claim called cache", "2Gi"),
        ("create a 500M claim called cache", "500M"),
        ("create a 1.5Gi claim called cache", "1.5Gi"),
        ("create a 3 gigabytes claim called cache", "3G"),
    ],
)
def test_sizes_become_kubernetes_quantities(text: str, size: str) -> None:
    assert parse(text).storage == size


def test_a_sized_app_is_a_statefulset_with_a_claim_template_mounted_where_the_image_keeps_data() -> None:
    p = plan("redis 3개를 순서대로 띄우고 각각 1Gi 디스크 줘")
    service, statefulset = (s.operation for s in p.steps)
    assert service.body is not None and service.body["spec"]["clusterIP"] == "None"
    assert statefulset.body is not None
    spec = statefulset.body["spec"]
    assert spec["replicas"] == 3
    (template,) = spec["volumeClaimTemplates"]
    assert template == {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert "storageClassName" not in template["spec"]  # the cluster's default class
    (container,) = spec["template"]["spec"]["containers"]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert any("volumeClaimTemplates:" in n and "&id" not in n for n in p.notes)  # the YAML, without anchors


@pytest.mark.parametrize(
    ("text", "path"),
    [("give postgres a 5Gi volume", "/var/lib/postgresql/data"), ("run mysql with 10Gi of storage", "/var/lib/mysql"),
     ("mongo 1기가로 띄워줘", "/data/db"), ("run myapp with 1Gi of storage", "/data")],
)  # fmt: skip
def test_mount_path_follows_the_image(text: str, path: str) -> None:
    body = plan(text).steps[-1].operation.body
    assert body is not None
    assert body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == path


def test_create_resize_delete_and_list_claims() -> None:
    create = plan("payment 볼륨 1Gi 만들어줘")
    (step,) = create.steps
    assert (step.operation.verb, step.operation.resource, step.kubectl) == (
        Verb.CREATE, "persistentvolumeclaims", "kubectl create -f -")  # fmt: skip
    assert step.operation.body is not None
    assert step.operation.body["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert not create.destructive

    (resize,) = plan("resize claim cache to 5Gi").steps
    assert resize.operation.verb is Verb.PATCH and resize.operation.patch_type == "merge"
    assert resize.operation.patch == {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    assert resize.kubectl == (
        'kubectl patch pvc cache --type=merge -p \'{"spec":{"resources":{"requests":{"storage":"5Gi"}}}}\''
    )

    delete = plan("cache 볼륨 지워줘")
    assert delete.destructive and delete.kubectl == ["kubectl delete pvc cache"]

    listing = plan("볼륨 목록 보여줘")
    assert listing.kubectl == ["kubectl get pvc", "kubectl get pv"]
    pvc, pv = (s.operation for s in listing.steps)
    assert (pvc.namespace, pv.namespace) == ("default", None)  # PVs are cluster-scoped


def test_storage_requests_need_no_deployment_lookup_and_sizes_are_validated() -> None:
    assert facts_needed(parse("cache 볼륨 5Gi로 늘려줘")).deployment is None
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.CREATE_CLAIM, app="cache"))  # no size
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.CREATE_CLAIM, app="cache", storage="lots"))
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.RUN_APP, app="cache", storage="1Gi"))
    assert Request.from_dict({"intent": "resize_claim", "app": "cache", "storage": "10Gi"}).storage == "10Gi"
