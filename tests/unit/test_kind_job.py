"""batch/v1 Job as a kind: defaults, the generated selector, validation messages, the Table row."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kuberya.meta.intervals import IntervalError, format_intervals, indexes_of, parse_intervals
from kuberya.resources import kinds
from kuberya.resources.kinds import job as job_kind

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def created(**spec: Any) -> dict[str, Any]:
    """A Job as the API server stores it: prepared for create, defaulted."""
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
            **spec,
        },
    }
    job_kind.prepare_create(job)
    kinds.apply_defaults(job)
    return job


def messages(job: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in kinds.validate(job, old=old)]


def test_defaults_as_upstream() -> None:
    spec = created()["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["manualSelector"]) == ("NonIndexed", False, False)
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"  # the PodSpec defaults too
    only_parallelism = created(parallelism=3)["spec"]
    assert "completions" not in only_parallelism and only_parallelism["parallelism"] == 3
    per_index = created(completionMode="Indexed", completions=2, backoffLimitPerIndex=1)["spec"]
    assert per_index["backoffLimit"] == 2**31 - 1
    rules = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    with_policy = created(podFailurePolicy={"rules": rules})["spec"]
    assert with_policy["podReplacementPolicy"] == "Failed"
    assert with_policy["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def test_generated_selector_and_labels() -> None:
    job = created()
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    labels = {
        "controller-uid": "u-1",
        "batch.kubernetes.io/controller-uid": "u-1",
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
    }
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["metadata"]["labels"] == labels  # the template's labels, the Job having none
    assert messages(job) == []
    manual = created(manualSelector=True, selector={"matchLabels": {"a": "b"}})
    manual["spec"]["template"]["metadata"] = {"labels": {"a": "b"}}
    assert "controller-uid" not in manual["spec"]["selector"]["matchLabels"]
    assert messages(manual) == []


def test_wrong_generated_label_is_refused() -> None:
    job = created()
    job["spec"]["template"]["metadata"]["labels"]["controller-uid"] = "other"
    assert "spec.template.metadata.labels[controller-uid]: Invalid value: " in messages(job)[0]
    assert messages(job)[0].endswith("must be 'u-1'")


def test_restart_policy_messages() -> None:
    job = created()
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert messages(job) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    ]
    rules = [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}}]
    on_failure = created(podFailurePolicy={"rules": rules})
    on_failure["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert messages(on_failure) == [
        'spec.template.spec.restartPolicy: Invalid value: "OnFailure": '
        'only "Never" is supported when podFailurePolicy is specified'
    ]


def test_completion_mode_and_per_index_rules() -> None:
    assert messages(created(completionMode="Indexed", parallelism=2)) == [
        "spec.completions: Required value: when completion mode is Indexed"
    ]
    assert "spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode" in messages(
        created(backoffLimitPerIndex=1)
    )
    assert "spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified" in messages(
        created(completionMode="Indexed", completions=2, maxFailedIndexes=1)
    )
    assert 'spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"' in messages(
        created(completionMode="Sometimes")
    )


def test_pod_failure_policy_rules() -> None:
    rules: list[dict[str, Any]] = [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0, 3]}},
        {"action": "FailIndex", "onExitCodes": {"operator": "NotIn", "values": [5, 2]}},
        {"action": "Count"},
        {"action": "FailJob", "onExitCodes": {"containerName": "nope", "operator": "In", "values": [1]}},
    ]
    found = messages(created(podFailurePolicy={"rules": rules}))
    assert found == [
        "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
        'spec.podFailurePolicy.rules[1].action: Invalid value: "FailIndex": '
        "requires the backoffLimitPerIndex to be set",
        "spec.podFailurePolicy.rules[1].onExitCodes.values[1]: Invalid value: 2: must be ordered",
        "spec.podFailurePolicy.rules[2]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
        'spec.podFailurePolicy.rules[3].onExitCodes.containerName: Invalid value: "nope": '
        "must be one of the container or initContainer names in the pod template",
    ]


def test_update_rules() -> None:
    old = created(completions=3, parallelism=3)
    more = copy.deepcopy(old)
    more["spec"]["completions"] = 4
    assert messages(more, old) == ["spec.completions: Invalid value: 4: field is immutable"]
    # Elastic Indexed Jobs: completions may change together with parallelism.
    indexed = created(completionMode="Indexed", completions=3, parallelism=3)
    scaled = copy.deepcopy(indexed)
    scaled["spec"]["completions"] = scaled["spec"]["parallelism"] = 5
    assert messages(scaled, indexed) == []
    scaled["spec"]["parallelism"] = 4
    assert messages(scaled, indexed) == [
        "spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism"
    ]
    image = copy.deepcopy(old)
    image["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    assert [m.split(":")[0] for m in messages(image, old)] == ["spec.template"]


def test_a_suspended_unstarted_job_may_change_its_scheduling_directives() -> None:
    old = created(suspend=True)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    new["spec"]["template"]["metadata"]["annotations"] = {"note": "x"}
    assert messages(new, old) == []
    started = copy.deepcopy(old)
    started["status"] = {"startTime": "2026-01-01T00:00:00Z"}
    assert [m.split(":")[0] for m in messages(new, started)] == ["spec.template"]


def test_table_row() -> None:
    job = created(parallelism=3)
    job["metadata"]["creationTimestamp"] = "2026-01-01T11:59:00Z"
    job["status"] = {"startTime": "2026-01-01T11:59:30Z", "succeeded": 0}
    assert job_kind.print_job(job, NOW)[:5] == ["pi", "Running", "0/1 of 3", "30s", "60s"]
    job["status"]["completionTime"] = "2026-01-01T11:59:40Z"
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    cells = job_kind.print_job(job, NOW)
    assert cells[1:4] == ["Complete", "0/1 of 3", "10s"]
    assert cells[5:] == ["c", "busybox", "batch.kubernetes.io/controller-uid=u-1"]
    suspended = created(suspend=True)
    suspended["status"] = {"conditions": [{"type": "Suspended", "status": "True"}]}
    assert job_kind.print_job(suspended, NOW)[1:4] == ["Suspended", "0/1", ""]


def test_intervals() -> None:
    assert format_intervals({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert parse_intervals("1,3-5") == [(1, 1), (3, 5)]
    assert indexes_of("0-2,9", limit=5) == {0, 1, 2}
    for bad in ("3-1", "1,1", "a", "2,1"):
        try:
            parse_intervals(bad)
        except IntervalError:
            continue
        raise AssertionError(f"{bad!r} parsed")


def test_managed_by_is_a_domain_prefixed_path() -> None:
    assert messages(created(managedBy="kueue.x-k8s.io/multikueue")) == []
    assert messages(created(managedBy="nope")) == [
        'spec.managedBy: Invalid value: "nope": must be a domain-prefixed path (such as "acme.io/foo")'
    ]
