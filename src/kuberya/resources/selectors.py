r"""Label and field selectors, parsed and matched as apimachinery does.

Label selectors are :mod:`kuberya.meta.labels` (one implementation every layer matches with),
re-exported here for the API server's packages.

Field selectors (``fields/selector.go``) are ``field=value``, ``field==value`` and ``field!=value``
terms joined by commas, with ``\``-escapes in values. Which fields a kind supports, and how each
value is computed from the object, is the kind's ``KindSpec.fields`` (as upstream's registry
strategies do: booleans as ``true``/``false``, absent fields as ``""``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberya.meta.labels import (
    DOES_NOT_EXIST,
    EQUALS,
    EVERYTHING,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    NOTHING,
    OPERATORS,
    LabelSelector,
    Requirement,
    SelectorError,
    make_requirement,
    parse_label_selector,
    selector_from_spec,
    selector_to_string,
)
from kuberya.resources.types import JSONObject

__all__ = [
    "COMMON_FIELDS",
    "DOES_NOT_EXIST",
    "EQUALS",
    "EVERYTHING",
    "EXISTS",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "NOTHING",
    "NOT_EQUALS",
    "NOT_IN",
    "OPERATORS",
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "field_value",
    "make_requirement",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_spec",
    "selector_to_string",
]

# ---------------------------------------------------------------------------------------------
# Field selectors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldTerm:
    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


COMMON_FIELDS = ("metadata.name", "metadata.namespace")
"""The fields every kind can be selected by; a kind's others are its ``KindSpec.fields``."""


def _kind_fields(kind: str) -> Mapping[str, Callable[[JSONObject], str]]:
    # Imported here: the registry's kind modules import this module (for label selectors).
    from kuberya.resources import kinds

    spec = kinds.spec_for_kind(kind)
    return spec.fields if spec is not None else {}


def field_value(value: Any) -> str:
    """Format a field's value as upstream does: strconv for bools and ints, "" when absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def object_fields(obj: JSONObject, kind: str | None = None) -> dict[str, str]:
    """Every selectable field of ``obj`` with its string value."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    fields = {
        "metadata.name": field_value(metadata.get("name")),
        "metadata.namespace": field_value(metadata.get("namespace")),
    }
    fields |= {name: value(obj) for name, value in _kind_fields(kind or obj.get("kind", "")).items()}
    return fields


@dataclass(frozen=True, slots=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: JSONObject, *, kind: str | None = None) -> bool:
        if not self.terms:
            return True
        fields = object_fields(obj, kind)
        return all(t.matches(fields) for t in self.terms)

    def validate_for(self, kind: str) -> None:
        """Raise :class:`SelectorError` naming the first field ``kind`` cannot be selected by."""
        allowed = _kind_fields(kind)
        for term in self.terms:
            if term.field not in COMMON_FIELDS and term.field not in allowed:
                raise SelectorError(f"field label not supported: {term.field}")

    def value_of(self, field: str) -> str | None:
        """Return the value an ``=`` term requires of ``field`` (``metadata.name`` in single watches)."""
        for term in self.terms:
            if term.field == field and not term.negated:
                return term.value
        return None

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
        i += 1
    return None


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: {value[i : i + 2]}")
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query value; ``""`` selects everything."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_unescaped(text, ",")):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        terms.append(FieldTerm(field=field, value=_unescape(raw), negated=op == "!="))
    return FieldSelector(tuple(terms))
