"""Responses are encoded as Go's encoding/json encodes them (kubectl compares some bytes)."""

from __future__ import annotations

import json

from kuberya.meta import gojson


def test_compact_utf8_and_html_escaped_as_go() -> None:
    value = {"cmd": "a && b <c> 쿠버야", "n": 30, "sep": "\u2028"}
    # what Go's json.Marshal gives for the same map
    assert gojson.dumps(value) == '{"cmd":"a \\u0026\\u0026 b \\u003cc\\u003e 쿠버야","n":30,"sep":"\\u2028"}'
    assert json.loads(gojson.encode(value)) == value


def test_keys_sorted_at_every_level_as_a_go_map_marshals() -> None:
    data = gojson.sorted_keys({"spec": {"template": {"spec": {"b": 1, "a": [{"z": 1, "y": 2}]}, "$patch": "replace"}}})
    assert gojson.dumps(data) == '{"spec":{"template":{"$patch":"replace","spec":{"a":[{"y":2,"z":1}],"b":1}}}}'
