"""Targeted hostile input beyond bodies: paths, query strings, headers, patch documents, depth.

Each case is what a careless or malicious client can send. Whatever it is, the answer is a 4xx
``Status`` whose ``code`` is the HTTP status (never a 5xx, never a dropped connection), and a
refused write leaves the store's revision where it was. Where upstream's exact answer matters to
clients (406 for ``Accept: text/html``, 415 for a body it cannot read, 400 for a forged continue
token, 422 for a name that breaks the rules) the status is pinned to upstream's.

Paths are sent as written (``http.client``, no normalisation of ``..`` or ``%2F``), because the
requests library would resolve dot segments before the server sees them.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.parse
import zlib
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fuzz import seeds
from tests.fuzz.conftest import FuzzServer
from tests.fuzz.seeds import FUZZ_NAMESPACE

pytestmark = pytest.mark.fuzz

NS = f"/api/v1/namespaces/{FUZZ_NAMESPACE}"
CM = f"{NS}/configmaps"
DEPLOY = f"/apis/apps/v1/namespaces/{FUZZ_NAMESPACE}/deployments"
JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


@dataclass
class Answer:
    status: int
    body: Any
    text: str
    content_type: str


class _AsWritten(http.client.HTTPSConnection):
    """Sends the request target byte for byte: control characters and all."""

    def _validate_path(self, url: str) -> None:
        pass


def send(
    server: FuzzServer,
    method: str,
    target: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    accept: str | None = None,
) -> Answer:
    url = urllib.parse.urlsplit(server.url)
    verify, (cert, key) = server.session.verify, server.session.cert  # type: ignore[misc]
    context = ssl.create_default_context(cafile=str(verify))
    context.load_cert_chain(cert, key)
    connection = _AsWritten(url.hostname or "127.0.0.1", url.port, context=context, timeout=30)
    payload = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else None
    if body is not None and payload is None:
        payload = json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    if accept is not None:
        headers["Accept"] = accept
    try:
        connection.request(method, target, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    text = raw.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Answer(response.status, parsed, text, response.getheader("Content-Type", ""))


def revision(server: FuzzServer) -> str:
    return str(send(server, "GET", "/api/v1/namespaces?limit=1").body["metadata"]["resourceVersion"])


def assert_refused(answer: Answer, *expected: int) -> None:
    """A 4xx (one of ``expected`` when given) carried by a Status of the same code."""
    assert 400 <= answer.status < 500, f"HTTP {answer.status}: {answer.text[:500]}"
    if expected:
        assert answer.status in expected, f"HTTP {answer.status}, expected {expected}: {answer.text[:500]}"
    assert isinstance(answer.body, dict) and answer.body.get("kind") == "Status", answer.text[:500]
    assert answer.body["code"] == answer.status, answer.text[:500]


def assert_write_refused(server: FuzzServer, method: str, target: str, *expected: int, **kwargs: Any) -> Answer:
    before = revision(server)
    answer = send(server, method, target, **kwargs)
    assert_refused(answer, *expected)
    assert revision(server) == before, f"a refused {method} changed the store: {answer.text[:300]}"
    return answer


# -- paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        f"{CM}/%00",
        f"{CM}/a%00b",
        f"{CM}/%ff",
        f"{CM}/%C0%AF",
        f"{CM}/a%20b",
        f"{CM}/a%2Fb",
        f"{CM}/a%2fb/c",
        f"{CM}/..",
        f"{CM}/%2e%2e",
        f"{CM}/../../kube-system",
        f"{CM}/../../../namespaces/kube-system",
        "/api/v1/namespaces/%2F/configmaps/x",
        f"{CM}/{'a' * 4000}",
        f"{CM}/fuzz-a/bogus",
        f"{CM}/fuzz-a/status",
        f"{CM}/fuzz-a/status/x",
        f"{DEPLOY}/fuzz-a/scale/x",
        f"{NS}/bogus",
        "/api/v9/namespaces",
        "/apis/%2e%2e/v1",
        "/apis/apps/v1/namespaces/fuzz/deployments/fuzz-a/%2e%2e/%2e%2e/%2e%2e",
        f"{CM}/%C3%A9",
    ],
)
def test_odd_path_segments_are_4xx(fuzz_server: FuzzServer, target: str) -> None:
    answer = send(fuzz_server, "GET", target)
    assert_refused(answer, 400, 404)
    assert_write_refused(fuzz_server, "DELETE", target, 400, 404, 405)


def test_dot_segments_do_not_escape_the_collection(fuzz_server: FuzzServer) -> None:
    # No normalisation on the server: `configmaps/..` is a configmap named "..", not the namespace.
    answer = send(fuzz_server, "GET", f"{CM}/..")
    assert_refused(answer, 400, 404)
    assert "Namespace" not in answer.text


NAMED_OBJECTS = [
    *seeds.seed_objects(),
    (
        f"/apis/autoscaling/v1/namespaces/{FUZZ_NAMESPACE}/horizontalpodautoscalers",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 2},
        },
    ),
]
"""A valid object of every served kind (the fuzz seeds) and the one version stored as another."""


@pytest.mark.parametrize(
    ("collection", "seed"), NAMED_OBJECTS, ids=[f"{obj['apiVersion']}-{obj['kind']}" for _, obj in NAMED_OBJECTS]
)
@pytest.mark.parametrize("name", ["Bad_Name", "º", "a/b", "..", "-x", "x" * 254], ids=lambda n: n[:12])
def test_names_that_break_the_rules_are_422(
    fuzz_server: FuzzServer, collection: str, seed: dict[str, Any], name: str
) -> None:
    if seed["apiVersion"].startswith("rbac.") and name not in ("a/b", ".."):
        pytest.skip("RBAC names are path segments upstream (ValidateRBACName): only '/' and '..' break them")
    obj = {**seed, "metadata": {**seed.get("metadata", {}), "name": name}}
    answer = assert_write_refused(fuzz_server, "POST", collection, 422, body=obj, content_type=JSON)
    causes = answer.body["details"]["causes"]
    assert any(c["field"] == "metadata.name" for c in causes), answer.text[:500]


def test_a_namespace_that_breaks_the_rules_is_not_found_not_created(fuzz_server: FuzzServer) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert_write_refused(fuzz_server, "POST", "/api/v1/namespaces/Bad_NS/configmaps", 404, body=obj, content_type=JSON)
    obj["metadata"]["namespace"] = "Bad_NS"
    assert_write_refused(fuzz_server, "POST", CM, 400, body=obj, content_type=JSON)


# -- query strings ---------------------------------------------------------------------------------


def test_unknown_query_parameters_are_ignored(fuzz_server: FuzzServer) -> None:
    answer = send(fuzz_server, "GET", f"{CM}?bogus=1&%00=%ff&x")
    assert answer.status == 200 and answer.body["kind"] == "ConfigMapList"


@pytest.mark.parametrize("limit", [str(2**63), str(2**64), "9" * 40])
def test_a_huge_limit_lists_everything(fuzz_server: FuzzServer, limit: str) -> None:
    # Was a 500: the storage driver's islice refused a stop above sys.maxsize.
    answer = send(fuzz_server, "GET", f"{CM}?limit={limit}")
    assert answer.status in (200, 400), answer.text[:300]
    if answer.status == 200:
        assert not answer.body["metadata"].get("continue")


@pytest.mark.parametrize("limit", ["abc", "1e3", "1.5", "", "-1", "0"])
def test_odd_limits_are_4xx_or_ignored(fuzz_server: FuzzServer, limit: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}?limit={limit}")
    if answer.status != 200:
        assert_refused(answer, 400)


def _token(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        _token("[1]"),
        _token('"x"'),
        _token('{"v": "meta.k8s.io/v1", "rv": 1e999, "start": ""}'),  # was a 500 (OverflowError)
        _token('{"v": "meta.k8s.io/v1", "rv": NaN, "start": ""}'),
        _token('{"v": "meta.k8s.io/v1", "rv": -5, "start": ""}'),
        _token('{"v": "meta.k8s.io/v1", "rv": 3, "start": {"a": 1}}'),
        _token('{"rv": 3, "start": ""}'),
        _token("\x00\xff"),
    ],
)
def test_forged_continue_tokens_are_400(fuzz_server: FuzzServer, token: str) -> None:
    assert_refused(send(fuzz_server, "GET", f"{CM}?limit=1&continue={token}"), 400)


def _too_large_resource_version(answer: Answer) -> bool:
    """Upstream's deliberate 504 for a list or continue at a revision the store has not reached."""
    return answer.status == 504 and answer.body.get("reason") == "Timeout"


@pytest.mark.parametrize("rv", ["abc", "-1", "1.5", "1e3", "99999999999999999999999", "%00", "0x10"])
@pytest.mark.parametrize("suffix", ["", "/fuzz-a"])
@pytest.mark.parametrize("match", ["", "&resourceVersionMatch=Exact", "&resourceVersionMatch=NotOlderThan"])
def test_bad_resource_versions_on_get_and_list(fuzz_server: FuzzServer, rv: str, suffix: str, match: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}{suffix}?resourceVersion={rv}{match}")
    if answer.status >= 400 and not _too_large_resource_version(answer):
        assert_refused(answer, 400, 410, 422)


@pytest.mark.parametrize("rv", ["abc", "1.5", "%00", "99999999999999999999999"])
def test_bad_resource_versions_on_watch_are_400(fuzz_server: FuzzServer, rv: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}?watch=true&timeoutSeconds=1&resourceVersion={rv}")
    assert_refused(answer, 400)


@pytest.mark.parametrize(
    "selector",
    ["a=b=c", "in (", "!!a", "a in (b", "x,", ",", "=", "a notin", "(a)", "a<x", "a!", "é=1", "/a=1", "a" * 320],
)
@pytest.mark.parametrize("watch", ["", "&watch=true&timeoutSeconds=1"])
def test_bad_label_selectors_are_400(fuzz_server: FuzzServer, selector: str, watch: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}?labelSelector={urllib.parse.quote(selector)}{watch}")
    assert_refused(answer, 400)


@pytest.mark.parametrize(
    "selector",
    ["spec.foo=bar", "=x", "metadata.name in (a)", "metadata.name", "metadata.name=a=b", "!metadata.name", "x=\\"],
)
@pytest.mark.parametrize("watch", ["", "&watch=true&timeoutSeconds=1"])
def test_bad_field_selectors_are_400(fuzz_server: FuzzServer, selector: str, watch: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}?fieldSelector={urllib.parse.quote(selector)}{watch}")
    assert_refused(answer, 400)


# -- patch documents -------------------------------------------------------------------------------

BAD_PATCHES: list[tuple[str, Any]] = [
    (JSON_PATCH, {"op": "add"}),
    (JSON_PATCH, [1, 2]),
    (JSON_PATCH, [None]),
    (JSON_PATCH, [{"op": "bogus", "path": "/data/x"}]),
    (JSON_PATCH, [{"op": "add"}]),
    (JSON_PATCH, [{"op": "add", "path": "data", "value": 1}]),
    (JSON_PATCH, [{"op": 5, "path": "/data/x", "value": 1}]),
    (JSON_PATCH, [{"op": "add", "path": 5, "value": 1}]),
    (JSON_PATCH, [{"op": "remove", "path": ""}]),
    (JSON_PATCH, [{"op": "replace", "path": "", "value": 5}]),
    (JSON_PATCH, [{"op": "replace", "path": "", "value": None}]),
    (JSON_PATCH, [{"op": "move", "path": "/data/y"}]),
    (JSON_PATCH, [{"op": "move", "from": "/data", "path": "/data/k"}]),
    (JSON_PATCH, [{"op": "copy", "from": "/nope", "path": "/data/k"}]),
    (JSON_PATCH, [{"op": "test", "path": "/data/k", "value": "nope"}]),
    (JSON_PATCH, [{"op": "add", "path": "/metadata/labels/~2", "value": "x"}]),
    (JSON_PATCH, [{"op": "add", "path": "/metadata/finalizers/99999999999999999999", "value": "x"}]),
    (JSON_PATCH, [{"op": "add", "path": "/metadata/finalizers/-1", "value": "x"}]),
    (JSON_PATCH, [{"op": "replace", "path": "/metadata", "value": "x"}]),
    (JSON_PATCH, [{"op": "replace", "path": "/metadata/name", "value": 5}]),
    (JSON_PATCH, [{"op": "add", "path": "/kind", "value": "Secret"}]),
    (JSON_PATCH, "null"),
    (JSON_PATCH, ""),
    (JSON_PATCH, "["),
    (MERGE, "[]"),
    (MERGE, '"x"'),
    (MERGE, "5"),
    (MERGE, {"metadata": "x"}),
    (MERGE, {"metadata": {"labels": ["x"]}}),
    (MERGE, {"metadata": {"labels": {"a": {"b": 1}}}}),
    (MERGE, {"metadata": {"finalizers": "x"}}),
    (MERGE, {"data": ["x"]}),
    (MERGE, {"kind": "Secret"}),
    (STRATEGIC, "[]"),
    (STRATEGIC, '"x"'),
    (STRATEGIC, {"$patch": 5}),
    (STRATEGIC, {"$patch": "bogus"}),
    (STRATEGIC, {"metadata": {"$patch": ["x"]}}),
    (STRATEGIC, {"$setElementOrder/data": "garbage"}),
    (STRATEGIC, {"metadata": {"$setElementOrder/finalizers": 5}}),
    (STRATEGIC, {"$retainKeys": 5}),
    (STRATEGIC, {"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
    (STRATEGIC, {"data": {"$patch": 5}}),
    (APPLY, "["),
    (APPLY, "- a\n- b"),
    (APPLY, '"x"'),
    (APPLY, "{}"),
    (APPLY, "a: b: c"),
    (APPLY, "!!python/object/apply:os.system [ls]"),
    (APPLY, '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"fuzz-a"}}'),
    (APPLY, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}'),
    (APPLY, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fuzz-a}\n---\nb: 1"),
]

BAD_DEPLOYMENT_PATCHES: list[tuple[str, Any]] = [
    (STRATEGIC, {"spec": {"template": {"spec": {"containers": [{"$patch": ["x"]}]}}}}),
    (STRATEGIC, {"spec": {"template": {"spec": {"containers": [5, None, "x"]}}}}),
    (STRATEGIC, {"spec": {"template": {"spec": {"containers": {"name": "x"}}}}}),
    (STRATEGIC, {"spec": {"template": {"spec": {"$setElementOrder/containers": "garbage"}}}}),
    (STRATEGIC, {"spec": {"template": {"spec": {"$setElementOrder/containers": [5, None, {"name": {"a": 1}}]}}}}),
    (STRATEGIC, {"spec": {"template": {"spec": {"$retainKeys": "x"}}}}),
    (STRATEGIC, {"spec": {"strategy": {"$retainKeys": [5], "type": "Recreate"}}}),
    (
        STRATEGIC,
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "ports": [{"containerPort": "x"}]}]}}}},
    ),
    (STRATEGIC, {"spec": {"selector": {"$patch": "delete"}}}),
    (MERGE, {"spec": {"replicas": "three"}}),
    (MERGE, {"spec": {"template": {"spec": {"containers": "x"}}}}),
    (JSON_PATCH, [{"op": "add", "path": "/spec/template/spec/containers/7", "value": {"name": "x"}}]),
    (JSON_PATCH, [{"op": "replace", "path": "/spec/replicas", "value": {"a": 1}}]),
]


def _patch_id(case: tuple[str, Any]) -> str:
    return f"{case[0].split('/')[1].split('+')[0]}:{json.dumps(case[1])[:40]}"


@pytest.mark.parametrize("case", BAD_PATCHES, ids=[_patch_id(c) for c in BAD_PATCHES])
def test_bad_patch_documents_are_refused(fuzz_server: FuzzServer, case: tuple[str, Any]) -> None:
    content_type, body = case
    assert_write_refused(fuzz_server, "PATCH", f"{CM}/fuzz-a?fieldManager=fuzz", body=body, content_type=content_type)


@pytest.mark.parametrize("case", BAD_DEPLOYMENT_PATCHES, ids=[_patch_id(c) for c in BAD_DEPLOYMENT_PATCHES])
def test_bad_deployment_patches_are_refused(fuzz_server: FuzzServer, case: tuple[str, Any]) -> None:
    content_type, body = case
    assert_write_refused(
        fuzz_server, "PATCH", f"{DEPLOY}/fuzz-a?fieldManager=fuzz", body=body, content_type=content_type
    )


@pytest.mark.parametrize("field", ["kind", "apiVersion", "metadata"])
def test_a_patch_cannot_strip_the_type_or_the_metadata(fuzz_server: FuzzServer, field: str) -> None:
    """Upstream decodes a patched object into its type: `kind: null` leaves ConfigMap a ConfigMap."""
    answer = send(fuzz_server, "PATCH", f"{CM}/fuzz-a?dryRun=All", body={field: None}, content_type=MERGE)
    if answer.status < 400:
        assert answer.body.get("kind") == "ConfigMap" and answer.body.get("apiVersion") == "v1", answer.text[:300]
        assert answer.body["metadata"]["name"] == "fuzz-a"
    else:
        assert_refused(answer)


# -- headers ---------------------------------------------------------------------------------------

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hostile-ct"}}


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "text/html",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "garbage",
        "application/cbor",
        # Patch media types are for PATCH: upstream's create and update answer them 415.
        MERGE,
        STRATEGIC,
        JSON_PATCH,
        APPLY,
    ],
)
@pytest.mark.parametrize(("method", "target"), [("POST", CM), ("PUT", f"{CM}/fuzz-a")])
def test_bodies_in_media_types_the_server_does_not_read_are_415(
    fuzz_server: FuzzServer, content_type: str, method: str, target: str
) -> None:
    # A name of its own per media type: one wrongly accepted create must not turn the next into a 409.
    name = target.rsplit("/", 1)[-1] if method == "PUT" else f"hostile-{zlib.crc32(content_type.encode()):x}"
    body = {**CONFIG_MAP, "metadata": {"name": name}}
    assert_write_refused(fuzz_server, method, target, 415, body=body, content_type=content_type)


@pytest.mark.parametrize("content_type", [JSON, "text/plain", "application/yaml", "application/apply-patch+cbor"])
def test_patches_in_media_types_that_are_not_patches_are_415(fuzz_server: FuzzServer, content_type: str) -> None:
    assert_write_refused(
        fuzz_server, "PATCH", f"{CM}/fuzz-a", 415, body={"data": {"z": "1"}}, content_type=content_type
    )


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/*", "image/png", "application/json;q=0"])
@pytest.mark.parametrize("target", [CM, f"{CM}/fuzz-a", f"{DEPLOY}/fuzz-a/scale", f"{CM}?watch=true&timeoutSeconds=1"])
def test_accepts_the_server_cannot_produce_are_406(fuzz_server: FuzzServer, accept: str, target: str) -> None:
    answer = send(fuzz_server, "GET", target, accept=accept)
    assert_refused(answer, 406)
    assert answer.body["reason"] == "NotAcceptable"


def test_a_refused_accept_refuses_the_write_too(fuzz_server: FuzzServer) -> None:
    assert_write_refused(fuzz_server, "POST", CM, 406, body=CONFIG_MAP, content_type=JSON, accept="text/html")


@pytest.mark.parametrize(
    "accept",
    [
        "*/*",
        "application/*",
        "application/json, text/html",
        "text/html;q=0.9, application/json;q=0.1",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
    ],
)
def test_accepts_that_include_json_are_answered(fuzz_server: FuzzServer, accept: str) -> None:
    answer = send(fuzz_server, "GET", f"{CM}/fuzz-a", accept=accept)
    assert answer.status == 200, answer.text[:300]


# -- depth -----------------------------------------------------------------------------------------

DEEP_ARRAYS = "[" * 100_000
DEEP_OBJECTS = '{"a":' * 100_000


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
@pytest.mark.parametrize(
    ("method", "target", "content_type"),
    [
        ("POST", CM, JSON),
        ("POST", CM, "application/yaml"),
        ("PUT", f"{CM}/fuzz-a", JSON),
        ("DELETE", f"{CM}/fuzz-b", JSON),
        ("PATCH", f"{CM}/fuzz-a", MERGE),
        ("PATCH", f"{CM}/fuzz-a", STRATEGIC),
        ("PATCH", f"{CM}/fuzz-a", JSON_PATCH),
        ("PATCH", f"{CM}/fuzz-a?fieldManager=fuzz", APPLY),
    ],
)
def test_deeply_nested_bodies_are_400(
    fuzz_server: FuzzServer, body: str, method: str, target: str, content_type: str
) -> None:
    assert_write_refused(fuzz_server, method, target, 400, body=body, content_type=content_type)
    assert send(fuzz_server, "GET", "/healthz").status == 200


@pytest.mark.parametrize("depth", [50, 99])
def test_nesting_within_the_limit_is_handled(fuzz_server: FuzzServer, depth: int) -> None:
    """Legal depth reaches the patch engines and validation: they must not blow the stack either."""
    nested = '{"x":' * depth + "1" + "}" * depth
    for content_type, body in [
        (MERGE, '{"extra":' + nested + "}"),
        (STRATEGIC, '{"extra":' + nested + "}"),
        (JSON_PATCH, '[{"op":"add","path":"/extra","value":' + nested + "}]"),
    ]:
        answer = send(fuzz_server, "PATCH", f"{CM}/fuzz-a?dryRun=All", body=body, content_type=content_type)
        assert answer.status < 500, answer.text[:300]
