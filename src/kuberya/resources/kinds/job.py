"""batch/v1 Job: pods run to completion, counted, retried and given up on as upstream's Job API says.

What the API server does with a Job (``pkg/registry/batch/job/strategy.go``,
``pkg/apis/batch/v1/defaults.go``):

* **the generated selector** (``PrepareForCreate``): unless ``spec.manualSelector`` is true, the
  template gets the labels ``controller-uid``/``batch.kubernetes.io/controller-uid`` (the Job's uid)
  and ``job-name``/``batch.kubernetes.io/job-name``, and the selector ``matchLabels`` the prefixed
  uid label; a label the user set already is left alone, and validation rejects it if it is wrong;
* **defaults**: parallelism and completions 1 when both are unset (parallelism 1 when only it
  is), ``backoffLimit`` 6 (``MaxInt32`` with ``backoffLimitPerIndex``), ``completionMode``
  NonIndexed, ``suspend`` and ``manualSelector`` false, ``podReplacementPolicy`` Failed with a
  pod failure policy and TerminatingOrFailed without, a pod condition pattern's ``status`` True,
  the PodSpec defaults on the template, and the template's labels on a Job that has none;
* its Table (``printJob``), the ``status.successful`` field selector, the ``status`` subresource.

Validation lives in :mod:`.job_validation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.defaults import child, default_pod_spec, set_default
from kuberya.resources.kinds.job_validation import validate_job
from kuberya.resources.kinds.job_warnings import job_warnings
from kuberya.resources.kinds.spec import KindSpec, status_of
from kuberya.resources.patchmeta import workload
from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    age,
    column,
    dig,
    format_label_selector,
    human_duration,
    layout_containers,
    name,
    parse_time,
    since,
)
from kuberya.resources.selectors import field_value
from kuberya.resources.types import JSONObject, ResourceType

BATCH_V1 = "io.k8s.api.batch.v1"

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
MAX_INT32 = 2**31 - 1
DEFAULT_BACKOFF_LIMIT = 6


def default_job(job: JSONObject) -> None:
    """Upstream's ``SetDefaults_Job`` (v1.32), plus the PodSpec defaults of the template."""
    spec = child(job, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    set_default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else DEFAULT_BACKOFF_LIMIT
    template = child(spec, "template")
    template_labels = (template.get("metadata") or {}).get("labels")
    metadata = child(job, "metadata")
    if template_labels and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)
    if not spec.get("completionMode"):
        spec["completionMode"] = "NonIndexed"
    set_default(spec, "suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in policy.get("rules") or []:
            for pattern in (rule.get("onPodConditions") or []) if isinstance(rule, dict) else []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if not spec.get("podReplacementPolicy"):
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"
    set_default(spec, "manualSelector", False)
    default_pod_spec(child(template, "spec"))
    child(job, "status")


def generate_selector(job: JSONObject) -> None:
    """Upstream's ``generateSelector``: labels that tie the template's pods to this Job alone."""
    spec = child(job, "spec")
    if spec.get("manualSelector") is True:
        return
    metadata = job.get("metadata") or {}
    uid, job_name = str(metadata.get("uid") or ""), str(metadata.get("name") or "")
    labels = child(child(child(spec, "template"), "metadata"), "labels")
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, job_name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    selector = child(spec, "selector")
    child(selector, "matchLabels").setdefault(CONTROLLER_UID_LABEL, uid)


def prepare_create(job: JSONObject) -> None:
    """``PrepareForCreate``: an empty status, then the generated selector (the uid is known by now)."""
    job["status"] = {}
    generate_selector(job)


# ---- the Table ---------------------------------------------------------------------------------

COLUMNS = (
    NAME,
    column("Status", "string", "Status of the job."),
    column(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given "
        "spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    column("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", "string", "jobSelector", priority=1),
)

# printJob's order: the first condition type that is true names the status.
_STATUS_ORDER = ("Complete", "Failed", "Terminating", "Suspended", "FailureTarget", "SuccessCriteriaMet")


def has_condition(job: JSONObject, ctype: str) -> bool:
    """Whether the Job has a condition of ``ctype`` with status True (``hasJobCondition``)."""
    conditions = dig(job, "status", "conditions") or []
    return any(isinstance(c, dict) and c.get("type") == ctype and c.get("status") == "True" for c in conditions)


def job_status_word(job: JSONObject) -> str:
    """The Status column: Complete, Failed, Terminating, Suspended, FailureTarget, SuccessCriteriaMet, Running."""
    for word in _STATUS_ORDER:
        if word == "Terminating":
            if dig(job, "metadata", "deletionTimestamp"):
                return word
        elif has_condition(job, word):
            return word
    return "Running"


def _completions(job: JSONObject) -> str:
    spec, succeeded = job.get("spec") or {}, int(dig(job, "status", "succeeded") or 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 0)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(job: JSONObject, now: datetime) -> str:
    start = dig(job, "status", "startTime")
    if not start:
        return ""
    end = parse_time(dig(job, "status", "completionTime"))
    began = parse_time(start)
    if end is None or began is None:
        return since(start, now)
    return human_duration((end - began).total_seconds())


def print_job(job: JSONObject, now: datetime) -> list[Any]:
    """Upstream's ``printJob``, wide cells included."""
    names, images = layout_containers(dig(job, "spec", "template", "spec", "containers"))
    return [
        name(job),
        job_status_word(job),
        _completions(job),
        _duration(job, now),
        age(job, now),
        names,
        images,
        format_label_selector(dig(job, "spec", "selector"), empty=""),
    ]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="batch",
            version="v1",
            resource="jobs",
            kind="Job",
            singular="job",
            namespaced=True,
            categories=("all",),
            subresources=(status_of("Job"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": BATCH_V1},
    protobuf=True,  # kubectl create job sends protobuf
    defaults=default_job,
    validate=validate_job,
    columns=COLUMNS,
    printer=print_job,
    fields={"status.successful": lambda o: field_value(int(dig(o, "status", "succeeded") or 0))},
    patch_meta=workload(),
    prepare_create=prepare_create,
    warnings=job_warnings,
    default_propagation="Orphan",  # batch/v1, for backwards compatibility (upstream's jobStrategy)
)
