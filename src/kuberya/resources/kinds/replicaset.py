"""apps/v1 ReplicaSet: keeps a number of identical pods; scalable through ``/scale``."""

from __future__ import annotations

from kuberya.resources import defaults, printers_apps, validation
from kuberya.resources.kinds.deployment import reset_status
from kuberya.resources.kinds.spec import APPS_V1, SCALE, KindSpec, status_of
from kuberya.resources.patchmeta import workload
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.printers_base import dig
from kuberya.resources.selectors import field_value
from kuberya.resources.types import ResourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="apps",
            version="v1",
            resource="replicasets",
            kind="ReplicaSet",
            singular="replicaset",
            namespaced=True,
            short_names=("rs",),
            categories=("all",),
            subresources=(SCALE, status_of("ReplicaSet")),
            has_status=True,
        ),
    ),
    schema_packages={"v1": APPS_V1},
    protobuf=True,
    defaults=defaults.default_replica_set,
    validate=validation.validate_replica_set,
    warnings=template_warnings("spec.template"),
    columns=tuple(printers_apps.REPLICA_SET_COLUMNS),
    printer=printers_apps.print_replica_set,
    fields={"status.replicas": lambda o: field_value(dig(o, "status", "replicas") or 0)},
    patch_meta=workload(),
    prepare_create=reset_status,
)
