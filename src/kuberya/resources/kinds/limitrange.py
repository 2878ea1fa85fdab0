"""core/v1 LimitRange: per-container defaults and bounds in a namespace.

Upstream has no printer for it: ``kubectl get limits`` shows the default Table (Name, Created At).
"""

from __future__ import annotations

from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="limitranges",
            kind="LimitRange",
            singular="limitrange",
            namespaced=True,
            short_names=("limits",),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    allow_create_on_update=True,
)
