"""The API server as one aiohttp application: routing, authentication, errors, bootstrap.

Kubernetes paths do not fit a declarative router (a segment can be a namespace, a resource
or a subresource depending on what precedes it), so one catch-all route hands every request
to :func:`dispatch`, which resolves the path against the kinds registry and calls the verb's
handler. Everything unknown is a 404 ``Status``, as kubectl's error handling expects.

Authentication: a TLS client certificate signed by the cluster CA (verified by the TLS layer;
CN is the user, O the groups; one ``kuberya user remove`` revoked is 401) or a bearer token: a
static one or a service-account JWT (:mod:`.sa_authn`). Anything else is 401, but for the public
paths. Then RBAC decides (:mod:`.authorization`, :mod:`.impersonation`): ``system:masters`` (the
admin certificate) may do everything, anyone else what their bindings grant.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kuberya import __version__
from kuberya.apiserver import (
    deletion,
    discovery,
    errors,
    eviction,
    limits,
    metrics,
    negotiation,
    podstreams,
    priority,
    rbac_bootstrap,
    rbac_index,
    reviews,
    scale,
    storageclasses,
)
from kuberya.apiserver import tokens as token_api
from kuberya.apiserver.admission import Admission
from kuberya.apiserver.authorization import INDEX_KEY, authorize
from kuberya.apiserver.handlers import ResourceHandlers
from kuberya.apiserver.impersonation import impersonate
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.request import (
    aggregated_discovery_version,
    json_response,
    parse_resource_path,
    query_flag,
)
from kuberya.apiserver.sa_authn import TokenAuthenticator
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.users import USER_KEY, UserInfo, authenticated
from kuberya.apiserver.watch import serve_watch
from kuberya.meta.user_registry import RevocationList
from kuberya.resources import kinds
from kuberya.resources.schema import openapi_v3_document, openapi_v3_index
from kuberya.storage import Backend

log = logging.getLogger(__name__)

KUBERNETES_VERSION = (1, 36, 0)
"""The Kubernetes API version kuberya answers to (``kubectl version`` shows it)."""

SETTINGS_KEY = web.AppKey("settings", APIServerSettings)
HANDLERS_KEY = web.AppKey("handlers", ResourceHandlers)
TOKENS_KEY = web.AppKey("tokens", dict)
REVOKED_KEY = web.AppKey("revoked_certificates", RevocationList)
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
"""What upstream lets anyone read (``system:public-info-viewer``)."""
_STREAMING_SUBRESOURCES = ("log", "exec", "attach", "portforward", "proxy")
"""Served by :mod:`podstreams` in media types of their own (no ``Accept`` negotiation)."""


def version_info() -> dict[str, str]:
    major, minor, patch = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}+kuberya.{__version__}",
        "gitCommit": "kuberya",
        "gitTreeState": "clean",
        "buildDate": "2026-11-28T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def load_tokens(path: Path | None) -> dict[str, tuple[str, list[str]]]:
    """Static tokens in upstream's CSV form: ``token,user,uid,"group1,group2"``."""
    if path is None or not path.exists():
        return {}
    tokens: dict[str, tuple[str, list[str]]] = {}
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[0] and not row[0].startswith("#"):
                groups = [g for g in row[3].split(",") if g] if len(row) > 3 else []
                tokens[row[0]] = (row[1], groups)
    return tokens


def _user_from_certificate(request: web.Request) -> UserInfo | None:
    """CN is the user and every O a group, as upstream's x509 authenticator reads them."""
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peercert")
    if not peer:
        return None
    name: str | None = None
    groups: list[str] = []
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = str(value)
            elif key == "organizationName":
                groups.append(str(value))
    return authenticated(name, groups) if name is not None else None


def _certificate_revoked(request: web.Request) -> bool:
    """Whether ``kuberya user remove`` revoked the client certificate (its serial is denylisted)."""
    peer = request.transport.get_extra_info("peercert") if request.transport is not None else None
    serial = peer.get("serialNumber") if peer else None
    return isinstance(serial, str) and request.app[REVOKED_KEY].is_revoked(serial)


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header[len("Bearer ") :].strip()


@web.middleware
async def status_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.StatusError as e:
        return json_response(e.status(), status=e.code, headers=e.headers)
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:
        log.exception("%s %s failed", request.method, request.path)
        err = errors.internal_error(f"{type(e).__name__}: {e}")
        return json_response(err.status(), status=500)


def authenticate(settings: APIServerSettings) -> Any:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # The filters after this one (limits) key on who is asking.
        user = _user_from_certificate(request)
        if user is not None and _certificate_revoked(request):
            return json_response(errors.unauthorized().status(), status=401)
        token = _bearer_token(request) if user is None else None
        if token is not None:
            # Static tokens, then service-account JWTs (kuberya.apiserver.sa_authn). A token that
            # fails is a 401 even on the public paths, as upstream's failing authenticator.
            result = await request.app[token_api.AUTHENTICATOR_KEY].authenticate(token)
            if result.user is None:
                return json_response(errors.unauthorized().status(), status=401)
            user = result.user
        if user is not None:
            request[USER_KEY] = user
        if user is not None or settings.auth.allow_anonymous or request.path in PUBLIC_PATHS:
            return await handler(request)
        err = errors.unauthorized()
        return json_response(err.status(), status=401)

    return middleware


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.path.rstrip("/") or "/"
    if "//" in path:
        # An empty segment would shift the rest: /namespaces//configmaps is no namespace's list.
        raise errors.path_not_found(request.path)
    parts = [p for p in path.split("/") if p]
    method = request.method
    settings = request.app[SETTINGS_KEY]
    handlers = request.app[HANDLERS_KEY]

    if path in ("/healthz", "/livez", "/readyz"):
        return web.Response(text="ok", content_type="text/plain")
    if path == "/version":
        return json_response(version_info())
    if path == "/.well-known/openid-configuration" and method == "GET":
        return await token_api.openid_configuration(request)
    if path == "/openid/v1/jwks" and method == "GET":
        return await token_api.jwks(request)
    if parts[:1] == ["openapi"]:
        return _openapi(request, parts)
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            version = aggregated_discovery_version(request)
            if version:
                return json_response(
                    discovery.aggregated(core=True, version=version),
                    content_type=discovery.aggregated_content_type(version),
                )
            host = request.host or "127.0.0.1"
            return json_response(discovery.core_versions(host))
        group, version_name, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) == 1:
            version = aggregated_discovery_version(request)
            if version:
                return json_response(
                    discovery.aggregated(core=False, version=version),
                    content_type=discovery.aggregated_content_type(version),
                )
            return json_response(discovery.group_list())
        if len(parts) == 2:
            group_doc = discovery.api_group(parts[1])
            if group_doc is None:
                raise errors.path_not_found(request.path)
            return json_response(group_doc)
        group, version_name, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.path_not_found(request.path)

    if group == metrics.GROUP and rest:
        return await metrics.serve(request, store=handlers.store, version=version_name, rest=rest)
    if not rest:
        doc = discovery.resource_list(group, version_name)
        if doc is None:
            raise errors.path_not_found(request.path)
        return json_response(doc)
    resource_path = parse_resource_path(group, version_name, rest)
    if resource_path is None:
        raise errors.path_not_found(request.path)
    rt = resource_path.rt
    sub = resource_path.subresource
    if sub and sub not in ("finalize",) and rt.subresource(sub) is None:
        raise errors.path_not_found(request.path)
    if sub == "finalize" and rt.resource != "namespaces":
        raise errors.path_not_found(request.path)
    if sub not in _STREAMING_SUBRESOURCES and not negotiation.acceptable(request.headers.get("Accept", "")):
        raise negotiation.not_acceptable()
    if rt.group == token_api.GROUP and rt.resource == "tokenreviews":
        return await token_api.token_review(request, resource_path)
    if sub == "token" and rt.resource == "serviceaccounts":
        return await token_api.token_request(handlers, request, resource_path)
    if not rt.served_from_storage:  # the access reviews and SelfSubjectReview: answered, never stored
        return await reviews.create(handlers, request, resource_path)

    if resource_path.name is None:
        if method == "GET":
            if query_flag(request, "watch"):
                return await serve_watch(
                    request,
                    resource_path,
                    handlers,
                    bookmark_interval=settings.watch_bookmark_interval_seconds,
                    write_timeout=settings.watch_write_timeout_seconds,
                )
            return await handlers.list(request, resource_path)
        if method == "POST":
            return await handlers.create(request, resource_path)
        if method == "DELETE":
            return await deletion.delete_collection(handlers, request, resource_path)
        raise errors.method_not_allowed(f"{method} is not supported on the {rt.resource} collection")
    if sub == "scale":
        return await scale.scale(handlers, request, resource_path)
    if sub == "eviction":
        return await eviction.evict(handlers, request, resource_path)
    if sub in _STREAMING_SUBRESOURCES:
        return await podstreams.serve(
            request,
            store=handlers.store,
            agent_socket=settings.node_agent_socket,
            namespace=resource_path.namespace or "",
            name=resource_path.name,
            subresource=sub,
        )
    if method == "GET":
        return await handlers.get(request, resource_path)
    if method == "PUT":
        return await handlers.update(request, resource_path)
    if method == "PATCH":
        return await handlers.patch(request, resource_path)
    if method == "DELETE":
        return await deletion.delete(handlers, request, resource_path)
    raise errors.method_not_allowed(f"{method} is not supported on {rt.resource}")


def _openapi(request: web.Request, parts: list[str]) -> web.Response:
    if parts == ["openapi", "v3"]:
        return json_response(openapi_v3_index())
    if len(parts) > 2 and parts[1] == "v3":
        doc = openapi_v3_document("/".join(parts[2:]))
        if doc is not None:
            return json_response(
                doc, headers={"Cache-Control": "public, immutable"} if request.query.get("hash") else None
            )
    # No OpenAPI v2: kubectl then relies on v3, which declares fieldValidation on every PATCH.
    raise errors.path_not_found(request.path)


async def _bootstrap(store: ObjectStore, admission: Admission) -> None:
    """The objects every cluster has before anyone asks.

    The system namespaces, upstream's two built-in PriorityClasses and the ``kubernetes`` Service.
    """
    ns_type = kinds.lookup("", "v1", "namespaces")
    svc_type = kinds.lookup("", "v1", "services")
    assert ns_type is not None and svc_type is not None
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        if await store.get_or_none(ns_type, None, name) is None:
            ns = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            }
            await admission.prepare_create(ns_type, ns)
            with contextlib.suppress(errors.StatusError):
                await store.create(ns_type, ns)
    await priority.ensure_system_classes(store, admission)
    await storageclasses.ensure_builtin_classes(store, admission)
    await rbac_bootstrap.ensure_bootstrap_policy(store, admission)
    if await store.get_or_none(svc_type, "default", "kubernetes") is None:
        svc = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        }
        await admission.prepare_create(svc_type, svc)
        async with admission.allocator.lock:
            await admission.allocator.allocate_service(svc, old=None)
            with contextlib.suppress(errors.StatusError):
                await store.create(svc_type, svc)


def create_app(*, backend: Backend, settings: APIServerSettings) -> web.Application:
    """The API server over a started ``backend``. Bootstrap objects are made on startup."""
    store = ObjectStore(backend)
    admission = Admission(store, settings)
    handlers = ResourceHandlers(store, admission)
    limiter = limits.InFlightLimiter(settings)
    app = web.Application(
        # Upstream's filter order: body and timeout limits before authentication, the in-flight
        # limit after it (it exempts system:masters and counts watches per user).
        middlewares=[
            status_errors,
            limits.body_limits(settings),
            limits.request_timeout(settings),
            authenticate(settings),
            limiter.middleware,
            # RBAC (kuberya.apiserver.authorization): impersonation, then authorization, as upstream.
            impersonate(settings),
            authorize(settings),
        ],
        client_max_size=settings.max_request_body_bytes,
        # Bodies are limited as received: never inflated by aiohttp (see kuberya.apiserver.limits).
        handler_args={"auto_decompress": False},
    )
    app[SETTINGS_KEY] = settings
    app[limits.IN_FLIGHT_KEY] = limiter
    app[HANDLERS_KEY] = handlers
    app[TOKENS_KEY] = load_tokens(settings.auth.token_file)
    app[token_api.AUTHENTICATOR_KEY] = TokenAuthenticator(
        store, static_tokens=app[TOKENS_KEY], key_file=settings.auth.service_account_key_file
    )
    app[REVOKED_KEY] = RevocationList(settings.auth.users_file)
    app[metrics.METRICS_KEY] = metrics.MetricsStore()
    app[INDEX_KEY] = index = rbac_index.RBACIndex()
    app.router.add_route("*", "/{tail:.*}", dispatch)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await _bootstrap(store, admission)
        # Loaded before the first request is served, then kept current for the server's life.
        revisions = await rbac_index.load(store, index)
        rbac_follower = asyncio.create_task(rbac_index.follow(store, index, revisions), name="apiserver-rbac-index")
        compactor = asyncio.create_task(_compact_forever(backend, settings), name="apiserver-compaction")
        yield
        compactor.cancel()
        rbac_follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await compactor
        with contextlib.suppress(asyncio.CancelledError):
            await rbac_follower

    app.cleanup_ctx.append(lifecycle)
    return app


async def _compact_forever(backend: Backend, settings: APIServerSettings) -> None:
    """Drop history older than the retained window, as upstream's apiserver does every 5 minutes."""
    while True:
        await asyncio.sleep(settings.compaction_interval_seconds)
        try:
            current = await backend.current_revision()
            if current > settings.retain_revisions:
                await backend.compact(current - settings.retain_revisions)
        except Exception:
            log.exception("compaction failed; will try again")
