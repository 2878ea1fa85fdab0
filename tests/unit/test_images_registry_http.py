"""The registry client's paths the loopback docker-registry cannot show: token auth, redirects, stalls.

A fake registry (aiohttp's web server on 127.0.0.1) asks for a Bearer token from its own realm and
sends blob downloads to "object storage" on another host name, as Docker Hub does; the pull must
fetch the token, follow the redirect without taking the registry's Authorization along, and check
what arrives against the digests. A blob can be made to stall half-way (a registry gone silent),
to show that cancelling a pull, or a sibling blob failing, stops it at once rather than after
the 30 s socket timeout, with no thread left behind and the partial blob kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from kuberya.images.errors import DigestMismatchError, ManifestUnknownError
from kuberya.images.oci import OCI_MANIFEST
from kuberya.images.service import ImageService, ImageSettings
from kuberya.images.transfer import RegistrySettings

TOKEN = "t0ken"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry:
    port: int = 0
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifest: bytes = b""
    storage_auth: list[str | None] = field(default_factory=list)
    token_requests: int = 0
    served_instead: dict[str, bytes] = field(default_factory=dict)
    """Blob digest → other bytes the storage sends (a corrupt download)."""
    stalled: set[str] = field(default_factory=set)
    """Blobs the storage sends half of, then goes silent (until :attr:`release` is set)."""
    missing: set[str] = field(default_factory=set)
    """Blobs the storage answers 404 for."""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/app/manifests/{tag}", self.get_manifest)
        app.router.add_get("/v2/app/blobs/{digest}", self.get_blob)
        app.router.add_get("/storage/{digest}", self.storage)
        return app

    def _authorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return None
        challenge = f'Bearer realm="http://{self.host}/token",service="fake",scope="repository:app:pull"'
        return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401,
                                 headers={"WWW-Authenticate": challenge})  # fmt: skip

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        assert request.query.getall("scope") == ["repository:app:pull"]
        return web.json_response({"token": TOKEN})

    async def get_manifest(self, request: web.Request) -> web.Response:
        if (refused := self._authorized(request)) is not None:
            return refused
        return web.Response(body=self.manifest, content_type=OCI_MANIFEST,
                            headers={"Docker-Content-Digest": _digest(self.manifest)})  # fmt: skip

    async def get_blob(self, request: web.Request) -> web.Response:
        if (refused := self._authorized(request)) is not None:
            return refused
        # Another host name for the same server: the client must treat it as another host.
        raise web.HTTPTemporaryRedirect(f"http://localhost:{self.port}/storage/{request.match_info['digest']}")

    async def storage(self, request: web.Request) -> web.StreamResponse:
        self.storage_auth.append(request.headers.get("Authorization"))
        digest = request.match_info["digest"]
        if digest in self.missing:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        body = self.served_instead.get(digest, self.blobs[digest])
        if digest not in self.stalled:
            return web.Response(body=body)
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await self.release.wait()
        return response


@pytest.fixture
async def fake_registry() -> AsyncIterator[FakeRegistry]:
    layers = [b"layer one" * 1000, bytes(range(256)) * 16_000]  # 4 MB: half of it is more than one 1 MB read
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [_digest(x) for x in layers]}}).encode()  # fmt: skip
    registry = FakeRegistry(blobs={_digest(b): b for b in (config, *layers)})
    registry.manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(x), "size": len(x)}
                   for x in layers],
    }).encode()  # fmt: skip
    runner = web.AppRunner(registry.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    registry.port = runner.addresses[0][1]
    try:
        yield registry
    finally:
        registry.release.set()
        await runner.cleanup()


def _service(registry: FakeRegistry, root: Path) -> ImageService:
    settings = RegistrySettings(insecure=frozenset({registry.host}))
    return ImageService(ImageSettings(root=root, registry=settings))


async def test_pull_with_a_bearer_token_and_blobs_redirected_to_storage(
    fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    service = _service(fake_registry, tmp_path)
    image = await service.pull(f"{fake_registry.host}/app:v1")
    assert image.digest == _digest(fake_registry.manifest)
    for digest, data in fake_registry.blobs.items():
        assert service.store.read_blob(digest) == data
    assert fake_registry.token_requests == 1  # cached for every later request of the same scope
    # The registry's token never went to the storage host.
    assert fake_registry.storage_auth == [None] * len(fake_registry.blobs)


async def test_a_corrupt_download_is_refused_and_not_stored(fake_registry: FakeRegistry, tmp_path: Path) -> None:
    corrupt = next(d for d, b in fake_registry.blobs.items() if len(b) > 100_000)
    fake_registry.served_instead[corrupt] = b"x" * len(fake_registry.blobs[corrupt])
    service = _service(fake_registry, tmp_path)
    with pytest.raises(DigestMismatchError, match="corrupt download"):
        await service.pull(f"{fake_registry.host}/app:v1")
    assert not service.store.has_blob(corrupt)
    assert service.find(f"{fake_registry.host}/app:v1") is None


def _transfer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kuberya-")]


def _big_layer(registry: FakeRegistry) -> str:
    return next(d for d, b in registry.blobs.items() if len(b) > 100_000)


async def test_cancelling_a_pull_stops_a_stalled_download_at_once_and_keeps_the_partial(
    fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    big = _big_layer(fake_registry)
    fake_registry.stalled.add(big)
    service = _service(fake_registry, tmp_path)
    task = asyncio.create_task(service.pull(f"{fake_registry.host}/app:v1"))
    partial = service.store.partial_path(big)
    deadline = time.monotonic() + 10
    while not (partial.exists() and partial.stat().st_size > 0):
        assert time.monotonic() < deadline, "the stalled blob never started arriving"
        await asyncio.sleep(0.02)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 3  # not the 30 s socket timeout
    assert _transfer_threads() == []  # joined before the cancellation reached us
    assert 0 < partial.stat().st_size <= len(fake_registry.blobs[big]) // 2  # kept, to resume
    assert not service.store.has_blob(big)
    assert service.find(f"{fake_registry.host}/app:v1") is None


async def test_a_failing_blob_stops_its_stalled_sibling_and_is_the_error_reported(
    fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    big = _big_layer(fake_registry)
    fake_registry.stalled.add(big)
    fake_registry.missing.update(d for d in fake_registry.blobs if d != big)
    service = _service(fake_registry, tmp_path)
    started = time.monotonic()
    with pytest.raises(ManifestUnknownError, match="does the image exist"):
        await service.pull(f"{fake_registry.host}/app:v1")
    assert time.monotonic() - started < 5
    assert _transfer_threads() == []
    assert service.find(f"{fake_registry.host}/app:v1") is None
