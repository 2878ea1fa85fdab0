"""The shared leaf helpers: one implementation each, checked against upstream's printed forms."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest

from kuberya.client.events import EventCorrelator
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import EVENTS
from kuberya.meta import labels
from kuberya.meta.datadir import DataDirLayout, ReadyInfo
from kuberya.meta.patch import json_merge_patch
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.timefmt import format_time, go_duration, parse_rfc3339_ns, parse_time, rfc3339, rfc3339_nano


def test_quantities_are_exact() -> None:
    assert parse_quantity("250m") == Fraction(1, 4)
    assert parse_quantity("64Mi") == 64 * 2**20
    assert parse_quantity("1e3") == 1000
    assert parse_quantity(2) == 2
    for bad in ("1Q", "", "1e3m", True):
        with pytest.raises(ValueError, match="quantities must match"):
            parse_quantity(bad)


def test_go_duration_prints_as_go_does() -> None:
    cases = {0: "0s", 0.1: "100ms", 5.002: "5.002s", 90: "1m30s", 300: "5m0s", 3725: "1h2m5s", 1.5e-6: "1.5µs"}
    assert {s: go_duration(s) for s in cases} == cases


def test_times_round_trip() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert format_time(when) == rfc3339(when.timestamp()) == "2026-01-02T03:04:05Z"
    assert parse_time("2026-01-02T03:04:05Z") == when
    assert parse_time("2026-01-02T03:04:05") == when  # no offset: UTC
    ns = int(when.timestamp()) * 10**9 + 7
    assert rfc3339_nano(ns) == "2026-01-02T03:04:05.000000007Z"
    assert parse_rfc3339_ns(rfc3339_nano(ns)) == ns


def test_label_selectors_from_specs_and_node_terms() -> None:
    spec = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}
    assert labels.matches(spec, {"app": "web", "tier": "front"})
    assert not labels.matches(spec, {"app": "web", "tier": "db"})
    assert not labels.matches(None, {"app": "web"})
    assert labels.matches({}, {}) and labels.is_empty({})
    assert labels.node_selector_requirement({"key": "cpus", "operator": "Gt", "values": ["2"]}).matches({"cpus": "4"})
    with pytest.raises(labels.SelectorError):
        labels.matches({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {})


def test_merge_patch_never_mutates() -> None:
    original = {"a": {"b": 1, "c": [1]}, "d": 2}
    assert json_merge_patch(original, {"a": {"b": None, "e": 3}, "d": [4]}) == {"a": {"c": [1], "e": 3}, "d": [4]}
    assert original == {"a": {"b": 1, "c": [1]}, "d": 2}


def test_ready_file_round_trips(tmp_path: Path) -> None:
    layout = DataDirLayout(tmp_path)
    ready = ReadyInfo(
        pid=1,
        port=6443,
        url="https://127.0.0.1:6443",
        started_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        kubeconfig=layout.kubeconfig,
        context="kuberya",
        ca_file=layout.pki_dir / "ca.crt",
        client_cert_file=layout.pki_dir / "admin.crt",
        client_key_file=layout.pki_dir / "admin.key",
        runtime="process",
    )
    assert ReadyInfo.from_json(ready.to_json()) == ready
    assert layout.ready_file.name == "ready" and layout.pid_file.name == "kuberya.pid"


async def test_a_repeated_event_is_counted_on_the_first() -> None:
    client = FakeApiClient()
    events = EventCorrelator(client, component="test", host="node")
    involved = {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u1"}
    first = await events.write(involved, type="Normal", reason="Pulled", message="m", stamp="t1", name_ns=1)
    again = await events.write(involved, type="Normal", reason="Pulled", message="m", stamp="t2", name_ns=2)
    assert first is not None and again is not None
    assert again["metadata"]["name"] == first["metadata"]["name"] == "p.1"
    assert (again["count"], again["firstTimestamp"], again["lastTimestamp"]) == (2, "t1", "t2")
    assert len((await client.list(EVENTS, namespace="default"))["items"]) == 1


def test_the_shim_stamps_cri_lines_as_meta_does() -> None:
    """The shim may import only the standard library, so it keeps its own copy of the format."""
    from kuberya.runtime.shim import format_cri_line

    ns = 1_767_323_045 * 10**9 + 120
    assert format_cri_line(ns, "stdout", False, b"hi") == rfc3339_nano(ns).encode() + b" stdout F hi\n"
