"""Limits that hold under hostile input, as upstream's generic API server filters enforce them.

Upstream wraps every handler in a chain of filters (``k8s.io/apiserver/pkg/server/filters``);
kuberya has the same ones as aiohttp middlewares, in the same order around authentication:

- **Body size** (:func:`body_limits`): a body above ``max_request_body_bytes`` (upstream's
  ``MaxRequestBodyBytes``, 3 MiB) is answered 413 ``RequestEntityTooLarge`` — at once when
  ``Content-Length`` says so, or when reading a chunked body passes the limit. The limit is on the
  bytes received: aiohttp's automatic request decompression is switched off (``create_app``), and
  a body with a ``Content-Encoding`` is refused with 415, so a small gzip bomb can never inflate
  inside the server. Upstream never decompresses request bodies either (client-go does not
  compress them); it would fail to decode one, kuberya says why instead.
- **Request timeout** (:func:`request_timeout`): a request that is not long-running is answered
  504 ``Timeout`` after ``request_timeout_seconds`` (upstream's ``--request-timeout``, 60 s); a
  client's ``?timeout=`` (kubectl's ``--request-timeout``) may shorten it, never lengthen it.
- **Max in flight** (:class:`InFlightLimiter`, after authentication): at most
  ``max_requests_in_flight`` non-mutating and ``max_mutating_requests_in_flight`` mutating
  requests are served at once; one more is answered 429 ``TooManyRequests`` with
  ``Retry-After: 1`` at once, never queued (upstream's ``WithMaxInFlightLimit``). Long-running
  requests, health probes and ``system:masters`` are not counted, as upstream. Watches have
  their own per-user cap instead, ``max_watches_per_user``.

Long-running is upstream's ``BasicLongRunningRequestCheck``: a watch, or the ``attach``,
``exec``, ``log``, ``portforward`` and ``proxy`` subresources. Their bodies are not limited
either when proxied (``proxy``): the target reads them, the API server only passes them on.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from kuberya.apiserver import errors
from kuberya.apiserver.request import parse_resource_path, query_flag
from kuberya.apiserver.settings import APIServerSettings
from kuberya.apiserver.users import SYSTEM_MASTERS, user_of

LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "log", "portforward", "proxy"})
"""Upstream's long-running subresources (``genericapiserver``'s ``BasicLongRunningRequestCheck``)."""
PROBE_PATHS = ("/healthz", "/livez", "/readyz")
"""Never turned away for load: a saturated server must still answer whoever checks its health
(upstream's priority and fairness has an exempt ``probes`` flow schema for them)."""
TOO_MANY_REQUESTS = "Too many requests, please try again later."
TIMEOUT_MESSAGE = "request did not complete within the allotted timeout"
INVALID_TIMEOUT = "invalid timeout specified in the request URL"
RETRY_AFTER_SECONDS = 1
NON_MUTATING_METHODS = frozenset({"GET", "HEAD"})
"""Upstream's non-mutating verbs are get, list and watch: all of them GETs."""


@dataclass(frozen=True, slots=True)
class RequestClass:
    """What the limits need to know about a request, worked out once from its path and query."""

    watch: bool
    long_running: bool
    proxied: bool
    mutating: bool


_CLASS_KEY = web.RequestKey("request-class", RequestClass)


def classify(request: web.Request) -> RequestClass:
    """Sort ``request`` as upstream's ``LongRunningFunc`` and max-in-flight filter do."""
    if _CLASS_KEY in request:
        return request[_CLASS_KEY]
    subresource = _subresource(request.path)
    watch = request.method == "GET" and query_flag(request, "watch")
    result = RequestClass(
        watch=watch,
        long_running=watch or subresource in LONG_RUNNING_SUBRESOURCES,
        proxied=subresource == "proxy",
        mutating=request.method not in NON_MUTATING_METHODS,
    )
    request[_CLASS_KEY] = result
    return result


def _subresource(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return ""
    resource_path = parse_resource_path(group, version, rest)
    return resource_path.subresource if resource_path is not None else ""


# -- body size and encoding -------------------------------------------------------------------------


def body_limits(settings: APIServerSettings) -> Middleware:
    """413 above ``max_request_body_bytes``, 415 for a compressed body; see the module docstring."""
    limit = settings.max_request_body_bytes

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and not classify(request).proxied:
            encoding = request.headers.get("Content-Encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                raise errors.StatusError(
                    415,
                    "UnsupportedMediaType",
                    f'the request body has Content-Encoding "{encoding}", which the API server does not '
                    "decode: send the body uncompressed",
                )
            length = request.content_length
            if length is not None and length > limit:
                raise errors.request_entity_too_large(limit)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            # aiohttp's own answer is plain text; clients need a Status (a chunked body's size is
            # only known while it is read, in the handler).
            raise errors.request_entity_too_large(limit) from None

    return middleware


# -- request timeout --------------------------------------------------------------------------------


def request_timeout(settings: APIServerSettings) -> Middleware:
    """504 ``Timeout`` for a request that is not long-running and takes too long."""
    maximum = settings.request_timeout_seconds

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if classify(request).long_running:
            return await handler(request)
        seconds = maximum
        asked = request.query.get("timeout", "")
        if asked:
            try:
                requested = parse_go_duration(asked)
            except ValueError as e:
                raise errors.bad_request(f"{INVALID_TIMEOUT} - {e}") from None
            # As upstream: 0 means "no timeout of my own", and nobody gets more than the maximum.
            if 0 < requested < maximum:
                seconds = requested
        try:
            async with asyncio.timeout(seconds) as deadline:
                return await handler(request)
        except TimeoutError:
            if not deadline.expired():
                raise  # the handler's own timeout, not ours
            raise errors.timeout(TIMEOUT_MESSAGE) from None

    return middleware


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string (``30s``, ``1m30s``, ``1.5h``).

    That is the format of upstream's ``?timeout=``; anything else is a ``ValueError`` carrying
    Go's message.
    """
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    seconds, position = 0.0, 0
    while position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None:
            break
        seconds += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise ValueError(f'time: invalid duration "{text}"')
    return -seconds if text.startswith("-") else seconds


# -- requests in flight -----------------------------------------------------------------------------


class InFlightLimiter:
    """Counts the requests being served and turns away those above the limits.

    Upstream's ``WithMaxInFlightLimit``, plus a cap on one user's concurrent watches.
    Counting is plain integers: middlewares run on the one event loop, so nothing between a
    check and its increment can interleave.
    """

    def __init__(self, settings: APIServerSettings) -> None:
        self._limits = {False: settings.max_requests_in_flight, True: settings.max_mutating_requests_in_flight}
        self._in_flight = {False: 0, True: 0}
        self._max_watches = settings.max_watches_per_user
        self._watches: dict[str, int] = {}

    def in_flight(self, *, mutating: bool) -> int:
        return self._in_flight[mutating]

    def watches(self, user: str) -> int:
        return self._watches.get(user, 0)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        kind = classify(request)
        if kind.watch:
            return await self._watch(request, handler)
        if kind.long_running or request.path.startswith(PROBE_PATHS):
            return await handler(request)
        if SYSTEM_MASTERS in user_of(request).groups:
            return await handler(request)
        limit = self._limits[kind.mutating]
        if limit > 0 and self._in_flight[kind.mutating] >= limit:
            raise errors.too_many_requests(TOO_MANY_REQUESTS, retry_after_seconds=RETRY_AFTER_SECONDS)
        self._in_flight[kind.mutating] += 1
        try:
            return await handler(request)
        finally:
            self._in_flight[kind.mutating] -= 1

    async def _watch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        user = user_of(request).name
        held = self._watches.get(user, 0)
        if self._max_watches > 0 and held >= self._max_watches:
            raise errors.too_many_requests(
                f'Too many watches: user "{user}" already holds {held}, the most one user may; '
                "close some (or share one informer per resource) and try again",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self._watches[user] = held + 1
        try:
            return await handler(request)
        finally:
            remaining = self._watches[user] - 1
            if remaining:
                self._watches[user] = remaining
            else:
                del self._watches[user]


IN_FLIGHT_KEY = web.AppKey("in-flight", InFlightLimiter)
"""Where ``create_app`` keeps its limiter, so that what it counts can be looked at."""
