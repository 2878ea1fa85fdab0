"""The PodDisruptionBudget kind: upstream's validation messages and its Table row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kuberya.resources import kinds
from kuberya.resources.kinds import poddisruptionbudget

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pdb(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def messages(obj: dict[str, Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in kinds.validate(obj)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}}}, []),
        ({"maxUnavailable": "25%", "unhealthyPodEvictionPolicy": "AlwaysAllow"}, []),
        ({}, []),  # upstream requires neither: such a budget allows no disruption
        (
            {"minAvailable": 1, "maxUnavailable": 1},
            [
                'spec: Invalid value: {"maxUnavailable":1,"minAvailable":1}: '
                "minAvailable and maxUnavailable cannot be both set"
            ],
        ),
        ({"minAvailable": -1}, ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]),
        ({"maxUnavailable": "120%"}, ['spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%']),
        (
            {"minAvailable": "half"},
            [
                'spec.minAvailable: Invalid value: "half": a valid percent string must be a numeric string followed '
                "by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            ],
        ),
        (
            {"unhealthyPodEvictionPolicy": "Sometimes"},
            [
                'spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: '
                '"AlwaysAllow", "IfHealthyBudget"'
            ],
        ),
    ],
)
def test_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(pdb(spec)) == expected


def test_status_counts_are_never_negative() -> None:
    assert messages(pdb({}, {"disruptionsAllowed": -1, "currentHealthy": 0})) == [
        "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_table_row_as_upstream() -> None:
    row = poddisruptionbudget.SPEC.printer
    assert row is not None
    assert row(pdb({"minAvailable": "50%"}, {"disruptionsAllowed": 2}), NOW) == ["web", "50%", "N/A", 2, "60m"]
    assert row(pdb({"maxUnavailable": 1}), NOW) == ["web", "N/A", "1", 0, "60m"]
