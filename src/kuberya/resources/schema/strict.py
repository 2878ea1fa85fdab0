"""``fieldValidation=Strict``: the fields of an object that its kind's schema does not declare.

Upstream's strict decoder reports every unknown field at once, as a dotted path from the object's
root with list indices in brackets (``spec.template.spec.containers[0].imagee``); the API server
wraps them into ``strict decoding error: unknown field "…", unknown field "…"``. This walk
produces the same paths in document order.

Only unknown *names* are reported. A value of the wrong type (a string where an object belongs)
is the decoder's other error and is left to validation, so the walk simply does not descend into
it. Maps (``additionalProperties``: labels, resource lists) accept any key; free-form objects
(``FieldsV1`` in ``managedFields``) accept anything below them.
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.schema.definitions import Schema, definition_for, definitions, resolve
from kuberya.resources.types import JSONObject


def unknown_fields(api_version: str, kind: str, obj: JSONObject) -> list[str]:
    """Dotted paths of the fields in ``obj`` its schema lacks; [] for kinds without a schema."""
    name = definition_for(api_version, kind)
    if name is None:
        return []
    found: list[str] = []
    _walk(definitions()[name], obj, "", found)
    return found


def _walk(schema: Schema, value: Any, path: str, found: list[str]) -> None:
    schema = resolve(schema)
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if key in properties:
                    _walk(properties[key], item, child, found)
                else:
                    found.append(child)
        elif isinstance(values := schema.get("additionalProperties"), dict):
            for key, item in value.items():
                _walk(values, item, f"{path}.{key}" if path else key, found)
    elif isinstance(value, list) and isinstance(items := schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(items, item, f"{path}[{index}]", found)
