"""Building :class:`Cause` s worded like apimachinery's ``field.Error`` (``ErrorBody``).

Upstream prints a rejected value with Go's ``%#v``-like formatting (``"x"``, ``5``,
``map[string]string{"app":"web"}``); :func:`go_value` imitates it so messages read the same.
The checks every workload kind shares (its label selector against its template, an immutable
selector, an IntOrString count or percentage) are here too, so each kind words them alike.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kuberya.resources.selectors import SelectorError, selector_from_spec
from kuberya.resources.types import Cause, JSONObject


def go_value(value: Any) -> str:
    """Render ``value`` as upstream error messages do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def required(field: str, detail: str = "") -> Cause:
    return Cause(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}")


def not_supported(field: str, value: Any, supported: tuple[str, ...]) -> Cause:
    quoted = ", ".join(json.dumps(s) for s in sorted(supported))
    return Cause(field, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {quoted}")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")


def not_found(field: str, value: Any) -> Cause:
    return Cause(field, "FieldValueNotFound", f"Not found: {go_value(value)}")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(field: str, limit: int) -> Cause:
    return Cause(field, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def port_range(field: str, port: Any) -> list[Cause]:
    """Check a port number: an int from 1 to 65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return [invalid(field, port, "must be between 1 and 65535, inclusive")]
    return []


def non_negative(field: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []


# ---- workload selectors and counts -------------------------------------------------------------


def selector_repr(selector: Any) -> str:
    """A LabelSelector as upstream's messages print it (Go's ``%#v`` of ``v1.LabelSelector``)."""
    selector = selector or {}
    labels = go_value(selector.get("matchLabels") or {}) if selector.get("matchLabels") else "map[string]string(nil)"
    exprs = (
        "[]v1.LabelSelectorRequirement(nil)"
        if not selector.get("matchExpressions")
        else go_value(selector["matchExpressions"])
    )
    return f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}"


def invalid_selector(selector: Any, detail: str, field: str = "spec.selector") -> Cause:
    """``field.Invalid`` of a LabelSelector: the value printed as a Go struct, not as JSON."""
    return Cause(field, "FieldValueInvalid", f"Invalid value: {selector_repr(selector)}: {detail}")


def selector_mismatch(template_labels: Any) -> Cause:
    """The selector does not select the pods its template makes."""
    return invalid("spec.template.metadata.labels", template_labels, "`selector` does not match template `labels`")


def selector_selects_template(selector_spec: Any, template_labels: Any, kind_word: str) -> list[Cause]:
    """A required, well-formed, non-empty ``spec.selector`` that selects the template's labels.

    What apps/v1 Deployments, ReplicaSets and StatefulSets check alike (``kind_word`` names the
    kind in the message about an empty selector, lowercase as upstream's).
    """
    if selector_spec is None:
        return [required("spec.selector")]
    try:
        selector = selector_from_spec(selector_spec)
    except SelectorError as e:
        return [invalid_selector(selector_spec, str(e))]
    if selector.empty:
        return [invalid_selector(selector_spec, f"empty selector is invalid for {kind_word}")]
    if not selector.matches(template_labels):
        return [selector_mismatch(template_labels)]
    return []


def selector_from_spec_safe(spec: Any) -> str | None:
    """The selector's canonical text, or None when it is missing or malformed."""
    try:
        return str(selector_from_spec(spec)) if isinstance(spec, dict) else None
    except SelectorError:
        return None


def immutable_selector(obj: JSONObject, old: JSONObject | None) -> list[Cause]:
    """On update, ``spec.selector`` may not select anything else than it did (apps/v1)."""
    if old is None:
        return []
    new_sel, old_sel = (obj.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    if selector_from_spec_safe(new_sel) != selector_from_spec_safe(old_sel):
        return [invalid_selector(new_sel, "field is immutable")]
    return []


def int_or_percent(value: Any, path: str) -> tuple[list[Cause], int | None, bool]:
    """Check an IntOrString that is a count or ``N%``; return (causes, number, is_percent)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return non_negative(path, value), value, False
    if isinstance(value, str):
        match = re.fullmatch(r"([0-9]+)%", value)
        if match is None:
            detail = (
                "a valid percent string must be a numeric string followed by an ending '%' "
                "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            )
            return [invalid(path, value, detail)], None, True
        number = int(match.group(1))
        if number > 100:
            return [invalid(path, value, "must not be greater than 100%")], number, True
        return [], number, True
    return [], None, False
