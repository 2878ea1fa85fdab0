"""core/v1 Event: what happened to an object, selectable by the object it involves."""

from __future__ import annotations

from kuberya.resources import printers_core
from kuberya.resources.kinds.spec import CORE_V1, FieldValue, KindSpec, at_path
from kuberya.resources.printers_base import dig
from kuberya.resources.selectors import field_value
from kuberya.resources.types import JSONObject, ResourceType

_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def _source(obj: JSONObject) -> str:
    return field_value(dig(obj, "source", "component") or obj.get("reportingComponent") or "")


def _involved(key: str) -> FieldValue:
    return lambda obj: field_value((obj.get("involvedObject") or {}).get(key))


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="events",
            kind="Event",
            singular="event",
            namespaced=True,
            short_names=("ev",),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    columns=tuple(printers_core.EVENT_COLUMNS),
    printer=printers_core.print_event,
    fields={
        **{f"involvedObject.{key}": _involved(key) for key in _INVOLVED},
        "reason": at_path("reason"),
        "reportingComponent": at_path("reportingComponent"),
        "source": _source,
        "type": at_path("type"),
    },
    allow_create_on_update=True,
)
