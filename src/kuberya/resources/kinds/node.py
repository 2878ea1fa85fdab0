"""core/v1 Node: cluster-scoped; the node agent registers it and keeps its status."""

from __future__ import annotations

from kuberya.resources import defaults, printers_core
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, status_of
from kuberya.resources.patchmeta import BY_TYPE, SET
from kuberya.resources.printers_base import dig
from kuberya.resources.selectors import field_value
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="nodes",
            kind="Node",
            singular="node",
            namespaced=False,
            short_names=("no",),
            subresources=(status_of("Node"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    defaults=defaults.default_node,
    columns=tuple(printers_core.NODE_COLUMNS),
    printer=printers_core.print_node,
    fields={"spec.unschedulable": lambda o: field_value(bool(dig(o, "spec", "unschedulable")))},
    patch_meta={
        "spec.podCIDRs": SET,
        "status.conditions": BY_TYPE,
        "status.addresses": BY_TYPE,
        # spec.taints, status.images, status.volumesAttached: untagged (replaced).
    },
    allow_create_on_update=True,
)
