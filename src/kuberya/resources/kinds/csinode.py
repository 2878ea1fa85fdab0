"""storage.k8s.io/v1 CSINode: the CSI drivers registered on a node, cluster-scoped, named as the node.

kuberya registers no CSI drivers, so it never writes one; the kind is served, validated and
printed as upstream (``ValidateCSINode``/``…Update``, ``printCSINode``) for the tools that list
it. Upstream defaults nothing in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.kinds.storageclass import STORAGE_V1
from kuberya.resources.names import dns1123_subdomain_errors, qualified_name_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import duplicate, invalid, non_negative, required, too_long

MAX_DRIVER_NAME = 63
MAX_NODE_ID = 192


def driver_name_causes(value: str, path: str) -> list[Cause]:
    """``ValidateCSIDriverName``: set, at most 63 characters, a DNS subdomain."""
    if not value:
        return [required(path)]
    if len(value) > MAX_DRIVER_NAME:
        return [too_long(path, MAX_DRIVER_NAME)]
    return [invalid(path, value, msg) for msg in dns1123_subdomain_errors(value.lower())]


def _driver(driver: Any, path: str, names: set[str]) -> list[Cause]:
    if not isinstance(driver, dict):
        return [required(path)]
    driver_name = str(driver.get("name") or "")
    causes = driver_name_causes(driver_name, f"{path}.name")
    if driver_name in names:
        causes.append(duplicate(f"{path}.name", driver_name))
    names.add(driver_name)
    node_id = str(driver.get("nodeID") or "")
    if not node_id:
        causes.append(required(f"{path}.nodeID", "nodeID cannot be empty"))
    elif len(node_id) > MAX_NODE_ID:
        causes.append(invalid(f"{path}.nodeID", node_id, f"must be {MAX_NODE_ID} characters or less"))
    count = (driver.get("allocatable") or {}).get("count")
    causes += non_negative(f"{path}.allocatable.count", count)
    keys: set[str] = set()
    for key in driver.get("topologyKeys") or []:
        if not key:
            causes.append(required(f"{path}.topologyKeys"))
        if key in keys:
            causes.append(duplicate(f"{path}.topologyKeys", key))
        keys.add(key)
        causes += [invalid(f"{path}.topologyKeys", key, msg) for msg in qualified_name_errors(str(key))]
    return causes


def _validate(node: JSONObject, old: JSONObject | None) -> list[Cause]:
    spec = node.get("spec") or {}
    names: set[str] = set()
    drivers = spec.get("drivers") if isinstance(spec, dict) else None
    causes: list[Cause] = []
    for i, driver in enumerate(drivers or []):
        causes += _driver(driver, f"spec.drivers[{i}]", names)
    if old is not None:
        new_by_name = {d.get("name"): d for d in drivers or [] if isinstance(d, dict)}
        for i, old_driver in enumerate((old.get("spec") or {}).get("drivers") or []):
            new_driver = new_by_name.get(old_driver.get("name"))
            if new_driver is None:
                continue  # a driver may be removed
            for key in ("nodeID", "topologyKeys", "allocatable"):
                if new_driver.get(key) != old_driver.get(key):
                    causes.append(invalid(f"spec.drivers[{i}].{key}", new_driver.get(key), "field is immutable"))
    return causes


COLUMNS = (
    NAME,
    column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
    AGE,
)


def _print(node: JSONObject, now: datetime) -> list[Any]:
    return [name(node), len((node.get("spec") or {}).get("drivers") or []), age(node, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="storage.k8s.io",
            version="v1",
            resource="csinodes",
            kind="CSINode",
            singular="csinode",
            namespaced=False,
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": STORAGE_V1},
    protobuf=True,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
