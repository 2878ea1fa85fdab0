"""Server-side Table printing: the columns and cells ``kubectl get`` shows.

kubectl asks for ``application/json;as=Table;g=meta.k8s.io;v=v1`` and prints whatever columns the
server defines, so every column is copied from upstream's
``pkg/printers/internalversion/printers.go`` (v1.32): same names, types, formats and priorities
(``priority: 1`` = only under ``-o wide``), and cells computed by the same rules — the pod STATUS
reason logic, ``<none>``/``<pending>`` for service addresses, ``cpu: 10%/80%`` HPA targets.

Cells always include the wide columns: kubectl hides priority-1 columns itself, as it does with
an upstream server (which also always prints wide server-side).

Each kind's spec names its columns and printer (most are in :mod:`.printers_core` for core/v1
and :mod:`.printers_apps` for apps, autoscaling and discovery); shared helpers such as
:func:`human_duration` are in :mod:`.printers_base`. Kinds without an upstream printer
(LimitRange) get upstream's default table: Name, Created At.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kuberya.resources import kinds
from kuberya.resources.printers_base import column, human_duration
from kuberya.resources.types import JSONObject, ResourceType

__all__ = ["human_duration", "table_columns", "table_row_cells"]

_DEFAULT_COLUMNS = [
    column("Name", "string", "name", fmt="name"),
    column("Created At", "date", "creationTimestamp"),
]


def table_columns(rt: ResourceType) -> list[JSONObject]:
    """Return the ``columnDefinitions`` of a Table of ``rt`` (a fresh list each call)."""
    spec = kinds.spec_for_kind(rt.kind)
    return [dict(c) for c in (spec.columns if spec is not None and spec.columns else _DEFAULT_COLUMNS)]


def table_row_cells(rt: ResourceType, obj: JSONObject, *, now: datetime) -> list[Any]:
    """Return the cells of one row, one per column of :func:`table_columns`, wide ones included."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    spec = kinds.spec_for_kind(rt.kind)
    printer = spec.printer if spec is not None else None
    if printer is None:
        metadata = obj.get("metadata") or {}
        return [metadata.get("name", ""), metadata.get("creationTimestamp")]
    return printer(obj, now)
