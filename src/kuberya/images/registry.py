"""A client of the OCI distribution API over aiohttp: manifests, blobs, auth, pull and push.

One :class:`RegistryClient` per operation (it owns an ``aiohttp.ClientSession``); all requests go
through :meth:`RegistryClient._send`, which answers a ``401`` by following the registry's
``WWW-Authenticate`` challenge (Basic with the configured credentials, or a Bearer token from the
realm - anonymous if we have none) and retries once. Tokens are cached per host and scope.
Registries listed as *insecure* are reached over plain http (meant for loopback test registries).

**Pull** fetches the manifest (a manifest list / OCI index is resolved to the wanted platform),
then the config and the missing layers in parallel (``concurrency`` at a time). Each blob streams
into ``tmp/<hex>.partial`` while being hashed; a partial file left by an interrupted pull is
resumed with a ``Range`` request; the digest and size are checked before the blob is renamed into
the store. Manifests are verified against the digest they were asked by, or against
``Docker-Content-Digest``. Redirects (registries send blob downloads to object storage) are
followed by hand so our ``Authorization`` never leaves for another host.

**Push** checks each blob with ``HEAD`` and skips what the registry has; otherwise it first tries
a cross-repository mount (``POST …/uploads/?mount=<digest>&from=<repo>``) from other repositories
of the same registry that the store knows hold the blob, then uploads monolithically (one ``PUT``)
or in ``PATCH`` chunks when ``chunk_size`` is set. The manifest goes last, byte-for-byte as stored,
so the registry computes the same digest we have.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import aiohttp
from yarl import URL

from kuberya.images.auth import Challenge, Credentials, basic_header, credentials_for, parse_challenge, registry_key
from kuberya.images.errors import (
    DigestMismatchError,
    ImageError,
    ManifestUnknownError,
    PlatformNotFoundError,
    RegistryError,
    UnauthorizedError,
    truncate,
)
from kuberya.images.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Digest,
    Index,
    Manifest,
    check_digest,
    format_platform,
    load_json,
    media_type_of,
    platform_matches,
    sha256_digest,
)
from kuberya.images.reference import Reference
from kuberya.images.store import Image, ImageStore
from kuberya.images.transfer import Progress, RegistrySettings

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
_CHUNK = 1 << 20
_HASH_BATCH = 4 << 20
_MAX_MANIFEST = 4 << 20
_USER_AGENT = "kuberya"


@dataclass(frozen=True, slots=True)
class ResolvedManifest:
    data: bytes
    media_type: str
    digest: Digest
    index_digest: Digest | None = None
    """The manifest list's digest when the manifest was chosen from one."""


class RegistryClient:
    """Talks to registries on behalf of one operation; use ``async with RegistryClient(settings)``."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._auth: dict[tuple[str, str], str] = {}

    async def __aenter__(self) -> RegistryClient:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout, sock_connect=30)
        connector = aiohttp.TCPConnector(limit=max(8, self.settings.concurrency * 2))
        self._session = aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers={"User-Agent": _USER_AGENT}, read_bufsize=_CHUNK
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RegistryClient used outside `async with`")
        return self._session

    # -- requests and auth ---------------------------------------------------------------------------

    def base_url(self, ref: Reference) -> URL:
        host = ref.api_host
        scheme = "http" if host in self.settings.insecure or ref.domain in self.settings.insecure else "https"
        return URL(f"{scheme}://{host}")

    def url(self, ref: Reference, tail: str) -> URL:
        return self.base_url(ref).with_path(f"/v2/{ref.path}/{tail}", encoded=False)

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        ref: Reference,
        url: URL,
        *,
        scopes: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        redirects: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request with auth; a 401 is answered once by following the challenge."""
        wanted = tuple(scopes or (f"repository:{ref.path}:pull",))
        key = (ref.api_host, " ".join(wanted))
        for attempt in range(2):
            all_headers = dict(headers or {})
            if key in self._auth:
                all_headers["Authorization"] = self._auth[key]
            try:
                response = await self.session.request(
                    method, url, headers=all_headers, data=body() if body else None, allow_redirects=False
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                hint = ""
                if url.scheme == "https" and "SSL" in str(e):
                    hint = f" - if it serves plain http, pass --insecure-registry {ref.domain}"
                raise RegistryError(f"cannot reach registry {ref.domain} ({url.host}:{url.port}): {e}{hint}") from e
            try:
                if response.status == 401 and attempt == 0:
                    challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
                    await response.read()
                    self._auth[key] = await self._authenticate(ref, challenge, wanted)
                    continue
                if redirects and response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                    location = url.join(URL(response.headers["Location"]))
                    await response.read()
                    async with self._follow(method, location, ref, headers or {}, body) as redirected:
                        yield redirected
                    return
                yield response
                return
            finally:
                response.release()
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _follow(
        self, method: str, url: URL, ref: Reference, headers: Mapping[str, str], body: Callable[[], Any] | None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Follow redirects ourselves: the registry's Authorization must not go to another host."""
        for _ in range(5):
            try:
                response = await self.session.request(
                    method, url, headers=dict(headers), data=body() if body else None, allow_redirects=False
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise RegistryError(f"cannot fetch {url.host} (redirected from {ref.domain}): {e}") from e
            try:
                if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                    url = url.join(URL(response.headers["Location"]))
                    await response.read()
                    continue
                yield response
                return
            finally:
                response.release()
        raise RegistryError(f"too many redirects fetching from {ref.domain}")

    async def _authenticate(self, ref: Reference, challenge: Challenge | None, scopes: Sequence[str]) -> str:
        creds = credentials_for(self.settings.auths, ref.domain)
        if challenge is None:
            raise UnauthorizedError(f"registry {ref.domain} wants authentication but sent no challenge", status=401)
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                raise UnauthorizedError(
                    f"registry {ref.domain} wants a username and password: add them to ~/.docker/config.json "
                    f"(or an imagePullSecret)",
                    status=401,
                )
            return basic_header(creds)
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise UnauthorizedError(f"registry {ref.domain} asks for unsupported auth {challenge.scheme!r}", status=401)
        return "Bearer " + await self._fetch_token(ref, challenge, scopes, creds)

    async def _fetch_token(
        self, ref: Reference, challenge: Challenge, scopes: Sequence[str], creds: Credentials | None
    ) -> str:
        realm = URL(challenge.params["realm"])
        service = challenge.params.get("service", "")
        wanted = list(scopes)
        if "scope" in challenge.params:
            wanted = sorted({*wanted, *challenge.params["scope"].split(" ")})
        try:
            if creds is not None and creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "service": service,
                        "scope": " ".join(wanted), "client_id": _USER_AGENT}  # fmt: skip
                response = await self.session.post(realm, data=form)
            else:
                query = (
                    [("service", service), *(("scope", s) for s in wanted)]
                    if service
                    else [("scope", s) for s in wanted]
                )
                auth_header = {"Authorization": basic_header(creds)} if creds is not None and creds.username else {}
                response = await self.session.get(realm.update_query(query), headers=auth_header)
            async with response:
                text = await response.text()
                if response.status in (401, 403):
                    what = "the credentials for" if creds else "anonymous access to"
                    raise UnauthorizedError(
                        f"token service {realm.host} refused {what} {ref.repository}: {truncate(text)}",
                        status=response.status,
                    )
                if response.status != 200:
                    raise RegistryError(f"token service {realm.host} answered {response.status}: {truncate(text)}",
                                        status=response.status)  # fmt: skip
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise RegistryError(f"cannot reach token service {realm}: {e}") from e
        doc = load_json(text.encode(), f"token from {realm.host}")
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service {realm.host} answered without a token")
        return token

    async def _error(self, response: aiohttp.ClientResponse, what: str, ref: Reference) -> RegistryError:
        text = (await response.content.read(64 << 10)).decode(errors="replace")
        code, message = "", text
        try:
            errors = json.loads(text).get("errors") or []
            if errors:
                code, message = str(errors[0].get("code", "")), str(errors[0].get("message", ""))
        except (ValueError, AttributeError):
            pass
        status = response.status
        detail = f"{what} {ref.familiar}: {status} {code or response.reason} {truncate(message)}".rstrip()
        if status in (401, 403):
            return UnauthorizedError(
                f"{detail} - check your credentials (~/.docker/config.json) or the name", status=status, code=code
            )
        if status == 404 or code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
            return ManifestUnknownError(f"{detail} - does the image exist?", status=status, code=code)
        return RegistryError(detail, status=status, code=code)

    # -- manifests -----------------------------------------------------------------------------------

    async def get_manifest(self, ref: Reference, selector: str | None = None) -> ResolvedManifest:
        """The manifest named by ``selector`` (a tag or digest; default the reference's), verified."""
        wanted = selector or ref.selector
        async with self._send("GET", ref, self.url(ref, f"manifests/{wanted}"), headers={"Accept": ACCEPT}) as r:
            if r.status != 200:
                raise await self._error(r, "pulling manifest of", ref)
            data = await r.content.read(_MAX_MANIFEST + 1)
            if len(data) > _MAX_MANIFEST:
                raise RegistryError(f"manifest of {ref.familiar} is larger than {_MAX_MANIFEST} bytes; refused")
            header_digest = r.headers.get("Docker-Content-Digest", "")
            content_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        digest = sha256_digest(data)
        expected = wanted if wanted.startswith("sha256:") else header_digest
        if expected and expected.startswith("sha256:") and digest != expected:
            raise DigestMismatchError(
                f"manifest of {ref.familiar} hashes to {digest}, but the registry said {expected}"
            )
        doc = load_json(data, f"manifest of {ref.familiar}")
        media_type = media_type_of(doc, content_type)
        if doc.get("schemaVersion") == 1:
            raise RegistryError(
                f"{ref.familiar} only has a Docker schema 1 manifest, which is obsolete and unsupported"
            )
        return ResolvedManifest(data=data, media_type=media_type, digest=digest)

    async def resolve(self, ref: Reference) -> ResolvedManifest:
        """The image manifest for our platform (following a manifest list / index)."""
        found = await self.get_manifest(ref)
        if found.media_type not in INDEX_TYPES:
            if found.media_type not in MANIFEST_TYPES:
                raise RegistryError(f"{ref.familiar} has a manifest of unsupported type {found.media_type!r}")
            return found
        index = cast(Index, load_json(found.data, "manifest list"))
        wanted = self.settings.platform
        for descriptor in index["manifests"]:
            candidate = descriptor.get("platform")
            if candidate is not None and platform_matches(candidate, wanted):
                child = await self.get_manifest(ref, check_digest(descriptor["digest"]))
                return ResolvedManifest(child.data, child.media_type, child.digest, index_digest=found.digest)
        available = ", ".join(format_platform(d["platform"]) for d in index["manifests"] if "platform" in d)
        raise PlatformNotFoundError(
            f"{ref.familiar} has no image for {format_platform(wanted)} (it has: {available or 'none listed'})"
        )

    async def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> Digest:
        scopes = (f"repository:{ref.path}:pull,push",)
        url = self.url(ref, f"manifests/{ref.selector}")
        async with self._send("PUT", ref, url, scopes=scopes, headers={"Content-Type": media_type},
                              body=lambda: data) as r:  # fmt: skip
            if r.status not in (200, 201, 202):
                raise await self._error(r, "pushing manifest of", ref)
            said = r.headers.get("Docker-Content-Digest", "")
        digest = sha256_digest(data)
        if said and said != digest:
            raise DigestMismatchError(f"registry stored the manifest of {ref.familiar} as {said}, expected {digest}")
        return digest

    # -- blobs ---------------------------------------------------------------------------------------

    async def blob_exists(self, ref: Reference, digest: str, *, push: bool = False) -> bool:
        scopes = (f"repository:{ref.path}:pull,push",) if push else None
        async with self._send("HEAD", ref, self.url(ref, f"blobs/{digest}"), scopes=scopes) as r:
            if r.status == 200:
                return True
            if r.status == 404:
                return False
            raise await self._error(r, "checking a blob of", ref)

    async def fetch_blob(self, ref: Reference, descriptor: Descriptor, store: ImageStore, progress: Progress) -> None:
        """Download one blob into the store, resuming a partial download, verifying digest and size."""
        digest = check_digest(descriptor["digest"])
        size = descriptor["size"]
        partial = store.partial_path(digest)
        hasher = hashlib.sha256()
        have = 0
        if partial.exists():
            with partial.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    hasher.update(chunk)
                    have += len(chunk)
            if have >= size:
                have, hasher = 0, hashlib.sha256()
        label = f"{digest[7:19]}"
        progress.start(digest, label=label, total=size)
        headers = {"Range": f"bytes={have}-"} if have else {}
        async with self._send("GET", ref, self.url(ref, f"blobs/{digest}"), headers=headers) as r:
            if r.status == 206 and have:
                progress.advance(digest, have)
                mode = "ab"
            elif r.status == 200:
                have, hasher, mode = 0, hashlib.sha256(), "wb"
            else:
                raise await self._error(r, "pulling a layer of", ref)
            with partial.open(mode) as out:
                have = await _receive(
                    r, out, hasher, have=have, limit=size, advance=lambda n: progress.advance(digest, n)
                )
        actual = "sha256:" + hasher.hexdigest()
        if have != size or actual != digest:
            partial.unlink(missing_ok=True)
            raise DigestMismatchError(
                f"blob {digest} of {ref.familiar} arrived as {have} bytes hashing to {actual} "
                f"(expected {size} bytes): corrupt download or a misbehaving registry; retry the pull"
            )
        store.commit_blob(partial, digest)
        progress.finish(digest, note="pulled")

    async def push_blob(
        self,
        ref: Reference,
        descriptor: Descriptor,
        path: Path,
        *,
        mount_from: Sequence[str] = (),
        progress: Progress,
    ) -> str:
        """Make sure the registry has the blob; returns ``exists``, ``mounted`` or ``uploaded``."""
        digest = descriptor["digest"]
        progress.start(digest, label=digest[7:19], total=descriptor["size"])
        if await self.blob_exists(ref, digest, push=True):
            progress.finish(digest, note="exists")
            return "exists"
        location: URL | None = None
        for source in mount_from:
            scopes = (f"repository:{ref.path}:pull,push", f"repository:{source}:pull")
            url = self.url(ref, "blobs/uploads/").with_query({"mount": digest, "from": source})
            async with self._send("POST", ref, url, scopes=scopes) as r:
                if r.status == 201:
                    progress.finish(digest, note=f"mounted from {source}")
                    return "mounted"
                if r.status == 202 and "Location" in r.headers:
                    location = url.join(URL(r.headers["Location"]))
                    break
                if r.status not in (401, 403, 404):
                    raise await self._error(r, "mounting a blob into", ref)
        if location is None:
            location = await self._start_upload(ref)
        if self.settings.chunk_size:
            await self._upload_chunked(ref, location, path, digest, progress)
        else:
            await self._upload_monolithic(ref, location, path, digest, progress)
        progress.finish(digest, note="pushed")
        return "uploaded"

    async def _start_upload(self, ref: Reference) -> URL:
        scopes = (f"repository:{ref.path}:pull,push",)
        url = self.url(ref, "blobs/uploads/")
        async with self._send("POST", ref, url, scopes=scopes, headers={"Content-Length": "0"}) as r:
            if r.status != 202 or "Location" not in r.headers:
                raise await self._error(r, "starting an upload to", ref)
            return url.join(URL(r.headers["Location"]))

    async def _upload_monolithic(
        self, ref: Reference, location: URL, path: Path, digest: str, progress: Progress
    ) -> None:
        scopes = (f"repository:{ref.path}:pull,push",)
        size = path.stat().st_size
        url = location.update_query({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with self._send(
            "PUT", ref, url, scopes=scopes, headers=headers, body=lambda: _file_chunks(path, progress, digest)
        ) as r:
            if r.status not in (201, 204):
                raise await self._error(r, "uploading a blob to", ref)

    async def _upload_chunked(self, ref: Reference, location: URL, path: Path, digest: str, progress: Progress) -> None:
        scopes = (f"repository:{ref.path}:pull,push",)
        chunk_size = self.settings.chunk_size or _CHUNK
        offset = 0
        with path.open("rb") as f:
            while chunk := f.read(chunk_size):
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
                           "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}  # fmt: skip
                body = _constant(chunk)
                async with self._send("PATCH", ref, location, scopes=scopes, headers=headers, body=body) as r:
                    if r.status != 202 or "Location" not in r.headers:
                        raise await self._error(r, "uploading a chunk to", ref)
                    location = location.join(URL(r.headers["Location"]))
                offset += len(chunk)
                progress.advance(digest, len(chunk))
        url = location.update_query({"digest": digest})
        async with self._send("PUT", ref, url, scopes=scopes, headers={"Content-Length": "0"}) as r:
            if r.status not in (201, 204):
                raise await self._error(r, "finishing the upload to", ref)


async def _receive(
    response: aiohttp.ClientResponse,
    out: IO[bytes],
    hasher: Any,
    *,
    have: int,
    limit: int,
    advance: Callable[[int], None],
) -> int:
    """Stream the body into ``out`` and ``hasher``; returns the byte count (stops past ``limit``).

    Hashing and writing run in a worker thread (hashlib and file writes release the GIL) while the
    loop receives the next buffer: on a small machine sha256 is the bottleneck, and this way the
    layers being fetched in parallel are hashed on all cores, the network overlapping the hashing.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None

    def consume(chunks: list[bytes]) -> None:
        for data in chunks:
            hasher.update(data)
        out.writelines(chunks)

    buffer: list[bytes] = []
    buffered = 0
    async for chunk in response.content.iter_any():
        buffer.append(chunk)
        buffered += len(chunk)
        have += len(chunk)
        if buffered >= _HASH_BATCH or have > limit:
            if pending is not None:
                await pending
            pending = loop.run_in_executor(None, consume, buffer)
            advance(buffered)
            buffer, buffered = [], 0
        if have > limit:
            break
    if pending is not None:
        await pending
    if buffer:
        consume(buffer)
        advance(buffered)
    return have


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


async def _file_chunks(path: Path, progress: Progress, key: str) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            progress.advance(key, len(chunk))
            yield chunk


# -- whole images ------------------------------------------------------------------------------------


async def pull_image(client: RegistryClient, ref: Reference, store: ImageStore, *, progress: Progress) -> Image:
    """Pull ``ref`` into ``store`` and name it; blobs already stored are not fetched again."""
    resolved = await client.resolve(ref)
    manifest = cast(Manifest, load_json(resolved.data, f"manifest of {ref.familiar}"))
    blobs = [manifest["config"], *manifest["layers"]]
    for descriptor in manifest["layers"]:
        if descriptor.get("urls") and not descriptor["mediaType"].startswith("application/vnd.oci"):
            raise ImageError(f"{ref.familiar} has foreign (non-distributable) layers, which are not supported")
    with store.lease():
        missing = [d for d in blobs if not store.has_blob(d["digest"])]
        for d in blobs:
            if d not in missing:
                progress.start(d["digest"], label=d["digest"][7:19], total=d["size"])
                progress.finish(d["digest"], note="already here")
        semaphore = asyncio.Semaphore(max(1, client.settings.concurrency))

        async def fetch(descriptor: Descriptor) -> None:
            async with semaphore:
                await client.fetch_blob(ref, descriptor, store, progress)

        await _gather_all([fetch(d) for d in missing])
        config = load_json(store.read_blob(manifest["config"]["digest"]), "image config")
        diff_ids = config.get("rootfs", {}).get("diff_ids", []) if isinstance(config, dict) else []
        if len(diff_ids) != len(manifest["layers"]):
            raise ImageError(
                f"{ref.familiar} is inconsistent: {len(manifest['layers'])} layers, {len(diff_ids)} diff_ids"
            )
        return store.add_image(resolved.data, names=(ref.name,))


async def push_image(
    client: RegistryClient, image: Image, ref: Reference, store: ImageStore, *, progress: Progress
) -> Digest:
    """Push ``image`` as ``ref``; returns the manifest digest the registry holds it by."""
    same_registry = [
        other for name in _names_with_blobs(store)
        if (other := _safe_parse(name)) is not None and registry_key(other.domain) == registry_key(ref.domain)
        and other.path != ref.path
    ]  # fmt: skip
    semaphore = asyncio.Semaphore(max(1, client.settings.concurrency))

    async def push(descriptor: Descriptor) -> None:
        sources = _mount_sources(store, same_registry, descriptor["digest"])
        async with semaphore:
            await client.push_blob(ref, descriptor, store.blob_path(descriptor["digest"]), mount_from=sources,
                                   progress=progress)  # fmt: skip

    with store.lease():
        await _gather_all([push(d) for d in [*image.manifest["layers"], image.manifest["config"]]])
        data = store.read_blob(image.digest)
    return await client.put_manifest(ref, data, image.media_type)


async def _gather_all(coroutines: Sequence[Any]) -> None:
    """Run all; on the first failure cancel the rest and raise it (no task is left behind)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _names_with_blobs(store: ImageStore) -> list[str]:
    return list(store.names())


def _safe_parse(name: str) -> Reference | None:
    from kuberya.images.reference import parse_reference

    try:
        return parse_reference(name)
    except ImageError:
        return None


def _mount_sources(store: ImageStore, candidates: Sequence[Reference], digest: str) -> list[str]:
    """Repositories of the target registry whose images (by our index) contain blob ``digest``."""
    names = store.names()
    sources: list[str] = []
    for candidate in candidates:
        manifest_digest = names.get(candidate.name)
        if manifest_digest is None or candidate.path in sources:
            continue
        try:
            manifest = json.loads(store.read_blob(manifest_digest))
        except (ImageError, ValueError, OSError):
            continue
        if any(d.get("digest") == digest for d in (manifest.get("config", {}), *manifest.get("layers", []))):
            sources.append(candidate.path)
    return sources[:3]


def partial_downloads(store: ImageStore) -> list[Path]:
    """Partial blob downloads waiting to be resumed (for diagnostics)."""
    return sorted(p for p in store.tmp.iterdir() if p.suffix == ".partial" and p.is_file() and os.access(p, os.R_OK))
