"""Service-account JWTs: the claims minted, the checks on the way in, the kid, the denylist.

The token authenticator runs over an in-memory store holding the account (and the pod a token
is bound to), so "the account is gone", "the pod was recreated" are real lookups.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.sa_authn import TokenAuthenticator
from kuberya.meta import serviceaccount_jwt as sajwt
from kuberya.meta import user_registry
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType
from kuberya.storage import MemoryBackend


def rt(resource: str) -> ResourceType:
    found = kinds.lookup("", "v1", resource)
    assert found is not None
    return found


SA_UID = "0b9d5d0e-0000-4000-8000-000000000001"
POD_UID = "0b9d5d0e-0000-4000-8000-000000000002"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "sa.key"
    path.write_bytes(sajwt.key_pem(sajwt.new_key()))
    return path


@pytest.fixture
async def store() -> AsyncIterator[ObjectStore]:
    backend = MemoryBackend()
    await backend.start()
    store = ObjectStore(backend)
    await store.create(
        rt("serviceaccounts"),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": "x", "uid": SA_UID}},
    )
    await store.create(
        rt("pods"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "runner", "namespace": "x", "uid": POD_UID},
            "spec": {"serviceAccountName": "ci", "containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    yield store
    await backend.close()


def mint(key_file: Path, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "namespace": "x", "name": "ci", "uid": SA_UID, "audiences": list(sajwt.API_AUDIENCES),
        "expiration_seconds": 3600,
    }  # fmt: skip
    options.update(overrides)
    return sajwt.sign(sajwt.bound_claims(**options), sajwt.load_key(key_file.read_bytes()))


def test_claims_are_upstreams() -> None:
    claims = sajwt.bound_claims(
        namespace="x", name="ci", uid=SA_UID, audiences=["a"], expiration_seconds=600, now=1000,
        pod=sajwt.ObjectRef("runner", POD_UID), warn_after_seconds=60,
    )  # fmt: skip
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:x:ci"
    assert (claims["aud"], claims["iat"], claims["nbf"], claims["exp"]) == (["a"], 1000, 1000, 1600)
    assert claims["kubernetes.io"] == {
        "namespace": "x",
        "serviceaccount": {"name": "ci", "uid": SA_UID},
        "pod": {"name": "runner", "uid": POD_UID},
        "warnafter": 1060,
    }
    legacy = sajwt.legacy_claims(namespace="x", name="ci", uid=SA_UID, secret_name="ci-token")
    assert legacy["iss"] == "kubernetes/serviceaccount" and "exp" not in legacy
    assert legacy["kubernetes.io/serviceaccount/secret.name"] == "ci-token"


def test_kid_is_the_sha256_of_the_public_key_der(key_file: Path) -> None:
    key = sajwt.load_key(key_file.read_bytes())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    token = mint(key_file)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": expected, "typ": "JWT"}
    assert sajwt.jwk(key.public_key())["kid"] == expected


async def test_a_valid_token_is_the_service_account(store: ObjectStore, key_file: Path) -> None:
    authn = TokenAuthenticator(store, static_tokens={}, key_file=key_file)
    result = await authn.authenticate(mint(key_file, pod=sajwt.ObjectRef("runner", POD_UID)))
    assert result.error == ""
    assert result.user is not None
    assert result.user.name == "system:serviceaccount:x:ci"
    assert result.user.groups == ("system:serviceaccounts", "system:serviceaccounts:x", "system:authenticated")
    assert result.user.uid == SA_UID
    extra = dict(result.user.extra)
    assert extra["authentication.kubernetes.io/pod-name"] == ("runner",)
    assert extra["authentication.kubernetes.io/pod-uid"] == (POD_UID,)
    assert result.audiences == sajwt.API_AUDIENCES


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"now": time.time() - 7200}, "service account token has expired"),
        ({"now": time.time() + 7200}, "service account token is not valid yet"),
        ({"audiences": ["vault"]}, 'token audiences ["vault"] is invalid for the target audiences'),
        ({"name": "nobody"}, 'serviceaccounts "nobody" not found'),
        ({"uid": "other"}, f"service account UID ({SA_UID}) does not match claim (other)"),
        ({"pod": sajwt.ObjectRef("gone", "u")}, 'pods "gone" not found'),
        ({"pod": sajwt.ObjectRef("runner", "old")}, f"pod UID ({POD_UID}) does not match service account pod ref"),
    ],
)
async def test_invalid_tokens_are_refused_with_upstreams_reason(
    store: ObjectStore, key_file: Path, overrides: dict[str, Any], message: str
) -> None:
    authn = TokenAuthenticator(store, static_tokens={}, key_file=key_file)
    result = await authn.authenticate(mint(key_file, **overrides))
    assert result.user is None
    assert message in result.error


async def test_a_deleted_pod_ends_its_tokens(store: ObjectStore, key_file: Path) -> None:
    authn = TokenAuthenticator(store, static_tokens={}, key_file=key_file)
    token = mint(key_file, pod=sajwt.ObjectRef("runner", POD_UID))
    assert (await authn.authenticate(token)).user is not None
    await store.delete(rt("pods"), await store.get(rt("pods"), "x", "runner"))
    assert 'pods "runner" not found' in (await authn.authenticate(token)).error


async def test_another_key_or_a_tampered_token_is_refused(store: ObjectStore, key_file: Path, tmp_path: Path) -> None:
    authn = TokenAuthenticator(store, static_tokens={}, key_file=key_file)
    other = tmp_path / "other.key"
    other.write_bytes(sajwt.key_pem(sajwt.new_key()))
    assert (await authn.authenticate(mint(other))).error.startswith("invalid bearer token")
    header, payload, signature = mint(key_file).split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = jwt.encode(claims, "s" * 32, algorithm="HS256").split(".")[1]
    assert (await authn.authenticate(f"{header}.{forged}.{signature}")).user is None
    assert (await authn.authenticate("not-a-jwt")).error == "invalid bearer token"


async def test_static_tokens_still_work(store: ObjectStore) -> None:
    authn = TokenAuthenticator(store, static_tokens={"t" * 20: ("admin", ["system:masters"])}, key_file=None)
    result = await authn.authenticate("t" * 20)
    assert result.user is not None and result.user.groups == ("system:masters", "system:authenticated")


def test_the_denylist_is_reread_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    revoked = user_registry.RevocationList(path)
    assert not revoked.is_revoked("1F")
    registry = user_registry.load(path)
    registry.revoked.append({"name": "bob", "serial": "1f", "revoked": "2026-01-01T00:00:00Z"})
    user_registry.save(path, registry)
    assert revoked.is_revoked("1F") and revoked.is_revoked("001f")
    assert not revoked.is_revoked("20")
    path.write_text("{not json")
    assert revoked.is_revoked("1F"), "a broken record keeps what was revoked"


async def test_a_legacy_token_is_good_while_its_secret_holds_it(store: ObjectStore, key_file: Path) -> None:
    authn = TokenAuthenticator(store, static_tokens={}, key_file=key_file)
    claims = sajwt.legacy_claims(namespace="x", name="ci", uid=SA_UID, secret_name="ci-token")
    token = sajwt.sign(claims, sajwt.load_key(key_file.read_bytes()))
    assert (await authn.authenticate(token)).error == "token has been invalidated"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ci-token", "namespace": "x"},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    await store.create(rt("secrets"), secret)
    result = await authn.authenticate(token)
    assert result.user is not None and result.user.name == "system:serviceaccount:x:ci"
    other_audience = await authn.authenticate(token, ("vault",))
    assert other_audience.user is None and "is invalid for the target audiences" in other_audience.error
    stale = sajwt.sign({**claims, "jti": "another"}, sajwt.load_key(key_file.read_bytes()))
    assert (await authn.authenticate(stale)).error == "token does not match server's copy"
