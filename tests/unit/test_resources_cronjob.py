"""batch/v1 CronJob as a kind: defaults, validation messages and the Table, as upstream's."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kuberya.resources import kinds, printers
from kuberya.resources.kinds.cronjob import SPEC

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def cronjob(name: str = "hello", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-06-01T11:00:00Z"},
        "spec": {
            "schedule": "*/1 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "hello", "image": "busybox"}],
                            "restartPolicy": "OnFailure",
                        }
                    }
                }
            },
            **spec,
        },
    }


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    kinds.apply_defaults(obj)
    if old is not None:
        kinds.apply_defaults(old)
    return [f"{c.field}: {c.message}" for c in kinds.validate(obj, old=old)]


def test_defaults_as_upstream() -> None:
    obj = cronjob()
    kinds.apply_defaults(obj)
    spec = obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst" and pod["terminationGracePeriodSeconds"] == 30
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    # The Job's own defaults are the Job's, applied when the controller creates it.
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]
    again = copy.deepcopy(obj)
    kinds.apply_defaults(again)
    assert again == obj


def test_explicit_values_are_kept() -> None:
    obj = cronjob(concurrencyPolicy="Forbid", suspend=True, successfulJobsHistoryLimit=0)
    kinds.apply_defaults(obj)
    assert (obj["spec"]["concurrencyPolicy"], obj["spec"]["suspend"]) == ("Forbid", True)
    assert obj["spec"]["successfulJobsHistoryLimit"] == 0


def test_a_valid_cronjob() -> None:
    assert errors(cronjob()) == []
    assert errors(cronjob(schedule="@hourly", timeZone="Asia/Seoul", startingDeadlineSeconds=30)) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"schedule": ""}, "spec.schedule: Required value"),
        (
            {"schedule": "61 * * * *"},
            'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61',
        ),
        (
            {"schedule": "* * * *"},
            'spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]',
        ),
        (
            {"schedule": "TZ=UTC * * * * *"},
            'spec.schedule: Invalid value: "TZ=UTC * * * * *": '
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ),
        (
            {"timeZone": "Mars/Olympus_Mons"},
            'spec.timeZone: Invalid value: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons',
        ),
        ({"timeZone": ""}, 'spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string'),
        (
            {"timeZone": "Local"},
            'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in '
            "https://www.iana.org/time-zones",
        ),
        (
            {"timeZone": "../etc/passwd"},
            'spec.timeZone: Invalid value: "../etc/passwd": unknown time zone ../etc/passwd',
        ),
        (
            {"concurrencyPolicy": "Sometimes"},
            'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
        ),
        (
            {"startingDeadlineSeconds": -1},
            "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"successfulJobsHistoryLimit": -1},
            "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
        ),
    ],
)
def test_invalid_specs_with_upstream_messages(spec: dict[str, Any], message: str) -> None:
    assert message in errors(cronjob(**spec))


def test_the_job_template_must_not_restart_always_nor_bring_a_selector() -> None:
    obj = cronjob()
    job_spec = obj["spec"]["jobTemplate"]["spec"]
    job_spec["template"]["spec"]["restartPolicy"] = "Always"
    job_spec["selector"] = {"matchLabels": {"a": "b"}}
    found = errors(obj)
    assert (
        'spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "Never", "OnFailure"'
    ) in found
    assert any(e.startswith("spec.jobTemplate.spec.selector: Invalid value:") for e in found)
    assert any(e.endswith("`selector` will be auto-generated") for e in found)


def test_a_template_without_restart_policy_defaults_to_always_and_is_refused() -> None:
    obj = cronjob()
    del obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"]
    assert any(e.startswith("spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported") for e in errors(obj))


def test_names_longer_than_52_are_refused_on_create_only() -> None:
    long = "a" * 53
    assert f'metadata.name: Invalid value: "{long}": must be no more than 52 characters' in errors(cronjob(long))
    assert errors(cronjob("a" * 52)) == []
    assert errors(cronjob(long), old=cronjob(long)) == []


def test_a_tz_prefix_already_stored_may_stay_but_not_beside_time_zone() -> None:
    old = cronjob(schedule="TZ=UTC 0 * * * *")
    assert errors(cronjob(schedule="TZ=UTC 0 * * * *"), old=old) == []
    both = errors(cronjob(schedule="TZ=UTC 0 * * * *", timeZone="UTC"), old=old)
    assert (
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use both timeZone field and TZ or CRON_TZ in schedule'
        in both
    )


def test_table_as_upstream() -> None:
    rt = SPEC.storage
    names = [c["name"] for c in printers.table_columns(rt)]
    assert names == [
        "Name",
        "Schedule",
        "Timezone",
        "Suspend",
        "Active",
        "Last Schedule",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    obj = cronjob()
    kinds.apply_defaults(obj)
    obj["status"] = {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-06-01T11:59:00Z"}
    assert printers.table_row_cells(rt, obj, now=NOW) == [
        "hello",
        "*/1 * * * *",
        "<none>",
        "False",
        1,
        "60s",
        "60m",
        "hello",
        "busybox",
        "<none>",
    ]
    bare = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"}, "spec": {"timeZone": "UTC"}}
    cells = printers.table_row_cells(rt, bare, now=NOW)
    assert cells[2:6] == ["UTC", "<unset>", 0, "<none>"]


def test_discovery_facts() -> None:
    rt = SPEC.storage
    assert (rt.group, rt.version, rt.resource, rt.short_names, rt.categories) == (
        "batch",
        "v1",
        "cronjobs",
        ("cj",),
        ("all",),
    )
    assert [s.name for s in rt.subresources] == ["status"]
    assert kinds.lookup("batch", "v1", "cronjobs") is rt
