"""Field tables → protobuf descriptors, built at runtime.

Upstream ships ``generated.proto`` files; we do not run ``protoc``. Instead each package's messages
are written as small Python tables (``_tables_*.py``) in a one-line-per-field notation, and this
module turns them into ``FileDescriptorProto``s, loads them into a private ``DescriptorPool`` and
asks ``message_factory`` for the classes. The wire format is then parsed by the ``protobuf``
runtime, never by hand.

Field notation — ``"name=N type"``:

- ``type`` is a scalar (``string``, ``int32``, ``int64``, ``bool``, ``bytes``) or a message name,
  bare for the same package or ``alias.Name`` for another (aliases are the keys of ``PACKAGES``).
- ``[]T`` is a repeated field, ``map[string]T`` a map (a ``…Entry`` nested type is generated, as
  ``protoc`` would).
- ``*T`` marks a scalar whose zero value is meaningful: a Go pointer (``*int32 replicas``) or a
  value field without ``omitempty``. Go's gogo encoder writes every *value* field, zero or not,
  so a present zero is only kept for ``*`` fields; any other zero is dropped, matching the
  ``omitempty`` JSON that kubectl would have sent.
- ``inline:T`` is a Go struct embedded with ``json:",inline"`` (``Volume.volumeSource``,
  ``Probe.handler``…): on the wire it is a nested message, in JSON its fields are spliced into the
  parent.

The JSON name of every field is its proto name: Kubernetes' ``go-to-protobuf`` names proto fields
after the JSON tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}


@dataclass(frozen=True, slots=True)
class Package:
    proto_package: str
    file_name: str
    dependencies: tuple[str, ...]
    """Aliases of the packages this one refers to."""
    messages: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    number: int
    repeated: bool
    is_map: bool
    scalar: str | None
    """The scalar type (of the value, for a map), or None for a message."""
    message: str | None
    """The full proto name of the message type (of the value, for a map)."""
    keep_zero: bool
    inline: bool


@dataclass(frozen=True, slots=True)
class MessageSpec:
    full_name: str
    fields: tuple[FieldSpec, ...]
    by_number: dict[int, FieldSpec]


def parse_field(line: str, *, package: str, packages: dict[str, Package]) -> FieldSpec:
    head, _, type_ = line.partition(" ")
    name, _, number = head.partition("=")
    inline = type_.startswith("inline:")
    type_ = type_.removeprefix("inline:")
    is_map = type_.startswith("map[string]")
    type_ = type_.removeprefix("map[string]")
    repeated = is_map or type_.startswith("[]")
    type_ = type_.removeprefix("[]")
    keep_zero = type_.startswith("*")
    type_ = type_.removeprefix("*")
    scalar: str | None = None
    message: str | None = None
    if type_ in _SCALARS:
        scalar = type_
    elif "." in type_:
        alias, _, short = type_.partition(".")
        message = f"{packages[alias].proto_package}.{short}"
    else:
        message = f"{package}.{type_}"
    if not name or not number.isdigit() or (keep_zero and scalar is None):
        raise ValueError(f"bad field line {line!r} in {package}")
    return FieldSpec(
        name=name,
        number=int(number),
        repeated=repeated,
        is_map=is_map,
        scalar=scalar,
        message=message,
        keep_zero=keep_zero,
        inline=inline,
    )


def _entry_name(field_name: str) -> str:
    # protoc names a map's entry type after the field, CamelCased: matchLabels → MatchLabelsEntry.
    return field_name[0].upper() + field_name[1:] + "Entry"


def _file_descriptor(
    pkg: Package, specs: dict[str, MessageSpec], packages: dict[str, Package]
) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name=pkg.file_name,
        package=pkg.proto_package,
        syntax="proto2",
        dependency=[packages[d].file_name for d in pkg.dependencies],
    )
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    as_message = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE

    def set_type(fd: Any, spec: FieldSpec) -> None:
        if spec.scalar is not None:
            fd.type = _SCALARS[spec.scalar]
        else:
            fd.type = as_message
            fd.type_name = f".{spec.message}"

    for short in pkg.messages:
        spec = specs[f"{pkg.proto_package}.{short}"]
        m = fdp.message_type.add(name=short)
        for f in spec.fields:
            fd = m.field.add(name=f.name, number=f.number, json_name=f.name, label=repeated if f.repeated else optional)
            if f.is_map:
                entry = m.nested_type.add(name=_entry_name(f.name))
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, json_name="key", label=optional, type=_SCALARS["string"])
                set_type(entry.field.add(name="value", number=2, json_name="value", label=optional), f)
                fd.type = as_message
                fd.type_name = f".{pkg.proto_package}.{short}.{_entry_name(f.name)}"
            else:
                set_type(fd, f)
    return fdp


@dataclass(frozen=True, slots=True)
class Registry:
    specs: dict[str, MessageSpec]
    classes: dict[str, Any]
    """Full proto name → generated message class."""


def build_registry(packages: dict[str, Package]) -> Registry:
    """Parse every table, load the files into a fresh pool (dependencies first), make the classes."""
    specs: dict[str, MessageSpec] = {}
    for pkg in packages.values():
        for short, lines in pkg.messages.items():
            full = f"{pkg.proto_package}.{short}"
            fields = tuple(parse_field(line, package=pkg.proto_package, packages=packages) for line in lines)
            numbers = [f.number for f in fields]
            if len(set(numbers)) != len(numbers):
                raise ValueError(f"duplicate field number in {full}")
            specs[full] = MessageSpec(full_name=full, fields=fields, by_number={f.number: f for f in fields})
    for spec in specs.values():
        for f in spec.fields:
            if f.message is not None and f.message not in specs:
                raise ValueError(f"{spec.full_name}.{f.name} refers to unknown message {f.message}")

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(alias: str) -> None:
        if alias in added:
            return
        for dep in packages[alias].dependencies:
            add(dep)
        pool.Add(_file_descriptor(packages[alias], specs, packages))
        added.add(alias)

    for alias in packages:
        add(alias)
    classes = {full: message_factory.GetMessageClass(pool.FindMessageTypeByName(full)) for full in specs}
    return Registry(specs=specs, classes=classes)
