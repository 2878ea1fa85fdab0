"""Decoded messages ↔ the ordinary Kubernetes JSON shape.

This is not proto3 JSON mapping: it reproduces what Go's ``encoding/json`` would have produced for
the same object, which is what the rest of kuberya already handles.

- ``meta.v1.Time`` → RFC 3339 with seconds (``2025-01-02T03:04:05Z``); ``MicroTime`` → six
  fractional digits. An empty Time message is Go's zero time: the field is left out, as
  kubectl ≥ 1.35 (``omitzero``) does; older kubectl wrote ``creationTimestamp: null``, which means
  the same.
- ``IntOrString`` → int or str, by its ``type``; ``Quantity`` → its string; ``FieldsV1`` and
  ``RawExtension`` → the JSON document they hold; ``Duration`` → Go's duration string (``1m30s``);
  a wrapped Go slice (``json_lists``, meta/v1 ``Verbs``) → the list of its items.
- Keys are the fields' JSON names (the proto names, but for the few tables that say ``json=``).
- ``bytes`` → base64 (Secret ``data``, ConfigMap ``binaryData``); maps → objects, keys sorted.
- Present message fields are kept even when empty (``strategy: {}``, ``resources: {}``): Go only
  writes a struct it would also have put in JSON. Present scalars are dropped when zero unless the
  table marks them ``*`` (see ``_schema``), since gogo writes every non-pointer field.
- ``inline:`` fields are spliced into their parent.

The reverse direction (``to_message``) exists for round-trip tests and for clients that want to
send protobuf; it rejects JSON keys the tables do not know, so a table gap shows up as an error.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import unknown_fields

from kuberya.meta import gojson
from kuberya.meta.timefmt import RFC3339, RFC3339_MICRO, go_duration

from ._schema import FieldSpec, Registry

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
TIME = f"{_META}.Time"
MICRO_TIME = f"{_META}.MicroTime"
FIELDS_V1 = f"{_META}.FieldsV1"
DURATION = f"{_META}.Duration"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _format_time(seconds: int, nanos: int, *, micro: bool) -> str:
    # timedelta arithmetic rather than fromtimestamp: valid for the whole 0001–9999 range.
    moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    if micro:
        return moment.strftime(RFC3339_MICRO)
    return moment.strftime(RFC3339)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_DURATION_NANOS["h"] = 3600 * 10**9


def _parse_duration(text: str) -> int:
    """Nanoseconds in a Go duration string (``1m30s``, ``1.5h``, ``0``), as ``time.ParseDuration``."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    parts = list(_DURATION_PART.finditer(body))
    if not body or "".join(p[0] for p in parts) != body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * round(sum(float(p[1]) * _DURATION_NANOS[p[2]] for p in parts))


def _format_duration(nanos: int) -> str:
    # go_duration works on seconds and prints a non-positive duration as 0s; Go prints -1s.
    text = go_duration(abs(nanos) / 1e9)
    return f"-{text}" if nanos < 0 else text


def _parse_time(text: str) -> tuple[int, int]:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds * 1000


class Converter:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    # --- protobuf → JSON -------------------------------------------------------------------------

    def to_json(self, msg: Any, full_name: str) -> dict[str, Any]:
        spec = self._registry.specs[full_name]
        out: dict[str, Any] = {}
        for fd, value in msg.ListFields():
            f = spec.by_number[fd.number]
            if f.is_map:
                out[f.json_name] = {k: self._value(f, value[k]) for k in sorted(value)}
            elif f.repeated:
                out[f.json_name] = [self._value(f, v) for v in value]
            elif f.inline:
                assert f.message is not None
                out.update(self.to_json(value, f.message))
            elif f.message is not None:
                converted = self._message_value(value, f.message)
                if converted is not None:  # zero Time, empty FieldsV1: Go's null, i.e. unset
                    out[f.json_name] = converted
            elif value or f.keep_zero:
                out[f.json_name] = self._scalar_value(value)
        return out

    def _value(self, f: FieldSpec, value: Any) -> Any:
        if f.message is not None:
            return self._message_value(value, f.message)
        return self._scalar_value(value)

    @staticmethod
    def _scalar_value(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        return value

    def _message_value(self, msg: Any, full_name: str) -> Any:
        if full_name in (TIME, MICRO_TIME):
            if not msg.HasField("seconds") and not msg.HasField("nanos"):
                return None
            return _format_time(msg.seconds, msg.nanos, micro=full_name == MICRO_TIME)
        if full_name == QUANTITY:
            return msg.string
        if full_name == INT_OR_STRING:
            return msg.strVal if msg.type == 1 else msg.intVal
        if full_name == FIELDS_V1:
            return json.loads(msg.Raw) if msg.Raw else None
        if full_name == RAW_EXTENSION:
            return json.loads(msg.raw) if msg.raw else None
        if full_name == DURATION:
            return _format_duration(msg.duration)
        spec = self._registry.specs[full_name]
        if spec.json_list:
            (items,) = spec.fields
            return [self._value(items, v) for v in msg.items]
        return self.to_json(msg, full_name)

    # --- JSON → protobuf -------------------------------------------------------------------------

    def to_message(self, data: dict[str, Any], full_name: str, msg: Any, *, path: str = "") -> None:
        """Fill ``msg`` from ``data``; raises ``ValueError`` on a key the tables do not know."""
        unknown = set(data) - self._fill(data, full_name, msg, path)
        if unknown:
            raise ValueError(f"{path or full_name}: no protobuf field for {', '.join(sorted(unknown))}")

    def _fill(self, data: dict[str, Any], full_name: str, msg: Any, path: str) -> set[str]:
        consumed: set[str] = set()
        for f in self._registry.specs[full_name].fields:
            here = f"{path}.{f.name}" if path else f.name
            if f.inline:
                assert f.message is not None
                sub = getattr(msg, f.name)
                sub.SetInParent()  # Go writes embedded structs unconditionally
                consumed |= self._fill(data, f.message, sub, path)
                continue
            if f.json_name not in data:
                continue
            consumed.add(f.json_name)
            value = data[f.json_name]
            if value is None:  # JSON null: unset, whatever the type
                continue
            target = getattr(msg, f.name)
            if f.is_map:
                for key, item in value.items():
                    if f.message is not None:
                        self._set_message(target[key], f.message, item, f"{here}[{key}]")
                    else:
                        target[key] = self._scalar_from_json(f, item)
            elif f.repeated:
                for i, item in enumerate(value):
                    if f.message is not None:
                        self._set_message(target.add(), f.message, item, f"{here}[{i}]")
                    else:
                        target.append(self._scalar_from_json(f, item))
            elif f.message is not None:
                target.SetInParent()
                self._set_message(target, f.message, value, here)
            else:
                setattr(msg, f.name, self._scalar_from_json(f, value))
        return consumed

    @staticmethod
    def _scalar_from_json(f: FieldSpec, value: Any) -> Any:
        if f.scalar == "bytes":
            return base64.b64decode(value)
        return value

    def _set_message(self, msg: Any, full_name: str, value: Any, path: str) -> None:
        msg.SetInParent()
        if full_name in (TIME, MICRO_TIME):
            msg.seconds, msg.nanos = _parse_time(value)
        elif full_name == QUANTITY:
            msg.string = str(value)
        elif full_name == INT_OR_STRING:
            if isinstance(value, str):
                msg.type, msg.strVal = 1, value
            else:
                msg.type, msg.intVal = 0, value
        elif full_name == FIELDS_V1:
            msg.Raw = json.dumps(value, separators=(",", ":")).encode()
        elif full_name == RAW_EXTENSION:
            msg.raw = gojson.encode(value)
        elif full_name == DURATION:
            msg.duration = _parse_duration(value)
        elif self._registry.specs[full_name].json_list:
            (items,) = self._registry.specs[full_name].fields
            for i, item in enumerate(value):
                if items.message is not None:
                    self._set_message(msg.items.add(), items.message, item, f"{path}[{i}]")
                else:
                    msg.items.append(self._scalar_from_json(items, item))
        else:
            self.to_message(value, full_name, msg, path=path)

    # --- diagnostics -----------------------------------------------------------------------------

    def unknown_fields(self, msg: Any, full_name: str, path: str = "") -> list[str]:
        """Paths (``spec.template.spec#43``) of fields on the wire that the tables do not describe."""
        found = [f"{path}#{field.field_number}" for field in _iter_unknown(msg)]
        spec = self._registry.specs[full_name]
        for fd, value in msg.ListFields():
            f = spec.by_number[fd.number]
            if f.message is None:
                continue
            here = f"{path}.{f.name}" if path else f.name
            if f.is_map:
                for key in sorted(value):
                    found += self.unknown_fields(value[key], f.message, f"{here}[{key}]")
            elif f.repeated:
                for i, item in enumerate(value):
                    found += self.unknown_fields(item, f.message, f"{here}[{i}]")
            else:
                found += self.unknown_fields(value, f.message, here)
        return found


def _iter_unknown(msg: Any) -> list[Any]:
    fields = unknown_fields.UnknownFieldSet(msg)
    return [fields[i] for i in range(len(fields))]
