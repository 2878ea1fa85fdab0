"""batch/v1 CronJob: a Job template run on a cron schedule (the controller: ``controllers/cronjob.py``).

As upstream (``pkg/apis/batch/v1/defaults.go``, ``pkg/apis/batch/validation``,
``pkg/registry/batch/cronjob/strategy.go``, ``printCronJob``):

* defaults: ``concurrencyPolicy: Allow``, ``suspend: false``, ``successfulJobsHistoryLimit: 3``,
  ``failedJobsHistoryLimit: 1``, and the PodSpec defaults in the job template's pod template
  (not the Job's own defaults — ``backoffLimit``, ``completions`` — which upstream applies to
  Jobs only, when the controller creates them);
* validation: the schedule parses as robfig/cron's ``ParseStandard`` (its messages,
  :mod:`kuberya.meta.cron`), carries no ``TZ=``/``CRON_TZ=`` unless the stored one already did,
  ``timeZone`` is an IANA zone, the name is at most 52 characters on create (the controller
  appends ``-<11 digits>`` and a Job name is at most 63), the job template's pod restarts
  ``OnFailure`` or ``Never`` and has no selector of its own;
* a created CronJob starts with an empty status (written only through ``/status``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from kuberya.meta.cron import ScheduleError, load_zone, parse_standard
from kuberya.resources import defaults
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.job_warnings import cron_job_warnings
from kuberya.resources.kinds.spec import KindSpec, status_of
from kuberya.resources.patchmeta import ATOMIC_MAP, OBJECT_META, PatchMeta, at, template
from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    age,
    column,
    dig,
    format_label_selector,
    layout_template,
    name,
    since,
)
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation import validate_labels
from kuberya.resources.validation_base import invalid, non_negative, not_supported, required
from kuberya.resources.validation_pods import validate_pod_spec

BATCH_V1 = "io.k8s.api.batch.v1"

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
MAX_NAME_LENGTH = 52
"""63 (a Job name, a DNS-1035 label) less the 11 characters of ``-<minutes since the epoch>``."""
# IANA's naming rules for one component of a zone name, plus digits and '+' for legacy names.
_ZONE_COMPONENT = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


# ---- defaults --------------------------------------------------------------------------------


def _setdefault(obj: JSONObject, key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = value


def default_cron_job(cj: JSONObject) -> None:
    """``SetDefaults_CronJob`` plus the PodSpec defaults of its job template."""
    spec = cj.setdefault("spec", {})
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    _setdefault(spec, "suspend", False)
    _setdefault(spec, "successfulJobsHistoryLimit", 3)
    _setdefault(spec, "failedJobsHistoryLimit", 1)
    job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    pod_template = job_spec.setdefault("template", {})
    pod_spec = pod_template.get("spec")
    if isinstance(pod_spec, dict):
        defaults.default_pod_spec(pod_spec)


# ---- validation ------------------------------------------------------------------------------


def schedule_errors(schedule: str, *, allow_tz: bool, time_zone: str | None) -> list[str]:
    """Upstream ``validateScheduleFormat``: the details of ``spec.schedule``'s problems."""
    errors: list[str] = []
    try:
        parse_standard(schedule)
    except ScheduleError as e:
        errors.append(str(e))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errors.append("cannot use both timeZone field and TZ or CRON_TZ in schedule")
    elif not allow_tz and "TZ" in schedule:
        errors.append("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    return errors


def time_zone_error(time_zone: str) -> str:
    """Upstream ``validateTimeZone``: why ``time_zone`` is not an explicit IANA zone, or ``""``."""
    if not time_zone:
        return "timeZone must be nil or non-empty string"
    for part in time_zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _ZONE_COMPONENT.fullmatch(part):
            return f"unknown time zone {time_zone}"
    if time_zone.lower() == "local":
        return "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
    try:
        load_zone(time_zone)
    except ScheduleError as e:
        return str(e)
    return ""


def _validate_job_template(job_template: Any, path: str) -> list[Cause]:
    """``ValidateJobTemplateSpec``: the Job spec a CronJob stamps out, and no selector of its own."""
    if not isinstance(job_template, dict):
        return [required(path)]
    job_spec = job_template.get("spec") or {}
    spec_path = f"{path}.spec"
    causes: list[Cause] = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        causes.extend(non_negative(f"{spec_path}.{field}", job_spec.get(field)))
    pod_template = job_spec.get("template") or {}
    causes.extend(
        validate_labels((pod_template.get("metadata") or {}).get("labels"), f"{spec_path}.template.metadata.labels")
    )
    pod_spec = pod_template.get("spec")
    pod_path = f"{spec_path}.template.spec"
    causes.extend(validate_pod_spec(pod_spec, pod_path, restart_policies=JOB_RESTART_POLICIES))
    if job_spec.get("selector") is not None:
        causes.append(invalid(f"{spec_path}.selector", job_spec["selector"], "`selector` will be auto-generated"))
    if job_spec.get("manualSelector"):
        causes.append(not_supported(f"{spec_path}.manualSelector", True, ("nil", "false")))
    return causes


def validate_cron_job(cj: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = cj.get("spec") or {}
    old_spec = (old.get("spec") or {}) if old is not None else None
    causes: list[Cause] = []
    schedule = spec.get("schedule") or ""
    time_zone = spec.get("timeZone")
    if not schedule:
        causes.append(required("spec.schedule"))
    else:
        # A schedule stored with TZ= (before timeZone existed) may keep it on update.
        allow_tz = old_spec is not None and "TZ" in str(old_spec.get("schedule") or "")
        for detail in schedule_errors(str(schedule), allow_tz=allow_tz, time_zone=time_zone):
            causes.append(invalid("spec.schedule", schedule, detail))
    causes.extend(non_negative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds")))
    zone_changed = old_spec is None or old_spec.get("timeZone") != time_zone
    if time_zone is not None and zone_changed and (detail := time_zone_error(str(time_zone))):
        causes.append(invalid("spec.timeZone", time_zone, detail))
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        causes.append(required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        causes.append(not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    causes.extend(_validate_job_template(spec.get("jobTemplate"), "spec.jobTemplate"))
    for field in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes.extend(non_negative(f"spec.{field}", spec.get(field)))
    cj_name = str((cj.get("metadata") or {}).get("name") or "")
    # Only on create: an older CronJob with a longer name may still be updated and deleted.
    if old is None and len(cj_name) > MAX_NAME_LENGTH:
        causes.append(invalid("metadata.name", cj_name, f"must be no more than {MAX_NAME_LENGTH} characters"))
    return causes


# ---- Table -----------------------------------------------------------------------------------

COLUMNS = (
    NAME,
    column("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    column(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    column(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already "
        "started executions.  Defaults to false.",
    ),
    column("Active", "integer", "A list of pointers to currently running jobs."),
    column("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", "string", "jobSelector", priority=1),
)


def _bool_cell(value: Any) -> str:
    """Upstream ``printBoolPtr``: ``True``/``False``, ``<unset>`` for a nil pointer."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def print_cron_job(cj: JSONObject, now: datetime) -> list[Any]:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = dig(spec, "jobTemplate", "spec") or {}
    names, images = layout_template(job_spec)
    return [
        name(cj),
        spec.get("schedule", ""),
        spec.get("timeZone") if spec.get("timeZone") is not None else "<none>",
        _bool_cell(spec.get("suspend")),
        len(status.get("active") or []),
        since(last, now) if last else "<none>",
        age(cj, now),
        names,
        images,
        format_label_selector(job_spec.get("selector")),
    ]


# ---- strategic merge: upstream's struct tags on CronJobSpec → JobTemplateSpec → JobSpec -------

PATCH_META: dict[str, PatchMeta] = {
    **at("spec.jobTemplate.metadata", OBJECT_META),
    "spec.jobTemplate.spec.selector": ATOMIC_MAP,
    **template("spec.jobTemplate.spec.template"),
}


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="batch",
            version="v1",
            resource="cronjobs",
            kind="CronJob",
            singular="cronjob",
            namespaced=True,
            short_names=("cj",),
            categories=("all",),
            subresources=(status_of("CronJob"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": BATCH_V1},
    protobuf=True,  # kubectl create cronjob sends protobuf
    defaults=default_cron_job,
    validate=validate_cron_job,
    columns=COLUMNS,
    printer=print_cron_job,
    patch_meta=PATCH_META,
    prepare_create=reset_status,
    warnings=cron_job_warnings,
)
