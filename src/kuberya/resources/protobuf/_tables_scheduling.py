"""Field tables for k8s.io/api ``scheduling/v1``.

Copied from upstream ``generated.proto`` (kubernetes ``staging/src/k8s.io/api/scheduling/v1``).
Notation: see ``_schema``. ``value`` has no ``omitempty``, so a zero is kept (``*int32``).
"""

from __future__ import annotations

from ._schema import Package

SCHEDULING_V1 = Package(
    proto_package="k8s.io.api.scheduling.v1",
    file_name="k8s.io/api/scheduling/v1/generated.proto",
    dependencies=("meta",),
    messages={
        "PriorityClass": (
            "metadata=1 meta.ObjectMeta",
            "value=2 *int32",
            "globalDefault=3 bool",
            "description=4 string",
            "preemptionPolicy=5 *string",
        ),
    },
)
