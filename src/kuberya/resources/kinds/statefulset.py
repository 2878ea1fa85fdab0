"""apps/v1 StatefulSet: pods with stable identities (``web-0``, ``web-1``…) and their own claims.

As upstream (``pkg/apis/apps/v1/defaults.go``, ``pkg/apis/apps/validation``,
``pkg/registry/apps/statefulset/strategy.go``, ``printStatefulSet``):

* defaults: ``podManagementPolicy: OrderedReady``, ``updateStrategy`` RollingUpdate with
  ``partition: 0`` and ``maxUnavailable: 1``, ``persistentVolumeClaimRetentionPolicy``
  Retain/Retain, ``replicas: 1``, ``revisionHistoryLimit: 10``; each ``volumeClaimTemplates``
  entry gets a claim's defaults (``volumeMode: Filesystem``, ``status.phase: Pending``);
* validation: the policies and strategies by name, non-negative counts, a non-empty selector that
  matches the template's labels, ``restartPolicy: Always``, no ``activeDeadlineSeconds``, a
  DNS-1035 ``serviceName``, valid claim templates; on update only ``replicas``, ``ordinals``,
  ``template``, ``updateStrategy``, ``persistentVolumeClaimRetentionPolicy``,
  ``revisionHistoryLimit`` and ``minReadySeconds`` may change;
* the Table: Name, Ready (``ready/desired``), Age, and wide Containers, Images.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources import validation
from kuberya.resources.defaults import child, default_pod_spec
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.persistentvolumeclaim import default_claim, validate_claim_spec
from kuberya.resources.kinds.spec import APPS_V1, SCALE, KindSpec, status_of
from kuberya.resources.names import dns1035_label_errors
from kuberya.resources.patchmeta import workload
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.printers_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    age,
    column,
    layout_template,
    name,
)
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import (
    forbidden,
    int_or_percent,
    invalid,
    non_negative,
    not_supported,
    required,
    selector_selects_template,
)

ORDERED_READY, PARALLEL = "OrderedReady", "Parallel"
ROLLING_UPDATE, ON_DELETE = "RollingUpdate", "OnDelete"
RETAIN, DELETE = "Retain", "Delete"
UPDATABLE_SPEC_FIELDS = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "revisionHistoryLimit",
    "minReadySeconds",
)
_FORBIDDEN_UPDATE = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'persistentVolumeClaimRetentionPolicy', 'revisionHistoryLimit' and 'minReadySeconds' are forbidden"
)


# ---- defaults --------------------------------------------------------------------------------


def _default(sts: JSONObject) -> None:
    spec = child(sts, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = ORDERED_READY
    strategy = child(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = ROLLING_UPDATE
        if strategy.get("rollingUpdate") is None:
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == ROLLING_UPDATE and isinstance(rolling, dict):
        if rolling.get("partition") is None:
            rolling["partition"] = 0
        if rolling.get("maxUnavailable") is None:  # MaxUnavailableStatefulSet: beta, on by default
            rolling["maxUnavailable"] = 1
    policy = child(spec, "persistentVolumeClaimRetentionPolicy")
    for when in ("whenDeleted", "whenScaled"):
        if not policy.get(when):
            policy[when] = RETAIN
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    template = child(spec, "template")
    default_pod_spec(child(template, "spec"))
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            # The embedded claims are typed PersistentVolumeClaims: upstream serializes their kind.
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            default_claim(claim)
    status = child(sts, "status")
    # Non-omitempty upstream, and required by the Python client's model.
    status.setdefault("replicas", 0)
    status.setdefault("availableReplicas", 0)


# ---- validation ------------------------------------------------------------------------------


def _validate_strategy(spec: JSONObject) -> list[Cause]:
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type") or ""
    rolling = strategy.get("rollingUpdate")
    if not kind:
        return [required("spec.updateStrategy")]
    if kind == ON_DELETE:
        if rolling is not None:
            return [
                invalid(
                    "spec.updateStrategy.rollingUpdate", rolling, f"only allowed for updateStrategy '{ROLLING_UPDATE}'"
                )
            ]
        return []
    if kind != ROLLING_UPDATE:
        return [invalid("spec.updateStrategy", strategy, f"must be '{ROLLING_UPDATE}' or '{ON_DELETE}'")]
    if not isinstance(rolling, dict):
        return []
    path = "spec.updateStrategy.rollingUpdate"
    causes = non_negative(f"{path}.partition", rolling.get("partition"))
    if rolling.get("maxUnavailable") is not None:
        # A count or a percentage of at most 100%, as a Deployment's (and with its messages).
        problems, number, _ = int_or_percent(rolling["maxUnavailable"], f"{path}.maxUnavailable")
        causes.extend(problems)
        if number == 0:
            causes.append(invalid(f"{path}.maxUnavailable", rolling["maxUnavailable"], "cannot be 0"))
    return causes


def _validate_selector_and_template(spec: JSONObject) -> list[Cause]:
    selector_spec = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes = selector_selects_template(selector_spec, labels, "statefulset")
    claims = frozenset(
        str((c.get("metadata") or {}).get("name") or "")
        for c in spec.get("volumeClaimTemplates") or []
        if isinstance(c, dict)
    )
    causes.extend(validation.validate_long_running_template(template, "StatefulSet", claim_volumes=claims))
    return causes


def _validate_spec(spec: JSONObject) -> list[Cause]:
    causes: list[Cause] = []
    policy = spec.get("podManagementPolicy") or ""
    if not policy:
        causes.append(required("spec.podManagementPolicy"))
    elif policy not in (ORDERED_READY, PARALLEL):
        causes.append(invalid("spec.podManagementPolicy", policy, f"must be '{ORDERED_READY}' or '{PARALLEL}'"))
    causes.extend(_validate_strategy(spec))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for when in ("whenDeleted", "whenScaled"):
            if retention.get(when) not in (RETAIN, DELETE):
                causes.append(
                    not_supported(
                        f"spec.persistentVolumeClaimRetentionPolicy.{when}", retention.get(when) or "", (RETAIN, DELETE)
                    )
                )
    causes.extend(non_negative("spec.replicas", spec.get("replicas")))
    causes.extend(non_negative("spec.minReadySeconds", spec.get("minReadySeconds")))
    causes.extend(non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    if isinstance(spec.get("ordinals"), dict):
        causes.extend(non_negative("spec.ordinals.start", spec["ordinals"].get("start")))
    service = spec.get("serviceName") or ""
    if service:
        causes.extend(invalid("spec.serviceName", service, e) for e in dns1035_label_errors(service))
    causes.extend(_validate_selector_and_template(spec))
    seen: set[str] = set()
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        path = f"spec.volumeClaimTemplates[{i}]"
        claim_name = str((claim.get("metadata") or {}).get("name") or "")
        if not claim_name:
            causes.append(required(f"{path}.metadata.name", "name or generateName is required"))
        elif claim_name in seen:
            causes.append(invalid(f"{path}.metadata.name", claim_name, "duplicate volume claim template name"))
        seen.add(claim_name)
        causes.extend(validate_claim_spec(claim.get("spec"), f"{path}.spec"))
    return causes


def _fixed_part(spec: JSONObject) -> JSONObject:
    return {k: v for k, v in spec.items() if k not in UPDATABLE_SPEC_FIELDS}


def _validate(sts: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = sts.get("spec") or {}
    causes = _validate_spec(spec)
    if old is not None and _fixed_part(spec) != _fixed_part(old.get("spec") or {}):
        causes.append(forbidden("spec", _FORBIDDEN_UPDATE))
    return causes


# ---- the Table -------------------------------------------------------------------------------

COLUMNS = (
    NAME,
    column("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
)


def _print(sts: JSONObject, now: datetime) -> list[Any]:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    names, images = layout_template(spec)
    replicas = spec.get("replicas")
    desired = 0 if replicas is None else int(replicas)
    return [name(sts), f"{int(status.get('readyReplicas') or 0)}/{desired}", age(sts, now), names, images]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="apps",
            version="v1",
            resource="statefulsets",
            kind="StatefulSet",
            singular="statefulset",
            namespaced=True,
            short_names=("sts",),
            categories=("all",),
            subresources=(SCALE, status_of("StatefulSet")),
            has_status=True,
        ),
    ),
    schema_packages={"v1": APPS_V1},
    protobuf=True,  # client-go (and kube components) may send it as protobuf
    defaults=_default,
    validate=_validate,
    warnings=template_warnings("spec.template"),
    columns=COLUMNS,
    printer=_print,
    patch_meta=workload(),
    prepare_create=reset_status,
)
