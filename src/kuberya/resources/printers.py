"""Server-side Table printing: the columns and cells ``kubectl get`` shows.

kubectl asks for ``application/json;as=Table;g=meta.k8s.io;v=v1`` and prints whatever columns the
server defines, so every column is copied from upstream's
``pkg/printers/internalversion/printers.go`` (v1.32): same names, types, formats and priorities
(``priority: 1`` = only under ``-o wide``), and cells computed by the same rules — the pod STATUS
reason logic, ``<none>``/``<pending>`` for service addresses, ``cpu: 10%/80%`` HPA targets.

Cells always include the wide columns: kubectl hides priority-1 columns itself, as it does with
an upstream server (which also always prints wide server-side).

The per-kind printers live in :mod:`.printers_core` (core/v1) and :mod:`.printers_apps` (apps,
autoscaling, discovery, coordination); shared helpers such as :func:`human_duration` in
:mod:`.printers_base`. Kinds without an upstream printer (LimitRange) get upstream's default
table: Name, Created At.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kuberya.resources import printers_apps, printers_core
from kuberya.resources.printers_base import Printer, column, human_duration
from kuberya.resources.types import JSONObject, ResourceType

__all__ = ["human_duration", "table_columns", "table_row_cells"]

_COLUMNS: dict[str, list[JSONObject]] = {**printers_core.COLUMNS, **printers_apps.COLUMNS}
_PRINTERS: dict[str, Printer] = {**printers_core.PRINTERS, **printers_apps.PRINTERS}

_DEFAULT_COLUMNS = [
    column("Name", "string", "name", fmt="name"),
    column("Created At", "date", "creationTimestamp"),
]


def table_columns(rt: ResourceType) -> list[JSONObject]:
    """Return the ``columnDefinitions`` of a Table of ``rt`` (a fresh list each call)."""
    return [dict(c) for c in _COLUMNS.get(rt.kind, _DEFAULT_COLUMNS)]


def table_row_cells(rt: ResourceType, obj: JSONObject, *, now: datetime) -> list[Any]:
    """Return the cells of one row, one per column of :func:`table_columns`, wide ones included."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    printer = _PRINTERS.get(rt.kind)
    if printer is None:
        metadata = obj.get("metadata") or {}
        return [metadata.get("name", ""), metadata.get("creationTimestamp")]
    return printer(obj, now)
