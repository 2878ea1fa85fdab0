"""node.k8s.io/v1 RuntimeClass: a named container runtime configuration pods choose by name.

Cluster-scoped. As upstream (``pkg/apis/node/validation``): ``handler`` is a required DNS label
and never changes. A pod naming a class that does not exist is refused at admission
(:mod:`kuberya.apiserver.runtimeclass`); the node agent runs the pod with the class's handler,
or reports that it has none by that name. The API server creates no class.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.names import dns1123_label_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import invalid, required

NODE_V1 = "io.k8s.api.node.v1"


def _validate(rc: JSONObject, old: JSONObject | None) -> list[Cause]:
    handler = rc.get("handler")
    causes: list[Cause] = []
    if not handler:
        causes.append(required("handler"))
    else:
        causes.extend(invalid("handler", handler, problem) for problem in dns1123_label_errors(str(handler)))
    if old is not None and handler != old.get("handler"):
        causes.append(invalid("handler", handler, "field is immutable"))
    return causes


COLUMNS = (
    NAME,
    # Upstream's description is the (missing) ObjectMeta doc of "handler": empty.
    column("Handler", "string", ""),
    AGE,
)


def _print(rc: JSONObject, now: datetime) -> list[Any]:
    return [name(rc), str(rc.get("handler") or ""), age(rc, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="node.k8s.io",
            version="v1",
            resource="runtimeclasses",
            kind="RuntimeClass",
            singular="runtimeclass",
            namespaced=False,
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": NODE_V1},
    protobuf=True,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
