"""The ``Warning`` headers of Job and CronJob writes: upstream's ``WarningsOnCreate``/``WarningsOnUpdate``.

Both strategies (``pkg/registry/batch/job``, ``pkg/registry/batch/cronjob``) warn on create when
the name is not a DNS label (a DNS subdomain is valid, but the name goes into pod names and
hostnames), and run ``WarningsForJobSpec`` (``pkg/api/job/warnings.go``) on create and on every
update that changes the spec (a new ``metadata.generation``): an Indexed Job of more than 10^5
completions with a parallelism above 10^4 may not track its failed indexes, then the pod
template's warnings (:mod:`kuberya.resources.pod_warnings`). A CronJob update whose
schedule still carries ``TZ``/``CRON_TZ`` is told to use ``timeZone`` (upstream names the field
``spec.spec.schedule`` there; the text is kept as it is).
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.names import dns1123_label_errors
from kuberya.resources.pod_warnings import pod_spec_warnings
from kuberya.resources.types import JSONObject

NAME_WARNING = (
    "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; "
    "a DNS label is recommended: "
)
INDEXED_LIMITS_WARNING = (
    "In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, "
    "Kubernetes might not be able to track completedIndexes when a big number of indexes fail"
)
TZ_WARNING = (
    "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, "
    "see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
)
COMPLETIONS_SOFT_LIMIT = 100_000
PARALLELISM_SOFT_LIMIT = 10_000


def _dict(value: Any) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _generation(obj: JSONObject) -> Any:
    return _dict(obj.get("metadata")).get("generation")


def name_warnings(obj: JSONObject) -> list[str]:
    """The create-time warning for a name that is not a DNS label (Go prints the reasons as ``[a b]``)."""
    if errors := dns1123_label_errors(str(_dict(obj.get("metadata")).get("name") or "")):
        return [NAME_WARNING + "[" + " ".join(errors) + "]"]
    return []


def job_spec_warnings(path: str, spec: JSONObject) -> list[str]:
    """``WarningsForJobSpec`` for the JobSpec at ``path``."""
    warnings: list[str] = []
    if (
        spec.get("completionMode") == "Indexed"
        and _int(spec.get("completions")) > COMPLETIONS_SOFT_LIMIT
        and _int(spec.get("parallelism")) > PARALLELISM_SOFT_LIMIT
    ):
        warnings.append(f"{path}: {INDEXED_LIMITS_WARNING}")
    template = _dict(spec.get("template"))
    template_path = f"{path}.template"
    return warnings + pod_spec_warnings(_dict(template.get("spec")), _dict(template.get("metadata")), template_path)


def job_warnings(job: JSONObject, old: JSONObject | None) -> list[str]:
    spec = _dict(job.get("spec"))
    if old is None:
        return name_warnings(job) + job_spec_warnings("spec", spec)
    return job_spec_warnings("spec", spec) if _generation(job) != _generation(old) else []


def cron_job_warnings(cron_job: JSONObject, old: JSONObject | None) -> list[str]:
    spec = _dict(cron_job.get("spec"))
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    path = "spec.jobTemplate.spec"
    if old is None:
        return name_warnings(cron_job) + job_spec_warnings(path, job_spec)
    warnings = job_spec_warnings(path, job_spec) if _generation(cron_job) != _generation(old) else []
    if "TZ" in str(spec.get("schedule") or ""):
        warnings.append(TZ_WARNING)
    return warnings
