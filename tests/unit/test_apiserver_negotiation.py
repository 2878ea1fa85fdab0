"""Accept headers of resource requests: what is answered, what is 406 (as upstream)."""

from __future__ import annotations

import pytest

from kuberya.apiserver.negotiation import acceptable, not_acceptable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "application/json",
        "*/*",
        "application/*",
        "application/yaml",
        "application/vnd.kubernetes.protobuf, */*",
        "application/json;stream=watch",
        # kubectl get
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        "text/html, application/json;q=0.5",
        "APPLICATION/JSON",
        ";;;",
    ],
)
def test_answered(accept: str) -> None:
    assert acceptable(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/xml",
        "text/*",
        "image/png",
        "application/cbor",
        "application/json;q=0",
        "application/json;as=Bogus;v=v1;g=meta.k8s.io",
        "text/html,application/xhtml+xml,application/xml;q=0.9",  # a browser
    ],
)
def test_not_acceptable(accept: str) -> None:
    assert not acceptable(accept)


def test_the_refusal_is_upstreams_status() -> None:
    status = not_acceptable().status()
    assert status["code"] == 406 and status["reason"] == "NotAcceptable"
    assert status["message"].startswith("only the following media types are accepted: application/json")
