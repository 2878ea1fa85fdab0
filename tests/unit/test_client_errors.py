import json

import pytest

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from kuberya.client.errors import error_from_response, error_from_status


def status(code: int, reason: str, message: str = "m", **extra: object) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        **extra,
    }


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", BadRequestError),
        (401, "Unauthorized", UnauthorizedError),
        (403, "Forbidden", ForbiddenError),
        (404, "NotFound", NotFoundError),
        (409, "Conflict", ConflictError),
        (409, "AlreadyExists", AlreadyExistsError),
        (410, "Expired", ExpiredError),
        (410, "Gone", GoneError),
        (422, "Invalid", InvalidError),
        (429, "TooManyRequests", TooManyRequestsError),
        (500, "InternalError", ApiError),
    ],
)
def test_status_maps_to_the_typed_error(code: int, reason: str, cls: type[ApiError]) -> None:
    err = error_from_status(code, status(code, reason, f"{reason} happened"))
    assert type(err) is cls
    assert (err.status, err.reason, err.message) == (code, reason, f"{reason} happened")
    assert err.body["kind"] == "Status"


def test_expired_is_a_gone_error() -> None:
    assert issubclass(ExpiredError, GoneError)
    assert not issubclass(ConflictError, AlreadyExistsError)


def test_invalid_exposes_its_causes() -> None:
    causes = [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}]
    err = error_from_status(422, status(422, "Invalid", details={"causes": causes}))
    assert isinstance(err, InvalidError)
    assert err.causes == causes


def test_a_non_status_body_keeps_the_http_code() -> None:
    err = error_from_response(404, b"404 page not found")
    assert isinstance(err, NotFoundError)
    assert err.reason == "NotFound"
    assert err.message == "404 page not found"
    err = error_from_response(503, b"")
    assert type(err) is ApiError
    assert err.status == 503


def test_str_truncates_the_payload() -> None:
    err = error_from_response(422, json.dumps(status(422, "Invalid", "x" * 5000)).encode())
    text = str(err)
    assert text.startswith("422 Invalid: xxx")
    assert len(text) < 400
    assert "more chars" in text
    assert len(repr(err)) < 200
    assert len(err.message) == 5000
