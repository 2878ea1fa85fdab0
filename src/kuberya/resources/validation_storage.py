"""Checks the storage kinds share: node selectors, volume paths, storage quantities.

Worded as upstream's ``pkg/apis/core/validation`` words them (``ValidateNodeSelector``,
``validatePathNoBacksteps``, ``validateBasicResource``), so a PersistentVolume's node affinity,
a StorageClass's allowed topologies and a claim's status fail with the messages kubectl users
know from any cluster.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kuberya.meta.quantity import parse_quantity
from kuberya.resources.names import dns1123_subdomain_errors, label_value_errors, qualified_name_errors
from kuberya.resources.types import Cause
from kuberya.resources.validation_base import duplicate, forbidden, invalid, not_supported, required

STORAGE = "storage"


def quantity_or_none(value: Any) -> Fraction | None:
    """The value of a Quantity, or None when it is missing or malformed (the decoder reports that)."""
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except (TypeError, ValueError):
        return None


def storage_of(resources: Any) -> Fraction:
    """``list[storage]`` of a ResourceList, 0 when absent, as Go's zero Quantity."""
    value = quantity_or_none((resources or {}).get(STORAGE)) if isinstance(resources, dict) else None
    return value if value is not None else Fraction(0)


def path_no_backsteps(path: str, field: str) -> list[Cause]:
    """``validatePathNoBacksteps``: no ``..`` element anywhere in the path."""
    if ".." in path.replace("\\", "/").split("/"):
        return [invalid(field, path, "must not contain '..'")]
    return []


def basic_resource(value: Any, field: str) -> list[Cause]:
    """``validateBasicResource``: a quantity that is not negative."""
    number = quantity_or_none(value)
    if number is not None and number < 0:
        return [invalid(field, int(number), "must be a valid resource quantity")]
    return []


def claim_resource_key(key: str, field: str) -> list[Cause]:
    """``validatePersistentVolumeClaimResourceKey``: a qualified name; a native one must be ``storage``."""
    causes = [invalid(field, key, msg) for msg in qualified_name_errors(key)]
    if causes:
        return causes
    native = "/" not in key or key.startswith("kubernetes.io/")
    if native and key != STORAGE:
        return [not_supported(field, key, (STORAGE,))]
    return []


_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def _node_selector_requirement(req: Any, path: str) -> list[Cause]:
    if not isinstance(req, dict):
        return [required(path)]
    causes: list[Cause] = []
    operator, values = req.get("operator"), req.get("values") or []
    if operator in ("In", "NotIn"):
        if not values:
            causes.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            causes.append(
                forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            )
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            causes.append(required(f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        causes.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    key = str(req.get("key") or "")
    causes += [invalid(f"{path}.key", key, msg) for msg in qualified_name_errors(key)]
    for i, value in enumerate(values):
        causes += [invalid(f"{path}.values[{i}]", value, msg) for msg in label_value_errors(str(value))]
    return causes


def _node_field_requirement(req: Any, path: str) -> list[Cause]:
    if not isinstance(req, dict):
        return [required(path)]
    causes: list[Cause] = []
    values = req.get("values") or []
    if req.get("operator") in ("In", "NotIn"):
        if len(values) != 1:
            causes.append(
                required(
                    f"{path}.values",
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                )
            )
    else:
        causes.append(invalid(f"{path}.operator", req.get("operator"), "not a valid selector operator"))
    if req.get("key") != "metadata.name":
        causes.append(invalid(f"{path}.key", req.get("key"), "not a valid field selector key"))
    else:
        for i, value in enumerate(values):
            causes += [invalid(f"{path}.values[{i}]", value, msg) for msg in dns1123_subdomain_errors(str(value))]
    return causes


def node_selector(selector: Any, path: str) -> list[Cause]:
    """``ValidateNodeSelector``: at least one term; each requirement well formed."""
    terms = (selector or {}).get("nodeSelectorTerms") if isinstance(selector, dict) else None
    if not terms:
        return [required(f"{path}.nodeSelectorTerms", "must have at least one node selector term")]
    causes: list[Cause] = []
    for i, term in enumerate(terms):
        term_path = f"{path}.nodeSelectorTerms[{i}]"
        term = term if isinstance(term, dict) else {}
        for j, req in enumerate(term.get("matchExpressions") or []):
            causes += _node_selector_requirement(req, f"{term_path}.matchExpressions[{j}]")
        for j, req in enumerate(term.get("matchFields") or []):
            causes += _node_field_requirement(req, f"{term_path}.matchFields[{j}]")
    return causes


def topology_selector_term(term: Any, path: str) -> list[Cause]:
    """``ValidateTopologySelectorTerm``: label keys, at least one value each, no duplicates."""
    causes: list[Cause] = []
    seen_keys: set[str] = set()
    expressions = (term or {}).get("matchLabelExpressions") if isinstance(term, dict) else None
    for i, expr in enumerate(expressions or []):
        expr_path = f"{path}.matchLabelExpressions[{i}]"
        expr = expr if isinstance(expr, dict) else {}
        key = str(expr.get("key") or "")
        causes += [invalid(f"{expr_path}.key", key, msg) for msg in qualified_name_errors(key)]
        values = expr.get("values") or []
        if not values:
            causes.append(required(f"{expr_path}.values", ""))
        seen_values: set[str] = set()
        for j, value in enumerate(values):
            causes += [invalid(f"{expr_path}.values[{j}]", value, msg) for msg in label_value_errors(str(value))]
            if value in seen_values:
                causes.append(duplicate(f"{expr_path}.values[{j}]", value))
            seen_values.add(value)
        if key in seen_keys:
            causes.append(duplicate(f"{expr_path}.key", key))
        seen_keys.add(key)
    return causes
