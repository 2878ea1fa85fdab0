"""Job and CronJob write warnings, as upstream's strategies give them."""

from __future__ import annotations

from typing import Any

from kuberya.resources import kinds
from kuberya.resources.kinds.job_warnings import cron_job_warnings, job_warnings

LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAME_WARNING = (
    "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; "
    "a DNS label is recommended: "
)


def job(name: str = "pi", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "generation": generation}, "spec": spec}


def cron_job(
    name: str = "nightly", generation: int = 1, schedule: str = "0 3 * * *", **job_spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": generation},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": job_spec}},
    }


def test_a_name_that_is_no_dns_label_is_warned_about_on_create_only() -> None:
    assert job_warnings(job("pi"), None) == []
    assert job_warnings(job("pi.v2"), None) == [f"{NAME_WARNING}[{LABEL_RULE}]"]
    assert job_warnings(job("pi.v2", generation=2), job("pi.v2")) == []
    assert cron_job_warnings(cron_job("nightly.backup"), None) == [f"{NAME_WARNING}[{LABEL_RULE}]"]
    long_name = "a" * 64  # a valid subdomain, but too long for a label
    assert job_warnings(job(long_name), None) == [f"{NAME_WARNING}[must be no more than 63 characters]"]


def test_huge_indexed_jobs_are_warned_about_on_create_and_on_spec_changes() -> None:
    huge = {"completionMode": "Indexed", "completions": 100_001, "parallelism": 10_001}
    message = (
        "In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, "
        "Kubernetes might not be able to track completedIndexes when a big number of indexes fail"
    )
    assert job_warnings(job(**huge), None) == [f"spec: {message}"]
    assert job_warnings(job(**{**huge, "completionMode": "NonIndexed"}), None) == []
    assert job_warnings(job(**{**huge, "parallelism": 10_000}), None) == []
    assert job_warnings(job(generation=2, **huge), job(**huge)) == [f"spec: {message}"]
    assert job_warnings(job(**huge), job(**huge)) == []  # a metadata-only update
    assert cron_job_warnings(cron_job(**huge), None) == [f"spec.jobTemplate.spec: {message}"]


def test_a_cron_job_update_with_a_tz_schedule_is_told_to_use_time_zone() -> None:
    old = cron_job(schedule="CRON_TZ=UTC 0 3 * * *")
    assert cron_job_warnings(cron_job(schedule="CRON_TZ=UTC 0 3 * * *"), old) == [
        "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, "
        "see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
    ]
    assert cron_job_warnings(cron_job(), old) == []


def test_the_kinds_use_them() -> None:
    by_kind = {spec.resource_types[0].kind: spec for spec in kinds.REGISTRY}
    assert by_kind["Job"].warnings is job_warnings
    assert by_kind["CronJob"].warnings is cron_job_warnings
