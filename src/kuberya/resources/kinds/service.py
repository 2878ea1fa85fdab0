"""core/v1 Service: a stable address for a set of pods, allocated by the API server.

The ClusterIP and NodePorts are allocated on every write of the main endpoint, under one lock
with the write (upstream's Service REST allocators); the allocator is the API server's
(:mod:`kuberya.apiserver.allocator`), reached through :class:`~.spec.AddressAllocator`.
"""

from __future__ import annotations

from kuberya.resources import defaults, printers_core, validation
from kuberya.resources.kinds.spec import CORE_V1, AddressAllocator, KindSpec, status_of
from kuberya.resources.names import dns1035_label_errors
from kuberya.resources.patchmeta import BY_TYPE, PatchMeta
from kuberya.resources.types import JSONObject, ResourceType


async def _allocate(allocator: AddressAllocator, obj: JSONObject, old: JSONObject | None) -> None:
    await allocator.allocate_service(obj, old=old)


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="services",
            kind="Service",
            singular="service",
            namespaced=True,
            short_names=("svc",),
            categories=("all",),
            subresources=(status_of("Service"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=defaults.default_service,
    validate=validation.validate_service,
    name_rule=dns1035_label_errors,
    columns=tuple(printers_core.SERVICE_COLUMNS),
    printer=printers_core.print_service,
    patch_meta={"spec.ports": PatchMeta("merge", "port"), "status.conditions": BY_TYPE},
    allow_create_on_update=True,
    allocate=_allocate,
)
