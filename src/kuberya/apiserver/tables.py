"""Server-side printing: objects as ``meta.k8s.io/v1`` Tables for ``kubectl get``.

kubectl asks for a Table whenever it prints for humans; without one it can show only NAME
and AGE. The columns and cells come from :mod:`kuberya.resources.printers` (upstream's
printers); this module wraps them in the Table envelope and the row objects kubectl reads
(``-A`` needs the namespace, ``--show-labels`` the labels, ``--sort-by`` the whole object).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.resources.printers import table_columns, table_row_cells
from kuberya.resources.types import JSONObject, ResourceType


def include_object_mode(request: web.Request) -> str:
    mode = request.query.get("includeObject", "Metadata") or "Metadata"
    if mode not in ("None", "Metadata", "Object"):
        raise errors.bad_request(
            f'includeObject: Unsupported value: "{mode}": supported values: "Metadata", "None", "Object"'
        )
    return mode


def _row_object(obj: JSONObject, mode: str) -> JSONObject | None:
    if mode == "None":
        return None
    if mode == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    rt: ResourceType,
    objects: list[JSONObject],
    *,
    resource_version: str,
    include_object: str,
    continue_token: str = "",
    with_columns: bool = True,
) -> JSONObject:
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        row: JSONObject = {"cells": table_row_cells(rt, obj, now=now)}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    metadata: JSONObject = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    table: JSONObject = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": table_columns(rt) if with_columns else [],
        "rows": rows,
    }
    return table
