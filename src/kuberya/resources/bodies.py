"""Parsing request bodies (JSON and YAML) into JSON values the way upstream's decoders read them.

Python's parsers are more permissive than Go's in ways that let malformed objects in or make
the server fail later, so each difference is closed here:

- ``NaN`` and ``Infinity`` are not JSON: Python's ``json`` accepts them, Go's refuses them.
- **Duplicate keys**: the last value wins (as in Go), and the object remembers which keys
  repeated (:class:`~kuberya.resources.schema.decode.DuplicateKeys`) so that
  ``fieldValidation=Strict`` can refuse them and ``Warn`` report them, as upstream does.
- **Depth**: at most :data:`MAX_DEPTH` levels of nesting. Deeper documents would exhaust the
  interpreter's recursion in the parser, in deep copies or in the JSON encoder (a 500); no
  Kubernetes object comes near it.
- **YAML** is read as sigs.k8s.io/yaml does, by converting it to JSON: timestamps stay strings,
  keys become strings (``1: a`` is ``"1": a``), and anchors may not expand past
  :data:`MAX_YAML_NODES` values (a "billion laughs" document is refused, not expanded).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from kuberya.resources.schema.decode import DuplicateKeys

MAX_DEPTH = 100
"""Levels of nesting a body may have (upstream's objects need well under 30)."""
MAX_YAML_NODES = 1_000_000
"""Values a YAML body may expand to once its aliases are followed."""


class BodyError(ValueError):
    """The body is not a well-formed JSON/YAML document within the limits; the API answers 400."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return DuplicateKeys(obj, repeated)


def _no_constant(name: str) -> Any:
    raise BodyError(f"invalid character '{name[0]}' looking for beginning of value ({name} is not JSON)")


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body; raise :class:`BodyError` with a message for the client."""
    try:
        value = json.loads(raw, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except RecursionError:
        raise BodyError(f"the body is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as e:
        raise BodyError(f"the body is not UTF-8: {e.reason} at byte {e.start}") from None
    except ValueError as e:
        if isinstance(e, BodyError):
            raise
        raise BodyError(str(e)) from None
    check_depth(value)
    if _LONE_SURROGATE_ESCAPE.search(raw):
        value = _replace_lone_surrogates(value)
    return value


# A \uD800-\uDFFF escape in the raw text is the only way a JSON string gets a lone surrogate.
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_lone_surrogates(value: Any) -> Any:
    """Go's decoder turns an unpaired surrogate escape into U+FFFD; Python keeps it (unencodable)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        fixed = {_SURROGATE.sub("\ufffd", k): _replace_lone_surrogates(v) for k, v in value.items()}
        if isinstance(value, DuplicateKeys):
            return DuplicateKeys(fixed, value.duplicates)
        return fixed
    return value


class _JSONShapedLoader(yaml.SafeLoader):
    """SafeLoader reading YAML as its JSON conversion: no timestamps, string keys, alias budget."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.nodes_left = MAX_YAML_NODES
        self.expanded: dict[int, int] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        self.flatten_mapping(node)
        pairs: list[tuple[str, Any]] = []
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                )
            # sigs.k8s.io/yaml writes every key as a JSON string: 1 -> "1", true -> "true", null -> "null".
            text = key if isinstance(key, str) else json.dumps(key)
            pairs.append((text, self.construct_object(value_node, deep=deep)))
        return _pairs(pairs)

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        self.nodes_left -= _expanded_size(node, self.expanded)
        if self.nodes_left < 0:
            raise BodyError(f"the YAML document expands to more than {MAX_YAML_NODES} values (too many aliases)")
        return node


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once aliases are expanded (1 for a fresh node's own)."""
    if isinstance(node, yaml.ScalarNode):
        return 1
    known = memo.get(id(node))
    if known is not None:
        return known  # an alias (or an anchor met again): its whole expansion counts once more
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(memo.get(id(child), 1) for child in node.value)
    else:
        size = 1 + sum(memo.get(id(k), 1) + memo.get(id(v), 1) for k, v in node.value)
    memo[id(node)] = size
    return 1


# YAML's timestamp type has no JSON counterpart: sigs.k8s.io/yaml leaves such scalars strings.
_JSONShapedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JSONShapedLoader.add_constructor("tag:yaml.org,2002:map", _JSONShapedLoader.construct_mapping)


def parse_yaml(raw: bytes) -> Any:
    """Parse one YAML document as its JSON conversion; raise :class:`BodyError`."""
    try:
        loader = _JSONShapedLoader(raw)
        try:
            value = loader.get_single_data()
        finally:
            loader.dispose()
    except RecursionError:
        raise BodyError(f"the body is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as e:
        raise BodyError(f"error converting YAML to JSON: {e}") from None
    check_depth(value)  # first: it also ends on a document whose aliases make it recursive
    _check_json_values(value)
    return value


def _check_json_values(value: Any) -> None:
    """Refuse what YAML can say and JSON cannot: NaN, infinities, binary values."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            raise BodyError("error converting YAML to JSON: .nan and .inf have no JSON form")
        elif isinstance(item, bytes):
            raise BodyError("error converting YAML to JSON: !!binary values have no JSON form: send base64 text")


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`BodyError` when ``value`` nests deeper than ``limit`` (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise BodyError(f"the body is nested too deeply (more than {limit} levels)")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
