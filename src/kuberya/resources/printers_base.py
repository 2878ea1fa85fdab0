"""Helpers shared by the Table printers: durations, timestamps, column definitions, label text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kuberya.meta.timefmt import parse_time as parse_time  # re-exported for the printers
from kuberya.resources.selectors import SelectorError, selector_to_string
from kuberya.resources.types import JSONObject

Printer = Callable[[JSONObject, datetime], list[Any]]
"""Computes one row's cells from an object and the current time."""

# Upstream takes most descriptions from the OpenAPI (SwaggerDoc) text of the field; kubectl never
# shows them, so the long ones are cut to their first sentence.
DOCS: dict[str, str] = {
    "name": (
        "Name must be unique within a namespace. Is required when creating resources, although some "
        "resources may allow a client to request the generation of an appropriate name automatically. "
        "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
        "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    ),
    "creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was created. It "
        "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
        "set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
        "Read-only. Null for lists. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    ),
    "containers": "Names of each container in the template.",
    "images": "Images referenced by each container in the template.",
    # A Job's spec.selector, which a CronJob's Table shows too (of its jobTemplate).
    "jobSelector": (
        "A label query over pods that should match the pod count. Normally, the system sets this field for "
        "you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
}


def column(name: str, type_: str, description: str, *, fmt: str = "", priority: int = 0) -> JSONObject:
    """Return one ``TableColumnDefinition``; ``description`` may be a key of :data:`DOCS`."""
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": DOCS.get(description, description),
        "priority": priority,
    }


NAME = column("Name", "string", "name", fmt="name")
AGE = column("Age", "string", "creationTimestamp")
CONTAINERS = column("Containers", "string", "containers", priority=1)
"""The wide column of a workload's template's container names (:func:`layout_containers`)."""
IMAGES = column("Images", "string", "images", priority=1)
"""The wide column of its images."""


def human_duration(seconds: float) -> str:
    """Format a duration as apimachinery's ``duration.HumanDuration``: ``5s``, ``3m10s``, ``2d3h``.

    About 2–3 significant figures; a negative duration up to 1 s is ``0s`` (clock skew), beyond
    that ``<invalid>``.
    """
    whole = int(seconds)  # Go's int(d.Seconds()) truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        sec = whole % 60
        return f"{minutes}m" if sec == 0 else f"{minutes}m{sec}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """Upstream ``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def age(obj: JSONObject, now: datetime) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def name(obj: JSONObject) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def dig(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def format_labels(labels: Mapping[str, str] | None) -> str:
    """Upstream ``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when there are none."""
    text = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return text or "<none>"


def format_label_selector(spec: JSONObject | None, *, empty: str = "<none>", invalid: str = "<error>") -> str:
    """Upstream ``metav1.FormatLabelSelector`` (Deployments print ``""``/``<invalid>`` instead)."""
    try:
        text = selector_to_string(spec)
    except SelectorError:
        return invalid
    return text or empty


def layout_containers(containers: list[JSONObject] | None) -> tuple[str, str]:
    """Return the wide Containers and Images cells: the names and the images, comma-joined."""
    containers = containers or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def layout_template(spec: Any) -> tuple[str, str]:
    """The Containers and Images cells of a workload whose ``spec.template`` is a pod template."""
    return layout_containers(dig(spec, "template", "spec", "containers"))


def list_with_more(items: list[str], total: int, limit: int, *, empty: str = "<unset>") -> str:
    """Upstream ``listWithMoreString``: at most ``limit`` items, then ``+ N more...``."""
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty
