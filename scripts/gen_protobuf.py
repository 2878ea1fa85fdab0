"""Write the protobuf field tables (``src/kuberya/resources/protobuf/tables.json``) from upstream.

The tables tell the codec every message of every covered package in the notation of
``kuberya/resources/protobuf/_schema.py`` (``"name=N type"``, ``[]T``, ``map[string]T``, ``*T``,
``inline:T``). They are generated, never transcribed: the field names, numbers and types come from
upstream's ``generated.proto``; the two Go facts the notation also needs come from the Go struct
tags of the same commit (each API struct field carries ``json:"…"`` and
``protobuf:"bytes,N,opt,name=…"``):

- ``*T`` (keep a present zero): the Go field is a pointer, or its ``json`` tag has neither
  ``omitempty`` nor ``omitzero`` (Go's encoding/json then writes the zero, so kubectl would have).
- ``inline:T``: the Go field is an embedded struct without a JSON name (``json:",inline"`` or
  ``json:""``), which encoding/json splices into its parent.
- A message whose Go type is a slice (``type Verbs []string``, ``+protobuf.nullable=true``) is
  listed in ``Package.json_lists``: in JSON it is the bare list of its ``items``.

The messages with a JSON form of their own (Time, MicroTime, Duration, FieldsV1, Quantity,
IntOrString, RawExtension, the ``Unknown`` envelope; see :data:`CUSTOM_JSON`) are converted by
``_convert`` by name, so their fields are emitted plain. Any other proto field without a Go field
of the same number (and name) with a JSON name stops the run; a JSON name that is not the proto name
is written ``json=NAME``. A message defined as another package's struct (core/v1 ``type List
metav1.List``) takes that struct's Go facts.

Inputs are vendored (CI cannot reach GitHub): ``scripts/upstream/<go package>/fields.txt``, one
per package, written by ``--vendor`` from git directories of ``kubernetes/api`` and
``kubernetes/apimachinery``. That format keeps only facts, one line each::

    # source: kubernetes/api@<commit> batch/v1 (generated.proto, *.go struct tags)
    package k8s.io.api.batch.v1
    message JobSpec go=struct
      parallelism=1 optional int32 go=*int32 json=parallelism,omitempty
      template=6 optional .k8s.io.api.core.v1.PodTemplateSpec go=corev1.PodTemplateSpec json=template

``message NAME [go=struct|go=<Go type>]``: ``go=`` is absent when the package declares no Go type of
that name. A field line is ``name=N LABEL TYPE`` as in the proto (LABEL is ``optional``,
``repeated`` or ``map``, where TYPE is the value type of a ``map<string, TYPE>``), followed, when
the Go struct has a field tagged with that number, by ``go=<its Go type>``, ``embedded`` for an
anonymous field, and ``json=<its json tag>`` unless it has none.

Not covered: k8s.io/apiextensions-apiserver (``JSONSchemaProps`` has custom JSON for ``$ref``,
``JSONSchemaPropsOrArray`` and friends that this notation cannot say) and the alpha/beta versions,
but for scheduling/v1alpha3, which batch/v1 refers to.

Usage: ``python scripts/gen_protobuf.py`` rewrites the tables; ``--check`` exits 1 if they are
stale; ``--vendor GITDIR...`` refreshes ``scripts/upstream`` from bare git directories of
kubernetes/api and/or kubernetes/apimachinery (their HEAD commit).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = Path(__file__).resolve().parent / "upstream"
OUTPUT = ROOT / "src/kuberya/resources/protobuf/tables.json"


@dataclass(frozen=True)
class Source:
    alias: str
    """The package's key in ``tables.json`` and the codec; other tables write ``alias.Name``."""
    go_package: str
    """``k8s.io/api/batch/v1``: also the vendored file's folder and the proto file's folder."""

    @property
    def repo(self) -> str:
        return "apimachinery" if self.go_package.startswith("k8s.io/apimachinery/") else "api"

    @property
    def repo_path(self) -> str:
        """The package's folder inside its repository."""
        return self.go_package.removeprefix(f"k8s.io/{self.repo}/")

    @property
    def proto_package(self) -> str:
        return self.go_package.replace("/", ".")


def _api(group_version: str) -> Source:
    # core/v1 and apps/v1 keep the short aliases the first tables gave them; the rest are batchv1 etc.
    alias = {"core/v1": "core", "apps/v1": "apps"}.get(group_version, group_version.replace("/", ""))
    return Source(alias, f"k8s.io/api/{group_version}")


SOURCES: tuple[Source, ...] = (
    Source("runtime", "k8s.io/apimachinery/pkg/runtime"),
    Source("resource", "k8s.io/apimachinery/pkg/api/resource"),
    Source("intstr", "k8s.io/apimachinery/pkg/util/intstr"),
    Source("meta", "k8s.io/apimachinery/pkg/apis/meta/v1"),
    *(
        _api(gv)
        for gv in (
            "core/v1",
            "apps/v1",
            "autoscaling/v1",
            "autoscaling/v2",
            "scheduling/v1",
            "scheduling/v1alpha3",  # batch/v1 JobSpec's pod-group scheduling refers to it
            "batch/v1",
            "policy/v1",
            "networking/v1",
            "coordination/v1",
            "node/v1",
            "events/v1",
            "discovery/v1",
            "rbac/v1",
            "storage/v1",
            "admissionregistration/v1",
            "authentication/v1",  # TokenRequest and TokenReview: kubectl create token sends protobuf
            "authorization/v1",  # the access reviews: kubectl auth can-i sends protobuf
        )
    ),
)

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
CUSTOM_JSON = frozenset(
    {
        f"{_META}.Time",
        f"{_META}.MicroTime",
        f"{_META}.Duration",
        f"{_META}.FieldsV1",
        "k8s.io.apimachinery.pkg.api.resource.Quantity",
        "k8s.io.apimachinery.pkg.api.resource.QuantityValue",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "k8s.io.apimachinery.pkg.runtime.RawExtension",
        "k8s.io.apimachinery.pkg.runtime.Unknown",
    }
)
"""Messages ``_convert`` turns into JSON by name (a string, a number, an embedded document)."""

SCALARS = frozenset({"string", "int32", "int64", "bool", "bytes"})


# --- vendoring: upstream sources → facts ------------------------------------------------------------

_PROTO_MESSAGE = re.compile(r"^message (\w+) \{$")
_PROTO_FIELD = re.compile(r"^  (optional|repeated) ([\w.]+) (\w+) = (\d+);$")
_PROTO_MAP = re.compile(r"^  map<string, ([\w.]+)> (\w+) = (\d+);$")
_PROTO_IGNORED = re.compile(r"^(syntax|package|import|option) .*;$|^\}$")

_GO_STRUCT = re.compile(r"^type (\w+) struct \{$")
_GO_EMPTY_STRUCT = re.compile(r"^type (\w+) struct ?\{\}$")
_GO_OTHER_TYPE = re.compile(r"^type (\w+) ([^\s{=]+)$")
_GO_FIELD = re.compile(r"^\s+(?:(\w+)\s+)?([*\[\]\w.]+)\s+`([^`]*)`")
_GO_TAG = re.compile(r'(\w+):"([^"]*)"')


@dataclass
class GoField:
    type: str
    json: str | None
    """The ``json`` tag's value; None without one."""
    embedded: bool
    """An anonymous field (``metav1.ObjectMeta `json:...```), which encoding/json inlines when unnamed."""


@dataclass
class GoType:
    definition: str
    """``struct`` or the Go type it is defined as (``[]string``)."""
    fields: dict[int, tuple[str | None, GoField]]
    """Protobuf field number → (protobuf name, Go field)."""


def _git(gitdir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], check=True, capture_output=True, text=True).stdout


def parse_proto(text: str) -> tuple[str, dict[str, list[tuple[str, int, str, str]]]]:
    """Return the package and, per message, its fields as (name, number, label, type)."""
    package = ""
    messages: dict[str, list[tuple[str, int, str, str]]] = {}
    current: list[tuple[str, int, str, str]] | None = None
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)  # the licence header
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        if line.startswith("package "):
            package = line.removeprefix("package ").rstrip(";")
        if m := _PROTO_MESSAGE.match(line):
            current = messages.setdefault(m[1], [])
        elif m := _PROTO_FIELD.match(line):
            assert current is not None, line
            current.append((m[3], int(m[4]), m[1], m[2]))
        elif m := _PROTO_MAP.match(line):
            assert current is not None, line
            current.append((m[2], int(m[3]), "map", m[1]))
        elif not _PROTO_IGNORED.match(line):
            # Anything else (a nested message, a oneof, a non-string map key) would need new notation.
            raise SystemExit(f"unexpected line in generated.proto of {package or '?'}: {line!r}")
    return package, messages


def parse_go(text: str, types: dict[str, GoType]) -> None:
    """Add the package-level types of one Go file: their protobuf-tagged fields, by number."""
    current: GoType | None = None
    for line in text.splitlines():
        if current is not None:
            if line.startswith("}"):
                current = None
            elif m := _GO_FIELD.match(line):
                tags = dict(_GO_TAG.findall(m[3]))
                proto = tags.get("protobuf", "-").split(",")
                if proto[0] != "-":
                    # An embedded struct's tag may leave the name to go-to-protobuf (bytes,1,req).
                    name = next((p.removeprefix("name=") for p in proto if p.startswith("name=")), None)
                    current.fields[int(proto[1])] = (name, GoField(m[2], tags.get("json"), embedded=m[1] is None))
        elif m := _GO_EMPTY_STRUCT.match(line):
            types.setdefault(m[1], GoType("struct", {}))
        elif m := _GO_STRUCT.match(line):
            current = types.setdefault(m[1], GoType("struct", {}))
        elif m := _GO_OTHER_TYPE.match(line):
            types.setdefault(m[1], GoType(m[2], {}))


def vendored_facts(source: Source, gitdir: Path, commit: str) -> str:
    """The facts file for one package, from the proto and Go files at ``commit``."""
    folder = source.repo_path
    package, messages = parse_proto(_git(gitdir, "show", f"{commit}:{folder}/generated.proto"))
    if package != source.proto_package:
        raise SystemExit(f"{folder}/generated.proto declares package {package}, expected {source.proto_package}")
    types: dict[str, GoType] = {}
    listing = _git(gitdir, "ls-tree", "--name-only", f"{commit}:{folder}").split()
    for name in sorted(listing):
        if name.endswith(".go") and not name.endswith("_test.go") and not name.startswith(("zz_", "generated.")):
            parse_go(_git(gitdir, "show", f"{commit}:{folder}/{name}"), types)
    out = [
        "# Facts for kuberya's protobuf tables; written by scripts/gen_protobuf.py --vendor, do not edit.",
        f"# source: kubernetes/{source.repo}@{commit} {folder} (generated.proto, *.go struct tags)",
        f"package {package}",
    ]
    for message, fields in messages.items():
        go = types.get(message)
        out.append(f"message {message}" + (f" go={go.definition}" if go else ""))
        for name, number, label, type_ in fields:
            line = f"  {name}={number} {label} {type_}"
            if go is not None and number in go.fields:
                go_name, go_field = go.fields[number]
                if go_name not in (None, name):
                    raise SystemExit(f"{package}.{message}: proto field {number} is {name}, Go says {go_name}")
                line += f" go={go_field.type}" + (" embedded" if go_field.embedded else "")
                if go_field.json is not None:
                    line += f" json={go_field.json}"
            out.append(line)
    return "\n".join(out) + "\n"


def vendor(gitdirs: list[Path]) -> int:
    for gitdir in gitdirs:
        commit = _git(gitdir, "rev-parse", "HEAD").strip()
        tree = set(_git(gitdir, "ls-tree", "-r", "--name-only", commit).split())
        found = [
            s
            for s in SOURCES
            if f"{s.repo_path}/generated.proto" in tree and (s.repo == "api") == ("core/v1/types.go" in tree)
        ]
        if not found:
            raise SystemExit(f"{gitdir}: neither kubernetes/api nor kubernetes/apimachinery")
        for source in found:
            path = UPSTREAM / source.go_package / "fields.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(vendored_facts(source, gitdir, commit), encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


# --- generation: facts → tables ------------------------------------------------------------------


@dataclass
class Facts:
    source: Source
    header: str
    """The vendored file's ``source:`` line."""
    messages: dict[str, tuple[str | None, list[str]]]
    """Message → (its Go definition or None, its field lines as vendored)."""


def read_facts(source: Source) -> Facts:
    path = UPSTREAM / source.go_package / "fields.txt"
    header = ""
    messages: dict[str, tuple[str | None, list[str]]] = {}
    fields: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# source: "):
            header = line.removeprefix("# source: ")
        elif line.startswith("package "):
            if line.split()[1] != source.proto_package:
                raise SystemExit(f"{path}: wrong package {line}")
        elif line.startswith("message "):
            name, *rest = line.split()[1:]
            fields = []
            messages[name] = (rest[0].removeprefix("go=") if rest else None, fields)
        elif line.startswith("  "):
            fields.append(line.strip())
    return Facts(source, header, messages)


def _omits_zero(json_tag: str) -> bool:
    options = json_tag.split(",")[1:]
    return "omitempty" in options or "omitzero" in options


def table_line(facts: Facts, message: str, line: str, by_proto_package: dict[str, Source]) -> tuple[str, str | None]:
    """One vendored field → (notation, alias of the other package it refers to, if any)."""
    full = f"{facts.source.proto_package}.{message}"
    head, label, type_, *go_facts = line.split()
    name = head.partition("=")[0]
    go = dict(fact.partition("=")[::2] for fact in go_facts)
    go_definition = facts.messages[message][0] or ""
    custom = full in CUSTOM_JSON or go_definition.startswith("[]")  # a json_lists message's items are plain
    embedded = "embedded" in go
    if not custom and ("go" not in go or ("json" not in go and not embedded)):
        raise SystemExit(f"{full}.{name}: no Go field with a json tag; teach CUSTOM_JSON or the notation")
    json_tag = go.get("json", "")
    json_name = json_tag.split(",")[0]
    # encoding/json splices an embedded struct without a JSON name (json:",inline" or json:"") into its parent.
    inline = not custom and embedded and json_name == ""
    if not custom and not inline and json_name in ("", "-"):
        raise SystemExit(f"{full}.{name}: a proto field that is not in JSON; teach CUSTOM_JSON or the notation")
    # A few proto names are not the JSON names (networking/v1 aPIGroup, admissionregistration Webhooks).
    rename = f" json={json_name}" if not custom and not inline and json_name != name else ""
    dependency: str | None = None
    if type_ in SCALARS:
        notation = type_
        if label == "optional" and not custom and (go["go"].startswith("*") or not _omits_zero(json_tag)):
            notation = f"*{type_}"
    else:
        package, _, short = type_.lstrip(".").rpartition(".")
        if not package or package == facts.source.proto_package:
            notation = short
        else:
            dependency = by_proto_package[package].alias
            notation = f"{dependency}.{short}"
    if inline:
        if type_ in SCALARS:
            raise SystemExit(f"{full}.{name}: an inline scalar")
        notation = f"inline:{notation}"
    if label == "repeated":
        notation = f"[]{notation}"
    elif label == "map":
        notation = f"map[string]{notation}"
    return f"{head} {notation}{rename}", dependency


def render_package(facts: Facts, by_proto_package: dict[str, Source]) -> dict[str, Any]:
    """One package's entry of ``tables.json``: what :class:`_schema.Package` holds."""
    source = facts.source
    dependencies: set[str] = set()
    messages: dict[str, list[str]] = {}
    json_lists: list[str] = []
    for message, (go_definition, lines) in facts.messages.items():
        full = f"{source.proto_package}.{message}"
        if go_definition is None and full not in CUSTOM_JSON:
            raise SystemExit(f"{full}: no Go type of that name; teach CUSTOM_JSON or the notation")
        if go_definition is not None and go_definition.startswith("[]"):
            if [line.split()[0] for line in lines] != ["items=1"]:
                raise SystemExit(f"{full}: a Go slice type whose message is not just items=1")
            json_lists.append(message)
        notations = []
        for line in lines:
            notation, dependency = table_line(facts, message, line, by_proto_package)
            notations.append(notation)
            if dependency is not None:
                dependencies.add(dependency)
        messages[message] = notations
    return {
        "alias": source.alias,
        "proto_package": source.proto_package,
        "file_name": f"{source.go_package}/generated.proto",
        "source": f"kubernetes/{source.repo}@{facts.header.split('@', 1)[1].split()[0]}",
        "dependencies": [s.alias for s in SOURCES if s.alias in dependencies],
        "json_lists": json_lists,
        "messages": messages,
    }


def render(packages: list[dict[str, Any]]) -> str:
    """One message per line, so a change upstream is a readable one-line diff (as definitions.json)."""
    out = ["{\n", f' "generated_by": {json.dumps("scripts/gen_protobuf.py: do not edit")},\n', ' "packages": [\n']
    for i, package in enumerate(packages):
        head = {k: v for k, v in package.items() if k != "messages"}
        lines = [f"  {json.dumps(name)}: {json.dumps(fields)}" for name, fields in package["messages"].items()]
        out.append(f'  {json.dumps(head)[:-1]}, "messages": {{\n' + ",\n".join(lines) + "\n  }}")
        out.append(",\n" if i < len(packages) - 1 else "\n")
    out.append(" ]\n}\n")
    return "".join(out)


GO_IMPORTS = {"metav1": "k8s.io.apimachinery.pkg.apis.meta.v1"}
"""Go import names that a defined type may refer to (core/v1 ``type List metav1.List``)."""


def borrow_go_facts(all_facts: dict[str, Facts]) -> None:
    """Give a message defined as another package's Go struct (``type List metav1.List``) that struct's facts."""
    for facts in all_facts.values():
        for message, (go_definition, lines) in list(facts.messages.items()):
            if go_definition is None or not (m := re.fullmatch(r"(\w+)\.(\w+)", go_definition)):
                continue
            if m[1] not in GO_IMPORTS:
                raise SystemExit(
                    f"{facts.source.proto_package}.{message}: Go type {go_definition} of an unknown package"
                )
            origin_definition, origin_lines = all_facts[GO_IMPORTS[m[1]]].messages[m[2]]
            go_by_field = {line.split()[0]: line.split()[3:] for line in origin_lines}
            if set(go_by_field) != {line.split()[0] for line in lines}:
                raise SystemExit(f"{facts.source.proto_package}.{message}: fields differ from {go_definition}'s")
            borrowed = [" ".join(line.split()[:3] + go_by_field[line.split()[0]]) for line in lines]
            facts.messages[message] = (origin_definition, borrowed)


def outputs() -> dict[Path, str]:
    by_proto_package = {s.proto_package: s for s in SOURCES}
    all_facts = {s.proto_package: read_facts(s) for s in SOURCES}
    borrow_go_facts(all_facts)
    return {OUTPUT: render([render_package(all_facts[s.proto_package], by_proto_package) for s in SOURCES])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed tables are out of date")
    parser.add_argument("--vendor", nargs="+", type=Path, metavar="GITDIR", help="refresh scripts/upstream first")
    args = parser.parse_args(argv)
    if args.vendor:
        vendor(args.vendor)
    files = outputs()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python scripts/gen_protobuf.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
