"""Who is asking: the user authentication found, for the filters that run after it.

Upstream's authentication filter puts a ``user.Info`` into the request context; the filters
after it (max-in-flight exempts ``system:masters``, watches are counted per user) read it from
there. kuberya keeps the same facts on the aiohttp request under :data:`USER_KEY`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

SYSTEM_MASTERS = "system:masters"
"""The group upstream lets past every limit, so that an administrator can always get in."""
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]
    uid: str = ""
    """Set by the service-account authenticator (the account's uid), as upstream's ``user.Info``."""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Upstream's ``Extra`` (``authentication.kubernetes.io/pod-name``…), as pairs to stay hashable."""


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
USER_KEY = web.RequestKey("user", UserInfo)


def authenticated(
    name: str,
    groups: list[str] | tuple[str, ...],
    *,
    uid: str = "",
    extra: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> UserInfo:
    """A user as upstream's authenticators return it: every one is also ``system:authenticated``."""
    all_groups = (*groups, AUTHENTICATED) if AUTHENTICATED not in groups else tuple(groups)
    return UserInfo(name, all_groups, uid, extra)


def user_of(request: web.Request) -> UserInfo:
    """The user authentication attached to ``request``; anonymous when it attached none."""
    user: UserInfo = request.get(USER_KEY, ANONYMOUS)
    return user
