"""App detection, Dockerfile FROM parsing, and docker config credentials."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kuberya.images.auth import credentials_for, parse_challenge, parse_docker_config
from kuberya.images.build import base_images
from kuberya.images.detect import detect
from kuberya.images.errors import BuildError


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "kind", "expected"),
    [
        ({"requirements.txt": "fastapi\n", "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"}, "python",
         "uvicorn main:app"),
        ({"requirements.txt": "flask\ngunicorn\n", "app.py": "import flask\napplication = flask.Flask(__name__)\n"},
         "python", "gunicorn --bind 0.0.0.0:${PORT:-8080} app:application"),
        ({"requirements.txt": "", "Procfile": "web: python serve.py --port $PORT\n"}, "python",
         "python serve.py --port $PORT"),
        ({"pyproject.toml": "[project]\nname='x'\n", "x/__main__.py": "print()\n"}, "python", '"-m", "x"'),
        ({"requirements.txt": "", "main.py": "if __name__ == '__main__':\n    pass\n"}, "python",
         '"python", "main.py"'),
        ({"package.json": json.dumps({"scripts": {"start": "node server.js"}}), "package-lock.json": "{}"}, "node",
         "npm ci --omit=dev"),
        ({"public/index.html": "<h1>hi</h1>"}, "static", "COPY public /www"),
    ],
)  # fmt: skip
def test_detect(tmp_path: Path, files: dict[str, str], kind: str, expected: str) -> None:
    app = detect(write(tmp_path, files))
    assert app.kind == kind
    assert expected in app.containerfile, app.containerfile


def test_detect_installs_a_missing_server_and_honours_base(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "starlette\n", "app.py": "app = Starlette()\n"})
    app = detect(tmp_path, base="localhost/py:3.11")
    assert app.containerfile.startswith("FROM localhost/py:3.11\n")
    assert "RUN pip install --no-cache-dir uvicorn" in app.containerfile


def test_detect_explains_failure(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="Dockerfile"):
        detect(write(tmp_path, {"README": "nothing"}))
    with pytest.raises(BuildError, match="Procfile"):
        detect(write(tmp_path, {"requirements.txt": ""}))


def test_base_images() -> None:
    dockerfile = """\
# syntax=docker/dockerfile:1
ARG BASE=python:3.12
ARG TAG
FROM --platform=linux/amd64 ${BASE} AS build
RUN echo
FROM build AS test
FROM scratch
COPY --from=build / /
FROM busybox:${TAG:-stable} \\
    AS final
"""
    assert base_images(dockerfile, {}) == ["python:3.12", "busybox:stable"]
    assert base_images(dockerfile, {"BASE": "alpine", "TAG": "1.36"}) == ["alpine", "busybox:1.36"]


def test_docker_config() -> None:
    auth = base64.b64encode(b"alice:s3cr:et").decode()
    config = {"auths": {"https://index.docker.io/v1/": {"auth": auth}, "http://127.0.0.1:5000": {"username": "bob",
              "password": "pw"}, "ghcr.io": {"identitytoken": "refresh"}}, "credsStore": "desktop"}  # fmt: skip
    creds = parse_docker_config(json.dumps(config))
    hub = credentials_for(creds, "docker.io")
    assert hub is not None and (hub.username, hub.password) == ("alice", "s3cr:et")
    assert "s3cr" not in repr(hub)
    local = credentials_for(creds, "127.0.0.1:5000")
    assert local is not None and local.username == "bob"
    ghcr = credentials_for(creds, "ghcr.io")
    assert ghcr is not None and ghcr.identity_token == "refresh"
    assert credentials_for(creds, "quay.io") is None


def test_challenges() -> None:
    c = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                        'scope="repository:library/python:pull"')  # fmt: skip
    assert c is not None and c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/python:pull"}  # fmt: skip
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
