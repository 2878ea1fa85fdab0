"""Every served kind has every facet a client relies on; a kind missing one fails here, by name.

A facet left out fails nothing else: the kind just behaves worse (no ``kubectl explain``, the
default Table, a 415 on kubectl's protobuf body, a field selector refused). So this walks the
registry and checks each facet of each kind. Kinds that lack a facet on purpose, or for now, are
listed with the reason; a listed kind that gains the facet fails too, so the lists only shrink.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kuberya.resources import kinds, printers
from kuberya.resources.kinds import KindSpec
from kuberya.resources.patching import is_known_kind
from kuberya.resources.protobuf import SUPPORTED_KINDS
from kuberya.resources.protobuf._codec import MAGIC, _codec
from kuberya.resources.schema.definitions import definitions
from kuberya.resources.selectors import parse_field_selector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protobuf"

SPECS = {spec.kind: spec for spec in kinds.REGISTRY}

REVIEWS = (
    "SelfSubjectReview",
    "LocalSubjectAccessReview",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
    "TokenReview",
)
"""The never-stored access reviews: answered on create, with upstream's validation."""
DEFAULT_TABLE = {
    "LimitRange": "upstream has no printer for it: Name, Created At",
    "Role": "upstream's own columns are Name, Created At",
    "ClusterRole": "upstream's own columns are Name, Created At",
} | {kind: "a create-only review: never listed, never printed" for kind in REVIEWS}
NO_DEFAULTS = {
    "ConfigMap": "upstream defaults nothing in it",
    "CSINode": "upstream defaults nothing in storage/v1 CSINode",
    "ControllerRevision": "upstream defaults nothing in it",
    "Event": "upstream defaults nothing in it",
    "Ingress": "upstream defaults nothing in networking/v1 Ingress",
    "PodDisruptionBudget": "upstream defaults nothing in policy/v1 (no defaults.go)",
    "Lease": "upstream defaults nothing in it",
    "RuntimeClass": "not yet: upstream copies the default runtime handler's overhead (none here)",
    "ServiceAccount": "upstream defaults nothing in it",
    "ResourceQuota": "upstream defaults nothing in it",
    "Role": "upstream defaults nothing in it",
    **{kind: "upstream defaults nothing in a review" for kind in REVIEWS},
    "ClusterRole": "upstream defaults nothing in it",
}
NAME_ONLY_VALIDATION = {
    kind: "not yet: metadata and name rule only, upstream checks the body too"
    for kind in ("Namespace", "Endpoints", "Node", "ServiceAccount")
} | {"EndpointSlice": "not yet: metadata and name rule only, upstream checks addressType and endpoints"}
NAME_ONLY_VALIDATION |= {
    kind: "upstream validates nothing in it (ValidateSelfSubjectRulesReview is empty)"
    for kind in ("SelfSubjectReview", "SelfSubjectRulesReview")
}
NAME_ONLY_VALIDATION["TokenReview"] = "upstream checks it in its REST storage (400): a token, no namespace"


PATH_SEGMENT_NAMES = {
    kind: "upstream's ValidateRBACName: any path segment (system:aggregate-to-edit)"
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
}


def _kinds_kubectl_sends_as_protobuf() -> set[tuple[str, str]]:
    """(apiVersion, kind) of every body real kubectl sent as protobuf (tests/fixtures/protobuf)."""
    registry, _ = _codec()
    unknown = registry.classes["k8s.io.apimachinery.pkg.runtime.Unknown"]
    sent = set()
    for body in FIXTURES.glob("v1.*/*.bin"):
        envelope = unknown.FromString(body.read_bytes().removeprefix(MAGIC))
        sent.add((envelope.typeMeta.apiVersion, envelope.typeMeta.kind))
    return sent


def _each(spec: KindSpec) -> str:
    return spec.kind


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_schema_for_kubectl_explain(spec: KindSpec) -> None:
    schemas = definitions()
    for rt in spec.resource_types:
        name = spec.definition_name(spec.schema_key(rt))
        assert name in schemas, f"{rt.api_version} {spec.kind}: no {name} in definitions.json (gen_schemas.py)"
        # A create-only review (SubjectAccessReview…) has no List kind, as upstream.
        assert (name + "List" in schemas) == ("list" in rt.verbs), f"{rt.api_version} {spec.kind}: {name}List"
        gvks = schemas[name].get("x-kubernetes-group-version-kind", [])
        assert {"group": rt.group, "version": rt.version, "kind": spec.kind} in gvks, name


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_printer_columns_as_upstream(spec: KindSpec) -> None:
    rt = spec.storage
    columns = printers.table_columns(rt)
    names = [c["name"] for c in columns]
    if spec.kind in DEFAULT_TABLE:
        assert not spec.columns, f"{spec.kind} now has columns: drop it from DEFAULT_TABLE"
        assert names == ["Name", "Created At"]
        return
    assert spec.columns, f"{spec.kind}: no Table columns (kubectl get shows the default Table)"
    assert "Name" in names and names != ["Name", "Created At"]  # Events lead with Last Seen
    obj = {"apiVersion": rt.api_version, "kind": spec.kind, "metadata": {"name": "x"}}
    assert len(printers.table_row_cells(rt, obj, now=datetime.now(UTC))) == len(columns)


def test_a_protobuf_table_for_every_kind_kubectl_sends_as_protobuf() -> None:
    sent = _kinds_kubectl_sends_as_protobuf()
    assert len(sent) >= 7, sent  # the fixtures are there
    served = {(rt.api_version, spec.kind) for spec in kinds.REGISTRY for rt in spec.resource_types}
    missing = {(v, k) for v, k in sent if (v, k) in served and (v, k) not in SUPPORTED_KINDS}
    assert not missing, f"kubectl sends these as protobuf but their spec has protobuf=False: {sorted(missing)}"


@pytest.mark.parametrize("spec", [s for s in kinds.REGISTRY if s.protobuf], ids=_each)
def test_a_protobuf_kind_has_its_message(spec: KindSpec) -> None:
    registry, _ = _codec()
    for rt in spec.resource_types:
        message = spec.protobuf_message(spec.schema_key(rt))
        assert message in registry.classes, f"{rt.api_version} {spec.kind}: no {message} in the field tables"


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_defaults(spec: KindSpec) -> None:
    has_defaults = spec.defaults is not KindSpec.__dataclass_fields__["defaults"].default
    if spec.kind in NO_DEFAULTS:
        assert not has_defaults, f"{spec.kind} now has defaults: drop it from NO_DEFAULTS"
    else:
        assert has_defaults, f"{spec.kind}: no defaults hook"


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_validation(spec: KindSpec) -> None:
    if spec.kind in PATH_SEGMENT_NAMES:
        assert spec.name_rule("a/b") and not spec.name_rule("system:Not_A_DNS_Name"), spec.kind
    else:
        assert spec.name_rule("Not_A_Name"), f"{spec.kind}: its name rule accepts anything"
    if spec.kind in NAME_ONLY_VALIDATION:
        assert spec.validate is None, f"{spec.kind} now validates its body: drop it from NAME_ONLY_VALIDATION"
    else:
        assert spec.validate is not None, f"{spec.kind}: no validation hook"


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_field_selectors(spec: KindSpec) -> None:
    fields = ["metadata.name", "metadata.namespace", *spec.fields]
    selector = parse_field_selector(",".join(f"{f}=v" for f in fields))
    selector.validate_for(spec.kind)
    blank = {"apiVersion": spec.storage.api_version, "kind": spec.kind, "metadata": {"name": "v", "namespace": "v"}}
    for name, value in spec.fields.items():
        assert isinstance(value(blank), str), name  # computable on an object that lacks the field


@pytest.mark.parametrize("spec", kinds.REGISTRY, ids=_each)
def test_strategic_merge_patches(spec: KindSpec) -> None:
    assert is_known_kind(spec.kind), f"{spec.kind}: patched as a custom resource"


def test_the_generated_definitions_are_current() -> None:
    # The schema facet is generated: definitions.json must hold every root the catalog names.
    from kuberya.resources.schema.catalog import ROOT_DEFINITIONS

    stored = json.loads((Path(kinds.__file__).parents[1] / "schema" / "definitions.json").read_text())
    assert not [r for r in ROOT_DEFINITIONS if r not in stored], "run scripts/gen_schemas.py"
