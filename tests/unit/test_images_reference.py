from __future__ import annotations

import pytest

from kuberya.images.errors import InvalidReferenceError
from kuberya.images.reference import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "name", "familiar", "api_host"),
    [
        ("python:3.12", "docker.io/library/python:3.12", "python:3.12", "registry-1.docker.io"),
        ("python", "docker.io/library/python:latest", "python:latest", "registry-1.docker.io"),
        ("library/python", "docker.io/library/python:latest", "python:latest", "registry-1.docker.io"),
        ("docker.io/python:3", "docker.io/library/python:3", "python:3", "registry-1.docker.io"),
        ("index.docker.io/library/python:3", "docker.io/library/python:3", "python:3", "registry-1.docker.io"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1", "registry-1.docker.io"),
        ("ghcr.io/org/app", "ghcr.io/org/app:latest", "ghcr.io/org/app:latest", "ghcr.io"),
        ("localhost/app:dev", "localhost/app:dev", "localhost/app:dev", "localhost"),
        ("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest", "localhost:5000"),
        ("127.0.0.1:5000/a/b/c:1.0", "127.0.0.1:5000/a/b/c:1.0", "127.0.0.1:5000/a/b/c:1.0", "127.0.0.1:5000"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}", "registry-1.docker.io"),
        (
            f"busybox:1.36@{DIGEST}",
            f"docker.io/library/busybox:1.36@{DIGEST}",
            f"busybox:1.36@{DIGEST}",
            "registry-1.docker.io",
        ),
        (
            "Registry.Example.com/app",
            "Registry.Example.com/app:latest",
            "Registry.Example.com/app:latest",
            "Registry.Example.com",
        ),
        (
            "a_b.c-d__e:tag_1.x-y",
            "docker.io/library/a_b.c-d__e:tag_1.x-y",
            "a_b.c-d__e:tag_1.x-y",
            "registry-1.docker.io",
        ),
    ],
)
def test_normalisation(text: str, name: str, familiar: str, api_host: str) -> None:
    ref = parse_reference(text)
    assert ref.name == name
    assert ref.familiar == familiar
    assert ref.api_host == api_host
    assert parse_reference(ref.name) == ref  # normalising is idempotent


@pytest.mark.parametrize(
    "text",
    ["", " busybox", "Busybox", "busybox:", "busybox:-x", "busybox@sha256:zz", "a//b", "-a/b", "a/b/", "a..b/c",
     "busybox:" + "x" * 129, "/busybox", "ho st/app"],
)  # fmt: skip
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_uppercase_hint() -> None:
    with pytest.raises(InvalidReferenceError, match="lowercase"):
        parse_reference("user/MyApp")


def test_selector_and_bare_names() -> None:
    assert parse_reference(f"app:v1@{DIGEST}").selector == DIGEST
    assert parse_reference("app:v1").selector == "v1"
    assert parse_reference("app", default_tag=False).tag is None
    assert parse_reference("app").with_tag("v2").name == "docker.io/library/app:v2"
