"""``serviceaccounts/token`` (TokenRequest), TokenReview and the OIDC discovery documents.

Never stored, as upstream:

* **TokenRequest** (``pkg/registry/core/serviceaccount/storage/token.go``): ``POST
  …/serviceaccounts/NAME/token`` with an authentication.k8s.io/v1 ``TokenRequest`` (kubectl sends
  it as protobuf). The body's name and namespace, if set, must be the URL's; ``expirationSeconds``
  defaults to 1 h and must be at least 10 minutes and at most 2^32 s; ``audiences`` default to the
  API's; ``boundObjectRef`` may name a Pod (which must run as this account), a Secret or a Node of
  core/v1, and its uid, if given, must be the object's (409 otherwise). A pod-bound token asked for
  3607 s (the kubelet's) is extended to a year with ``warnafter`` at the requested expiry. The answer
  is 201 with ``status.token`` and ``status.expirationTimestamp``.
* **TokenReview** (``pkg/registry/authentication/tokenreview/storage.go``): runs the token through
  the same authenticator as a request's ``Authorization`` header and answers
  ``status.authenticated``, ``status.user``, ``status.audiences`` and ``status.error``.
* ``/.well-known/openid-configuration`` and ``/openid/v1/jwks``
  (``pkg/serviceaccount/openidmetadata.go``): the issuer, where its keys are, and the keys.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.request import PROTOBUF_CONTENT_TYPE, ResourcePath, json_response, media_type, read_body
from kuberya.apiserver.sa_authn import TokenAuthenticator
from kuberya.apiserver.writes import decode_definition_or_refuse
from kuberya.meta.timefmt import format_time
from kuberya.resources import kinds
from kuberya.resources.types import Cause, JSONObject
from kuberya.resources.validation_base import invalid

if TYPE_CHECKING:
    from kuberya.apiserver.handlers import ResourceHandlers

AUTHENTICATOR_KEY = web.AppKey("token_authenticator", TokenAuthenticator)
GROUP = "authentication.k8s.io"
API_VERSION = "authentication.k8s.io/v1"
TOKEN_REQUEST_DEFINITION = "io.k8s.api.authentication.v1.TokenRequest"
TOKEN_REVIEW_DEFINITION = "io.k8s.api.authentication.v1.TokenReview"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607
"""What the kubelet asks for a projected token: upstream then issues it for a year and warns after."""
EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 3600
JWKS_CONTENT_TYPE = "application/jwk-set+json"
OIDC_CACHE_CONTROL = "public, max-age=3600"


async def _read(request: web.Request, *, kind: str, definition: str) -> JSONObject:
    if media_type(request) == PROTOBUF_CONTENT_TYPE:
        body: Any = _decode_protobuf(await request.read(), kind)
    else:
        body = await read_body(request)
    if not isinstance(body, dict):
        raise errors.bad_request(f"the {kind} body must be an object")
    body.setdefault("apiVersion", API_VERSION)
    body.setdefault("kind", kind)
    if body.get("apiVersion") != API_VERSION or body.get("kind") != kind:
        raise errors.bad_request(f"expected {API_VERSION} {kind}, not {body.get('apiVersion')} {body.get('kind')}")
    decode_definition_or_refuse(definition, body, what=kind)
    return body


def _decode_protobuf(raw: bytes, kind: str) -> JSONObject:
    """An authentication/v1 body sent as protobuf (``kubectl create token``).

    No stored kind, so the message is looked up in the generated tables directly, as for ``pods/eviction``.
    """
    from google.protobuf.message import DecodeError

    from kuberya.resources.protobuf._codec import _UNKNOWN, MAGIC, _codec

    if not raw.startswith(MAGIC):
        raise errors.bad_request("the request body is not Kubernetes protobuf: it does not start with k8s\\0")
    registry, converter = _codec()
    message = f"k8s.io.api.authentication.v1.{kind}"
    try:
        envelope = registry.classes[_UNKNOWN].FromString(raw[len(MAGIC) :])
        if envelope.typeMeta.kind != kind or envelope.typeMeta.apiVersion != API_VERSION:
            raise errors.bad_request(
                f"expected {API_VERSION} {kind}, not {envelope.typeMeta.apiVersion} {envelope.typeMeta.kind}"
            )
        fields = converter.to_json(registry.classes[message].FromString(envelope.raw), message)
    except (DecodeError, ValueError) as e:
        raise errors.bad_request(f"malformed protobuf {kind}: {e}") from e
    return {"apiVersion": API_VERSION, "kind": kind, **fields}


def _expiration_causes(seconds: Any) -> list[Cause]:
    """Upstream's ``ValidateTokenRequest``."""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return [invalid("spec.expirationSeconds", seconds, "must be an integer")]
    if seconds < MIN_EXPIRATION_SECONDS:
        return [invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")]
    if seconds > MAX_EXPIRATION_SECONDS:
        return [invalid("spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds")]
    return []


async def token_request(h: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    """``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token``."""
    from kuberya.meta import serviceaccount_jwt as sajwt

    if request.method != "POST":
        raise errors.method_not_allowed(f"{request.method} is not supported on serviceaccounts/token")
    assert path.name is not None and path.namespace is not None
    name, namespace = path.name, path.namespace
    req = await _read(request, kind="TokenRequest", definition=TOKEN_REQUEST_DEFINITION)
    metadata = req.setdefault("metadata", {})
    if metadata.get("name") and metadata["name"] != name:
        cause = invalid("metadata.name", metadata["name"], "must match the service account name if specified")
        raise errors.invalid(GROUP, "TokenRequest", name, [cause])
    if metadata.get("namespace") and metadata["namespace"] != namespace:
        message = "must match the service account namespace if specified"
        cause = invalid("metadata.namespace", metadata["namespace"], message)
        raise errors.invalid(GROUP, "TokenRequest", name, [cause])
    sa_type = kinds.lookup("", "v1", "serviceaccounts")
    assert sa_type is not None
    sa = await h.store.get(sa_type, namespace, name)
    spec = req.setdefault("spec", {})
    spec.setdefault("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    if not spec.get("audiences"):
        spec["audiences"] = list(sajwt.API_AUDIENCES)
    metadata.setdefault("name", name)
    metadata.setdefault("namespace", namespace)
    now = datetime.now(UTC)
    metadata["creationTimestamp"] = format_time(now)
    req["status"] = {}
    causes = _expiration_causes(spec["expirationSeconds"])
    if causes:
        raise errors.invalid(GROUP, "TokenRequest", "", causes)

    bound: dict[str, sajwt.ObjectRef] = {}
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict):
        bound = await _bound_object(h, namespace, name, ref)

    expiration = int(spec["expirationSeconds"])
    warn_after = 0
    kube_audiences = set(spec["audiences"]) <= set(sajwt.API_AUDIENCES)
    if "pod" in bound and expiration == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS and kube_audiences:
        warn_after, expiration = expiration, EXPIRATION_EXTENSION_SECONDS
    claims = sajwt.bound_claims(
        namespace=namespace,
        name=name,
        uid=str(sa["metadata"].get("uid", "")),
        audiences=[str(a) for a in spec["audiences"]],
        expiration_seconds=expiration,
        now=now.timestamp(),
        pod=bound.get("pod"),
        secret=bound.get("secret"),
        node=bound.get("node"),
        warn_after_seconds=warn_after,
    )
    authenticator = request.app[AUTHENTICATOR_KEY]
    try:
        token = sajwt.sign(claims, authenticator.signing_key())
    except LookupError as e:
        raise errors.internal_error(str(e)) from e
    out = copy.deepcopy(req)
    out["status"] = {
        "token": token,
        "expirationTimestamp": format_time(now + timedelta(seconds=int(spec["expirationSeconds"]))),
    }
    return json_response(out, status=201)


async def _bound_object(h: ResourceHandlers, namespace: str, sa_name: str, ref: JSONObject) -> dict[str, Any]:
    from kuberya.meta.serviceaccount_jwt import ObjectRef

    api_version, kind, obj_name = str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name", ""))
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    resource = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}.get(kind) if group == "" else None
    if resource is None:
        gvk = f"{group}/{api_version.rpartition('/')[2]}, Kind={kind}" if group else f"/{api_version}, Kind={kind}"
        raise errors.bad_request(f"cannot bind token to object of type {gvk}")
    rt = kinds.lookup("", "v1", resource)
    assert rt is not None
    obj = await h.store.get(rt, None if resource == "nodes" else namespace, obj_name)
    if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName", "default") != sa_name:
        raise errors.bad_request(
            f'cannot bind token for serviceaccount "{sa_name}" to pod running with different serviceaccount name.'
        )
    uid = str(obj["metadata"].get("uid", ""))
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.conflict(
            "",
            kind,
            obj_name,
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
            "The object might have been deleted and then recreated",
        )
    bound: dict[str, Any] = {kind.lower(): ObjectRef(obj_name, uid)}
    if kind == "Pod":
        node_name = (obj.get("spec") or {}).get("nodeName")
        node_type = kinds.lookup("", "v1", "nodes")
        if node_name and node_type is not None:
            node = await h.store.get_or_none(node_type, None, node_name)
            if node is not None:
                bound["node"] = ObjectRef(node_name, str(node["metadata"].get("uid", "")))
    return bound


async def token_review(request: web.Request, path: ResourcePath) -> web.Response:
    """``POST /apis/authentication.k8s.io/v1/tokenreviews``."""
    if request.method != "POST" or path.name is not None:
        raise errors.method_not_allowed(f"{request.method} is not supported on tokenreviews")
    review = await _read(request, kind="TokenReview", definition=TOKEN_REVIEW_DEFINITION)
    metadata = review.get("metadata") or {}
    if metadata.get("namespace"):
        raise errors.bad_request(f"namespace is not allowed on this type: {metadata['namespace']}")
    spec = review.get("spec") or {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    audiences = tuple(str(a) for a in spec.get("audiences") or ()) or None
    result = await request.app[AUTHENTICATOR_KEY].authenticate(token, audiences)
    status: JSONObject = {"authenticated": result.user is not None, "user": {}}
    if result.user is not None:
        user = result.user
        status["user"] = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            status["user"]["uid"] = user.uid
        if user.extra:
            status["user"]["extra"] = {k: list(v) for k, v in user.extra}
        status["audiences"] = list(result.audiences)
    elif result.error:
        status["error"] = result.error
    out = {**review, "metadata": {**metadata, "creationTimestamp": None}, "status": status}
    return json_response(out, status=201)


def _external_url(request: web.Request) -> str:
    return f"https://{request.host or '127.0.0.1'}"


async def openid_configuration(request: web.Request) -> web.Response:
    """Upstream's ``openIDMetadata``: the issuer and its JWKS (only ID tokens, ES256 here)."""
    from kuberya.meta import serviceaccount_jwt as sajwt

    doc = {
        "issuer": sajwt.ISSUER,
        "jwks_uri": f"{_external_url(request)}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [sajwt.ALGORITHM],
    }
    return json_response(doc, headers={"Cache-Control": OIDC_CACHE_CONTROL})


async def jwks(request: web.Request) -> web.Response:
    from kuberya.meta import serviceaccount_jwt as sajwt

    try:
        key = request.app[AUTHENTICATOR_KEY].signing_key()
    except LookupError as e:
        raise errors.path_not_found(request.path) from e
    return json_response(
        {"keys": [sajwt.jwk(key.public_key())]},
        content_type=JWKS_CONTENT_TYPE,
        headers={"Cache-Control": OIDC_CACHE_CONTROL},
    )
