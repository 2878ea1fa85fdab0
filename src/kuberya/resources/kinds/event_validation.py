"""Event validation as upstream's ``pkg/apis/core/validation/events.go``.

Every Event passes the legacy rules, whichever group it was written through. An Event written
through events.k8s.io/v1 passes stricter ones too (upstream's ``ValidateEventCreate`` and
``…Update`` with the request's group version): an ``eventTime``, a ``type`` of Normal or Warning,
none of the deprecated fields, and on update nothing but the series may change. The object seen
here is the stored core/v1 form (``message`` is v1's ``note``, ``reportingComponent`` its
``reportingController``); the field paths are upstream's internal names, as its messages give them.
"""

from __future__ import annotations

from typing import Any

from kuberya.meta.names import dns1123_subdomain_errors, qualified_name_errors
from kuberya.resources.types import Cause, JSONObject
from kuberya.resources.validation_base import invalid, required

_REPORTING_INSTANCE_LIMIT = 128
_ACTION_LIMIT = 128
_REASON_LIMIT = 128
_NOTE_LIMIT = 1024

STRICT_API_VERSIONS = frozenset({"events.k8s.io/v1"})
"""The request versions upstream validates strictly (v1 and v1beta1 are kept lenient)."""

_IMMUTABLE_ON_STRICT_UPDATE = (
    ("involvedObject", "involvedObject"),
    ("reason", "reason"),
    ("message", "message"),
    ("source", "source"),
    ("firstTimestamp", "firstTimestamp"),
    ("lastTimestamp", "lastTimestamp"),
    ("count", "count"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)
"""(stored field, upstream's field path) of what an events.k8s.io/v1 update may not change."""


def _text(event: JSONObject, key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def _at_most(field: str, value: str, limit: int) -> list[Cause]:
    return [invalid(field, "", f"can have at most {limit} characters")] if len(value) > limit else []


def _new_style(event: JSONObject) -> list[Cause]:
    """Events with an ``eventTime`` were written by an events.k8s.io-aware recorder: check its fields."""
    causes: list[Cause] = []
    controller = _text(event, "reportingComponent")
    if not controller:
        causes.append(required("reportingController"))
    causes += [invalid("reportingController", controller, msg) for msg in qualified_name_errors(controller)]
    instance = _text(event, "reportingInstance")
    if not instance:
        causes.append(required("reportingInstance"))
    causes += _at_most("reportingInstance", instance, _REPORTING_INSTANCE_LIMIT)
    action = _text(event, "action")
    if not action:
        causes.append(required("action"))
    causes += _at_most("action", action, _ACTION_LIMIT)
    reason = _text(event, "reason")
    if not reason:
        causes.append(required("reason"))
    causes += _at_most("reason", reason, _REASON_LIMIT)
    causes += _at_most("message", _text(event, "message"), _NOTE_LIMIT)
    return causes


def legacy_causes(event: JSONObject) -> list[Cause]:
    """``legacyValidateEvent``: the namespaces agree; new-style events carry their reporter."""
    meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace = str(meta.get("namespace") or "")
    involved = event.get("involvedObject") if isinstance(event.get("involvedObject"), dict) else {}
    assert isinstance(involved, dict)
    involved_ns = str(involved.get("namespace") or "")
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    causes: list[Cause] = []
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and namespace != involved_ns):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        causes += _new_style(event)
    causes += [invalid("namespace", namespace, msg) for msg in dns1123_subdomain_errors(namespace)]
    return causes


def _series_causes(event: JSONObject) -> list[Cause]:
    series = event.get("series")
    if not isinstance(series, dict):
        return []
    causes: list[Cause] = []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        causes.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


def _is_set(value: Any) -> bool:
    return value not in (None, "", 0, {})


def strict_create_causes(event: JSONObject) -> list[Cause]:
    """What ``ValidateEventCreate`` adds for events.k8s.io/v1 requests."""
    causes = _series_causes(event)
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    event_type = _text(event, "type")
    if event_type not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {event_type}"))
    for key in ("firstTimestamp", "lastTimestamp", "count"):
        if _is_set(event.get(key)):
            causes.append(invalid(key, "", "needs to be unset"))
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    assert isinstance(source, dict)
    if source.get("component") or source.get("host"):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes


def strict_update_causes(event: JSONObject, old: JSONObject) -> list[Cause]:
    """What ``ValidateEventUpdate`` adds for events.k8s.io/v1 requests: only the series may change."""
    causes = _series_causes(event) if event.get("series") != old.get("series") else []
    for stored, path in _IMMUTABLE_ON_STRICT_UPDATE:
        if event.get(stored) != old.get(stored) and (_is_set(event.get(stored)) or _is_set(old.get(stored))):
            causes.append(invalid(path, event.get(stored), "field is immutable"))
    return causes


def validate(event: JSONObject, old: JSONObject | None) -> list[Cause]:
    return legacy_causes(event)


def validate_request(api_version: str, event: JSONObject, old: JSONObject | None) -> list[Cause]:
    if api_version not in STRICT_API_VERSIONS:
        return []
    return strict_create_causes(event) if old is None else strict_update_causes(event, old)
