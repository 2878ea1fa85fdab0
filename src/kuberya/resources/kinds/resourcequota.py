"""core/v1 ResourceQuota: a namespace's limits, its usage kept in status by the quota controller."""

from __future__ import annotations

from kuberya.resources import printers_core
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="resourcequotas",
            kind="ResourceQuota",
            singular="resourcequota",
            namespaced=True,
            short_names=("quota",),
            subresources=(status_of("ResourceQuota"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    columns=tuple(printers_core.RESOURCE_QUOTA_COLUMNS),
    printer=printers_core.print_resource_quota,
    allow_create_on_update=True,
)
