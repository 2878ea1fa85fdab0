"""Errors of the Kubernetes API, built from the ``Status`` body the server answers with.

Every non-2xx answer becomes an :class:`ApiError`; the subclass is chosen by HTTP code and, where
one code covers two meanings (409 Conflict vs AlreadyExists, 410 Gone vs Expired), by the Status
``reason``. Callers catch the subclass they can handle (a controller ignores :class:`NotFoundError`
on delete, an informer relists on :class:`GoneError`) and let the rest propagate.

``str()`` of an error is short: payloads from the server are truncated so one bad object cannot
flood a log line; the whole body stays on :attr:`ApiError.body`.
"""

from __future__ import annotations

import json
from typing import Any

# Re-exported: the layer's modules quote payloads through it.
from kuberya.meta.text import truncate as truncate


class ApiError(Exception):
    """The API server refused a request; ``body`` is its ``Status`` (or a synthesized one)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(status, reason, message)
        self.status = status
        """The HTTP status code (the Status ``code``)."""
        self.reason = reason
        """The Status ``reason``: ``NotFound``, ``Conflict``, ``Invalid``, ``Expired``…"""
        self.message = message
        self.body = body
        """The whole Status body as the server sent it."""

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {truncate(self.message)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.reason!r}, {truncate(self.message, 80)!r})"


class BadRequestError(ApiError):
    """400: a malformed request, an unknown field selector, apply without a field manager."""


class UnauthorizedError(ApiError):
    """401: no or bad credentials."""


class ForbiddenError(ApiError):
    """403: authenticated but not allowed (or the namespace is terminating)."""


class NotFoundError(ApiError):
    """404: no such object, or no such path."""


class MethodNotAllowedError(ApiError):
    """405: the resource does not support this verb."""


class ConflictError(ApiError):
    """409 Conflict: the resourceVersion or a precondition did not match; re-read and retry."""


class AlreadyExistsError(ApiError):
    """409 AlreadyExists: a create found an object of that name."""


class GoneError(ApiError):
    """410: the resourceVersion asked for is no longer in the server's history."""


class ExpiredError(GoneError):
    """410 Expired: a watch or list asked for a compacted resourceVersion; relist."""


class InvalidError(ApiError):
    """422: the object failed validation; the causes are in ``body["details"]["causes"]``."""

    @property
    def causes(self) -> list[dict[str, Any]]:
        details = self.body.get("details") or {}
        causes = details.get("causes") or []
        return [c for c in causes if isinstance(c, dict)]


class TooManyRequestsError(ApiError):
    """429: the server asks the client to slow down."""


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    410: GoneError,
    422: InvalidError,
    429: TooManyRequestsError,
}


def error_from_status(status: int, body: dict[str, Any]) -> ApiError:
    """Build the typed error for an HTTP ``status`` and the decoded ``Status`` ``body``.

    ``body`` may be any decoded JSON: a body that is not a Status keeps the HTTP code and gets a
    reason from it, so a proxy's error page still becomes the right class.
    """
    code = body.get("code") if isinstance(body.get("code"), int) else status
    assert isinstance(code, int)
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or "")
    if not message and body:
        message = json.dumps(body, sort_keys=True)
    cls: type[ApiError]
    if code == 409:
        cls = AlreadyExistsError if reason == "AlreadyExists" else ConflictError
    elif code == 410:
        cls = ExpiredError if reason in ("Expired", "") else GoneError
    else:
        cls = _BY_CODE.get(code, ApiError)
    return cls(code, reason or _default_reason(code), message, body)


def error_from_response(status: int, payload: bytes) -> ApiError:
    """Build the typed error for a non-2xx HTTP answer with raw ``payload`` (JSON Status or anything)."""
    try:
        decoded = json.loads(payload) if payload else {}
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        text = payload.decode("utf-8", errors="replace")
        decoded = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": text, "code": status}
    return error_from_status(status, decoded)


def _default_reason(code: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(code, "Unknown")
