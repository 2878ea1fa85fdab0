"""``metadata.ownerReferences`` are validated on every kind, as upstream's ``ValidateOwnerReferences``.

Found by the fuzz tier: a patch that set an owner reference with no ``kind`` was stored, and
every later answer with that object was refused by the official client's models.
"""

from __future__ import annotations

import pytest

from kuberya.resources.kinds import validate
from kuberya.resources.types import JSONObject

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "1234", "controller": True}


def _slice(*owners: object) -> JSONObject:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-x", "namespace": "default", "ownerReferences": list(owners)},
        "addressType": "IPv4",
        "endpoints": [],
    }


def test_a_complete_owner_reference_is_valid() -> None:
    assert validate(_slice(OWNER)) == []


def test_each_missing_field_is_named() -> None:
    causes = validate(_slice({"kind": None, "apiVersion": "apps/", "name": "", "uid": None}))
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.ownerReferences.apiVersion", 'Invalid value: "apps/": version must not be empty'),
        ("metadata.ownerReferences.kind", 'Invalid value: "": kind must not be empty'),
        ("metadata.ownerReferences.name", 'Invalid value: "": name must not be empty'),
        ("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty'),
    ]


def test_only_one_controller() -> None:
    second = {**OWNER, "name": "other", "uid": "5678"}
    (cause,) = validate(_slice(OWNER, second))
    assert cause.field == "metadata.ownerReferences"
    assert cause.message.endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "Deployment/web and Deployment/other"
    )


def test_an_event_may_not_own_anything() -> None:
    (cause,) = validate(_slice({**OWNER, "apiVersion": "v1", "kind": "Event", "controller": False}))
    assert cause.message.endswith("/v1, Kind=Event is disallowed from being an owner")


def test_every_kind_checks_its_owners() -> None:
    config_map: JSONObject = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "ownerReferences": [{**OWNER, "uid": ""}]},
    }
    assert [c.field for c in validate(config_map)] == ["metadata.ownerReferences.uid"]
