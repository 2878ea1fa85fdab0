"""Bearer-token authentication: the static token file and service-account JWTs.

As upstream's token authenticators (``staging/src/k8s.io/apiserver/pkg/authentication``,
``pkg/serviceaccount/jwt.go``, ``claims.go``, ``legacy.go``), tried in turn:

1. a token of the static file (``tokens.csv``) is its user;
2. a JWT whose ``iss`` is the cluster's issuer (or the legacy ``kubernetes/serviceaccount``) is
   verified — signature, expiry, audience (:mod:`kuberya.meta.serviceaccount_jwt`) — and then
   held against the store: the service account must exist with the claimed uid and not have been
   deleted more than a minute ago; so must the pod or secret a bound token names; a legacy token
   must still be its Secret's ``token``. The user is ``system:serviceaccount:NS:NAME`` with the
   groups ``system:serviceaccounts`` and ``system:serviceaccounts:NS``, the account's uid, and
   the pod's name and uid in the extras.

Anything else is no user, and with an error when it was a token of ours that failed: the request
is answered 401, and a TokenReview reports the error. ``cryptography`` and PyJWT are imported on the
first JWT, not at server start (``kuberya up`` is on the clock).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.users import UserInfo, authenticated
from kuberya.meta.timefmt import parse_time
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from kuberya.meta.serviceaccount_jwt import ServiceAccountClaims

DELETION_LEEWAY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class TokenResult:
    """What authenticating one token found: a user (with the audiences it is good for), or an error."""

    user: UserInfo | None = None
    audiences: tuple[str, ...] = ()
    error: str = ""


def _type(resource: str) -> ResourceType:
    rt = kinds.lookup("", "v1", resource)
    assert rt is not None
    return rt


class TokenAuthenticator:
    def __init__(
        self, store: ObjectStore, *, static_tokens: dict[str, tuple[str, list[str]]], key_file: Path | None
    ) -> None:
        self._store = store
        self._static = static_tokens
        self._key_file = key_file
        self._key: ec.EllipticCurvePrivateKey | None = None

    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The service-account key (read once); LookupError when the server has none."""
        if self._key is None:
            if self._key_file is None:
                raise LookupError("this API server has no service-account signing key")
            from kuberya.meta.serviceaccount_jwt import load_key

            try:
                self._key = load_key(self._key_file.read_bytes())
            except (OSError, ValueError) as e:
                raise LookupError(f"cannot read the service-account signing key {self._key_file}: {e}") from e
        return self._key

    async def authenticate(self, token: str, audiences: tuple[str, ...] | None = None) -> TokenResult:
        from kuberya.meta import serviceaccount_jwt as sajwt

        wanted = audiences or sajwt.API_AUDIENCES
        for known, (name, groups) in self._static.items():
            # bytes: compare_digest refuses str with non-ASCII characters (any client may send those)
            if hmac.compare_digest(known.encode(), token.encode("utf-8", "surrogatepass")):
                # Static tokens are for the API (upstream: the request's audiences, implicitly).
                return TokenResult(authenticated(name, groups), wanted)
        if self._key_file is None or sajwt.unverified_issuer(token) not in (sajwt.ISSUER, sajwt.LEGACY_ISSUER):
            return TokenResult(error="invalid bearer token")
        try:
            claims = sajwt.verify(token, self.signing_key().public_key(), audiences=wanted)
            await self._check_still_valid(claims, token)
        except (sajwt.TokenError, LookupError) as e:
            return TokenResult(error=str(e))
        extra = tuple(sorted(claims.user_extra().items()))
        user = authenticated(claims.username, sajwt.group_names(claims.namespace), uid=claims.uid, extra=extra)
        return TokenResult(user, claims.audiences)

    async def _check_still_valid(self, claims: ServiceAccountClaims, token: str) -> None:
        from kuberya.meta.serviceaccount_jwt import TokenError

        now = datetime.now(UTC)
        sa = await self._store.get_or_none(_type("serviceaccounts"), claims.namespace, claims.name)
        if claims.legacy:
            secret = await self._store.get_or_none(_type("secrets"), claims.namespace, claims.legacy_secret_name)
            if secret is None or _deleted(secret, now):
                raise TokenError("token has been invalidated")
            if _secret_token(secret) != token:
                raise TokenError("token does not match server's copy")
            if sa is None or _deleted(sa, now):
                raise TokenError(f"service account {claims.namespace}/{claims.name} has been deleted")
            if sa["metadata"].get("uid") != claims.uid:
                raise TokenError(
                    f"service account UID ({sa['metadata'].get('uid')}) does not match claim ({claims.uid})"
                )
            return
        if sa is None:
            raise TokenError(f'serviceaccounts "{claims.name}" not found')
        if _deleted(sa, now):
            raise TokenError(f"service account {claims.namespace}/{claims.name} has been deleted")
        if sa["metadata"].get("uid") != claims.uid:
            raise TokenError(f"service account UID ({sa['metadata'].get('uid')}) does not match claim ({claims.uid})")
        for resource, ref, what in (("secrets", claims.secret, "secret"), ("pods", claims.pod, "pod")):
            if ref is None:
                continue
            obj = await self._store.get_or_none(_type(resource), claims.namespace, ref.name)
            if obj is None:
                raise TokenError(f'{resource} "{ref.name}" not found')
            if _deleted(obj, now):
                raise TokenError(f"{what} {claims.namespace}/{ref.name} has been deleted")
            if obj["metadata"].get("uid") != ref.uid:
                raise TokenError(
                    f"{what} UID ({obj['metadata'].get('uid')}) does not match service account {what} ref claim "
                    f"({ref.uid})"
                )


def _deleted(obj: JSONObject, now: datetime) -> bool:
    """Deleted more than the leeway ago (upstream's ``invalidIfDeletedBefore``)."""
    when = parse_time(obj["metadata"].get("deletionTimestamp"))
    return when is not None and when < now - DELETION_LEEWAY


def _secret_token(secret: JSONObject) -> str:
    import base64

    data: Any = secret.get("data") or {}
    value = data.get("token") if isinstance(data, dict) else None
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value).decode()
    except ValueError:
        return ""
