"""Who may do what: every request is authorized after authentication, as upstream's filter does.

The request is described as upstream's ``RequestInfoFactory`` describes it
(``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``): a path below
``/api/v1`` or ``/apis/GROUP/VERSION`` is a resource request whose verb comes from the method
(GET of a collection is ``list``, or ``watch`` with ``?watch=true``; DELETE of one is
``deletecollection``; a ``fieldSelector=metadata.name=x`` names the object); any other path is a
non-resource request whose verb is the method in lower case (``get /healthz``). The
:class:`~kuberya.apiserver.rbac_index.RBACIndex` answers; a refusal is upstream's 403::

    pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "dev"

The in-process components authenticate with the admin certificate (``system:masters``), which is
allowed everything, as upstream's privileged group; so are requests of the test-only
``allow_anonymous`` mode that carry no credentials (as the old insecure port was).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.rbac_index import RBACIndex
from kuberya.apiserver.rbac_rules import Attributes
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.users import USER_KEY, UserInfo, user_of

INDEX_KEY = web.AppKey("rbac_index", RBACIndex)
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

WRITER: contextvars.ContextVar[tuple[UserInfo, RBACIndex] | None] = contextvars.ContextVar(
    "kuberya_rbac_writer", default=None
)
"""Who sends the request being served, for the escalation check of RBAC writes (none: the server itself)."""


def _name_from_field_selector(raw: str) -> str:
    for term in raw.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and key.strip() == "metadata.name" and "!" not in key:
                value = value.strip()
                return value if value and "/" not in value and value not in (".", "..") else ""
    return ""


def request_attributes(request: web.Request, user: UserInfo) -> Attributes:
    """Upstream's ``RequestInfo`` of ``request``, as authorizer attributes."""
    path = request.path
    verb = request.method.lower()
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return Attributes(user, verb, False, path=path)
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return Attributes(user, verb, False, path=path)
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            return Attributes(user, verb, False, path=path)
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(request.method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if request.query.get("watch", "").lower() in ("true", "1") else "list"
        name = _name_from_field_selector(request.query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        user,
        verb,
        True,
        namespace=namespace,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=subresource,
        name=name,
        path=path,
    )


def forbidden_message(attrs: Attributes) -> str:
    """Upstream's ``forbiddenMessage`` (``responsewriters/errors.go``)."""
    user = f'User "{attrs.user.name}"'
    if not attrs.resource_request:
        return f'{user} cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'{user} cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: Attributes, reason: str = "") -> errors.StatusError:
    """Upstream's ``NewForbidden(groupResource, name, message)``, details included."""
    message = forbidden_message(attrs) + (f": {reason}" if reason else "")
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if not attrs.resource_request or not attrs.resource:
        return errors.forbidden(f"forbidden: {message}", details={})
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    return errors.forbidden(f"{subject} is forbidden: {message}", details=details)


def authorize(settings: APIServerSettings) -> Any:
    """The authorization filter: 403 unless the index allows the request."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        index = request.app[INDEX_KEY]
        if USER_KEY not in request and settings.auth.allow_anonymous:
            return await handler(request)  # the test-only insecure mode: no authorization
        user = user_of(request)
        attrs = request_attributes(request, user)
        allowed, _ = index.authorize(attrs)
        if not allowed:
            raise forbidden(attrs)
        token = WRITER.set((user, index))
        try:
            return await handler(request)
        finally:
            WRITER.reset(token)

    return middleware
