"""core/v1 LimitRange: per-container defaults and bounds in a namespace, enforced at admission.

Defaulting is upstream's ``SetDefaults_LimitRangeItem``: a ``Container`` item's ``default``
(limit) falls back to its ``max``, its ``defaultRequest`` to its ``default``, then to its ``min``.
The API server's LimitRanger (:mod:`kuberya.apiserver.limitranger`) applies and checks the ranges.
Upstream has no printer for it: ``kubectl get limits`` shows the default Table (Name, Created At).
"""

from __future__ import annotations

from fractions import Fraction

from kuberya.meta.names import qualified_name_errors
from kuberya.meta.quantity import format_quantity, is_binary_quantity, parse_quantity
from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import duplicate, forbidden, invalid

LIMIT_TYPES = ("Pod", "Container", "PersistentVolumeClaim")


def default_limit_range_item(item: JSONObject) -> JSONObject:
    """Fill in one item's ``default`` and ``defaultRequest`` (in place; returned for chaining)."""
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    request = dict(item.get("defaultRequest") or {})
    for name, value in (item.get("max") or {}).items():
        default.setdefault(name, value)
    for name, value in default.items():
        request.setdefault(name, value)
    for name, value in (item.get("min") or {}).items():
        request.setdefault(name, value)
    if default:
        item["default"] = default
    if request:
        item["defaultRequest"] = request
    return item


def _default(limit_range: JSONObject) -> None:
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        if isinstance(item, dict):
            default_limit_range_item(item)


def _quantities(item: JSONObject, key: str) -> dict[str, tuple[Fraction, str]]:
    """One field of an item as exact values with their canonical text; malformed ones skipped."""
    out: dict[str, tuple[Fraction, str]] = {}
    for name, value in (item.get(key) or {}).items():
        try:
            number = parse_quantity(value)
        except ValueError:
            continue  # typed decoding has refused it already
        out[str(name)] = (number, format_quantity(number, binary=is_binary_quantity(value)))
    return out


def _item_causes(item: JSONObject, path: str) -> list[Cause]:
    """``ValidateLimitRange`` for one item: its type, and its bounds against each other."""
    kind = str(item.get("type") or "")
    causes = [invalid(f"{path}.type", kind, m) for m in qualified_name_errors(kind)]
    if "/" not in kind and kind not in LIMIT_TYPES:
        causes.append(invalid(f"{path}.type", kind, "must be a standard limit type or fully qualified"))
    bounds = {
        key: _quantities(item, key) for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
    }
    if kind == "Pod":
        for key in ("default", "defaultRequest"):
            if bounds[key]:
                causes.append(forbidden(f"{path}.{key}", "may not be specified when `type` is 'Pod'"))
    low, high, limit, request = bounds["min"], bounds["max"], bounds["default"], bounds["defaultRequest"]
    # (should not exceed, bound, field named, field whose value is shown, message): upstream's order
    checks = (
        (low, high, "min", low, "min value {a} is greater than max value {b}"),
        (low, request, "defaultRequest", request, "min value {a} is greater than default request value {b}"),
        (request, high, "defaultRequest", request, "default request value {a} is greater than max value {b}"),
        (
            request,
            limit,
            "defaultRequest",
            request,
            "default request value {a} is greater than default limit value {b}",
        ),
        (low, limit, "default", low, "min value {a} is greater than default value {b}"),
        (limit, high, "default", high, "default value {a} is greater than max value {b}"),
    )
    for name in sorted(set().union(*(set(b) for b in bounds.values()))):
        for smaller, larger, key, shown, message in checks:
            if name in smaller and name in larger and smaller[name][0] > larger[name][0]:
                text = message.format(a=smaller[name][1], b=larger[name][1])
                causes.append(invalid(f"{path}.{key}[{name}]", shown[name][1], text))
        ratio = bounds["maxLimitRequestRatio"].get(name)
        if ratio is not None and ratio[0] < 1:
            causes.append(invalid(f"{path}.maxLimitRequestRatio[{name}]", ratio[1], f"ratio {ratio[1]} is less than 1"))
    return causes


def _validate(limit_range: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # an update is checked as a create
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, item in enumerate((limit_range.get("spec") or {}).get("limits") or []):
        kind = str(item.get("type") or "")
        if kind in seen:
            causes.append(duplicate(f"spec.limits[{i}].type", kind))
        seen.add(kind)
        causes += _item_causes(item, f"spec.limits[{i}]")
    return causes


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="limitranges",
            kind="LimitRange",
            singular="limitrange",
            namespaced=True,
            short_names=("limits",),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    allow_create_on_update=True,
)
