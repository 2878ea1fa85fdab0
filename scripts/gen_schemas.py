"""Write ``src/kuberya/resources/schema/definitions.json`` from the official ``kubernetes`` client.

The client (a test dependency, never a runtime one) is generated from upstream's OpenAPI spec, so
each model class still carries what kuberya needs: ``openapi_types`` (attribute -> type string
such as ``V1ObjectMeta``, ``List[V1Container]``, ``Dict[str, str]``, ``object``, ``datetime``),
``attribute_map`` (attribute -> JSON name), the pydantic field's ``description`` and
``is_required()``, and the class docstring (the definition's description). Starting from the
definitions in :data:`kuberya.resources.schema.catalog.ROOT_DEFINITIONS` this walks every model
they reach and emits OpenAPI v3 component schemas under upstream's names.

What the client lost, and how it is put back:

- Upstream names. Model classes are named ``V1Deployment``; upstream says
  ``io.k8s.api.apps.v1.Deployment``. Non-core classes are listed by group below; everything
  else ``V1…`` is core. An unknown prefix stops the generator rather than guessing.
- The string-shaped apimachinery types. ``IntOrString`` and free-form ``FieldsV1`` both became
  ``object``, ``Quantity`` became ``str`` and ``Time``/``MicroTime`` became ``datetime``. Every
  ``object`` field must be classified in :data:`OBJECT_FIELDS` (an unclassified one fails the
  run, so a client upgrade cannot silently mislabel a field); quantities are listed in
  :data:`QUANTITY_FIELDS`.
- Integer widths. The client types every integer as ``int``; upstream says ``int32`` or
  ``int64``, and the typed decoder refuses values outside the width. The formats are read
  from the JSON schemas the ``kubernetes-validate`` package ships (converted from upstream's
  OpenAPI documents, a test dependency too), for the Kubernetes version of the client.
- Descriptions of fields whose type is another model: the pydantic generator drops them, so
  such properties carry only the ``allOf``/``$ref`` and ``kubectl explain`` shows the referenced
  type's description instead.

Usage: ``python scripts/gen_schemas.py`` rewrites the file; ``--check`` exits 1 if it is stale.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from kubernetes.client import models

from kuberya.resources.schema.catalog import (
    DELETE_OPTIONS,
    KNOWN_GROUP_VERSIONS,
    META,
    ROOT_DEFINITIONS,
    STATUS,
    definition_package,
)

OUTPUT = Path(__file__).resolve().parent.parent / "src/kuberya/resources/schema/definitions.json"

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
FIELDS_V1 = f"{META}.FieldsV1"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
# Empty structs the client types as ``object`` (JobSpec.schedulingConfiguration reaches them).
_ALPHA3 = "io.k8s.api.scheduling.v1alpha3"
BASIC_SCHEDULING_POLICY = f"{_ALPHA3}.WorkloadPodGroupBasicSchedulingPolicy"
ALL_DISRUPTION_MODE = f"{_ALPHA3}.WorkloadPodGroupAllDisruptionMode"
SINGLE_DISRUPTION_MODE = f"{_ALPHA3}.WorkloadPodGroupSingleDisruptionMode"

# (model class, JSON field) -> definition, for every field the client types as ``object``.
OBJECT_FIELDS: dict[tuple[str, str], str] = {
    ("V1HTTPGetAction", "port"): INT_OR_STRING,
    ("V1TCPSocketAction", "port"): INT_OR_STRING,
    ("V1ServicePort", "targetPort"): INT_OR_STRING,
    ("V1RollingUpdateDeployment", "maxSurge"): INT_OR_STRING,
    ("V1RollingUpdateDeployment", "maxUnavailable"): INT_OR_STRING,
    ("V1RollingUpdateDaemonSet", "maxSurge"): INT_OR_STRING,
    ("V1RollingUpdateDaemonSet", "maxUnavailable"): INT_OR_STRING,
    ("V1ManagedFieldsEntry", "fieldsV1"): FIELDS_V1,
    ("V1alpha3WorkloadPodGroupSchedulingPolicy", "basic"): BASIC_SCHEDULING_POLICY,
    ("V1alpha3WorkloadPodGroupDisruptionMode", "all"): ALL_DISRUPTION_MODE,
    ("V1alpha3WorkloadPodGroupDisruptionMode", "single"): SINGLE_DISRUPTION_MODE,
    ("V1ControllerRevision", "data"): RAW_EXTENSION,
    ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"): INT_OR_STRING,
    ("V1PodDisruptionBudgetSpec", "minAvailable"): INT_OR_STRING,
    ("V1PodDisruptionBudgetSpec", "maxUnavailable"): INT_OR_STRING,
    ("V1NetworkPolicyPort", "port"): INT_OR_STRING,
}
# Fields (or maps' values) the client types as ``str`` that upstream types as Quantity.
QUANTITY_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("V1EmptyDirVolumeSource", "sizeLimit"),
        ("V1NodeAllocatableMappedResources", "quantity"),
        ("V1NodeAllocatableOverheadResources", "perContainer"),
        ("V1NodeAllocatableOverheadResources", "perPod"),
        ("V1ContainerStatus", "allocatedResources"),
        ("V1PodStatus", "allocatedResources"),
        ("V1PodSpec", "overhead"),
        ("V1LimitRangeItem", "default"),
        ("V1LimitRangeItem", "defaultRequest"),
        ("V1LimitRangeItem", "max"),
        ("V1LimitRangeItem", "min"),
        ("V1LimitRangeItem", "maxLimitRequestRatio"),
        ("V1NodeStatus", "allocatable"),
        ("V1NodeStatus", "capacity"),
        ("V1ResourceQuotaSpec", "hard"),
        ("V1ResourceQuotaStatus", "hard"),
        ("V1ResourceQuotaStatus", "used"),
        ("V1ResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1PersistentVolumeSpec", "capacity"),
        ("V1PersistentVolumeClaimStatus", "capacity"),
        ("V1PersistentVolumeClaimStatus", "allocatedResources"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V2MetricTarget", "averageValue"),
        ("V2MetricTarget", "value"),
        ("V2MetricValueStatus", "averageValue"),
        ("V2MetricValueStatus", "value"),
    }
)
MICRO_TIME_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("CoreV1Event", "eventTime"),
        ("CoreV1EventSeries", "lastObservedTime"),
    }
)

# The apimachinery types have no model class; their text is upstream's, shortened where long.
STRING_TYPES: dict[str, dict[str, Any]] = {
    INT_OR_STRING: {
        # Upstream's v3 form: a oneOf and no top-level type, which is what makes kubectl explain
        # print <IntOrString> / <Quantity> rather than <string>.
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "format": "int-or-string",
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
        "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to "
        "have, for example, a JSON field that can accept a name or number.",
    },
    QUANTITY: {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
        "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\n"
        "The serialization format is a signed number followed by an optional suffix: a binary SI "
        'suffix (Ki, Mi, Gi, Ti, Pi, Ei), a decimal SI suffix (n, u, m, "", k, M, G, T, P, E) or a '
        "decimal exponent (e or E followed by a signed number), for example 100m, 1.5Gi or 1e3.",
    },
    TIME: {
        "type": "string",
        "format": "date-time",
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
        "JSON.  Wrappers are provided for many of the factory methods that the time package offers.",
    },
    MICRO_TIME: {
        "type": "string",
        "format": "date-time",
        "description": "MicroTime is version of Time with microsecond level precision.",
    },
    FIELDS_V1: {
        "type": "object",
        "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\n"
        "Each key is either a '.' representing the field itself, and will always map to an empty set, "
        "or a string representing a sub-field or item. The string will follow one of these four "
        "formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a map "
        "'v:<value>', where <value> is the exact json formatted value of a list item 'i:<index>', "
        "where <index> is position of a item in a list 'k:<keys>', where <keys> is a map of  a list "
        "item's key fields to their unique values If a key maps to an empty Fields value, the field "
        "that represents will be the same as a list item or map value. The field set (and other "
        "fields) are treated as if they were the Go types.",
    },
    RAW_EXTENSION: {
        "type": "object",
        "description": "RawExtension is used to hold extensions in external versions.",
    },
    BASIC_SCHEDULING_POLICY: {
        "type": "object",
        "description": "BasicSchedulingPolicy indicates that standard Kubernetes scheduling behavior should be used.",
    },
    ALL_DISRUPTION_MODE: {
        "type": "object",
        "description": "AllDisruptionMode specifies that all pods in the group must be disrupted together.",
    },
    SINGLE_DISRUPTION_MODE: {
        "type": "object",
        "description": "SingleDisruptionMode specifies that pods can be disrupted independently from each other.",
    },
}

PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "float": {"type": "number", "format": "double"},
    "bytes": {"type": "string", "format": "byte"},
}

UPSTREAM_SCHEMAS = "kubernetes-json-schema/v1.37.0-local/_definitions.json"
"""Inside the ``kubernetes_validate`` package: upstream's definitions for the client's version."""


@functools.cache
def _upstream_definitions() -> dict[str, Any]:
    text = resources.files("kubernetes_validate").joinpath(UPSTREAM_SCHEMAS).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)["$defs"]
    return loaded


def integer_format(class_name: str, json_name: str) -> str:
    """``int32`` or ``int64``, as upstream declares the field (or the values of its map/list)."""
    upstream = _upstream_definitions().get(definition_for_class(class_name), {})
    prop = upstream.get("properties", {}).get(json_name, {})
    for key in ("items", "additionalProperties"):
        if isinstance(prop.get(key), dict):
            prop = prop[key]
    fmt = prop.get("format")
    if fmt not in ("int32", "int64"):
        raise SystemExit(f"gen_schemas: upstream gives no integer format for {class_name}.{json_name}")
    return str(fmt)


_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")


_CLASS_NAME = re.compile(r"^(?P<group>[A-Z][a-z]+)?(?P<version>V\d+(?:(?:alpha|beta)\d+)?)(?P<kind>[A-Z]\w*)$")


def _group_and_version(definition: str) -> tuple[str, str, str]:
    """``io.k8s.api.apps.v1.DeploymentSpec`` -> (``apps``, ``v1``, ``DeploymentSpec``)."""
    package, _, kind = definition.rpartition(".")
    rest, _, version = package.rpartition(".")
    return rest.rpartition(".")[2], version, kind


@functools.cache
def _definitions_by_kind() -> dict[tuple[str, str], tuple[str, ...]]:
    by_kind: dict[tuple[str, str], list[str]] = {}
    for definition in _upstream_definitions():
        _, version, kind = _group_and_version(definition)
        by_kind.setdefault((version, kind), []).append(definition)
    return {key: tuple(names) for key, names in by_kind.items()}


@functools.cache
def definition_for_class(class_name: str) -> str:
    """``V1DeploymentSpec`` -> ``io.k8s.api.apps.v1.DeploymentSpec``, by upstream's own definitions.

    The client names a class by version and kind only (``V1Endpoint``), prefixing the group when
    two groups share a name (``CoreV1Event``, ``EventsV1Event``); upstream's definitions give the
    package. When a bare name is still ambiguous the definition with the class's exact field set
    is the one.
    """
    match = _CLASS_NAME.match(class_name)
    if match is None:
        raise SystemExit(f"gen_schemas: {class_name} is not a model class name")
    version = match["version"][0].lower() + match["version"][1:]
    candidates = _definitions_by_kind().get((version, match["kind"]), ())
    if match["group"]:
        candidates = tuple(c for c in candidates if _group_and_version(c)[0] == match["group"].lower())
    if len(candidates) > 1 and hasattr(models, class_name):
        fields = set(getattr(models, class_name).attribute_map.values())
        candidates = tuple(c for c in candidates if set(_upstream_definitions()[c].get("properties", {})) == fields)
    if len(candidates) != 1:
        raise SystemExit(f"gen_schemas: cannot name model class {class_name} ({len(candidates)} upstream candidates)")
    return candidates[0]


def _class_for_definition(name: str) -> str:
    group, version, kind = _group_and_version(name)
    prefix = version[0].upper() + version[1:]
    for candidate in (prefix + kind, group.capitalize() + prefix + kind):
        if hasattr(models, candidate) and definition_for_class(candidate) == name:
            return candidate
    raise SystemExit(f"gen_schemas: no model class in the kubernetes client for {name}")


def _ref(name: str) -> dict[str, Any]:
    # Upstream v3 wraps every reference in allOf so that siblings such as description are legal.
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}


def _describe(cls: type) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    return doc.split("\nAttributes:\n", 1)[0].strip()


def _gvks(name: str) -> list[dict[str, str]] | None:
    if name == DELETE_OPTIONS:
        # Upstream lists every group/version that accepts DeleteOptions; here, the ones served.
        return [_gvk(gv, "DeleteOptions") for gv in KNOWN_GROUP_VERSIONS]
    if name == STATUS:
        return [_gvk("v1", "Status")]
    if name not in ROOT_DEFINITIONS:
        return None
    package, _, kind = name.rpartition(".")
    for gv in KNOWN_GROUP_VERSIONS:
        group, _, version = gv.rpartition("/")
        if package == definition_package(group, version):
            return [_gvk(gv, kind)]
    raise SystemExit(f"gen_schemas: root {name} belongs to no served group/version")


def _gvk(group_version: str, kind: str) -> dict[str, str]:
    group, _, version = group_version.rpartition("/")
    return {"group": group, "kind": kind, "version": version}


class _Walker:
    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self._pending: list[str] = []

    def run(self) -> dict[str, dict[str, Any]]:
        for name in ROOT_DEFINITIONS:
            self._want_class(_class_for_definition(name))
        while self._pending:
            self._emit(self._pending.pop())
        return dict(sorted(self.definitions.items()))

    def _want_class(self, class_name: str) -> str:
        name = definition_for_class(class_name)
        if name not in self.definitions:
            self.definitions[name] = {}  # reserve, so cycles (JSONSchemaProps-like) terminate
            self._pending.append(class_name)
        return name

    def _want_string_type(self, name: str) -> dict[str, Any]:
        self.definitions[name] = STRING_TYPES[name]
        return _ref(name)

    def _emit(self, class_name: str) -> None:
        cls = getattr(models, class_name)
        fields = {(f.serialization_alias or attr): f for attr, f in cls.model_fields.items()}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for attr, type_string in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            field = fields[json_name]
            prop = self._schema_for(type_string, (class_name, json_name))
            if field.description:
                prop = {**prop, "description": field.description}
            properties[json_name] = prop
            if field.is_required():
                required.append(json_name)
        definition: dict[str, Any] = {
            "description": _describe(cls),
            "type": "object",
            "properties": properties,
        }
        if required:
            definition["required"] = sorted(required)
        name = definition_for_class(class_name)
        if gvks := _gvks(name):
            definition["x-kubernetes-group-version-kind"] = gvks
        self.definitions[name] = definition

    def _schema_for(self, type_string: str, where: tuple[str, str]) -> dict[str, Any]:
        if m := _LIST.match(type_string):
            return {"type": "array", "items": self._schema_for(m.group(1), where)}
        if m := _DICT.match(type_string):
            return {"type": "object", "additionalProperties": self._schema_for(m.group(1), where)}
        if type_string == "object":
            if where not in OBJECT_FIELDS:
                raise SystemExit(f"gen_schemas: {where[0]}.{where[1]} is typed 'object': classify it in OBJECT_FIELDS")
            return self._want_string_type(OBJECT_FIELDS[where])
        if type_string == "datetime":
            return self._want_string_type(MICRO_TIME if where in MICRO_TIME_FIELDS else TIME)
        if type_string == "str" and where in QUANTITY_FIELDS:
            return self._want_string_type(QUANTITY)
        if type_string == "int":
            return {"type": "integer", "format": integer_format(*where)}
        if type_string in PRIMITIVES:
            return dict(PRIMITIVES[type_string])
        if hasattr(models, type_string):
            return _ref(self._want_class(type_string))
        raise SystemExit(f"gen_schemas: {where[0]}.{where[1]} has unknown type {type_string!r}")


def build_definitions() -> dict[str, dict[str, Any]]:
    """Every definition reachable from the catalog's roots, keyed by upstream name."""
    return _Walker().run()


def render(definitions: dict[str, dict[str, Any]]) -> str:
    """One definition per line: small on disk, yet a schema change is a readable one-line diff."""
    lines = [
        f"{json.dumps(name)}:{json.dumps(d, sort_keys=True, separators=(',', ':'), ensure_ascii=False)}"
        for name, d in sorted(definitions.items())
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if definitions.json is out of date")
    args = parser.parse_args(argv)
    text = render(build_definitions())
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python scripts/gen_schemas.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
