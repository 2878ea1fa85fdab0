"""core/v1 ConfigMap: configuration data, at most 1 MiB."""

from __future__ import annotations

from kuberya.resources import printers_core, validation
from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="configmaps",
            kind="ConfigMap",
            singular="configmap",
            namespaced=True,
            short_names=("cm",),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    validate=validation.validate_config_map,
    columns=tuple(printers_core.CONFIG_MAP_COLUMNS),
    printer=printers_core.print_config_map,
    allow_create_on_update=False,  # upstream strategy: a PUT of a missing one is a 404
)
