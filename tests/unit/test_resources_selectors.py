"""Label and field selectors: grammar, canonical text, matching — with property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuberya.resources.selectors import (
    LabelSelector,
    Requirement,
    SelectorError,
    make_requirement,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
    selector_to_string,
)
from kuberya.resources.types import JSONObject


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),
        ("app in (web, db)", {"app": "db"}, True),
        ("app notin (web,db)", {"app": "db"}, False),
        ("app notin (web,db)", {}, True),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier", {"app": "web"}, False),
        ("  app = web ,  tier in (a)  ", {"app": "web", "tier": "a"}, True),
        ("x>3", {"x": "4"}, True),
        ("x<3", {"x": "four"}, False),
        ("", {"anything": "x"}, True),
        ("app=", {"app": ""}, True),
        ("app in ()", {"app": ""}, True),
        ("app in (,a)", {"app": ""}, True),
    ],
)
def test_grammar_and_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_canonical_text_is_sorted_by_key() -> None:
    sel = parse_label_selector("tier notin (db, cache),app==web,!canary,env")
    assert str(sel) == "app=web,!canary,env,tier notin (cache,db)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("x in", "found '', expected: '('"),
        ("x in (a", "found '', expected: ',' or ')'"),
        ("a=(", "found '(', expected: identifier"),
        ("a=b,", "expected: identifier after ','"),
        ("a/b/c=1", "a qualified name must consist of"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a=-bad-", "a valid label must be an empty string"),
    ],
)
def test_invalid_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert message in str(err.value)


def test_spec_selectors_nil_empty_and_expressions() -> None:
    assert not selector_from_spec(None).matches({})
    assert selector_from_spec({}).empty and selector_from_spec({}).matches({"a": "b"})
    spec: JSONObject = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    }
    assert selector_to_string(spec) == "app=web,!gone,tier in (a,b)"
    assert selector_from_spec(spec).matches({"app": "web", "tier": "a"})
    with pytest.raises(SelectorError):
        selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Near"}]})


def test_field_selectors() -> None:
    sel = parse_field_selector("involvedObject.name=web,involvedObject.namespace==default,type!=Normal")
    event: JSONObject = {
        "kind": "Event",
        "involvedObject": {"name": "web", "namespace": "default"},
        "type": "Warning",
    }
    assert sel.matches(event)
    assert not sel.matches({**event, "type": "Normal"})
    sel.validate_for("Event")
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("spec.foo=1").validate_for("Pod")
    pod: JSONObject = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    }
    assert parse_field_selector("spec.nodeName=n1,status.phase=Running,spec.hostNetwork=false").matches(pod)
    assert parse_field_selector("spec.nodeName=").matches({"kind": "Pod", "spec": {}})
    assert parse_field_selector("metadata.name=a\\,b").value_of("metadata.name") == "a,b"
    with pytest.raises(SelectorError, match="can't understand"):
        parse_field_selector("nonsense")


# ---- properties ------------------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True)
_keys = st.one_of(_names, st.builds(lambda p, n: f"{p}.io/{n}", _names, _names))
_values = st.one_of(st.just(""), _names)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(_keys)
    op = draw(st.sampled_from(["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    if op in ("in", "notin"):
        values = draw(st.lists(_values, min_size=1, max_size=3))
    elif op in ("=", "!="):
        values = [draw(_values)]
    elif op in ("gt", "lt"):
        values = [str(draw(st.integers(-5, 5)))]
    else:
        values = []
    return make_requirement(key, op, values)


selectors = st.lists(requirements(), max_size=4).map(
    lambda reqs: LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))
)
label_sets = st.dictionaries(_keys, st.one_of(_values, st.integers(-6, 6).map(str)), max_size=4)


def _reference_match(req: Requirement, labels: dict[str, str]) -> bool:
    """A brute-force reading of the upstream semantics, one operator at a time."""
    has = req.key in labels
    value = labels.get(req.key)
    if req.operator == "=":
        return has and value == req.values[0]
    if req.operator == "!=":
        return not has or value != req.values[0]
    if req.operator == "in":
        return has and any(value == v for v in req.values)
    if req.operator == "notin":
        return not has or all(value != v for v in req.values)
    if req.operator == "exists":
        return has
    if req.operator == "!":
        return not has
    if not has or not (value or "").lstrip("-").isdigit():
        return False
    assert value is not None
    return int(value) > int(req.values[0]) if req.operator == "gt" else int(value) < int(req.values[0])


@given(selectors)
def test_parse_of_format_is_the_same_selector(sel: LabelSelector) -> None:
    reparsed = parse_label_selector(str(sel))
    assert str(reparsed) == str(sel)
    assert sorted(reparsed.requirements, key=str) == sorted(sel.requirements, key=str)


@given(selectors, label_sets)
def test_matches_agrees_with_reference(sel: LabelSelector, labels: dict[str, str]) -> None:
    expected = all(_reference_match(r, labels) for r in sel.requirements)
    assert sel.matches(labels) is expected
    assert parse_label_selector(str(sel)).matches(labels) is expected
