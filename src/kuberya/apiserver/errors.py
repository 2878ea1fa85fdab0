"""Errors as the Kubernetes API speaks them: every failure leaves the server as a ``Status``.

client-go only turns a failed response into a typed error when its body decodes as a
``Status`` (apimachinery ``pkg/api/errors``), so every handler raises :class:`StatusError`
and one middleware renders it. The message shapes copy upstream's so that kubectl prints
what users of a real cluster already know.
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.types import Cause, JSONObject


class StatusError(Exception):
    """A request that ends in a failure ``Status`` with this code, reason and message."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JSONObject | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> JSONObject:
        body: JSONObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(group: str, kind_plural: str, name: str, **extra: Any) -> JSONObject:
    details: JSONObject = {"name": name, "kind": kind_plural}
    if group:
        details["group"] = group
    details.update(extra)
    return details


def _qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        404,
        "NotFound",
        f'{_qualified(group, resource)} "{name}" not found',
        details=_details(group, resource, name),
    )


def already_exists(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{_qualified(group, resource)} "{name}" already exists',
        details=_details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str = "") -> StatusError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, resource)} "{name}": {why}',
        details=_details(group, resource, name),
    )


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> StatusError:
    """422 with per-field causes: ``Deployment.apps "x" is invalid: spec.selector: Required value``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        summary = "[" + summary + "]"
    return StatusError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {summary}',
        details={
            "name": name,
            **({"group": group} if group else {}),
            "kind": kind,
            "causes": [c.as_dict() for c in causes],
        },
    )


def bad_request(message: str, *, causes: list[Cause] | None = None) -> StatusError:
    """400; ``causes`` name the fields of a body that did not decode (upstream gives only the text)."""
    details = {"causes": [c.as_dict() for c in causes]} if causes else None
    return StatusError(400, "BadRequest", message, details=details)


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def forbidden(message: str, *, details: JSONObject | None = None) -> StatusError:
    return StatusError(403, "Forbidden", message, details=details)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f'application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{content_type}")',
    )


def path_not_found(path: str) -> StatusError:
    return StatusError(404, "NotFound", f"the server could not find the requested resource ({path})", details={})


def request_entity_too_large(limit: int) -> StatusError:
    """413 for a body above the limit: upstream's ``limitedReadBody`` message."""
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def too_many_requests(message: str, *, retry_after_seconds: int) -> StatusError:
    """429 with ``Retry-After``, which client-go honours by waiting and retrying on its own."""
    return StatusError(
        429,
        "TooManyRequests",
        message,
        details={"retryAfterSeconds": retry_after_seconds},
        headers={"Retry-After": str(retry_after_seconds)},
    )


def timeout(message: str) -> StatusError:
    """504: the server gave up on the request (it may still complete); upstream's ``NewTimeoutError``."""
    return StatusError(504, "Timeout", f"Timeout: {message}", details={})


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def success_status(*, group: str, resource: str, name: str, uid: str) -> JSONObject:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(group, resource, name, uid=uid),
    }
