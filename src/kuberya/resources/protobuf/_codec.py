"""The ``k8s<NUL>`` envelope and the kinds we can decode.

A Kubernetes protobuf body is the four bytes ``6b 38 73 00`` followed by a ``runtime.Unknown``: the object's
``typeMeta`` (apiVersion, kind), its encoded bytes in ``raw``, and ``contentEncoding`` /
``contentType`` (always empty from client-go). The kind picks the message to parse ``raw`` with
(apimachinery ``pkg/runtime/serializer/protobuf/protobuf.go``).
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf.message import DecodeError

from kuberya.resources import kinds
from kuberya.resources.types import JSONObject

from ._convert import Converter
from ._packages import packages
from ._schema import Registry, build_registry

MAGIC = b"k8s\x00"

_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
_DELETE_OPTIONS = "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"

# The scale subresource's body: no kind of its own, so no spec names it.
_SCALE = ("autoscaling/v1", "Scale")

KINDS: dict[tuple[str, str], str] = {
    **{
        (rt.api_version, rt.kind): message
        for spec in kinds.REGISTRY
        for rt in spec.resource_types
        if (message := spec.protobuf_message(spec.schema_key(rt))) is not None
    },
    _SCALE: "k8s.io.api.autoscaling.v1.Scale",
}
"""(apiVersion, kind) → proto message, from every spec whose kind the field tables hold."""


class ProtobufDecodeError(ValueError):
    """A protobuf body the server cannot turn into JSON; the message is fit for a 415/400 Status."""

    def __init__(self, message: str, *, api_version: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.api_version = api_version
        self.kind = kind


@functools.cache
def _codec() -> tuple[Registry, Converter]:
    # Built on first use, and then per package: a body pays for the packages its kind reaches.
    registry = build_registry(packages())
    return registry, Converter(registry)


def message_name(api_version: str, kind: str) -> str | None:
    """Name the proto message for a kind, or None. DeleteOptions is registered in every group version."""
    if kind == "DeleteOptions":
        return _DELETE_OPTIONS
    return KINDS.get((api_version, kind))


def _parse(body: bytes) -> tuple[str, str, str, Any]:
    """Unwrap the envelope; returns apiVersion, kind, message name and the parsed message."""
    if not body.startswith(MAGIC):
        raise ProtobufDecodeError("the request body is not Kubernetes protobuf: it does not start with k8s\\0")
    registry, _ = _codec()
    try:
        envelope = registry.classes[_UNKNOWN].FromString(body[len(MAGIC) :])
    except DecodeError as e:
        raise ProtobufDecodeError(f"malformed protobuf envelope: {e}") from e
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    if envelope.contentEncoding:
        raise ProtobufDecodeError(
            f"unsupported protobuf contentEncoding {envelope.contentEncoding!r}",
            api_version=api_version,
            kind=kind,
        )
    name = message_name(api_version, kind)
    if name is None:
        raise ProtobufDecodeError(
            f"the server can't decode {kind or 'an object without kind'} sent as protobuf; "
            "send JSON (e.g. kubectl create -f with -o json)",
            api_version=api_version,
            kind=kind,
        )
    try:
        msg = registry.classes[name].FromString(envelope.raw)
    except DecodeError as e:
        raise ProtobufDecodeError(f"malformed protobuf {kind}: {e}", api_version=api_version, kind=kind) from e
    return api_version, kind, name, msg


def decode_object(body: bytes) -> JSONObject:
    api_version, kind, name, msg = _parse(body)
    _, converter = _codec()
    try:
        fields = converter.to_json(msg, name)
    except ValueError as e:  # a FieldsV1/RawExtension payload that is not JSON
        raise ProtobufDecodeError(f"malformed protobuf {kind}: {e}", api_version=api_version, kind=kind) from e
    return {"apiVersion": api_version, "kind": kind, **fields}


def unknown_fields(body: bytes) -> list[str]:
    _, _, name, msg = _parse(body)
    _, converter = _codec()
    return converter.unknown_fields(msg, name)


def encode_object(obj: JSONObject) -> bytes:
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = message_name(api_version, kind)
    if name is None:
        raise ValueError(f"no protobuf message for {api_version} {kind}")
    registry, converter = _codec()
    msg = registry.classes[name]()
    converter.to_message({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, name, msg)
    envelope = registry.classes[_UNKNOWN]()
    envelope.typeMeta.apiVersion = api_version
    envelope.typeMeta.kind = kind
    envelope.raw = msg.SerializeToString(deterministic=True)
    envelope.contentEncoding = ""
    envelope.contentType = ""
    wire: bytes = envelope.SerializeToString(deterministic=True)
    return MAGIC + wire


def message_class(api_version: str, kind: str) -> Any:
    """Return the generated message class for a kind (for tests and tools); KeyError if unknown."""
    name = message_name(api_version, kind)
    if name is None:
        raise KeyError((api_version, kind))
    return _codec()[0].classes[name]
