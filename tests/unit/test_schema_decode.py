"""The typed decoder and the body parsers: what upstream's decoding refuses, kuberya refuses."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuberya.resources.bodies import MAX_DEPTH, BodyError, parse_json, parse_yaml
from kuberya.resources.schema.decode import DecodeError, decode_definition, decode_object, format_path
from tests.unit.test_schema import DEPLOYMENT, POD, SERVICE


def refused(api_version: str, kind: str, obj: dict[str, Any]) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_object(api_version, kind, obj)
    return caught.value


def deployment(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"].update(spec)
    return obj


# -- the cases the fuzzer found, and their classes -----------------------------------------------


def test_a_string_replica_count_is_refused_with_upstreams_words() -> None:
    error = refused("apps/v1", "Deployment", deployment(replicas="three"))
    assert error.field == "spec.replicas"
    assert error.message == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )


def test_a_config_map_value_must_be_a_string() -> None:
    error = refused("v1", "ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}})
    assert error.field == "data.a"
    assert "cannot unmarshal number into Go struct field ConfigMap.data.a of type string" in error.message


def test_a_quantity_must_parse() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    error = refused("apps/v1", "Deployment", obj)
    assert error.field == "spec.template.spec.containers[0].resources.limits.cpu"
    assert "quantities must match the regular expression" in error.message


@pytest.mark.parametrize("good", ["1", "500m", "1.5Gi", "1e3", "+2", "0.5", ".5", "128974848", "1Ki", "5E"])
def test_upstream_quantities_pass(good: str) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": good}, "requests": {"cpu": 1}}
    decode_object("apps/v1", "Deployment", obj)


def test_numeric_quantities_are_stored_as_strings() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 2, "memory": 0.0, "x": 1.5}}
    decode_object("apps/v1", "Deployment", obj)
    assert obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "2",
        "memory": "0",
        "x": "1.5",
    }


@pytest.mark.parametrize("bad", ["lots", "1.2.3", "1 Gi", "", "Gi", "1Gii", "--1", "1e"])
def test_malformed_quantities_fail(bad: str) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": bad}}
    assert refused("apps/v1", "Deployment", obj).field.endswith("requests.memory")


def test_a_service_selector_must_be_a_map() -> None:
    error = refused("v1", "Service", {"spec": {"selector": "a"}})
    assert error.field == "spec.selector"
    assert error.message.endswith("of type map[string]string")


def test_the_empty_key_is_an_unknown_field_not_a_crash() -> None:
    obj: dict[str, Any] = {"": None, "metadata": {"name": "x"}}
    found = decode_object("v1", "ConfigMap", obj)
    assert found.strict_errors() == ['unknown field ""']
    assert obj == {"metadata": {"name": "x"}}


def test_integers_have_their_upstream_width() -> None:
    assert "number 2147483648" in refused("apps/v1", "Deployment", deployment(replicas=2**31)).message
    assert "number 1.5" in refused("apps/v1", "Deployment", deployment(replicas=1.5)).message
    assert "cannot unmarshal bool" in refused("apps/v1", "Deployment", deployment(replicas=True)).message
    # generation is an int64; 3.0 is read as 3 (YAML writes integral floats).
    obj = deployment(replicas=3.0)
    obj["metadata"]["generation"] = 2**40
    decode_object("apps/v1", "Deployment", obj)
    assert obj["spec"]["replicas"] == 3 and isinstance(obj["spec"]["replicas"], int)


def test_int_or_string_takes_either() -> None:
    for value in (8080, "http", "25%"):
        decode_object("v1", "Service", {"spec": {"ports": [{"port": 80, "targetPort": value}]}})
    error = refused("v1", "Service", {"spec": {"ports": [{"port": 80, "targetPort": {"x": 1}}]}})
    assert error.field == "spec.ports[0].targetPort"
    error = refused("v1", "Service", {"spec": {"ports": [{"port": 80, "targetPort": 1.5}]}})
    assert error.field == "spec.ports[0].targetPort"


def test_times_are_rfc3339() -> None:
    decode_object("v1", "Pod", {"metadata": {"creationTimestamp": "2026-01-02T03:04:05Z"}})
    decode_object("v1", "Pod", {"metadata": {"creationTimestamp": "2026-01-02T03:04:05.123+09:00"}})
    for bad in ("yesterday", "2026-01-02", "2026-13-02T03:04:05Z", 1700000000):
        error = refused("v1", "Pod", {"metadata": {"creationTimestamp": bad}})
        assert error.field == "metadata.creationTimestamp"


def test_bytes_are_standard_base64() -> None:
    decode_object("v1", "Secret", {"data": {"a": "aGVsbG8=", "b": "", "c": "aGVs\nbG8="}})
    for bad in ("not base64!", "aGVsbG8", "aGVsbG8=x", "aGV=bG8="):
        error = refused("v1", "Secret", {"data": {"k": bad}})
        assert error.field == "data.k"
        assert "illegal base64 data at input byte" in error.message
    # stringData is plain text
    decode_object("v1", "Secret", {"stringData": {"k": "not base64!"}})


def test_nulls_read_as_go_reads_them() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "p", "labels": {"a": None}, "annotations": None},
        "spec": {"containers": [None, {"name": "c", "args": ["x", None]}], "nodeName": None},
    }
    decode_object("v1", "Pod", obj)
    assert obj == {
        "metadata": {"name": "p", "labels": {"a": ""}},
        "spec": {"containers": [{}, {"name": "c", "args": ["x", ""]}]},
    }


def test_the_first_wrong_type_is_named_at_any_depth() -> None:
    obj = copy.deepcopy(POD)
    obj["spec"]["containers"][0]["ports"] = [{"containerPort": "80"}]
    error = refused("v1", "Pod", obj)
    assert error.field == "spec.containers[0].ports[0].containerPort"
    assert "Go struct field ContainerPort.spec.containers[0].ports[0].containerPort of type int32" in error.message
    obj = copy.deepcopy(POD)
    obj["spec"]["containers"] = "x"
    assert refused("v1", "Pod", obj).message.endswith("PodSpec.spec.containers of type []v1.Container")
    obj = copy.deepcopy(POD)
    obj["metadata"] = "x"
    assert refused("v1", "Pod", obj).message.endswith("Go struct field Pod.metadata of type v1.ObjectMeta")


def test_subresource_bodies_have_their_own_schemas() -> None:
    decode_definition("io.k8s.api.autoscaling.v1.Scale", {"spec": {"replicas": 3}})
    with pytest.raises(DecodeError) as caught:
        decode_definition("io.k8s.api.autoscaling.v1.Scale", {"spec": {"replicas": "x"}})
    assert caught.value.field == "spec.replicas"
    with pytest.raises(DecodeError):
        decode_definition("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", {"gracePeriodSeconds": "now"})


def test_free_form_managed_fields_accept_anything() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["metadata"]["managedFields"][0]["fieldsV1"] = {"f:x": {'k:{"a":1}': {".": {}}}, "weird": [1, None]}
    decode_object("apps/v1", "Deployment", obj)


# -- every wrong type anywhere is refused, naming the field ----------------------------------------

_LEAF_TYPES = (str, bool, int, float, list, dict)


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [(path, value)]


def _typed_leaves(obj: dict[str, Any]) -> list[tuple[tuple[str | int, ...], Any]]:
    """Leaves whose schema is a plain type (free-form managedFields, int-or-string, quantities aside)."""
    skip = ("managedFields", "targetPort", "port", "resources", "maxSurge", "maxUnavailable")
    return [
        (path, value)
        for path, value in _leaves(obj)
        if value is not None and not any(part in skip for part in path) and path[-1] not in ("apiVersion", "kind")
    ]


def _wrong_value(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1, [True], {"v": True}]
    if isinstance(value, int):
        return [str(value), True, [value], {"v": value}, 0.5]
    if isinstance(value, str):
        return [1, True, [value], {"v": value}]
    return [1]


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_leaf_of_a_valid_object_turned_into_a_wrong_type_is_refused_by_name(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([DEPLOYMENT, SERVICE, POD]), label="object")
    path, value = data.draw(st.sampled_from(_typed_leaves(base)), label="leaf")
    wrong = data.draw(st.sampled_from(_wrong_value(value)), label="wrong")
    obj = copy.deepcopy(base)
    _set(obj, path, wrong)
    with pytest.raises(DecodeError) as caught:
        decode_object(base["apiVersion"], base["kind"], obj)
    assert caught.value.field == format_path(path)


@pytest.mark.parametrize("obj", [DEPLOYMENT, SERVICE, POD], ids=["deployment", "service", "pod"])
def test_valid_objects_decode_unchanged_but_for_nulls(obj: dict[str, Any]) -> None:
    copied = copy.deepcopy(obj)
    decode_object(obj["apiVersion"], obj["kind"], copied)
    assert copied == _without_null_fields(obj)


def _without_null_fields(value: Any) -> Any:
    """A null field is as if absent (``creationTimestamp: null`` from kubectl's dry runs)."""
    if isinstance(value, dict):
        return {k: _without_null_fields(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_fields(v) for v in value]
    return value


# -- the body parsers ----------------------------------------------------------------------------


def test_json_duplicate_keys_are_remembered_for_field_validation() -> None:
    body = parse_json(b'{"kind":"ConfigMap","data":{"a":"1","a":"2"},"data":{"b":"x","b":"y"}}')
    assert body["data"] == {"b": "y"}
    found = decode_object("v1", "ConfigMap", body)
    assert found.strict_errors() == ['duplicate field "data"', 'duplicate field "data.b"']


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b"[" * 100_000, b'{"a":' * 5000, b"{", b"\xff"],
)
def test_json_that_go_would_refuse_is_a_body_error(raw: bytes) -> None:
    with pytest.raises(BodyError):
        parse_json(raw)


def test_nesting_is_bounded() -> None:
    parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    with pytest.raises(BodyError, match="nested too deeply"):
        parse_json(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


def test_lone_surrogates_become_replacement_characters() -> None:
    body = parse_json(b'{"a":"\\ud800x","\\udfff":"\\ud83d\\ude00"}')
    assert body == {"a": "\ufffdx", "\ufffd": "\U0001f600"}
    json.dumps(body, ensure_ascii=False).encode()  # encodable: storage will not choke on it


def test_yaml_reads_as_its_json_conversion() -> None:
    body = parse_yaml(b"metadata:\n  creationTimestamp: 2026-01-01T00:00:00Z\n  labels:\n    1: x\n    true: y\n")
    assert body == {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"1": "x", "true": "y"}}}
    dup = parse_yaml(b"a: 1\na: 2\n")
    assert dup == {"a": 2} and getattr(dup, "duplicates", None) == ["a"]


@pytest.mark.parametrize(
    "raw",
    [
        b"a: .nan\n",
        b"a: !!binary aGVsbG8=\n",
        b"a: &a [*a]\n",
        b"--- a\n--- b\n",
        b"a: [\n",
        # a billion laughs
        b"a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + b"".join(
            bytes(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n", "ascii")
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ],
    ids=["nan", "binary", "recursive", "two-documents", "unclosed", "billion-laughs"],
)
def test_yaml_that_has_no_json_form_is_a_body_error(raw: bytes) -> None:
    with pytest.raises(BodyError):
        parse_yaml(raw)
