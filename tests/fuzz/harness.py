"""Schemathesis against a real kuberya server: the schema it fuzzes, the checks, the findings.

The served OpenAPI v3 documents are fetched from the server and merged into one schema, then a
copy is made fit for fuzzing without changing what is served:

- every patch operation gets request bodies (the served ones have none, see
  ``kuberya.resources.schema.openapi``): merge and strategic merge patches are the kind's schema,
  a JSON patch is a list of operations, an apply patch is the whole object;
- path parameters name the fuzz namespace and a few object names, so that generated writes land
  on objects that exist (odd names and namespaces are the hostile-input tests' job);
- query parameters that select a mode (``dryRun``, ``fieldValidation``, ``watch``…) take the
  values a client sends; free strings stay free. A watch is never asked for: it would not end.

Three things are checked on every generated request (a *finding* is recorded for each breach,
nothing is raised, so one run reports every distinct problem rather than the first):

1. no answer is a 5xx;
2. every 2xx body that is an object of a served kind parses with the official Python client's
   model classes (pydantic, strict: they reject what kubectl's typed decoding would);
3. a refused (4xx) write, and any dry-run write, leaves the store's revision where it was.
   The fuzz server runs no controllers and no node agent, so nothing else writes.

The pytest tier (``tests/fuzz``) runs this with a fixed seed and a small budget;
``bench/fuzz_campaign.py`` runs it for minutes with a random seed.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import kubernetes.client
import pydantic
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from kuberya.resources import kinds
from kuberya.server import components as server_components
from tests.fuzz.seeds import FUZZ_NAMESPACE, OBJECT_NAMES, seed_objects, stored_collection


def _served_group_versions() -> tuple[str, ...]:
    """``api/v1`` and ``apis/{group}/{version}`` of every group the kind registry serves."""
    named = [f"apis/{group.name}/{version}" for group in kinds.api_groups() for version in group.versions]
    return ("api/v1", *named)


GROUP_VERSIONS = _served_group_versions()
"""The OpenAPI documents fuzzed, as keys of ``/openapi/v3``: every served group/version, taken from
the kind registry, so that a new group is fuzzed without an edit here (a test checks that these
are exactly the resource documents the server lists)."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PATCH_MEDIA_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
)
COMPONENTS = ",".join(spec.name for spec in server_components.COMPONENTS)
"""Every component but the API server (all of them, as registered): ``--disable`` this, so that only
the fuzzer writes."""

_QUERY_VALUES: dict[str, dict[str, Any]] = {
    "dryRun": {"enum": ["All"]},
    "fieldValidation": {"enum": ["Strict", "Warn", "Ignore"]},
    "fieldManager": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,15}$"},
    "propagationPolicy": {"enum": ["Orphan", "Background", "Foreground"]},
    "pretty": {"enum": ["true", "false"]},
    "watch": {"enum": [False]},
    "sendInitialEvents": {"enum": [False]},
    "resourceVersionMatch": {"enum": ["NotOlderThan", "Exact"]},
    "resourceVersion": {"anyOf": [{"enum": ["", "0"]}, {"type": "string", "pattern": "^[0-9]{1,3}$"}]},
    "labelSelector": {
        "anyOf": [
            {"enum": ["", "app", "app=web", "app!=web", "app in (a,b)", "!app", "tier notin (x)"]},
            {"type": "string"},
        ]
    },
    "fieldSelector": {
        "anyOf": [
            {"enum": ["", "metadata.name=fuzz-a", "metadata.namespace!=x", f"metadata.namespace={FUZZ_NAMESPACE}"]},
            {"type": "string"},
        ]
    },
    "timeoutSeconds": {"type": "integer", "minimum": 0, "maximum": 5},
}


# -- connecting ------------------------------------------------------------------------------------


def admin_session(kubeconfig: Path, workdir: Path) -> requests.Session:
    """A requests session that trusts the cluster CA and presents the admin client certificate."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    workdir.mkdir(parents=True, exist_ok=True)
    ca, cert, key = workdir / "ca.crt", workdir / "client.crt", workdir / "client.key"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    session = requests.Session()
    session.trust_env = False  # a CA bundle or proxy from the environment would override these
    session.verify = str(ca)
    session.cert = (str(cert), str(key))
    return session


# -- the schema ------------------------------------------------------------------------------------


def served_schema(session: requests.Session, url: str, group_versions: Iterable[str] = GROUP_VERSIONS) -> Any:
    """The served documents of ``group_versions``, merged into one OpenAPI 3 document."""
    index = session.get(f"{url}/openapi/v3", timeout=30).json()["paths"]
    merged: dict[str, Any] = {"openapi": "3.0.0", "info": {"title": "kuberya", "version": "fuzz"}, "paths": {}}
    schemas: dict[str, Any] = {}
    for gv in group_versions:
        doc = session.get(f"{url}{index[gv]['serverRelativeURL']}", timeout=30).json()
        merged["paths"].update(doc["paths"])
        schemas.update(doc["components"]["schemas"])
    merged["components"] = {"schemas": schemas}
    return merged


def fuzzable(served: Any) -> Any:
    """A copy of ``served`` fit for fuzzing (see the module docstring); ``served`` is not changed."""
    doc = copy.deepcopy(served)
    schemas = doc["components"]["schemas"]
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    meta["name"] = {"anyOf": [{"enum": list(OBJECT_NAMES)}, {"type": "string"}]}
    meta["namespace"] = {"enum": [FUZZ_NAMESPACE]}
    for definition in schemas.values():
        kinds = definition.get("x-kubernetes-group-version-kind", [])
        if len(kinds) == 1 and "kind" in definition.get("properties", {}):
            gvk = kinds[0]
            definition["properties"]["kind"] = {"enum": [gvk["kind"]]}
            group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            definition["properties"]["apiVersion"] = {"enum": [group_version]}
    for path, item in doc["paths"].items():
        for parameter in item.get("parameters", []):
            _constrain(parameter, path)
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                _constrain(parameter, path)
            if method == "patch" and "requestBody" not in operation:
                operation["requestBody"] = _patch_body(item, operation)
    return doc


def _constrain(parameter: dict[str, Any], path: str) -> None:
    name, where = parameter["name"], parameter["in"]
    if where == "path" and name == "namespace":
        parameter["schema"] = {"type": "string", "enum": [FUZZ_NAMESPACE]}
    elif where == "path" and name == "name":
        # A fuzzed delete of the fuzz namespace itself would end the run.
        parameter["schema"] = {"type": "string", "enum": list(OBJECT_NAMES)}
    elif where == "query" and name in _QUERY_VALUES:
        parameter["schema"] = _QUERY_VALUES[name]


def _patch_body(item: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """Request bodies of every patch type for a patch operation of the object its path serves."""
    source = item.get("put", {}).get("requestBody") or operation["responses"]["200"]
    target = source["content"]["application/json"]["schema"]
    json_patch = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                "path": {
                    "anyOf": [
                        {"enum": ["/metadata/labels/a", "/metadata/annotations", "/spec", "/data/k", "/spec/replicas"]},
                        {"type": "string", "pattern": "^(/[a-zA-Z0-9~_-]{0,12}){0,4}$"},
                    ]
                },
                "from": {"enum": ["/metadata/labels", "/metadata/name", "/spec", "/x"]},
                "value": {},
            },
        },
    }
    return {
        "content": {
            "application/merge-patch+json": {"schema": target},
            "application/strategic-merge-patch+json": {"schema": target},
            "application/json-patch+json": {"schema": json_patch},
            "application/apply-patch+yaml": {"schema": target},
        }
    }


def _serialize_json(ctx: Any, value: Any) -> bytes:
    return json.dumps(value).encode()


# JSON is YAML: an apply patch is sent as JSON text with the YAML media type, as client-go does.
schemathesis.serializer(*PATCH_MEDIA_TYPES)(_serialize_json)


# -- the checks ------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One distinct breach, with the shortest request that showed it."""

    check: str
    """``5xx``, ``no-answer`` (the connection closed without a response), ``client-model`` (a 2xx
    body the client models reject), ``refused-write-stored`` (a 4xx write that changed the store)
    or ``dry-run-stored``."""
    detail: str
    status: int
    operations: set[str] = field(default_factory=set)
    reproducer: str = ""
    where: str = ""
    """The innermost kuberya frame of the server's traceback, for a 5xx."""
    count: int = 0

    def describe(self) -> str:
        lines = [f"[{self.check}] HTTP {self.status}: {self.detail}  (x{self.count})"]
        if self.where:
            lines.append(f"    at {self.where}")
        lines.append(f"    operations: {', '.join(sorted(self.operations))}")
        lines.append(f"    reproduce: {self.reproducer}")
        return "\n".join(lines)


@dataclass
class Campaign:
    """Counts and findings of one fuzzing run."""

    examples: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)

    def record(self, check: str, detail: str, *, status: int, operation: str, reproducer: str, where: str = "") -> None:
        key = (check, _normalized(detail) + " @ " + where)
        found = self.findings.setdefault(key, Finding(check, detail, status, where=where))
        found.count += 1
        found.operations.add(operation)
        if not found.reproducer or len(reproducer) < len(found.reproducer):
            found.reproducer, found.detail, found.status = reproducer, detail, status

    def report(self) -> str:
        total_5xx = sum(f.count for f in self.findings.values() if f.check in ("5xx", "no-answer"))
        head = (
            f"{len(self.operations)} operations, {self.examples} examples, "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"{total_5xx} 5xx answers, {len(self.findings)} distinct findings"
        )
        return "\n".join([head, *(f.describe() for f in self.findings.values())])


def _normalized(detail: str) -> str:
    """A finding's identity: its message with quoted values and numbers blanked."""
    detail = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", detail)
    return re.sub(r"\d+", "N", detail)[:160]


def model_name(obj: Any) -> str | None:
    """The client model class of a served object (``V1ConfigMap``, ``CoreV1Event``…), if it has one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
        return None
    group, _, version = obj["apiVersion"].rpartition("/")
    kind = obj["kind"]
    names = [f"{version[:1].upper()}{version[1:]}{kind}"]
    if group == "":
        names.insert(0, f"CoreV1{kind}")  # Event and EventList, which events.k8s.io also has
    return next((n for n in names if hasattr(kubernetes.client.models, n)), None)


_API_CLIENT = kubernetes.client.ApiClient()


def declared_model(case: schemathesis.Case) -> str | None:
    """The client model of the object an operation answers with (its 200 response's schema)."""
    response = case.operation.definition.raw.get("responses", {}).get("200", {})
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    group_version, _, kind = ref.rpartition("/")[2].rpartition(".")
    version = group_version.rpartition(".")[2]
    if not kind or kind == "Status":
        return None  # a delete may answer with the object or a Status
    group = group_version.rpartition(".")[0].rpartition(".")[2]
    return model_name({"apiVersion": f"{group}/{version}" if group != "core" else version, "kind": kind})


def client_model_error(text: str, *, declared: str | None = None) -> str | None:
    """Why the official client's models reject a 2xx JSON body, or None when they accept it.

    ``declared`` is the operation's response model: an answer that should be an object of a
    served kind but says no ``kind`` or ``apiVersion`` is rejected, as kubectl rejects it
    ("Object 'Kind' is missing").
    """
    try:
        obj = json.loads(text)
    except ValueError as e:
        return f"the body is not JSON: {e}"
    name = model_name(obj)
    if name is None and declared is not None and isinstance(obj, dict) and obj.get("kind") != "Status":
        return f"{declared}: the answer has no kind or apiVersion ({sorted(obj)[:6]})"
    if name is None:
        return None
    try:
        _API_CLIENT.deserialize(text, name, "application/json")
    except (pydantic.ValidationError, ValueError, TypeError, kubernetes.client.ApiException) as e:
        first = str(e).strip().splitlines()
        return f"{name}: {' / '.join(first[:3])}"
    return None


# -- running ---------------------------------------------------------------------------------------


class _OutOfTime(Exception):
    """Ends hypothesis' loop over one operation when its share of the time is spent."""


@dataclass
class Fuzzer:
    """Sends generated cases to one server and checks each answer."""

    session: requests.Session
    url: str
    server_log: Path | None = None
    campaign: Campaign = field(default_factory=Campaign)
    _log_offset: int = 0

    def revision(self) -> str:
        answer = self.session.get(f"{self.url}/api/v1/namespaces", params={"limit": "1"}, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["metadata"]["resourceVersion"])

    def exercise(self, case: schemathesis.Case) -> None:
        op = f"{case.method} {case.path}"
        self.campaign.operations.add(op)
        self.campaign.examples += 1
        write = case.method.upper() in WRITE_METHODS
        before = self.revision() if write else ""
        query = case.query if isinstance(case.query, dict) else {}
        # Negative cases turn watch on: a watch is a stream that stays open, so bound it to a
        # second and judge only its status (the body is events, not one object).
        watching = str(query.get("watch", "")).lower() in ("true", "1")
        if watching:
            query["timeoutSeconds"] = 1
        try:
            response = case.call(
                base_url=self.url, session=self.session, verify=self.session.verify, cert=self.session.cert, timeout=30
            )
        except requests.ConnectionError as e:
            # The server closed the connection without answering: as bad as a 5xx, and no status.
            self._recorder(case, op, 0)(
                "no-answer", f"the connection closed without an answer: {e}", self._server_frame()
            )
            return
        status = response.status_code
        self.campaign.statuses[status] = self.campaign.statuses.get(status, 0) + 1
        record = self._recorder(case, op, status)
        if status >= 500 and not _too_large_resource_version(status, response.text):
            record("5xx", _status_message(response.text), self._server_frame())
        elif 200 <= status < 300:
            problem = (
                client_model_error(response.text, declared=declared_model(case))
                if response.text.strip() and not watching
                else None
            )
            if problem:
                record("client-model", problem, "")
            if write and (case.query or {}).get("dryRun") and self.revision() != before:
                record("dry-run-stored", "a dry-run write changed the store", "")
        elif write and 400 <= status < 500 and self.revision() != before:
            record("refused-write-stored", f"refused with {_status_message(response.text)}", "")

    def _recorder(self, case: schemathesis.Case, op: str, status: int) -> Callable[[str, str, str], None]:
        def record(check: str, detail: str, where: str) -> None:
            self.campaign.record(
                check, detail, status=status, operation=op, reproducer=reproducer(case, self.url), where=where
            )

        return record

    def _server_frame(self) -> str:
        """The innermost kuberya frame of the newest traceback in the server's log."""
        if self.server_log is None or not self.server_log.exists():
            return ""
        with self.server_log.open("rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode(errors="replace")
            self._log_offset = f.tell()
        frames = re.findall(r'File "[^"]*?(kuberya/[^"]+)", line (\d+), in (\w+)', text)
        if frames:
            return f"{frames[-1][0]}:{frames[-1][1]} ({frames[-1][2]})"
        raised = re.findall(r"^(\w+(?:Error|Exception): .*)$", text, flags=re.MULTILINE)
        return raised[-1][:160] if raised else ""

    def skip_log(self) -> None:
        if self.server_log is not None and self.server_log.exists():
            self._log_offset = self.server_log.stat().st_size

    def fuzz(
        self,
        schema: Any,
        *,
        max_examples: int,
        seconds_per_operation: float,
        seed: int | None,
        modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    ) -> None:
        """Fuzz every operation of ``schema`` in each of ``modes``.

        ``seed`` None is hypothesis' derandomized run (the same examples every time, for CI);
        a number seeds a random run that the same number repeats.
        """
        self.skip_log()
        loaded = schemathesis.openapi.from_dict(schema)
        operations = [result.ok() for result in loaded.get_all_operations()]
        seeds = list(seed_objects())
        for operation in operations:
            for mode in modes:
                self._reseed(operation.path, seeds)
                self._fuzz_operation(
                    operation, mode, max_examples=max_examples, seconds=seconds_per_operation / 2, seed=seed
                )

    def _reseed(self, path: str, seeds: list[tuple[str, dict[str, Any]]]) -> None:
        """Create again the ``fuzz-a`` that ``path`` serves, should a fuzzed delete have removed it."""
        collection = stored_collection(path)
        for seeded, obj in seeds:
            if seeded == collection:
                self.session.post(f"{self.url}{seeded}", json=obj, timeout=30)
                return

    def _fuzz_operation(
        self, operation: Any, mode: GenerationMode, *, max_examples: int, seconds: float, seed: int | None
    ) -> None:
        deadline = time.monotonic() + seconds
        sent = 0

        def run(case: schemathesis.Case) -> None:
            nonlocal sent
            # The first case is always sent: generating it from a big schema (a StatefulSet's PUT)
            # can take longer than a small share on a loaded machine, and every operation is fuzzed.
            if sent and time.monotonic() > deadline:
                raise _OutOfTime
            sent += 1
            self.exercise(case)

        test = hypothesis.given(operation.as_strategy(generation_mode=mode))(run)
        test = hypothesis.settings(
            max_examples=max_examples,
            derandomize=seed is None,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # no shrinking: findings are recorded, not raised
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
            report_multiple_bugs=False,
        )(test)
        if seed is not None:
            test = hypothesis.seed(seed)(test)
        try:
            test()
        except _OutOfTime:
            pass
        except hypothesis.errors.Unsatisfiable:
            pass  # negative mode finds nothing to break in an operation without parameters


def reproducer(case: schemathesis.Case, url: str) -> str:
    """A curl command for ``case``, the certificate options left to the reader's kubeconfig."""
    kwargs = case.as_transport_kwargs(base_url=url)
    request = requests.Request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers={k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() in ("content-type", "accept")},
        data=kwargs.get("data"),
        json=kwargs.get("json"),
    ).prepare()
    parts = ["curl", "-X", request.method or "GET", repr(request.url)]
    for name, value in request.headers.items():
        if name.lower() == "content-type":
            parts += ["-H", repr(f"{name}: {value}")]
    if request.body:
        body = request.body.decode(errors="replace") if isinstance(request.body, bytes) else str(request.body)
        parts += ["--data-binary", repr(body[:2000])]
    return " ".join(parts)


def _too_large_resource_version(status: int, text: str) -> bool:
    """Upstream's deliberate 504 for a list at a revision the store has not reached yet."""
    return status == 504 and "Too large resource version" in text


def _status_message(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    return str(body.get("message", body))[:300] if isinstance(body, dict) else text[:200]
