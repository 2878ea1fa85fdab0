"""core/v1 Endpoints: the addresses behind a Service, as the endpoints controller writes them."""

from __future__ import annotations

from kuberya.resources import defaults, printers_core
from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="endpoints",
            kind="Endpoints",
            singular="endpoints",
            namespaced=True,
            short_names=("ep",),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=defaults.default_endpoints,
    columns=tuple(printers_core.ENDPOINTS_COLUMNS),
    printer=printers_core.print_endpoints,
    # subsets is untagged upstream: a patch replaces it whole.
    allow_create_on_update=True,
)
