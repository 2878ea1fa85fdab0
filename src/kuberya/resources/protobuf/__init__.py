"""Decode the protobuf bodies kubectl ≥ 1.32 sends into ordinary Kubernetes JSON.

kubectl 1.32+ (client-go's typed clients) POSTs and PUTs built-in kinds as
``application/vnd.kubernetes.protobuf`` — ``create deployment|namespace|configmap|secret|service|
serviceaccount``, ``autoscale`` — and does not retry as JSON after a 415. The API server therefore
turns those bodies into the JSON shape everything else in kuberya works on, here, and nowhere else.

Design:

- **No protoc, no hand-rolled varints.** Every message of the covered upstream packages is a line
  table (``tables.json``, data) that ``scripts/gen_protobuf.py`` generates from upstream's
  ``generated.proto`` and Go struct tags (vendored in ``scripts/upstream``); ``_schema`` builds
  ``FileDescriptorProto``s from them on first use, package by package, and the ``protobuf``
  runtime parses the wire format.
- **Go's JSON, not proto3 JSON.** ``_convert`` maps the parsed message to exactly what Go's
  ``encoding/json`` would have sent: RFC 3339 times, int-or-string, quantities as strings, bytes
  as base64, inline structs spliced in, and zero values of non-pointer fields omitted (gogo writes
  every value field, ``omitempty`` would not have).
- **Loud about what it cannot do.** An unknown kind raises ``ProtobufDecodeError`` telling the
  user to send JSON; fields missing from the tables decode to nothing, and ``unknown_fields``
  lists them so tests can insist a captured body has none.

Public API: ``PROTOBUF_CONTENT_TYPE``, ``decode_object``, ``ProtobufDecodeError``; also
``encode_object`` (JSON → protobuf, for tests and tools), ``unknown_fields``, ``SUPPORTED_KINDS``.
"""

from __future__ import annotations

from kuberya.resources.types import JSONObject

from . import _codec
from ._codec import ProtobufDecodeError

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

SUPPORTED_KINDS: frozenset[tuple[str, str]] = frozenset(_codec.KINDS)
"""(apiVersion, kind) pairs ``decode_object`` understands; ``DeleteOptions`` is accepted in any group."""

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "SUPPORTED_KINDS",
    "ProtobufDecodeError",
    "decode_object",
    "encode_object",
    "unknown_fields",
]


def decode_object(body: bytes) -> JSONObject:
    """Turn a ``k8s<NUL>``-prefixed protobuf body into a JSON object with ``apiVersion`` and ``kind``.

    Raises ``ProtobufDecodeError`` for a missing magic, a malformed message, or a kind this package
    has no tables for.
    """
    return _codec.decode_object(body)


def encode_object(obj: JSONObject) -> bytes:
    """Encode a JSON object as kubectl would (the inverse of ``decode_object``).

    Raises ``ValueError`` for an unknown kind or a field the tables do not describe.
    """
    return _codec.encode_object(obj)


def unknown_fields(body: bytes) -> list[str]:
    """List where the body carries fields the tables do not know (``spec.template.spec#43``)."""
    return _codec.unknown_fields(body)
