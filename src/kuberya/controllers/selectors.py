"""Label selectors, evaluated in the controllers' own process (``metav1.LabelSelector``).

Controllers match cached objects against a ``spec.selector`` without asking the server, so they
need the selector semantics themselves: ``matchLabels`` ANDed with ``matchExpressions`` (``In``,
``NotIn``, ``Exists``, ``DoesNotExist``). An empty selector matches everything (callers that must
refuse it check :func:`is_empty`); a missing one (``None``) matches nothing, as upstream's
``LabelSelectorAsSelector`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class InvalidSelectorError(ValueError):
    """A selector with an unknown operator or a malformed requirement."""


def is_empty(selector: Mapping[str, Any] | None) -> bool:
    return selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> bool:
    """Tell whether ``labels`` satisfy ``selector``; raises :class:`InvalidSelectorError` if malformed."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels) for req in selector.get("matchExpressions") or [])


def requirement_matches(req: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Evaluate one ``{key, operator, values}`` requirement (label and node-selector flavours)."""
    key = req.get("key")
    operator = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    if not isinstance(key, str) or not key:
        raise InvalidSelectorError(f"a requirement without a key: {dict(req)}")
    present = key in labels
    if operator == "In":
        return present and str(labels[key]) in values
    if operator == "NotIn":
        return not present or str(labels[key]) not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):  # node affinity only
        try:
            actual, bound = int(str(labels[key])), int(values[0])
        except (KeyError, IndexError, ValueError):
            return False
        return actual > bound if operator == "Gt" else actual < bound
    raise InvalidSelectorError(f"unknown selector operator {operator!r}")


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """Render as the ``labelSelector`` query parameter (``app=web,tier in (a,b)``)."""
    if not selector:
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), ",".join(sorted(req.get("values") or []))
        if op == "In":
            terms.append(f"{key} in ({values})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({values})")
        elif op == "Exists":
            terms.append(str(key))
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)
