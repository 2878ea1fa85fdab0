r"""JSON as Go's ``encoding/json`` writes it, which is what an upstream API server sends.

Compact, UTF-8 (no ``\uXXXX`` for non-ASCII text), and HTML-safe: ``<``, ``>`` and ``&`` become
``\u003c``, ``\u003e`` and ``\u0026``, and the line and paragraph separators U+2028/U+2029 are
escaped too (``json.Marshal``'s default ``escapeHTML``). Clients that compare bytes depend on
it: ``kubectl rollout undo`` tells "already at that revision" by comparing its own ``json.Marshal``
of a template with the bytes of a ControllerRevision's ``data`` as served.

Those characters can only occur inside JSON strings (none of them is structural JSON), so
replacing them in the encoded text escapes exactly the strings, as Go does.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def dumps(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text


def encode(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes: a response body."""
    return dumps(value).encode()


def sorted_keys(value: Any) -> Any:
    """``value`` with every object's keys in order, as Go marshals a ``map[string]interface{}``."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value
