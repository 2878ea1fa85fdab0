"""The generated protobuf field tables: the generator, its vendored inputs, and what they decode.

Bodies for kinds no kind module serves as protobuf yet (Job, CronJob, PodDisruptionBudget, Ingress,
the RBAC kinds) are decoded by message name here, so the tables are proven before a spec flips
``protobuf=True``. The fixtures in ``tests/fixtures/protobuf/tables`` were recorded from real
kubectl 1.32 and 1.37 (``tables/capture.py``) with the same command's ``--dry-run=client -o json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kuberya.resources.protobuf import decode_object, encode_object
from kuberya.resources.protobuf._codec import MAGIC, _codec
from kuberya.resources.protobuf._packages import packages
from kuberya.resources.protobuf._schema import Registry, build_registry

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "protobuf" / "tables"
CAPTURED = sorted(FIXTURES.glob("v1.*/*.bin"))
# Bare git clones of kubernetes/api and kubernetes/apimachinery, where a machine has them
# (KUBERYA_UPSTREAM_MIRRORS=DIR holding kubernetes+api/repo and kubernetes+apimachinery/repo);
# the tests that read them are skipped elsewhere.
_MIRROR_ROOT = Path(os.environ.get("KUBERYA_UPSTREAM_MIRRORS", "/nonexistent"))
MIRRORS = {
    "api": _MIRROR_ROOT / "kubernetes+api" / "repo",
    "apimachinery": _MIRROR_ROOT / "kubernetes+apimachinery" / "repo",
}
_PROTO_PACKAGES = {
    "batch/v1": "k8s.io.api.batch.v1",
    "policy/v1": "k8s.io.api.policy.v1",
    "networking.k8s.io/v1": "k8s.io.api.networking.v1",
    "rbac.authorization.k8s.io/v1": "k8s.io.api.rbac.v1",
    "scheduling.k8s.io/v1": "k8s.io.api.scheduling.v1",
}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protobuf", REPO / "scripts" / "gen_protobuf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_protobuf"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def decode_by_message(body: bytes) -> tuple[dict[str, Any], list[str]]:
    """Decode a captured body by its message name (whatever the kind registry serves) and list unknowns."""
    registry, converter = _codec()
    envelope = registry.classes["k8s.io.apimachinery.pkg.runtime.Unknown"].FromString(body.removeprefix(MAGIC))
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    name = f"{_PROTO_PACKAGES[api_version]}.{kind}"
    msg = registry.classes[name].FromString(envelope.raw)
    decoded = {"apiVersion": api_version, "kind": kind, **converter.to_json(msg, name)}
    return decoded, converter.unknown_fields(msg, name)


# --- the generator ----------------------------------------------------------------------------------


def test_generator_output_matches_the_committed_files() -> None:
    for path, text in _generator().outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python scripts/gen_protobuf.py"


def test_check_mode_passes_on_the_committed_output_and_fails_on_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = _generator()
    assert generator.main(["--check"]) == 0
    monkeypatch.setattr(generator, "OUTPUT", tmp_path / "tables.json")  # not written there: stale
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1


def test_the_tables_are_data_the_generator_wrote() -> None:
    protobuf = REPO / "src" / "kuberya" / "resources" / "protobuf"
    assert not list(protobuf.glob("_tables_*.py")), "the tables are tables.json, not modules"
    tables = json.loads((protobuf / "tables.json").read_text(encoding="utf-8"))
    assert tables["generated_by"].startswith("scripts/gen_protobuf.py")
    assert [p["alias"] for p in tables["packages"]] == [s.alias for s in _generator().SOURCES]


def test_the_vendored_facts_are_small_and_name_their_upstream_commit() -> None:
    files = sorted((REPO / "scripts" / "upstream").rglob("fields.txt"))
    assert len(files) == len(_generator().SOURCES)
    assert sum(f.stat().st_size for f in files) < 300_000
    for path in files:
        header = path.read_text(encoding="utf-8").splitlines()[1]
        assert re.fullmatch(r"# source: kubernetes/(api|apimachinery)@[0-9a-f]{40} \S+ \(.*\)", header), path


@pytest.mark.skipif(not all(m.exists() for m in MIRRORS.values()), reason="no upstream git mirrors here")
def test_vendoring_again_from_the_recorded_commits_reproduces_the_facts() -> None:
    generator = _generator()
    for source in generator.SOURCES:
        path = generator.UPSTREAM / source.go_package / "fields.txt"
        committed = path.read_text(encoding="utf-8")
        commit = committed.splitlines()[1].split("@")[1].split()[0]
        gitdir = MIRRORS[source.repo]
        present = subprocess.run(["git", f"--git-dir={gitdir}", "cat-file", "-e", commit], capture_output=True)
        if present.returncode != 0:
            pytest.skip(f"{gitdir} lacks {commit}")
        assert generator.vendored_facts(source, gitdir, commit) == committed, source.go_package


# --- the rules that turn upstream facts into notation ---------------------------------------------------

_GO = """
type Sample struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,2,opt,name=replicas"`
	Paused bool `json:"paused,omitempty" protobuf:"varint,3,opt,name=paused"`
	Name string `json:"name" protobuf:"bytes,4,opt,name=name"`
	Source `json:",inline" protobuf:"bytes,5,opt,name=source"`
	APIGroup *string `json:"apiGroup,omitempty" protobuf:"bytes,6,opt,name=aPIGroup"`
	Common `json:"" protobuf:"bytes,7,req"`
	Items []string `json:"items,omitempty" protobuf:"bytes,8,rep,name=items"` // a trailing comment
}

type Words []string

type Nothing struct{}
"""

_PROTO = """
/* licence */
syntax = "proto2";

package k8s.io.api.sample.v1;

// A comment.
message Sample {
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;

  optional int32 replicas = 2;

  optional bool paused = 3;

  optional string name = 4;

  optional Source source = 5;

  optional string aPIGroup = 6;

  optional Common common = 7;

  repeated string items = 8;

  map<string, string> labels = 9;
}
"""


def test_go_structs_yield_their_protobuf_fields_by_number() -> None:
    generator = _generator()
    types: dict[str, Any] = {}
    generator.parse_go(_GO, types)
    assert types["Words"].definition == "[]string"
    assert types["Nothing"].definition == "struct"
    fields = types["Sample"].fields
    assert sorted(fields) == [1, 2, 3, 4, 5, 6, 7, 8]  # TypeMeta has no protobuf tag
    assert fields[1] == ("metadata", generator.GoField("metav1.ObjectMeta", "metadata,omitempty", embedded=True))
    assert fields[2] == ("replicas", generator.GoField("*int32", "replicas,omitempty", embedded=False))
    assert fields[7] == (None, generator.GoField("Common", "", embedded=True))


def test_the_proto_parser_keeps_every_field_and_refuses_what_it_does_not_know() -> None:
    generator = _generator()
    package, messages = generator.parse_proto(_PROTO)
    assert package == "k8s.io.api.sample.v1"
    assert messages["Sample"][0] == ("metadata", 1, "optional", ".k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    assert messages["Sample"][-1] == ("labels", 9, "map", "string")
    with pytest.raises(SystemExit, match="oneof"):
        generator.parse_proto("message A {\n  oneof x {\n}\n")


@pytest.mark.parametrize(
    ("vendored", "notation"),
    [
        # A pointer keeps a present zero; so does a value field without omitempty (Go writes it).
        ("replicas=2 optional int32 go=*int32 json=replicas,omitempty", "replicas=2 *int32"),
        ("name=4 optional string go=string json=name", "name=4 *string"),
        ("paused=3 optional bool go=bool json=paused,omitempty", "paused=3 bool"),
        ("paused=3 optional bool go=bool json=paused,omitzero", "paused=3 bool"),
        # Repeated and map fields have no zero to keep.
        ("items=8 repeated string go=[]string json=items", "items=8 []string"),
        ("labels=9 map string go=map[string]string json=labels", "labels=9 map[string]string"),
        # Messages: same package bare, another by its alias; embedded and unnamed in JSON = inline.
        ("source=5 optional Source go=Source embedded json=,inline", "source=5 inline:Source"),
        ("common=7 optional Common go=Common embedded json=", "common=7 inline:Common"),
        (
            "metadata=1 optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta go=metav1.ObjectMeta embedded "
            "json=metadata,omitempty",
            "metadata=1 meta.ObjectMeta",
        ),
        ("aPIGroup=6 optional string go=*string json=apiGroup,omitempty", "aPIGroup=6 *string json=apiGroup"),
    ],
)
def test_upstream_facts_become_notation(vendored: str, notation: str) -> None:
    generator = _generator()
    source = generator.Source("samplev1", "k8s.io/api/sample/v1")
    facts = generator.Facts(source, "", {"Sample": ("struct", [vendored])})
    by_package = {s.proto_package: s for s in generator.SOURCES}
    assert generator.table_line(facts, "Sample", vendored, by_package)[0] == notation


def test_a_field_without_go_facts_stops_the_generator() -> None:
    generator = _generator()
    source = generator.Source("samplev1", "k8s.io/api/sample/v1")
    facts = generator.Facts(source, "", {"Sample": ("struct", ["name=1 optional string"])})
    with pytest.raises(SystemExit, match="no Go field"):
        generator.table_line(facts, "Sample", "name=1 optional string", {})


# --- the tables ---------------------------------------------------------------------------------------


def test_every_package_builds_and_only_on_demand() -> None:
    registry = build_registry(packages())
    registry.classes["k8s.io.api.apps.v1.Deployment"]
    loaded = set(registry.loaded_packages)
    assert {"apps", "core", "meta", "resource", "intstr"} <= loaded
    assert not loaded & {"admissionregistrationv1", "storagev1", "batchv1", "rbacv1"}
    registry.load_all()
    assert set(registry.loaded_packages) == set(packages())
    assert len(registry.specs) > 550
    with pytest.raises(KeyError):
        registry.classes["k8s.io.api.flowcontrol.v1.FlowSchema"]


@pytest.mark.parametrize(
    "message",
    [
        "k8s.io.api.batch.v1.Job",
        "k8s.io.api.batch.v1.CronJob",
        "k8s.io.api.policy.v1.PodDisruptionBudget",
        "k8s.io.api.policy.v1.Eviction",
        "k8s.io.api.networking.v1.Ingress",
        "k8s.io.api.networking.v1.IngressClass",
        "k8s.io.api.networking.v1.NetworkPolicy",
        "k8s.io.api.coordination.v1.Lease",
        "k8s.io.api.node.v1.RuntimeClass",
        "k8s.io.api.events.v1.Event",
        "k8s.io.api.discovery.v1.EndpointSlice",
        "k8s.io.api.rbac.v1.ClusterRoleBinding",
        "k8s.io.api.storage.v1.StorageClass",
        "k8s.io.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        "k8s.io.api.apps.v1.StatefulSet",
        "k8s.io.api.apps.v1.DaemonSet",
        "k8s.io.api.apps.v1.ControllerRevision",
        "k8s.io.api.core.v1.Node",
        "k8s.io.api.core.v1.PersistentVolumeClaim",
        "k8s.io.api.core.v1.Event",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
    ],
)
def test_the_kinds_other_slices_will_serve_have_their_messages(message: str) -> None:
    registry: Registry = _codec()[0]
    assert registry.specs[message].fields
    assert registry.classes[message].DESCRIPTOR.full_name == message


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_kubectl_bodies_of_new_packages_decode_to_what_kubectl_itself_prints(path: Path) -> None:
    decoded, unknown = decode_by_message(path.read_bytes())
    assert unknown == []
    assert decoded == drop_nulls(json.loads(path.with_suffix(".kubectl.json").read_text()))


def test_fixtures_cover_every_new_package_from_both_kubectls() -> None:
    for version in ("v1.32", "v1.37"):
        names = {p.stem for p in (FIXTURES / version).glob("*.bin")}
        assert {"job", "cronjob", "pdb_min", "pdb_max", "ingress", "role", "rolebinding", "clusterrole"} <= names


@pytest.mark.parametrize("version", ["v1.32", "v1.37"])
def test_create_job_and_pdb_exactly(version: str) -> None:
    job, _ = decode_by_message((FIXTURES / version / "job.bin").read_bytes())
    assert job["spec"] == {
        "template": {
            "metadata": {},
            "spec": {
                "containers": [
                    {
                        "name": "pi",
                        "image": "perl:5.34",
                        "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"],
                        "resources": {},
                    }
                ],
                "restartPolicy": "Never",
            },
        }
    }
    assert job["status"] == {}
    pdb, _ = decode_by_message((FIXTURES / version / "pdb_max.bin").read_bytes())
    assert pdb["spec"] == {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "api"}}}
    assert decode_by_message((FIXTURES / version / "pdb_min.bin").read_bytes())[0]["spec"]["minAvailable"] == 2
    zero, _ = decode_by_message((FIXTURES / version / "priorityclass_zero.bin").read_bytes())
    assert zero["value"] == 0  # int32 without omitempty: a present zero is kept


def test_go_written_zeros_follow_each_fields_json_tag() -> None:
    # gogo writes every value field; Go's JSON keeps a zero only where the tag has no omitempty.
    registry, converter = _codec()
    job = registry.classes["k8s.io.api.batch.v1.Job"]()
    job.metadata.name = "j"
    job.spec.parallelism = 0  # *int32: kept
    job.spec.completionMode = ""  # *string set to "": kept, as Go would write it
    job.status.active = 0  # int32 omitempty: dropped
    job.status.succeeded = 0
    condition = job.status.conditions.add()
    condition.type, condition.status, condition.reason = "Complete", "True", ""  # reason is omitempty
    subject = registry.classes["k8s.io.api.rbac.v1.Subject"]()
    subject.kind, subject.apiGroup, subject.name = "User", "", "alice"  # name is not omitempty
    assert converter.to_json(job, "k8s.io.api.batch.v1.Job") == {
        "metadata": {"name": "j"},
        "spec": {"parallelism": 0, "completionMode": ""},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    assert converter.to_json(subject, "k8s.io.api.rbac.v1.Subject") == {"kind": "User", "name": "alice"}


def test_a_json_name_that_is_not_the_proto_name_is_honoured_both_ways() -> None:
    registry, converter = _codec()
    name = "k8s.io.api.networking.v1.IngressClass"
    ingress_class = {
        "metadata": {"name": "nginx"},
        "spec": {
            "controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "example.com", "kind": "Params", "name": "p", "scope": "Cluster"},
        },
    }
    msg = registry.classes[name]()
    converter.to_message(ingress_class, name, msg)
    assert msg.spec.parameters.aPIGroup == "example.com"
    assert converter.to_json(registry.classes[name].FromString(msg.SerializeToString()), name) == ingress_class


def test_a_wrapped_go_slice_is_a_json_list() -> None:
    # meta/v1 APIResource.verbs is a Verbs message (type Verbs []string) whose JSON is the list itself.
    registry, converter = _codec()
    name = "k8s.io.apimachinery.pkg.apis.meta.v1.APIResource"
    resource = {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]}
    msg = registry.classes[name]()
    converter.to_message(resource, name, msg)
    assert list(msg.verbs.items) == ["get", "list"]
    assert converter.to_json(registry.classes[name].FromString(msg.SerializeToString()), name) == resource


@pytest.mark.parametrize(
    ("nanos", "text"),
    [(0, "0s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (1_500_000, "1.5ms"), (-(10**9), "-1s")],
)
def test_durations_are_go_duration_strings(nanos: int, text: str) -> None:
    registry, converter = _codec()
    name = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration"
    assert converter._message_value(registry.classes[name](duration=nanos), name) == text
    back = registry.classes[name]()
    converter._set_message(back, name, text, "d")
    assert back.duration == nanos


def test_scale_replicas_zero_is_omitted_as_gos_json_would() -> None:
    # autoscaling/v1 ScaleSpec.replicas is int32 with omitempty; the scale handler reads absent as 0.
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 0}}
    assert decode_object(encode_object(scale))["spec"] == {}
