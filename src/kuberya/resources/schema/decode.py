"""Typed decoding: check a JSON-shaped object against its kind's schema before anything else.

Upstream's API server decodes every body into its Go structs before admission, so a value of
the wrong type never reaches a handler, let alone storage: ``"replicas": "three"`` is a 400
``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
int32``, ``cpu: "lots"`` a 400 from the quantity parser. This module is that step for kuberya,
driven by the same component schemas kuberya serves (``definitions.json``), so one validator
serves every built-in kind now and CRD schemas later.

What the walk does, in place, in one pass:

- **Types.** Objects, arrays, maps (``additionalProperties``), strings, booleans, integers
  (``int32``/``int64`` ranges), numbers, and the string-shaped apimachinery types:
  ``IntOrString`` (an int32 or a string), ``Quantity`` (a string or a number matching
  upstream's quantity grammar), ``Time``/``MicroTime`` (RFC 3339), ``byte`` (standard base64).
  The first mismatch raises :class:`DecodeError` with the field's path and upstream's wording.
- **Nulls** do what Go's decoder does: a null field is as if absent (it is removed); a null
  list item or map value becomes its type's zero value (``""``, ``0``, ``false``, ``{}``).
- **Unknown fields** are collected (as paths) and removed: upstream never stores a field its
  types do not know. The caller decides, by ``fieldValidation``, whether they are an error
  (Strict), a warning (Warn) or nothing (Ignore).
- **Duplicate keys** recorded by the body parser (:class:`DuplicateKeys` dicts) are collected
  the same way.

Free-form schemas (``FieldsV1`` in ``managedFields``, objects with no declared properties)
accept any JSON below them; their depth is bounded by the body parser, not here.

Schemas compile once per definition into small node objects with a ``decode`` method each, so
the per-request cost is one method call per value (see ``bench/decode_bench.py``).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kuberya.resources.schema.definitions import Schema, definition_for, definitions

Path = tuple[str | int, ...]
"""A field's location from the object's root: ``("spec", "containers", 0, "image")``."""


def format_path(path: Path) -> str:
    """``spec.containers[0].image``: how upstream prints field paths."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else part)
    return "".join(out)


class DecodeError(ValueError):
    """A value does not have the type its schema declares; the API answers 400 BadRequest."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def field(self) -> str:
        return format_path(self.path)


class DuplicateKeys(dict[str, Any]):
    """A JSON/YAML object in which the parser met some keys more than once (the last one won)."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: Any, duplicates: list[str]) -> None:
        super().__init__(pairs)
        self.duplicates = duplicates


@dataclass(slots=True)
class Decoded:
    """What a decode found besides type errors (which raise)."""

    unknown: list[Path] = field(default_factory=list)
    """Fields the schema does not declare, in document order; already removed from the object."""
    duplicates: list[Path] = field(default_factory=list)
    """Keys the body repeated; the object holds the last value of each."""

    def strict_errors(self) -> list[str]:
        """Upstream's strict-decoding texts: ``unknown field "spec.x"``, ``duplicate field "y"``."""
        return [f'duplicate field "{format_path(p)}"' for p in self.duplicates] + [
            f'unknown field "{format_path(p)}"' for p in self.unknown
        ]


# -- the nodes ---------------------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    """Go's name for a JSON value's kind, as its ``UnmarshalTypeError`` prints it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, list):
        return "array"
    return "object"


class _Node:
    """One compiled schema. ``decode`` checks (and normalizes) a value, returning it."""

    __slots__ = ()
    go_type = "interface {}"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        raise NotImplementedError

    def zero(self) -> Any:
        """Go's zero value, for a null list item or map value."""
        return None

    def mismatch(self, value: Any, path: Path, owner: str) -> DecodeError:
        kind = _json_kind(value)
        if kind.startswith("number") and not isinstance(self, _Integer | _IntOrString):
            kind = "number"  # Go names the value only when it is a number that misses an int type
        where = f"{owner}.{format_path(path)}" if path else owner
        return DecodeError(path, f"json: cannot unmarshal {kind} into Go struct field {where} of type {self.go_type}")


class _Any(_Node):
    """Free-form JSON (``FieldsV1``, ``x-kubernetes-preserve-unknown-fields``)."""

    __slots__ = ()

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        return value


class _FreeFormObject(_Node):
    __slots__ = ()
    go_type = "map[string]interface {}"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path, owner)
        return value

    def zero(self) -> Any:
        return {}


class _String(_Node):
    __slots__ = ()
    go_type = "string"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path, owner)
        return value

    def zero(self) -> Any:
        return ""


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class _Bytes(_Node):
    """``format: byte``: standard base64 with padding, as Go's ``encoding/json`` reads ``[]byte``."""

    __slots__ = ()
    go_type = "[]uint8"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path, owner)
        # Go's decoder skips CR and LF (base64 wrapped at 76 columns); nothing else.
        text = value.replace("\r", "").replace("\n", "") if "\n" in value or "\r" in value else value
        offset = _base64_error_offset(text)
        if offset is not None:
            raise DecodeError(path, f"{format_path(path)}: illegal base64 data at input byte {offset}")
        return value

    def zero(self) -> Any:
        return ""


def _base64_error_offset(text: str) -> int | None:
    """None for valid standard base64, else where Go's decoder would stop (roughly)."""
    if len(text) % 4 == 0 and _BASE64.fullmatch(text):
        try:
            binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            return text.find("=")
        return None
    bad = next((i for i, c in enumerate(text) if not (c.isascii() and (c.isalnum() or c in "+/"))), None)
    return bad if bad is not None else len(text) - len(text) % 4


class _Boolean(_Node):
    __slots__ = ()
    go_type = "bool"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, bool):
            raise self.mismatch(value, path, owner)
        return value

    def zero(self) -> Any:
        return False


class _Integer(_Node):
    __slots__ = ("go_type", "high", "low")

    def __init__(self, bits: int) -> None:
        self.go_type = f"int{bits}"
        self.low, self.high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.mismatch(value, path, owner)
        if isinstance(value, float):
            # YAML and some clients write 3.0 for 3; a fraction is no integer.
            if not value.is_integer():
                raise self.mismatch(value, path, owner)
            value = int(value)
        if not self.low <= value <= self.high:
            raise self.mismatch(value, path, owner)
        return value

    def zero(self) -> Any:
        return 0


class _Number(_Node):
    __slots__ = ()
    go_type = "float64"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.mismatch(value, path, owner)
        return value

    def zero(self) -> Any:
        return 0


class _IntOrString(_Node):
    __slots__ = ()
    go_type = "intstr.IntOrString"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if isinstance(value, str):
            return value
        return _INT32.decode(value, path, owner, found)

    def zero(self) -> Any:
        return 0


# Upstream's grammar (k8s.io/apimachinery/pkg/api/resource): a signed decimal number, then
# either a decimal exponent or one SI / binary-SI suffix.
_QUANTITY = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")
QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


class _Quantity(_Node):
    __slots__ = ()
    go_type = "resource.Quantity"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.mismatch(value, path, owner)
        if isinstance(value, str):
            if not _QUANTITY.fullmatch(value.strip()):
                raise DecodeError(path, f"{format_path(path)}: {QUANTITY_ERROR}")
            return value
        if value != value or value in (float("inf"), float("-inf")):
            raise DecodeError(path, f"{format_path(path)}: {QUANTITY_ERROR}")
        # Upstream reads a number and always writes a Quantity back as a string; clients'
        # models insist on one (a stored 0.0 broke the official client's list).
        if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
            return str(int(value))
        return repr(value)

    def zero(self) -> Any:
        return "0"


class _Time(_Node):
    """``Time`` and ``MicroTime``: RFC 3339 strings (Go's layout ``2006-01-02T15:04:05Z07:00``)."""

    __slots__ = ()
    go_type = "v1.Time"

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path, owner)
        if not _is_rfc3339(value):
            raise DecodeError(
                path,
                f'{format_path(path)}: parsing time "{value}" as "2006-01-02T15:04:05Z07:00": '
                "not an RFC 3339 date and time, e.g. 2026-01-02T15:04:05Z",
            )
        return value


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def _is_rfc3339(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class _Array(_Node):
    __slots__ = ("items",)

    def __init__(self, items: _Node) -> None:
        self.items = items

    @property
    def go_type(self) -> str:  # type: ignore[override]
        return "[]" + self.items.go_type

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, list):
            raise self.mismatch(value, path, owner)
        items = self.items
        for index, item in enumerate(value):
            if item is None:
                value[index] = items.zero()
            else:
                decoded = items.decode(item, (*path, index), owner, found)
                if decoded is not item:
                    value[index] = decoded
        return value

    def zero(self) -> Any:
        return []


class _Map(_Node):
    __slots__ = ("values",)

    def __init__(self, values: _Node) -> None:
        self.values = values

    @property
    def go_type(self) -> str:  # type: ignore[override]
        return "map[string]" + self.values.go_type

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path, owner)
        if isinstance(value, DuplicateKeys):
            found.duplicates.extend((*path, key) for key in value.duplicates)
        values = self.values
        for key, item in value.items():
            if item is None:
                value[key] = values.zero()
            else:
                decoded = values.decode(item, (*path, key), owner, found)
                if decoded is not item:
                    value[key] = decoded
        return value

    def zero(self) -> Any:
        return {}


class _Object(_Node):
    """A struct: declared properties only; the rest are unknown fields."""

    __slots__ = ("go_type", "properties", "required_structs", "struct")

    def __init__(self, definition: str) -> None:
        package, _, struct = definition.rpartition(".")
        self.struct = struct
        self.go_type = f"{package.rpartition('.')[2]}.{struct}"
        self.properties: dict[str, _Node] = {}
        self.required_structs: tuple[str, ...] = ()
        """Required fields that are structs: Go always has them (a non-pointer field), as ``{}``."""

    def decode(self, value: Any, path: Path, owner: str, found: Decoded) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path, owner)
        if isinstance(value, DuplicateKeys):
            found.duplicates.extend((*path, key) for key in value.duplicates)
        properties = self.properties
        struct = self.struct
        unknown: list[str] | None = None
        absent: list[str] | None = None
        for key, item in value.items():
            node = properties.get(key)
            if node is None:
                found.unknown.append((*path, key))  # now, so that paths come in document order
                (unknown := unknown or []).append(key)
            elif item is None:
                (absent := absent or []).append(key)
            else:
                decoded = node.decode(item, (*path, key), struct, found)
                if decoded is not item:
                    value[key] = decoded
        if unknown:
            for key in unknown:
                del value[key]
        if absent:
            for key in absent:
                del value[key]
        for key in self.required_structs:
            if key not in value:
                # Upstream answers with the zero struct (an Event's involvedObject: {}), and
                # clients' models insist the field is there.
                value[key] = properties[key].decode({}, (*path, key), struct, found)
        return value

    def zero(self) -> Any:
        return {}


_INT32 = _Integer(32)
_INT64 = _Integer(64)

# -- compiling schemas ---------------------------------------------------------------------------

_STRING_TYPES: dict[str, _Node] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _IntOrString(),
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _Quantity(),
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": _Time(),
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": _Time(),
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": _Any(),
}


def _target(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    if ref is None and (all_of := schema.get("allOf")) and len(all_of) == 1:
        ref = all_of[0].get("$ref")
    return ref.rpartition("/")[2] if isinstance(ref, str) else None


@functools.cache
def compiled(definition: str) -> _Node:
    """The node for one named definition; recursive definitions share their node."""
    if definition in _STRING_TYPES:
        return _STRING_TYPES[definition]
    schema = definitions()[definition]
    if "properties" not in schema:
        return _compile(schema)
    node = _Object(definition)
    # Registered before its properties compile: a definition that contains itself
    # (JSONSchemaProps in CRDs) finds this node instead of recursing forever.
    _IN_PROGRESS[definition] = node
    try:
        node.properties = {name: _compile(prop) for name, prop in schema["properties"].items()}
        node.required_structs = tuple(
            name
            for name in schema.get("required", ())
            if isinstance(node.properties.get(name), _Object) and (node.struct, name) not in _REQUIRED_POINTERS
        )
    finally:
        del _IN_PROGRESS[definition]
    return node


_IN_PROGRESS: dict[str, _Object] = {}

_REQUIRED_POINTERS = frozenset(
    {("DeploymentSpec", "selector"), ("ReplicaSetSpec", "selector"), ("ScaleIOVolumeSource", "secretRef")}
)
"""Required struct fields that are pointers in upstream's Go types: absent stays absent (validation
says "Required value"), unlike a value struct, which Go always has."""


def _compile(schema: Schema) -> _Node:
    if (target := _target(schema)) is not None:
        return _IN_PROGRESS.get(target) or compiled(target)
    kind = schema.get("type")
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping):
            return _Map(_compile(values))
        return _FreeFormObject()
    if kind == "array":
        items = schema.get("items")
        return _Array(_compile(items) if isinstance(items, Mapping) else _Any())
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "byte":
            return _Bytes()
        if fmt == "date-time":
            return _STRING_TYPES["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
        return _String()
    if kind == "integer":
        return _INT64 if schema.get("format") == "int64" else _INT32
    if kind == "number":
        return _Number()
    if kind == "boolean":
        return _Boolean()
    return _Any()


# -- the entry points ----------------------------------------------------------------------------


def has_schema(api_version: str, kind: str) -> bool:
    return definition_for(api_version, kind) is not None


def decode_object(api_version: str, kind: str, obj: dict[str, Any]) -> Decoded:
    """Check ``obj`` (a ``kind`` in ``api_version``) in place; raise :class:`DecodeError`.

    Kinds without a schema pass unchanged (nothing is known to check them against).
    """
    found = Decoded()
    name = definition_for(api_version, kind)
    if name is not None:
        compiled(name).decode(obj, (), kind, found)
    return found


def decode_definition(definition: str, value: dict[str, Any]) -> Decoded:
    """The same for a value of a named definition (``...autoscaling.v1.Scale``, ``DeleteOptions``)."""
    found = Decoded()
    compiled(definition).decode(value, (), definition.rpartition(".")[2], found)
    return found
