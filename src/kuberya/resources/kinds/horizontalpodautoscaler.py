"""autoscaling HorizontalPodAutoscaler: served as v2 (preferred, stored) and v1 (converted).

A v1 object is converted to v2 on the way in and back on the way out
(:mod:`kuberya.resources.conversion`); defaulting and validation see v2 only.
"""

from __future__ import annotations

from kuberya.resources import defaults, printers_apps, validation
from kuberya.resources.conversion import hpa_v1_to_v2, hpa_v2_to_v1
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.spec import AUTOSCALING_V1, AUTOSCALING_V2, KindSpec, status_of
from kuberya.resources.patchmeta import BY_TYPE
from kuberya.resources.types import ResourceType


def _version(version: str, *, storage_version: str = "") -> ResourceType:
    return ResourceType(
        group="autoscaling",
        version=version,
        resource="horizontalpodautoscalers",
        kind="HorizontalPodAutoscaler",
        singular="horizontalpodautoscaler",
        namespaced=True,
        short_names=("hpa",),
        categories=("all",),
        subresources=(status_of("HorizontalPodAutoscaler"),),
        storage_version=storage_version,
        has_status=True,
    )


SPEC = KindSpec(
    resource_types=(_version("v2"), _version("v1", storage_version="v2")),
    schema_packages={"v1": AUTOSCALING_V1, "v2": AUTOSCALING_V2},
    protobuf=True,
    defaults=defaults.default_hpa_v2,
    validate=validation.validate_hpa,
    columns=tuple(printers_apps.HPA_COLUMNS),
    printer=printers_apps.print_hpa,
    # spec.metrics and status.currentMetrics are untagged upstream: replaced whole.
    patch_meta={"status.conditions": BY_TYPE},
    conversions={
        ("autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
        ("autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
    },
    prepare_create=reset_status,
)
