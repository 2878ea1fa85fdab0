"""Docker credential helpers (``credsStore``, ``credHelpers``) with a fake ``docker-credential-*`` on PATH.

The fake is a shell script speaking the helpers' protocol (server URL on stdin, JSON on stdout,
"credentials not found in native keychain" and exit 1 when it has none) and logging each call, so
the tests see which helper ran for which registry and how often. The last test sends the helper's
credentials to a registry that demands Basic auth: an in-process aiohttp stand-in on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kuberya.images.auth import (
    HUB_SERVER_URL,
    CredentialHelperError,
    Credentials,
    credentials_for,
    load_docker_config,
    parse_docker_config,
)
from kuberya.images.oci import OCI_MANIFEST, canonical_json, sha256_digest
from kuberya.images.reference import parse_reference
from kuberya.images.registry import RegistryClient
from kuberya.images.transfer import RegistrySettings

FAKE_HELPER = """#!/bin/sh
read -r server || true
echo "$(basename "$0") $server" >> "{log}"
case "$server" in
  registry.example.com|127.0.0.1:*) printf '{{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}}' "$server" ;;
  {hub}) printf '{{"ServerURL":"%s","Username":"<token>","Secret":"refresh-me"}}' "$server" ;;
  broken.example.com) echo "error getting credentials - err: exit status 1, out: keyring is locked"; exit 1 ;;
  garbage.example.com) echo "Username=alice Secret=s3cret" ;;
  slow.example.com) sleep 5 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``docker-credential-fake`` and ``docker-credential-desktop`` on PATH; returns their call log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    log.touch()
    for name in ("fake", "desktop"):
        script = bin_dir / f"docker-credential-{name}"
        script.write_text(FAKE_HELPER.format(log=log, hub=HUB_SERVER_URL))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def write_config(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_helpers_answer_per_registry_once_each(helpers: Path, tmp_path: Path) -> None:
    inline = base64.b64encode(b"bob:inline-pass").decode()
    config = write_config(tmp_path, {
        "auths": {"https://index.docker.io/v1/": {}, "inline.example.com": {"auth": inline}},
        "credsStore": "desktop",
        "credHelpers": {"registry.example.com": "fake"},
    })  # fmt: skip
    auths = load_docker_config(config)
    assert sorted(auths) == ["inline.example.com", "registry.example.com"]  # listing runs nothing
    assert calls(helpers) == []

    assert credentials_for(auths, "registry.example.com") == Credentials(username="alice", password="s3cret")
    assert credentials_for(auths, "registry.example.com") == Credentials(username="alice", password="s3cret")
    # Docker Hub under any alias: the store is asked for docker's own name of it, and <token> means a refresh token
    assert credentials_for(auths, "registry-1.docker.io") == Credentials(identity_token="refresh-me")
    # the store has nothing for this one: the inline entry is used; and for that one nothing at all
    assert credentials_for(auths, "inline.example.com") == Credentials(username="bob", password="inline-pass")
    assert credentials_for(auths, "nowhere.example.com") is None
    assert calls(helpers) == [
        "docker-credential-fake registry.example.com",
        f"docker-credential-desktop {HUB_SERVER_URL}",
        "docker-credential-desktop inline.example.com",
        "docker-credential-desktop nowhere.example.com",
    ]
    assert "s3cret" not in repr(auths)


def test_a_missing_helper_names_the_binary_and_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    auths = load_docker_config(write_config(tmp_path, {"credsStore": "pass"}))
    with pytest.raises(CredentialHelperError) as raised:
        credentials_for(auths, "quay.io")
    message = str(raised.value)
    assert "docker-credential-pass is not on PATH" in message and "helper's own package" in message
    assert "quay.io" in message and str(tmp_path / "docker" / "config.json") in message


def test_helper_failures_are_reported(helpers: Path, tmp_path: Path) -> None:
    auths = load_docker_config(write_config(tmp_path, {"credsStore": "fake"}), timeout=0.3)
    with pytest.raises(CredentialHelperError, match=r"failed for broken\.example\.com .*keyring is locked"):
        credentials_for(auths, "broken.example.com")
    with pytest.raises(CredentialHelperError, match="other than a JSON object") as raised:
        credentials_for(auths, "garbage.example.com")
    assert "s3cret" not in str(raised.value)  # what a confused helper printed may be a secret: not echoed
    with pytest.raises(CredentialHelperError, match=r"did not answer within 0.3s for slow.example.com"):
        credentials_for(auths, "slow.example.com")


def test_bad_helper_settings_and_pull_secrets(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="credHelpers"):
        load_docker_config(write_config(tmp_path, {"credHelpers": ["fake"]}))
    # A pull secret never makes the node run a program: the helper keys are ignored.
    secret = {"auths": {"r.example.com": {"username": "u", "password": "p"}}, "credsStore": "fake"}
    assert parse_docker_config(json.dumps(secret)) == {"r.example.com": Credentials(username="u", password="p")}
    assert dict(load_docker_config(tmp_path / "missing.json")) == {}


@pytest.fixture
async def basic_auth_registry() -> AsyncIterator[tuple[str, bytes]]:
    """A registry stand-in serving one manifest to ``alice:s3cret`` only (Basic auth, as htpasswd does)."""
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64, "size": 2},
        "layers": []})  # fmt: skip
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    async def manifests(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                                     status=401, headers={"WWW-Authenticate": 'Basic realm="test"'})  # fmt: skip
        return web.Response(body=manifest, content_type=OCI_MANIFEST,
                            headers={"Docker-Content-Digest": sha256_digest(manifest)})  # fmt: skip

    app = web.Application()
    app.router.add_get("/v2/app/manifests/{reference}", manifests)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"127.0.0.1:{port}", manifest
    finally:
        await runner.cleanup()


async def test_a_registry_gets_the_helpers_credentials(
    helpers: Path, tmp_path: Path, basic_auth_registry: tuple[str, bytes]
) -> None:
    host, manifest = basic_auth_registry
    ref = parse_reference(f"{host}/app:v1")
    auths = load_docker_config(write_config(tmp_path, {"credHelpers": {host: "fake"}}))
    settings = RegistrySettings(insecure=frozenset({host}), auths=auths)

    def fetch() -> bytes:
        with RegistryClient(settings) as client:  # blocking: off the loop the fake registry runs on
            return client.get_manifest(ref).data

    assert await asyncio.to_thread(fetch) == manifest
    assert calls(helpers) == [f"docker-credential-fake {host}"]
