"""The tokens controller, sample-controller style: seed a token Secret and its account, sync, compare writes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jwt

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import BUILTIN
from kuberya.controllers.serviceaccount_tokens import (
    NAME_ANNOTATION,
    SERVICE_ACCOUNT_TOKEN,
    UID_ANNOTATION,
    TokensController,
)
from kuberya.meta import serviceaccount_jwt as sajwt
from tests.fake_api import seed, writes_of_sync

CA = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"


def secret(name: str = "ci-token", *, account: str = "ci", **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "x", "annotations": {NAME_ANNOTATION: account, **annotations}},
        "type": SERVICE_ACCOUNT_TOKEN,
    }


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.key_file = tmp_path / "sa.key"
        self.key_file.write_bytes(sajwt.key_pem(sajwt.new_key()))
        ca_file = tmp_path / "ca.crt"
        ca_file.write_bytes(CA)
        self.client = FakeApiClient(resources=[*BUILTIN])
        self.controller = TokensController(self.client, key_file=self.key_file, ca_file=ca_file, clock=FakeClock())

    def seed_account(self, name: str = "ci") -> Any:
        return seed(self.client, self.controller.accounts, {"metadata": {"name": name, "namespace": "x"}})

    def seed_secret(self, obj: Any) -> Any:
        return seed(self.client, self.controller.secrets, obj)

    async def sync(self, key: str = "x/ci-token") -> list[Action]:
        return await writes_of_sync(self.client, self.controller, key)


async def test_a_token_secret_is_filled_with_a_legacy_token(tmp_path: Path) -> None:
    w = World(tmp_path)
    account = w.seed_account()
    w.seed_secret(secret())
    [action] = await w.sync()
    assert (action.verb, action.resource, action.name) == ("update", "secrets", "ci-token")
    data = action.body["data"]
    assert base64.b64decode(data["ca.crt"]) == CA
    assert base64.b64decode(data["namespace"]) == b"x"
    assert action.body["metadata"]["annotations"][UID_ANNOTATION] == account["metadata"]["uid"]
    token = base64.b64decode(data["token"]).decode()
    key = sajwt.load_key(w.key_file.read_bytes()).public_key()
    claims = jwt.decode(token, key, algorithms=["ES256"])
    assert claims == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "x",
        "kubernetes.io/serviceaccount/secret.name": "ci-token",
        "kubernetes.io/serviceaccount/service-account.name": "ci",
        "kubernetes.io/serviceaccount/service-account.uid": account["metadata"]["uid"],
        "sub": "system:serviceaccount:x:ci",
    }


async def test_a_complete_secret_is_left_alone(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.seed_account()
    w.seed_secret(secret())
    [action] = await w.sync()
    w.seed_secret(action.body)
    assert await w.sync() == []


async def test_a_secret_whose_account_is_gone_or_replaced_is_deleted(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.seed_secret(secret())
    assert [(a.verb, a.name) for a in await w.sync()] == [("delete", "ci-token")]

    w.seed_account()
    w.seed_secret(secret("old-token", **{UID_ANNOTATION: "uid-of-an-earlier-ci"}))
    assert [(a.verb, a.name) for a in await w.sync("x/old-token")] == [("delete", "old-token")]


async def test_other_secrets_are_not_touched(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.seed_account()
    w.seed_secret({"metadata": {"name": "ci-token", "namespace": "x"}, "type": "Opaque"})
    assert await w.sync() == []
