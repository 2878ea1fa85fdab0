"""StatefulSet, ControllerRevision and PersistentVolumeClaim: defaults, validation, Tables, as upstream."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kuberya.resources import kinds, printers

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def sts(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:v1"}]},
            },
            **spec,
        },
    }
    kinds.apply_defaults(body)
    return body


def claim(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec},
    }
    kinds.apply_defaults(body)
    return body


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in kinds.validate(obj, old=old)]


def test_statefulset_defaults() -> None:
    spec = sts(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": claim()["spec"]}])["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert (spec["replicas"], spec["revisionHistoryLimit"]) == (1, 10)
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    (template,) = spec["volumeClaimTemplates"]
    assert (template["apiVersion"], template["kind"]) == ("v1", "PersistentVolumeClaim")
    assert (template["spec"]["volumeMode"], template["status"]) == ("Filesystem", {"phase": "Pending"})
    on_delete = sts(updateStrategy={"type": "OnDelete"})["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}, "no rollingUpdate for OnDelete"


def test_statefulset_validation_messages() -> None:
    assert messages(sts()) == []
    bad = sts(podManagementPolicy="Sometimes", replicas=-1, ordinals={"start": -2})
    assert messages(bad) == [
        "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'",
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.ordinals.start: Invalid value: -2: must be greater than or equal to 0",
    ]
    mismatch = sts()
    mismatch["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    assert messages(mismatch) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`"
    ]
    # A LabelSelector is printed as upstream's field.Invalid prints the Go struct, as for a Deployment.
    empty = sts(selector={})
    assert messages(empty)[0] == (
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset"
    )
    zero = sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}})
    assert messages(zero) == ["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: cannot be 0"]
    with_rolling = sts(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}})
    assert messages(with_rolling) == [
        'spec.updateStrategy.rollingUpdate: Invalid value: {"partition":1}: only allowed for updateStrategy '
        "'RollingUpdate'"
    ]
    assert messages(sts(serviceName="Web_1"))[0].startswith('spec.serviceName: Invalid value: "Web_1": a DNS-1035')
    deadline = sts()
    deadline["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert messages(deadline) == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported"
    ]
    retention = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep", "whenScaled": "Retain"})
    assert messages(retention) == [
        'spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported values: '
        '"Delete", "Retain"'
    ]


def test_statefulset_updates_touch_only_the_mutable_fields() -> None:
    old = sts()
    new = copy.deepcopy(old)
    new["spec"].update(replicas=5, minReadySeconds=3, revisionHistoryLimit=2, ordinals={"start": 1})
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "web:v2"
    new["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    assert messages(new, old) == []
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    assert messages(renamed, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'revisionHistoryLimit' and 'minReadySeconds' "
        "are forbidden"
    ]


def test_statefulset_table() -> None:
    rt = kinds.lookup("apps", "v1", "statefulsets")
    assert rt is not None and rt.short_names == ("sts",) and rt.categories == ("all",)
    assert {s.name for s in rt.subresources} == {"scale", "status"}
    names = [c["name"] for c in printers.table_columns(rt)]
    assert names == ["Name", "Ready", "Age", "Containers", "Images"]
    obj = sts(replicas=3)
    obj["status"]["readyReplicas"] = 2
    assert printers.table_row_cells(rt, obj, now=NOW) == ["web", "2/3", "0s", "web", "web:v1"]


def test_controller_revision_data_is_required_and_immutable() -> None:
    rt = kinds.lookup("apps", "v1", "controllerrevisions")
    assert rt is not None
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": "web-abc",
            "namespace": "default",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": True}
            ],
        },
        "data": {"spec": {}},
        "revision": 2,
    }
    assert messages(revision) == []
    assert messages({**revision, "data": None, "revision": -1}) == [
        "data: Required value: data is mandatory",
        "revision: Invalid value: -1: must be greater than or equal to 0",
    ]
    assert messages({**revision, "data": {"other": 1}}, revision) == [
        'data: Invalid value: {"other":1}: field is immutable'
    ]
    assert [c["name"] for c in printers.table_columns(rt)] == ["Name", "Controller", "Revision", "Age"]
    assert printers.table_row_cells(rt, revision, now=NOW) == ["web-abc", "statefulset.apps/web", 2, "0s"]
    orphan = {**revision, "metadata": {"name": "x"}}
    assert printers.table_row_cells(rt, orphan, now=NOW)[1] == "<none>"


def test_claim_defaults_validation_and_table() -> None:
    pvc = claim()
    assert (pvc["spec"]["volumeMode"], pvc["status"]) == ("Filesystem", {"phase": "Pending"})
    assert messages(pvc) == []
    empty = claim(accessModes=[], resources={})
    assert messages(empty) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    odd = claim(accessModes=["ReadWriteSometimes"], volumeMode="Tape")
    assert messages(odd) == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
        '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
        'spec.volumeMode: Unsupported value: "Tape": supported values: "Block", "Filesystem"',
    ]
    changed = claim(accessModes=["ReadWriteMany"])
    assert messages(changed, pvc)[-1].startswith("spec: Forbidden: spec is immutable after creation")
    grown = claim(resources={"requests": {"storage": "2Gi"}})
    # as upstream: only a bound claim's request may change (admission then asks its class)
    assert messages(grown, pvc)[-1].startswith("spec: Forbidden: spec is immutable after creation")
    bound = {**pvc, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}
    assert messages({**grown, "status": bound["status"]}, bound) == []
    rt = kinds.lookup("", "v1", "persistentvolumeclaims")
    assert rt is not None and rt.short_names == ("pvc",)
    assert [c["name"] for c in printers.table_columns(rt)] == [
        "Name",
        "Status",
        "Volume",
        "Capacity",
        "Access Modes",
        "StorageClass",
        "VolumeAttributesClass",
        "Age",
        "VolumeMode",
    ]
    row = printers.table_row_cells(rt, {**pvc, "metadata": {**pvc["metadata"], "creationTimestamp": None}}, now=NOW)
    assert row == ["data", "Pending", "", "", "", "", "<unset>", "<unknown>", "Filesystem"]
    bound = copy.deepcopy(pvc)
    bound["spec"].update(volumeName="pv-1", storageClassName="local-path")
    bound["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert printers.table_row_cells(rt, bound, now=NOW)[:6] == ["data", "Bound", "pv-1", "1Gi", "RWO", "local-path"]


def test_protobuf_bodies_decode_to_the_same_json() -> None:
    from kuberya.resources.protobuf import decode_object, encode_object

    bodies = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim()["spec"]}],
                "ordinals": {"start": 2},
            },
        },
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d"}, "spec": claim()["spec"]},
        {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "r"},
            "data": {"spec": {"template": {"$patch": "replace"}}},
            "revision": 2,
        },
    ]
    for body in bodies:
        assert decode_object(encode_object(body)) == body, body["kind"]
