r"""Label selectors, parsed and matched as apimachinery does: one implementation for every layer.

The API server filters lists and watches with them, the controllers match cached objects against
a ``spec.selector``, the scheduler evaluates node affinity, and the fake client filters what it
holds: all through :class:`LabelSelector`. A selector comes from one of three places:

* query strings (``?labelSelector=app=web,tier notin (db)``), parsed by :func:`parse_label_selector`
  with the full upstream grammar (``labels/selector.go``): ``k=v``, ``k==v``, ``k!=v``,
  ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, ``k>1``, ``k<1``; comma = AND;
* ``metav1.LabelSelector`` objects in specs (``matchLabels`` + ``matchExpressions``), turned into
  requirements by :func:`selector_from_spec`;
* node selector terms (``matchExpressions`` with ``Gt``/``Lt`` too), by
  :func:`node_selector_requirement`.

A selector is a conjunction of :class:`Requirement` s kept sorted by key, so ``str(selector)`` is
the canonical text upstream prints (Scale ``status.selector``, the ``-o wide`` Selector column).
Upstream's two degenerate selectors are kept apart: *everything* (no requirements, ``empty``) and
*nothing* (a ``None`` spec selector, as ``LabelSelectorAsSelector`` makes it): both print as
``""``, only one matches. Requirements are checked as ``labels.NewRequirement`` checks them, with
its messages: a :class:`SelectorError` is a 400 at the API server, "matches nothing" elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kuberya.meta.names import label_value_errors, qualified_name_errors


class SelectorError(ValueError):
    """A selector that does not parse or is not valid (400 BadRequest at the API server)."""


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


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
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


def selector_to_string(spec: Mapping[str, Any] | None) -> str:
    """Return the canonical text of a spec selector (Scale ``status.selector``, wide Selector columns)."""
    return str(selector_from_spec(spec))


def matches(spec: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> bool:
    """Whether ``labels`` satisfy the ``metav1.LabelSelector`` ``spec`` (``None`` matches nothing).

    Raises :class:`SelectorError` for a malformed selector.
    """
    return selector_from_spec(spec).matches(labels)


def is_empty(spec: Mapping[str, Any] | None) -> bool:
    """True for a present selector with no requirements (it matches everything)."""
    return spec is not None and not spec.get("matchLabels") and not spec.get("matchExpressions")


_NODE_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
    "Gt": GREATER_THAN,
    "Lt": LESS_THAN,
}


def node_selector_requirement(expr: Mapping[str, Any]) -> Requirement:
    """One ``NodeSelectorRequirement`` (``matchExpressions`` or ``matchFields`` of a node term).

    Upstream's ``nodeSelectorRequirementsAsSelector``: the label operators plus ``Gt``/``Lt``,
    whose one value must be an integer. Raises :class:`SelectorError` when it is not valid.
    """
    operator = _NODE_OPERATORS.get(str(expr.get("operator", "")))
    if operator is None:
        raise SelectorError(f'"{expr.get("operator", "")}" is not a valid node selector operator')
    return make_requirement(str(expr.get("key") or ""), operator, tuple(str(v) for v in expr.get("values") or ()))
