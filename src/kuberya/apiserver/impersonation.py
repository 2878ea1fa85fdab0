"""Acting as someone else: the ``Impersonate-*`` headers, as upstream's impersonation filter.

``kubectl --as alice --as-group dev --as-uid 42`` sends ``Impersonate-User``, one
``Impersonate-Group`` per group, ``Impersonate-Uid`` and ``Impersonate-Extra-<key>``. As upstream
(``staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go``) each is authorized
for the *requesting* user with the verb ``impersonate``: ``users`` (or ``serviceaccounts`` in
the account's namespace for ``system:serviceaccount:NS:NAME``), ``groups`` in the core group,
``uids`` and ``userextras/<key>`` in ``authentication.k8s.io``; the first refusal is upstream's 403
(``users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at
the cluster scope``). The request then runs as the impersonated user: a service account gets its
groups when none were asked for, and ``system:authenticated`` is added unless the user is anonymous
or ``system:(un)authenticated`` was asked for. Groups, uid or extras without a user are a 400.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.authorization import INDEX_KEY, forbidden
from kuberya.apiserver.rbac_rules import SERVICE_ACCOUNT_PREFIX, Attributes
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.users import ANONYMOUS, AUTHENTICATED, USER_KEY, UserInfo, user_of

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_UID = "Impersonate-Uid"
IMPERSONATE_EXTRA_PREFIX = "Impersonate-Extra-"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATION_GROUP = "authentication.k8s.io"


@dataclass(frozen=True, slots=True)
class Impersonation:
    """What the headers ask for."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


IMPERSONATION_KEY = web.RequestKey("impersonation", Impersonation)
"""The uid and extras of an impersonated user (``UserInfo`` carries name and groups only)."""


def requested(headers: Any) -> Impersonation | None:
    """The impersonation ``headers`` ask for (None: none); a 400 for groups/uid/extras alone."""
    user = headers.get(IMPERSONATE_USER, "")
    groups = tuple(headers.getall(IMPERSONATE_GROUP, ()))
    uid = headers.get(IMPERSONATE_UID, "")
    extra: dict[str, list[str]] = {}
    for key in headers:
        if key.lower().startswith(IMPERSONATE_EXTRA_PREFIX.lower()):
            name = urllib.parse.unquote(key[len(IMPERSONATE_EXTRA_PREFIX) :]).lower()
            extra.setdefault(name, []).extend(headers.getall(key))
    if not user:
        asked = [*(f"{IMPERSONATE_GROUP}: {g}" for g in groups), *([f"{IMPERSONATE_UID}: {uid}"] if uid else [])]
        asked += [f"{IMPERSONATE_EXTRA_PREFIX}{k}: {v}" for k, vs in extra.items() for v in vs]
        if asked:
            raise errors.bad_request(f"requested [{' '.join(asked)}] without impersonating a user")
        return None
    return Impersonation(user, groups, uid, {k: tuple(set_values) for k, set_values in extra.items()})


def _checks(requester: UserInfo, wanted: Impersonation) -> list[Attributes]:
    """The authorizer questions upstream asks, in its order."""
    checks: list[Attributes] = []
    if wanted.user.startswith(SERVICE_ACCOUNT_PREFIX) and wanted.user.count(":") == 3:
        namespace, name = wanted.user[len(SERVICE_ACCOUNT_PREFIX) :].split(":", 1)
        checks.append(
            Attributes(requester, "impersonate", True, namespace=namespace, resource="serviceaccounts", name=name)
        )
    else:
        checks.append(Attributes(requester, "impersonate", True, resource="users", name=wanted.user, api_version="v1"))
    for group in wanted.groups:
        checks.append(Attributes(requester, "impersonate", True, resource="groups", name=group, api_version="v1"))
    if wanted.uid:
        checks.append(
            Attributes(requester, "impersonate", True, api_group=AUTHENTICATION_GROUP, resource="uids", name=wanted.uid)
        )
    for key, values in wanted.extra.items():
        for value in values:
            checks.append(
                Attributes(
                    requester,
                    "impersonate",
                    True,
                    api_group=AUTHENTICATION_GROUP,
                    resource="userextras",
                    subresource=key,
                    name=value,
                )
            )
    return checks


def impersonated_user(wanted: Impersonation) -> UserInfo:
    """The user the request runs as, with the groups upstream adds."""
    groups = list(wanted.groups)
    if wanted.user.startswith(SERVICE_ACCOUNT_PREFIX) and not groups and wanted.user.count(":") == 3:
        namespace = wanted.user[len(SERVICE_ACCOUNT_PREFIX) :].split(":", 1)[0]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    if wanted.user != ANONYMOUS.name:
        if AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
    elif UNAUTHENTICATED not in groups:
        groups.append(UNAUTHENTICATED)
    return UserInfo(wanted.user, tuple(groups))


def impersonate(settings: APIServerSettings) -> Any:
    """The impersonation filter: swap the authenticated user for the impersonated one once authorized."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        wanted = requested(request.headers)
        if wanted is None:
            return await handler(request)
        # The test-only insecure mode authorizes nothing (kuberya.apiserver.authorization): nor this.
        unchecked = USER_KEY not in request and settings.auth.allow_anonymous
        requester = user_of(request)
        index = request.app[INDEX_KEY]
        for attrs in () if unchecked else _checks(requester, wanted):
            allowed, _ = index.authorize(attrs)
            if not allowed:
                raise forbidden(attrs)
        request[USER_KEY] = impersonated_user(wanted)
        request[IMPERSONATION_KEY] = wanted
        return await handler(request)

    return middleware
