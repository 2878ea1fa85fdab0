"""discovery.k8s.io/v1 EndpointSlice: the addresses behind a Service, in slices of at most 100."""

from __future__ import annotations

from kuberya.resources import defaults, printers_apps
from kuberya.resources.kinds.spec import DISCOVERY_V1, KindSpec
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="discovery.k8s.io",
            version="v1",
            resource="endpointslices",
            kind="EndpointSlice",
            singular="endpointslice",
            namespaced=True,
        ),
    ),
    schema_packages={"v1": DISCOVERY_V1},
    defaults=defaults.default_endpoint_slice,
    columns=tuple(printers_apps.ENDPOINT_SLICE_COLUMNS),
    printer=printers_apps.print_endpoint_slice,
    allow_create_on_update=True,
)
