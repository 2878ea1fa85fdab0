"""Upstream's bootstrap policy over an in-memory store: made at the first start, reconciled at the next."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kuberya.apiserver import rbac_bootstrap, rbac_index
from kuberya.apiserver.admission import Admission
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.rbac_rules import Attributes
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.users import ANONYMOUS, authenticated
from kuberya.resources import kinds
from kuberya.storage import MemoryBackend

CLUSTERROLES = kinds.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")
BINDINGS = kinds.lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings")


@pytest.fixture
async def store() -> AsyncIterator[ObjectStore]:
    backend = MemoryBackend()
    await backend.start()
    yield ObjectStore(backend)
    await backend.close()


async def test_first_start_makes_every_bootstrap_object(store: ObjectStore) -> None:
    assert CLUSTERROLES is not None and BINDINGS is not None
    await rbac_bootstrap.ensure_bootstrap_policy(store, Admission(store, APIServerSettings()))
    roles = (await store.list(CLUSTERROLES, selection=ObjectFilter())).items
    bindings = (await store.list(BINDINGS, selection=ObjectFilter())).items
    assert {r["metadata"]["name"] for r in roles} == {r["metadata"]["name"] for r in rbac_bootstrap.cluster_roles()}
    assert len(bindings) == len(rbac_bootstrap.cluster_role_bindings())
    assert all(r["metadata"]["uid"] and r["metadata"]["resourceVersion"] for r in roles)

    index = rbac_index.RBACIndex()
    await rbac_index.load(store, index)
    anyone = authenticated("carol", [])
    assert index.authorize(Attributes(anyone, "get", False, path="/apis"))[0]
    assert index.authorize(Attributes(ANONYMOUS, "get", False, path="/healthz"))[0]
    assert not index.authorize(Attributes(ANONYMOUS, "get", False, path="/apis"))[0]


async def test_next_start_adds_missing_rules_unless_autoupdate_is_off(store: ObjectStore) -> None:
    assert CLUSTERROLES is not None
    admission = Admission(store, APIServerSettings())
    await rbac_bootstrap.ensure_bootstrap_policy(store, admission)
    own_rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}

    async def strip(name: str, autoupdate: str) -> None:
        async def mutate(role: dict[str, object]) -> dict[str, object]:
            role["rules"] = [own_rule]
            role["metadata"]["annotations"][rbac_bootstrap.AUTOUPDATE_ANNOTATION] = autoupdate  # type: ignore[index]
            return role

        await store.update(CLUSTERROLES, None, name, mutate)

    await strip("system:discovery", "true")
    await strip("system:basic-user", "false")
    await rbac_bootstrap.ensure_bootstrap_policy(store, admission)
    discovery = await store.get_or_none(CLUSTERROLES, None, "system:discovery")
    basic = await store.get_or_none(CLUSTERROLES, None, "system:basic-user")
    assert discovery is not None and basic is not None
    wanted = next(r for r in rbac_bootstrap.cluster_roles() if r["metadata"]["name"] == "system:discovery")
    assert discovery["rules"] == [own_rule, *wanted["rules"]]  # what a user added is kept
    assert basic["rules"] == [own_rule]  # autoupdate "false": left alone
