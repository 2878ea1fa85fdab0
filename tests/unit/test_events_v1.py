"""events.k8s.io/v1 Event: the stored core/v1 Events under upstream's other field names, both ways."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kuberya.resources import kinds, printers
from kuberya.resources.schema.catalog import definition_name

CORE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1"},
    "reason": "Started",
    "message": "Started container web",
    "source": {"component": "kubelet", "host": "kuberya"},
    "firstTimestamp": "2026-01-01T00:00:00Z",
    "lastTimestamp": "2026-01-01T00:01:00Z",
    "count": 3,
    "type": "Normal",
    "reportingComponent": "kubelet",
    "reportingInstance": "kuberya",
    "action": "Start",
    "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
}

EVENTS_V1: dict[str, Any] = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default"},
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1"},
    "reason": "Started",
    "note": "Started container web",
    "deprecatedSource": {"component": "kubelet", "host": "kuberya"},
    "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
    "deprecatedLastTimestamp": "2026-01-01T00:01:00Z",
    "deprecatedCount": 3,
    "type": "Normal",
    "reportingController": "kubelet",
    "reportingInstance": "kuberya",
    "action": "Start",
    "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
    "eventTime": None,
}


def test_core_to_events_v1_renames_as_upstream() -> None:
    original = copy.deepcopy(CORE)
    assert kinds.convert(CORE, to_api_version="events.k8s.io/v1") == EVENTS_V1
    assert original == CORE  # the input is not changed


def test_events_v1_to_core_renames_back() -> None:
    back = kinds.convert(EVENTS_V1, to_api_version="v1")
    assert back == CORE  # a null eventTime is left out, as core/v1 omits it


def test_an_event_written_in_the_new_api_keeps_its_event_time_and_gets_an_involved_object() -> None:
    new = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "x"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "me",
        "note": "hi",
    }
    core = kinds.convert(new, to_api_version="v1")
    assert core["eventTime"] == "2026-01-01T00:00:00.000000Z"
    assert core["involvedObject"] == {}  # not omitempty in core/v1
    assert (core["reportingComponent"], core["message"]) == ("me", "hi")


def test_both_groups_serve_events_stored_as_core() -> None:
    new = kinds.lookup("events.k8s.io", "v1", "events")
    core = kinds.lookup("", "v1", "events")
    assert new is not None and core is not None
    assert kinds.storage_type(new) == core
    assert kinds.spec_of(new) is kinds.spec_of(core)
    assert "events.k8s.io" in {g.name for g in kinds.api_groups()}
    assert definition_name(new.gvk) == "io.k8s.api.events.v1.Event"
    assert definition_name(core.gvk) == "io.k8s.api.core.v1.Event"


def test_the_table_is_the_same_in_both_groups() -> None:
    new = kinds.lookup("events.k8s.io", "v1", "events")
    core = kinds.lookup("", "v1", "events")
    assert new is not None and core is not None
    now = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    assert printers.table_row_cells(new, EVENTS_V1, now=now) == printers.table_row_cells(core, CORE, now=now)
    assert printers.table_row_cells(core, CORE, now=now)[:4] == ["60s", "Normal", "Started", "pod/web"]


# ---- validation (upstream's pkg/apis/core/validation/events.go) --------------------------------


def _fields(causes: list[Any]) -> list[str]:
    return [c.field for c in causes]


def test_core_writes_keep_the_lenient_legacy_rules() -> None:
    old_style = copy.deepcopy(CORE)
    for key in ("reportingComponent", "reportingInstance", "action"):
        old_style.pop(key)
    assert kinds.validate(old_style, request_version="v1") == []
    # …but the namespaces must agree
    old_style["involvedObject"]["namespace"] = "other"
    assert _fields(kinds.validate(old_style, request_version="v1")) == ["involvedObject.namespace"]


def test_new_style_events_need_their_reporter_whichever_group() -> None:
    new_style = copy.deepcopy(CORE)
    new_style.update(eventTime="2026-01-01T00:00:00.000000Z", reportingInstance="x" * 129, action="")
    new_style.pop("reportingComponent")
    # upstream reports an empty controller twice: required, and not a qualified name
    assert _fields(kinds.validate(new_style, request_version="v1")) == [
        "reportingController",
        "reportingController",
        "reportingInstance",
        "action",
    ]


def test_events_k8s_io_creates_are_strict() -> None:
    stored = kinds.convert(copy.deepcopy(EVENTS_V1), to_api_version="v1")
    causes = kinds.validate(stored, request_version="events.k8s.io/v1")
    # the deprecated fields must be unset; a core write of the same object is fine
    assert set(_fields(causes)) >= {"firstTimestamp", "lastTimestamp", "count", "source"}
    assert kinds.validate(stored, request_version="v1") == []
    clean = {k: v for k, v in stored.items() if k not in ("firstTimestamp", "lastTimestamp", "count", "source")}
    clean["eventTime"] = "2026-01-01T00:00:00.000000Z"
    assert kinds.validate(clean, request_version="events.k8s.io/v1") == []
    clean["type"] = "Info"
    clean["series"] = {"count": 1}
    messages = {c.field: c.message for c in kinds.validate(clean, request_version="events.k8s.io/v1")}
    assert messages == {
        "type": 'Invalid value: "": has invalid value: Info',
        "series.count": 'Invalid value: "": should be at least 2',
        "series.lastObservedTime": "Required value",
    }


def test_events_k8s_io_updates_may_only_move_the_series() -> None:
    old = {k: v for k, v in CORE.items() if k not in ("firstTimestamp", "lastTimestamp", "count", "source")}
    old["eventTime"] = "2026-01-01T00:00:00.000000Z"
    bumped = copy.deepcopy(old)
    bumped["series"] = {"count": 4, "lastObservedTime": "2026-01-01T00:02:00.000000Z"}
    assert kinds.validate(bumped, old=old, request_version="events.k8s.io/v1") == []
    edited = copy.deepcopy(old)
    edited["message"] = "changed"
    edited["reportingComponent"] = "other"
    assert _fields(kinds.validate(edited, old=old, request_version="events.k8s.io/v1")) == [
        "message",
        "reportingController",
    ]
    assert kinds.validate(edited, old=old, request_version="v1") == []
