"""apps/v1 Deployment: a rollout of ReplicaSets; scalable through ``/scale``."""

from __future__ import annotations

from kuberya.resources import defaults, printers_apps, validation
from kuberya.resources.kinds.spec import APPS_V1, SCALE, KindSpec, status_of
from kuberya.resources.patchmeta import PatchMeta, workload
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.types import JSONObject, ResourceType


def reset_status(obj: JSONObject) -> None:
    """A created workload starts with an empty status, which defaulting then fills in."""
    obj["status"] = {}


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="apps",
            version="v1",
            resource="deployments",
            kind="Deployment",
            singular="deployment",
            namespaced=True,
            short_names=("deploy",),
            categories=("all",),
            subresources=(SCALE, status_of("Deployment")),
            has_status=True,
        ),
    ),
    schema_packages={"v1": APPS_V1},
    protobuf=True,
    defaults=defaults.default_deployment,
    validate=validation.validate_deployment,
    warnings=template_warnings("spec.template"),
    columns=tuple(printers_apps.DEPLOYMENT_COLUMNS),
    printer=printers_apps.print_deployment,
    patch_meta=workload(extra={"spec.strategy": PatchMeta(retain_keys=True)}),
    prepare_create=reset_status,
)
