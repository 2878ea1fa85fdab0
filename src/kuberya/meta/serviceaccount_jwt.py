"""Service-account JWTs as upstream mints and reads them: the key, its ``kid``, the claims.

Upstream's facts (``pkg/serviceaccount/jwt.go``, ``claims.go``, ``legacy.go``):

* tokens are JWS-signed JWTs; kuberya's key is ECDSA P-256, so ``ES256``;
* the ``kid`` header is ``base64url(sha256(DER SubjectPublicKeyInfo))`` without padding
  (``keyIDFromPublicKey``), the same ``kid`` the JWKS document lists;
* a *bound* token (TokenRequest) has ``iss`` (the issuer URL), ``sub``
  (``system:serviceaccount:NS:NAME``), ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and the private
  claim ``kubernetes.io`` {``namespace``, ``serviceaccount`` {name, uid}, and when bound ``pod``,
  ``secret`` or ``node`` {name, uid}, ``warnafter``};
* a *legacy* token (the token Secret's) has the issuer ``kubernetes/serviceaccount``, no expiry and
  no audience, and flat claims ``kubernetes.io/serviceaccount/namespace``, ``…/secret.name``,
  ``…/service-account.name``, ``…/service-account.uid``.

The JWS itself is PyJWT's (with ``cryptography``); this module only says what goes in and checks
what comes out. Checking that the service account (and bound object) still exists is the API
server's part (:mod:`kuberya.apiserver.sa_authn`): it needs the store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://kubernetes.default.svc.cluster.local"
"""Upstream's default ``--service-account-issuer`` for a cluster domain of ``cluster.local``."""
API_AUDIENCES: tuple[str, ...] = (ISSUER,)
"""``--api-audiences`` default to the issuer: what a token must be for to reach the API."""
LEGACY_ISSUER = "kubernetes/serviceaccount"
ALGORITHM = "ES256"
LEEWAY_SECONDS = 60
"""go-jose's ``DefaultLeeway``: clocks may disagree by a minute."""
PRIVATE_CLAIM = "kubernetes.io"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"

_LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
_LEGACY_SECRET = "kubernetes.io/serviceaccount/secret.name"
_LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
_LEGACY_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"


class TokenError(Exception):
    """A token that is not a valid service-account token; the message is upstream's."""


def username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def group_names(namespace: str) -> tuple[str, ...]:
    return (SA_GROUP, f"{SA_GROUP}:{namespace}")


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """The signing key from its PEM; ValueError when it is not an EC P-256 private key."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the service-account signing key must be an EC P-256 private key")
    return key


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Upstream's ``keyIDFromPublicKey``: unpadded base64url of the SHA-256 of the PKIX DER."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The key as a JWKS entry, as upstream's ``/openid/v1/jwks`` lists it (``use: sig``)."""
    document: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    return {"use": "sig", "kty": "EC", "kid": key_id(public_key), "crv": "P-256", "alg": ALGORITHM,
            "x": document["x"], "y": document["y"]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ObjectRef:
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class ServiceAccountClaims:
    """What a valid token says about who holds it (upstream's ``ServiceAccountInfo``)."""

    namespace: str
    name: str
    uid: str
    pod: ObjectRef | None = None
    secret: ObjectRef | None = None
    node: ObjectRef | None = None
    credential_id: str = ""
    audiences: tuple[str, ...] = ()
    legacy: bool = False
    legacy_secret_name: str = ""

    @property
    def username(self) -> str:
        return username(self.namespace, self.name)

    def user_extra(self) -> dict[str, tuple[str, ...]]:
        """Upstream's ``ServiceAccountInfo.UserInfo().Extra`` keys."""
        extra: dict[str, tuple[str, ...]] = {}
        if self.pod is not None:
            extra["authentication.kubernetes.io/pod-name"] = (self.pod.name,)
            extra["authentication.kubernetes.io/pod-uid"] = (self.pod.uid,)
        if self.node is not None:
            extra["authentication.kubernetes.io/node-name"] = (self.node.name,)
            extra["authentication.kubernetes.io/node-uid"] = (self.node.uid,)
        if self.credential_id:
            extra["authentication.kubernetes.io/credential-id"] = (self.credential_id,)
        return extra


def bound_claims(
    *,
    namespace: str,
    name: str,
    uid: str,
    audiences: tuple[str, ...] | list[str],
    expiration_seconds: int,
    now: float | None = None,
    pod: ObjectRef | None = None,
    secret: ObjectRef | None = None,
    node: ObjectRef | None = None,
    warn_after_seconds: int = 0,
) -> dict[str, Any]:
    """Upstream's ``token.Claims`` plus the issuer: what a TokenRequest's token says."""
    issued = int(now if now is not None else time.time())
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    for key, ref in (("pod", pod), ("secret", secret), ("node", node)):
        if ref is not None:
            private[key] = {"name": ref.name, "uid": ref.uid}
    if warn_after_seconds:
        private["warnafter"] = issued + warn_after_seconds
    return {
        "aud": list(audiences),
        "exp": issued + expiration_seconds,
        "iat": issued,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        PRIVATE_CLAIM: private,
        "nbf": issued,
        "sub": username(namespace, name),
    }


def legacy_claims(*, namespace: str, name: str, uid: str, secret_name: str) -> dict[str, Any]:
    """Upstream's ``LegacyClaims``: what a token Secret's token says (it never expires)."""
    return {
        "iss": LEGACY_ISSUER,
        _LEGACY_NAMESPACE: namespace,
        _LEGACY_SECRET: secret_name,
        _LEGACY_SA_NAME: name,
        _LEGACY_SA_UID: uid,
        "sub": username(namespace, name),
    }


def sign(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id(key.public_key())})


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` of something shaped like a JWT, unverified; None for anything else.

    Upstream's ``hasCorrectIssuer``: a token of another issuer is not this authenticator's to judge.
    """
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def verify(
    token: str,
    key: ec.EllipticCurvePublicKey,
    *,
    audiences: tuple[str, ...] = API_AUDIENCES,
    now: float | None = None,
) -> ServiceAccountClaims:
    """Check signature, times and audience; return the claims. TokenError with upstream's words.

    ``audiences`` are the ones the request is for (the API's, or a TokenReview's): the token must
    name at least one of them; a token naming none at all is taken to be for the API's.
    """
    issuer = unverified_issuer(token)
    if issuer not in (ISSUER, LEGACY_ISSUER):
        raise TokenError("invalid bearer token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            # Times are checked below with upstream's messages; the audience too.
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError as e:
        raise TokenError(f"invalid bearer token, {e}") from e
    # A token naming no audience (a legacy one) is for the API's (upstream's implicit audiences).
    token_audiences = _audiences(claims.get("aud")) or API_AUDIENCES
    matched = tuple(a for a in token_audiences if a in audiences)
    if not matched:
        raise TokenError(
            f"token audiences {_go_quoted(token_audiences)} is invalid for the target audiences {_go_quoted(audiences)}"
        )
    if issuer == LEGACY_ISSUER:
        return _legacy(claims, matched)
    _check_times(claims, time.time() if now is None else now)
    private = claims.get(PRIVATE_CLAIM)
    if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
        raise TokenError("service account token claims could not be retrieved")
    sa = private["serviceaccount"]
    return ServiceAccountClaims(
        namespace=str(private.get("namespace", "")),
        name=str(sa.get("name", "")),
        uid=str(sa.get("uid", "")),
        pod=_ref(private.get("pod")),
        secret=_ref(private.get("secret")),
        node=_ref(private.get("node")),
        credential_id=f"JTI={claims['jti']}" if isinstance(claims.get("jti"), str) and claims["jti"] else "",
        audiences=matched,
    )


def _legacy(claims: dict[str, Any], audiences: tuple[str, ...]) -> ServiceAccountClaims:
    needed = (_LEGACY_NAMESPACE, _LEGACY_SECRET, _LEGACY_SA_NAME, _LEGACY_SA_UID)
    if any(not isinstance(claims.get(k), str) or not claims[k] for k in needed):
        raise TokenError("service account token claims could not be retrieved")
    return ServiceAccountClaims(
        namespace=claims[_LEGACY_NAMESPACE],
        name=claims[_LEGACY_SA_NAME],
        uid=claims[_LEGACY_SA_UID],
        audiences=audiences,
        legacy=True,
        legacy_secret_name=claims[_LEGACY_SECRET],
    )


def _check_times(claims: dict[str, Any], now: float) -> None:
    """go-jose's ``Claims.Validate`` with the default leeway, and upstream's messages."""
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    if isinstance(nbf, int | float) and now + LEEWAY_SECONDS < nbf:
        raise TokenError("service account token is not valid yet")
    if isinstance(exp, int | float) and now - LEEWAY_SECONDS >= exp:
        raise TokenError("service account token has expired")
    if isinstance(iat, int | float) and now + LEEWAY_SECONDS < iat:
        raise TokenError("service account token is issued in the future")


def _audiences(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _ref(value: Any) -> ObjectRef | None:
    if not isinstance(value, dict):
        return None
    return ObjectRef(str(value.get("name", "")), str(value.get("uid", "")))


def _go_quoted(values: tuple[str, ...]) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"
