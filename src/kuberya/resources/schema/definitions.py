"""The generated component schemas, loaded once, and the two ways of walking them.

``definitions.json`` (written by ``scripts/gen_schemas.py``, committed, shipped as package data)
maps upstream definition names to OpenAPI v3 schemas. References are ``allOf: [{$ref}]`` as in
upstream's v3 documents; :func:`resolve` follows them so callers see the referenced schema.
Nothing here mutates the loaded data: callers that hand schemas out must copy them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from kuberya.resources.types import GroupVersionKind

Schema = Mapping[str, Any]
"""One OpenAPI v3 schema object (read-only view of the loaded data)."""

REF_PREFIX = "#/components/schemas/"


@functools.cache
def definitions() -> dict[str, Schema]:
    """All definitions, keyed by upstream name (``io.k8s.api.apps.v1.Deployment``)."""
    data_file = resources.files("kuberya.resources.schema").joinpath("definitions.json")
    text = data_file.read_text(encoding="utf-8")
    loaded: dict[str, Schema] = json.loads(text)
    return loaded


@functools.cache
def _by_gvk() -> dict[GroupVersionKind, str]:
    index: dict[GroupVersionKind, str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index[GroupVersionKind(gvk["group"], gvk["version"], gvk["kind"])] = name
    return index


def definition_for(api_version: str, kind: str) -> str | None:
    """Find the definition of a top-level kind; None when kuberya has no schema for it."""
    group, _, version = api_version.rpartition("/")
    return _by_gvk().get(GroupVersionKind(group, version, kind))


def _ref_target(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    if ref is None and (all_of := schema.get("allOf")) and len(all_of) == 1:
        ref = all_of[0].get("$ref")
    return ref.removeprefix(REF_PREFIX) if isinstance(ref, str) else None


def resolve(schema: Schema) -> Schema:
    """Follow ``$ref`` / single-element ``allOf`` until a schema with a body is reached."""
    while (target := _ref_target(schema)) is not None:
        schema = definitions()[target]
    return schema


def _references(schema: Schema) -> Iterable[str]:
    if (target := _ref_target(schema)) is not None:
        yield target
    for prop in schema.get("properties", {}).values():
        yield from _references(prop)
    for key in ("items", "additionalProperties"):
        if isinstance(sub := schema.get(key), Mapping):
            yield from _references(sub)


def reachable(roots: Iterable[str]) -> set[str]:
    """Name ``roots`` and every definition they reference, transitively."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_references(definitions()[name]))
    return seen
