"""apps/v1 DaemonSet as a kind: defaults, validation messages, template generation, the Table row."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kuberya.resources import kinds, printers
from kuberya.resources.kinds import daemonset
from kuberya.resources.protobuf import SUPPORTED_KINDS, decode_object, encode_object

RT = kinds.lookup("apps", "v1", "daemonsets")


def manifest(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "logs"}},
        "template": {
            "metadata": {"labels": {"app": "logs"}},
            "spec": {"containers": [{"name": "logs", "image": "busybox"}]},
        },
    }
    body.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "logs", "namespace": "default"},
        "spec": body,
    }


def defaulted(**spec: Any) -> dict[str, Any]:
    ds = manifest(**spec)
    kinds.apply_defaults(ds)
    return ds


def messages(ds: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in kinds.validate(ds, old=old)]


def test_discovery_facts() -> None:
    assert RT is not None
    assert (RT.short_names, RT.categories, RT.namespaced) == (("ds",), ("all",), True)
    assert [s.name for s in RT.subresources] == ["status"]


def test_defaults_as_upstream() -> None:
    ds = defaulted()
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["spec"]["revisionHistoryLimit"] == 10
    pod_spec = ds["spec"]["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["dnsPolicy"]) == ("Always", "ClusterFirst")
    assert ds["status"] == {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }
    on_delete = defaulted(updateStrategy={"type": "OnDelete"})
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_a_valid_daemon_set_has_no_problems() -> None:
    assert messages(defaulted()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"selector": {"matchLabels": {"app": "other"}}},
            (
                "spec.template.metadata.labels",
                'Invalid value: map[string]string{"app":"logs"}: `selector` does not match template `labels`',
            ),
        ),
        (
            {"selector": {}},
            (
                "spec.selector",
                "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset",
            ),
        ),
        (
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}},
            ("spec.updateStrategy.rollingUpdate.maxUnavailable", "Required value: cannot be 0 when maxSurge is 0"),
        ),
        (
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "10%"}}},
            (
                "spec.updateStrategy.rollingUpdate.maxSurge",
                'Invalid value: "10%": may not be set when maxUnavailable is non-zero',
            ),
        ),
        (
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "120%", "maxSurge": 0}}},
            (
                "spec.updateStrategy.rollingUpdate.maxUnavailable",
                'Invalid value: "120%": must not be greater than 100%',
            ),
        ),
        (
            {"updateStrategy": {"type": "Recreate"}},
            (
                "spec.updateStrategy",
                'Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Recreate", '
                'RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: "OnDelete", "RollingUpdate"',
            ),
        ),
        (
            {"revisionHistoryLimit": -1},
            ("spec.revisionHistoryLimit", "Invalid value: -1: must be greater than or equal to 0"),
        ),
    ],
)
def test_invalid_specs_are_refused_with_upstreams_messages(change: dict[str, Any], expected: tuple[str, str]) -> None:
    ds = defaulted()
    ds["spec"].update(change)
    assert expected in messages(ds)


def test_the_template_must_restart_always_and_have_no_deadline() -> None:
    ds = defaulted()
    ds["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    ds["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert messages(ds) == [
        ("spec.template.spec.restartPolicy", 'Unsupported value: "OnFailure": supported values: "Always"'),
        ("spec.template.spec.activeDeadlineSeconds", "Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"),
    ]


def test_the_selector_is_immutable() -> None:
    old = defaulted()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "logs", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    fields = [f for f, m in messages(new, old) if m.endswith("field is immutable")]
    assert fields == ["spec.selector"]


def test_the_template_generation_starts_at_one_and_follows_template_changes() -> None:
    spec = kinds.spec_for_kind("DaemonSet")
    assert spec is not None
    created = manifest()
    spec.prepare_create(created)
    kinds.apply_defaults(created)
    assert created["metadata"]["annotations"] == {daemonset.TEMPLATE_GENERATION_ANNOTATION: "1"}
    # A client cannot set it; a spec change elsewhere leaves it; a template change bumps it.
    same = manifest(minReadySeconds=5)
    same["metadata"]["annotations"] = {daemonset.TEMPLATE_GENERATION_ANNOTATION: "7"}
    spec.prepare_update(same, created)
    assert same["metadata"]["annotations"][daemonset.TEMPLATE_GENERATION_ANNOTATION] == "1"
    changed = manifest()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    spec.prepare_update(changed, created)
    assert changed["metadata"]["annotations"][daemonset.TEMPLATE_GENERATION_ANNOTATION] == "2"


def test_table_row_as_upstream() -> None:
    assert RT is not None
    names = [c["name"] for c in printers.table_columns(RT)]
    assert names == [
        "Name",
        "Desired",
        "Current",
        "Ready",
        "Up-to-date",
        "Available",
        "Node Selector",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    ds = defaulted()
    ds["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd", "a": "b"}
    ds["status"].update(desiredNumberScheduled=3, currentNumberScheduled=2, numberReady=1, updatedNumberScheduled=2)
    cells = printers.table_row_cells(RT, ds, now=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert cells == [
        "logs",
        3,
        2,
        1,
        2,
        0,
        "a=b,disk=ssd",
        "5m",
        "logs",
        "busybox",
        "app=logs",
    ]
    ds["spec"]["template"]["spec"].pop("nodeSelector")
    assert printers.table_row_cells(RT, ds, now=datetime(2026, 1, 1, tzinfo=UTC))[6] == "<none>"


def test_a_protobuf_body_decodes_to_the_same_json() -> None:
    # client-go's typed clients send built-in kinds as protobuf; int-or-string bounds must survive.
    assert ("apps/v1", "DaemonSet") in SUPPORTED_KINDS
    ds = manifest(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}},
        minReadySeconds=5,
    )
    decoded = decode_object(encode_object(ds))
    assert decoded["spec"]["updateStrategy"] == ds["spec"]["updateStrategy"]
    assert decoded["spec"]["selector"] == ds["spec"]["selector"]
    assert decoded["spec"]["template"] == ds["spec"]["template"]
    assert decoded["spec"]["minReadySeconds"] == 5


def test_status_counts_are_non_negative_and_the_collision_count_never_drops() -> None:
    old = defaulted()
    old["status"]["collisionCount"] = 2
    new = copy.deepcopy(old)
    new["status"].update(collisionCount=1, numberReady=-1)
    assert messages(new, old) == [
        ("status.numberReady", "Invalid value: -1: must be greater than or equal to 0"),
        ("status.collisionCount", "Invalid value: 1: cannot be decremented"),
    ]
