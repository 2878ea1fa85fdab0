"""core/v1 Event, also served as events.k8s.io/v1 Event: what happened to an object.

One stored kind, two groups, as upstream: events.k8s.io/v1 is the same objects under other field
names, converted on the way in and out (``pkg/apis/events/v1/conversion.go``): ``regarding`` ↔
``involvedObject``, ``note`` ↔ ``message``, ``reportingController`` ↔ ``reportingComponent``,
and the ``deprecated*`` fields ↔ ``source``, ``firstTimestamp``, ``lastTimestamp``, ``count``.
Every other field (``eventTime``, ``series``, ``related``, ``action``, ``reason``, ``type``,
``reportingInstance``) has one name in both. Events are selectable by the object they involve;
the Table is the same in both groups (upstream prints from the internal type).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources import printers_core
from kuberya.resources.kinds import event_validation
from kuberya.resources.kinds.spec import CORE_V1, FieldValue, KindSpec, at_path
from kuberya.resources.printers_base import dig
from kuberya.resources.selectors import field_value
from kuberya.resources.types import JSONObject, ResourceType

EVENTS_V1 = "io.k8s.api.events.v1"
EVENTS_API_VERSION = "events.k8s.io/v1"

_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

CORE_TO_EVENTS_V1 = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
"""core/v1 field → its events.k8s.io/v1 name; the fields not named here are the same in both."""
_EVENTS_V1_TO_CORE = {new: old for old, new in CORE_TO_EVENTS_V1.items()}


def _renamed(obj: JSONObject, names: dict[str, str]) -> JSONObject:
    return {names.get(key, key): value for key, value in obj.items()}


def core_to_events_v1(ev: JSONObject) -> JSONObject:
    """A core/v1 Event as events.k8s.io/v1 (``apiVersion`` is set by the caller)."""
    out = _renamed(ev, CORE_TO_EVENTS_V1)
    out.setdefault("eventTime", None)  # not omitempty in events.k8s.io/v1: null when unset
    return out


def events_v1_to_core(ev: JSONObject) -> JSONObject:
    """An events.k8s.io/v1 Event as core/v1 (``apiVersion`` is set by the caller)."""
    out = _renamed(ev, _EVENTS_V1_TO_CORE)
    out.setdefault("involvedObject", {})  # not omitempty in core/v1
    if out.get("eventTime") is None:
        out.pop("eventTime", None)
    return out


def _as_core(ev: JSONObject) -> JSONObject:
    return events_v1_to_core(ev) if ev.get("apiVersion") == EVENTS_API_VERSION else ev


def _print(ev: JSONObject, now: datetime) -> list[Any]:
    return printers_core.print_event(_as_core(ev), now)


def _source(obj: JSONObject) -> str:
    return field_value(dig(obj, "source", "component") or obj.get("reportingComponent") or "")


def _involved(key: str) -> FieldValue:
    return lambda obj: field_value((obj.get("involvedObject") or {}).get(key))


def _resource_type(group: str, **storage: Any) -> ResourceType:
    return ResourceType(
        group=group,
        version="v1",
        resource="events",
        kind="Event",
        singular="event",
        namespaced=True,
        short_names=("ev",),
        **storage,
    )


SPEC = KindSpec(
    resource_types=(
        _resource_type(""),
        _resource_type("events.k8s.io", storage_version="v1", storage_group=""),
    ),
    schema_packages={"v1": CORE_V1, EVENTS_API_VERSION: EVENTS_V1},
    protobuf=True,
    validate=event_validation.validate,
    validate_request=event_validation.validate_request,
    columns=tuple(printers_core.EVENT_COLUMNS),
    printer=_print,
    fields={
        **{f"involvedObject.{key}": _involved(key) for key in _INVOLVED},
        "reason": at_path("reason"),
        "reportingComponent": at_path("reportingComponent"),
        "source": _source,
        "type": at_path("type"),
    },
    # Upstream's field label conversions for events.k8s.io/v1 (the stored objects are core's).
    field_labels={
        EVENTS_API_VERSION: {
            **{f"regarding.{key}": f"involvedObject.{key}" for key in _INVOLVED},
            "reportingController": "reportingComponent",
        }
    },
    conversions={
        ("v1", EVENTS_API_VERSION): core_to_events_v1,
        (EVENTS_API_VERSION, "v1"): events_v1_to_core,
    },
    allow_create_on_update=True,
)
