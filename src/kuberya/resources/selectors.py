r"""Label and field selectors, parsed and matched as apimachinery does.

Label selectors come from two places and end in one :class:`LabelSelector`:

* query strings (``?labelSelector=app=web,tier notin (db)``), parsed by :func:`parse_label_selector`
  with the full upstream grammar (``labels/selector.go``): ``k=v``, ``k==v``, ``k!=v``,
  ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, ``k>1``, ``k<1``; comma = AND;
* ``metav1.LabelSelector`` objects in specs (``matchLabels`` + ``matchExpressions``), turned into
  requirements by :func:`selector_from_spec`.

A selector is a conjunction of :class:`Requirement` s kept sorted by key, so ``str(selector)`` is
the canonical text upstream prints (Scale ``status.selector``, the ``-o wide`` Selector column).
Upstream's two degenerate selectors are kept apart: *everything* (no requirements, ``empty``) and
*nothing* (a ``None`` spec selector): both print as ``""``, only one matches.

Field selectors (``fields/selector.go``) are ``field=value``, ``field==value`` and ``field!=value``
terms joined by commas, with ``\``-escapes in values. Which fields a kind supports is the table
:data:`SUPPORTED_FIELDS`; the value of each field is computed from the object as the registry
strategies of upstream do (booleans as ``true``/``false``, absent fields as ``""``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberya.resources.names import label_value_errors, qualified_name_errors
from kuberya.resources.types import JSONObject


class SelectorError(ValueError):
    """A selector that does not parse or names a field the kind cannot select on (400 BadRequest)."""


# ---------------------------------------------------------------------------------------------
# Label selectors
# ---------------------------------------------------------------------------------------------

EQUALS = "="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

OPERATORS = (EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector. ``values`` is sorted and duplicate-free for in/notin."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (EQUALS, IN):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        # gt / lt: both sides must be integers, or the requirement does not match.
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator == EXISTS:
            return self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {EQUALS: "=", NOT_EQUALS: "!=", GREATER_THAN: ">", LESS_THAN: "<"}[self.operator]
        return f"{self.key}{symbol}{self.values[0]}"


def make_requirement(key: str, operator: str, values: tuple[str, ...] | list[str] = ()) -> Requirement:
    """Build a :class:`Requirement`, checking it as upstream ``labels.NewRequirement`` does."""
    errs = [f'key: Invalid value: "{key}": {e}' for e in qualified_name_errors(key)]
    vals = tuple(sorted(set(values))) if operator in (IN, NOT_IN) else tuple(values)
    invalid = f"values: Invalid value: {_go_strings(vals)}: "
    if operator in (IN, NOT_IN):
        if not vals:
            errs.append(invalid + "for 'in', 'notin' operators, values set can't be empty")
    elif operator in (EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errs.append(invalid + "exact-match compatibility requires one single value")
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errs.append(invalid + "values set must be empty for exists and does not exist")
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errs.append(invalid + "for 'Gt', 'Lt' operators, exactly one value is required")
        elif not re.fullmatch(r"-?[0-9]+", vals[0]):
            errs.append(
                f'values[0]: Invalid value: "{vals[0]}": ' + "for 'Gt', 'Lt' operators, the value must be an integer"
            )
    else:
        supported = ", ".join(f'"{o}"' for o in OPERATORS)
        errs.append(f'operator: Unsupported value: "{operator}": supported values: {supported}')
    if operator not in (GREATER_THAN, LESS_THAN):
        for i, v in enumerate(vals):
            errs.extend(f'values[{i}][{key}]: Invalid value: "{v}": {e}' for e in label_value_errors(v))
    if errs:
        raise SelectorError("; ".join(errs) if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, operator, vals)


def _go_strings(values: tuple[str, ...]) -> str:
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of requirements; ``nothing`` is upstream's ``labels.Nothing()``."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True for the selector that matches everything (no requirements)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _sorted(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")


def _tokenize(text: str) -> list[str]:
    """Split into identifiers and symbols; everything that is neither space nor symbol is a name."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _SPECIAL:
            symbol = next(s for s in _SYMBOLS if text.startswith(s, i))
            tokens.append(symbol)
            i += len(symbol)
        else:
            j = i
            while j < len(text) and text[j] not in _WHITESPACE and text[j] not in _SPECIAL:
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


def _is_identifier(token: str | None) -> bool:
    return token is not None and token not in _SYMBOLS


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    @staticmethod
    def shown(token: str | None) -> str:
        return "" if token is None else token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token = self.peek()
            if token is None:
                return requirements
            if not (_is_identifier(token) or token == "!"):
                raise SelectorError(f"found '{token}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            after = self.take()
            if after is None:
                return requirements
            if after != ",":
                raise SelectorError(f"found '{after}', expected: ',' or 'end of string'")
            following = self.peek()
            if not (_is_identifier(following) or following == "!"):
                raise SelectorError(f"found '{self.shown(following)}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek() == "!"
        if negated:
            self.take()
        key = self.take()
        if not _is_identifier(key):
            raise SelectorError(f"found '{self.shown(key)}', expected: identifier")
        assert key is not None
        if negated:
            return self.checked(key, DOES_NOT_EXIST, ())
        if self.peek() in (None, ","):
            return self.checked(key, EXISTS, ())
        op_token = self.take()
        operator = {
            "=": EQUALS,
            "==": EQUALS,
            "!=": NOT_EQUALS,
            "in": IN,
            "notin": NOT_IN,
            ">": GREATER_THAN,
            "<": LESS_THAN,
        }.get(self.shown(op_token))
        if operator is None:
            raise SelectorError(f"found '{self.shown(op_token)}', expected: in, notin, =, ==, !=, gt, lt")
        if operator in (IN, NOT_IN):
            return self.checked(key, operator, self.value_set())
        return self.checked(key, operator, (self.exact_value(),))

    def exact_value(self) -> str:
        if self.peek() in (None, ","):
            return ""  # `k=` selects the empty value
        token = self.take()
        if not _is_identifier(token):
            raise SelectorError(f"found '{self.shown(token)}', expected: identifier")
        assert token is not None
        return token

    def value_set(self) -> tuple[str, ...]:
        token = self.take()
        if token != "(":
            raise SelectorError(f"found '{self.shown(token)}', expected: '('")
        values: list[str] = []
        if self.peek() == ")":  # upstream reads `()` as the set holding the empty value
            self.take()
            return ("",)
        # Mirrors parseIdentifiersList: empty members (`(,a)`, `(a,)`, `(a,,b)`) stand for "".
        expect_value = True
        while True:
            token = self.take()
            if token == ")":
                if expect_value:
                    values.append("")
                return tuple(values)
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if _is_identifier(token) and expect_value:
                assert token is not None
                values.append(token)
                expect_value = False
                nxt = self.peek()
                if nxt not in (",", ")"):
                    raise SelectorError(f"found '{self.shown(nxt)}', expected: ',' or ')'")
                continue
            raise SelectorError(f"found '{self.shown(token)}', expected: ',', or identifier")

    @staticmethod
    def checked(key: str, operator: str, values: tuple[str, ...]) -> Requirement:
        try:
            return make_requirement(key, operator, values)
        except SelectorError as e:
            raise SelectorError(f"unable to parse requirement: {e}") from e


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query value; ``""`` selects everything."""
    return _sorted(_LabelParser(text).parse())


def selector_from_spec(spec: JSONObject | None) -> LabelSelector:
    """Turn a ``metav1.LabelSelector`` into a selector: ``None`` matches nothing, ``{}`` everything."""
    if spec is None:
        return NOTHING
    requirements: list[Requirement] = []
    for key, value in (spec.get("matchLabels") or {}).items():
        requirements.append(make_requirement(key, EQUALS, (str(value),)))
    for expr in spec.get("matchExpressions") or []:
        operator = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}.get(
            expr.get("operator", "")
        )
        if operator is None:
            raise SelectorError(f'"{expr.get("operator", "")}" is not a valid label selector operator')
        requirements.append(make_requirement(expr.get("key", ""), operator, tuple(expr.get("values") or ())))
    return _sorted(requirements)


def selector_to_string(spec: JSONObject | None) -> str:
    """Return the canonical text of a spec selector (Scale ``status.selector``, wide Selector columns)."""
    return str(selector_from_spec(spec))


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


def _dig(obj: JSONObject, *path: str) -> Any:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _s(value: Any) -> str:
    """Format a field's value as upstream does: strconv for bools and ints, "" when absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pod_fields(obj: JSONObject) -> dict[str, str]:
    ips = _dig(obj, "status", "podIPs") or []
    pod_ip = ips[0].get("ip", "") if ips and isinstance(ips[0], dict) else _dig(obj, "status", "podIP")
    return {
        "spec.nodeName": _s(_dig(obj, "spec", "nodeName")),
        "spec.restartPolicy": _s(_dig(obj, "spec", "restartPolicy")),
        "spec.schedulerName": _s(_dig(obj, "spec", "schedulerName")),
        "spec.serviceAccountName": _s(_dig(obj, "spec", "serviceAccountName")),
        "spec.hostNetwork": _s(bool(_dig(obj, "spec", "hostNetwork"))),
        "status.phase": _s(_dig(obj, "status", "phase")),
        "status.podIP": _s(pod_ip),
        "status.nominatedNodeName": _s(_dig(obj, "status", "nominatedNodeName")),
    }


def _event_fields(obj: JSONObject) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    source = _dig(obj, "source", "component") or obj.get("reportingComponent") or ""
    fields = {f"involvedObject.{k}": _s(involved.get(k)) for k in _EVENT_INVOLVED}
    fields |= {
        "reason": _s(obj.get("reason")),
        "reportingComponent": _s(obj.get("reportingComponent")),
        "source": _s(source),
        "type": _s(obj.get("type")),
    }
    return fields


_EVENT_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

_KIND_FIELDS: dict[str, Callable[[JSONObject], dict[str, str]]] = {
    "Pod": _pod_fields,
    "Event": _event_fields,
    "Secret": lambda o: {"type": _s(o.get("type"))},
    "Node": lambda o: {"spec.unschedulable": _s(bool(_dig(o, "spec", "unschedulable")))},
    "Namespace": lambda o: {"status.phase": _s(_dig(o, "status", "phase"))},
    "ReplicaSet": lambda o: {"status.replicas": _s(_dig(o, "status", "replicas") or 0)},
}

COMMON_FIELDS = ("metadata.name", "metadata.namespace")
SUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        *(f"involvedObject.{k}" for k in _EVENT_INVOLVED),
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
}
"""Kind-specific selectable fields, beyond :data:`COMMON_FIELDS` which every kind supports."""


def object_fields(obj: JSONObject, kind: str | None = None) -> dict[str, str]:
    """Every selectable field of ``obj`` with its string value."""
    kind = kind or obj.get("kind", "")
    fields = {
        "metadata.name": _s(_dig(obj, "metadata", "name")),
        "metadata.namespace": _s(_dig(obj, "metadata", "namespace")),
    }
    extra = _KIND_FIELDS.get(kind)
    if extra is not None:
        fields |= extra(obj)
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
        allowed = COMMON_FIELDS + SUPPORTED_FIELDS.get(kind, ())
        for term in self.terms:
            if term.field not in allowed:
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
