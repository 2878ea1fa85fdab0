"""A client of the OCI distribution API: manifests, blobs and auth.

One :class:`RegistryClient` per operation (it owns an :class:`~kuberya.images.http.HttpPool`: the
standard library's HTTP client, blocking, see that module for why); all requests go
through :meth:`RegistryClient._send`, which answers a ``401`` by following the registry's
``WWW-Authenticate`` challenge (Basic with the configured credentials, or a Bearer token from the
realm - anonymous if we have none) and retries once. Tokens are cached per host and scope.
Registries listed as *insecure* are reached over plain http (meant for loopback test registries).

**Pull** fetches the manifest (a manifest list / OCI index is resolved to the wanted platform),
then the config and the missing layers in parallel (``concurrency`` threads). Each blob streams
into ``tmp/<hex>.partial`` while being hashed, in one blocking loop per blob on its thread
(read into a reused buffer, hash, write: all three release the GIL, so layers are hashed on every
core and nothing is copied on the way); a partial file left by an interrupted pull is
resumed with a ``Range`` request; the digest and size are checked before the blob is renamed into
the store. Manifests are verified against the digest they were asked by, or against
``Docker-Content-Digest``. Redirects (registries send blob downloads to object storage) are
followed by hand so our ``Authorization`` never leaves for another host.

**Push** checks each blob with ``HEAD`` and skips what the registry has; otherwise it first tries
a cross-repository mount (``POST …/uploads/?mount=<digest>&from=<repo>``) from other repositories
of the same registry that the store knows hold the blob, then uploads monolithically (one ``PUT``)
or in ``PATCH`` chunks when ``chunk_size`` is set. The manifest goes last, byte-for-byte as stored,
so the registry computes the same digest we have.

Everything here blocks, one blob at a time; :mod:`kuberya.images.pullpush` moves whole images,
their blobs on threads of their own. The first failure, or a :class:`~kuberya.images.transfer.Cancel`
set from outside, stops the others: their sockets are shut, and a partial blob stays to be resumed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlencode, urljoin, urlsplit

from kuberya.images.auth import Challenge, Credentials, basic_header, credentials_for, parse_challenge
from kuberya.images.errors import (
    DigestMismatchError,
    ManifestUnknownError,
    PlatformNotFoundError,
    RegistryError,
    TransferCancelledError,
    UnauthorizedError,
    truncate,
)
from kuberya.images.http import Body, HttpPool, Response
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
    check_digest,
    format_platform,
    load_json,
    media_type_of,
    platform_matches,
    sha256_digest,
)
from kuberya.images.reference import Reference
from kuberya.images.store import ImageStore
from kuberya.images.transfer import Cancel, Progress, RegistrySettings

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
_CHUNK = 1 << 20
"""Bytes read from the socket (and hashed, and written) at a time while downloading a blob."""
_MAX_MANIFEST = 4 << 20
_USER_AGENT = "kuberya"
_SOCKET_TIMEOUT = 30.0
"""Seconds a connect, or the registry's silence in the middle of a request, may last."""
_REDIRECTS = (301, 302, 303, 307, 308)
_TRANSPORT_ERRORS = (TimeoutError, OSError, http.client.HTTPException)


@dataclass(frozen=True, slots=True)
class ResolvedManifest:
    data: bytes
    media_type: str
    digest: Digest
    index_digest: Digest | None = None
    """The manifest list's digest when the manifest was chosen from one."""


class RegistryClient:
    """Talks to registries on behalf of one operation; use ``with RegistryClient(settings)``.

    Thread-safe: the threads of one transfer share it (its connections and auth tokens).
    """

    def __init__(self, settings: RegistrySettings, *, cancel: Cancel | None = None) -> None:
        self.settings = settings
        self.cancel = cancel or Cancel()
        """Set it (from any thread) to stop the operation; a failing blob sets it to stop its siblings."""
        self._http: HttpPool | None = None
        self._auth: dict[tuple[str, str], str] = {}

    def __enter__(self) -> RegistryClient:
        self._http = HttpPool(timeout=_SOCKET_TIMEOUT, user_agent=_USER_AGENT)
        self.cancel.on_set(self._http.abort)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def http(self) -> HttpPool:
        if self._http is None:
            raise RuntimeError("RegistryClient used outside `with`")
        return self._http

    def check_cancelled(self, what: str) -> None:
        if self.cancel.is_set():
            raise TransferCancelledError(f"{what} was cancelled")

    # -- requests and auth ---------------------------------------------------------------------------

    def base_url(self, ref: Reference) -> str:
        host = ref.api_host
        scheme = "http" if host in self.settings.insecure or ref.domain in self.settings.insecure else "https"
        return f"{scheme}://{host}"

    def url(self, ref: Reference, tail: str) -> str:
        return f"{self.base_url(ref)}/v2/{ref.path}/{tail}"

    @contextmanager
    def _send(
        self,
        method: str,
        ref: Reference,
        url: str,
        *,
        scopes: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], Body] | None = None,
        redirects: bool = True,
    ) -> Iterator[Response]:
        """One request with auth; a 401 is answered once by following the challenge."""
        wanted = tuple(scopes or (f"repository:{ref.path}:pull",))
        key = (ref.api_host, " ".join(wanted))
        for attempt in range(2):
            all_headers = dict(headers or {})
            if key in self._auth:
                all_headers["Authorization"] = self._auth[key]
            self.check_cancelled(f"{method} {ref.familiar}")
            try:
                response = self.http.request(method, url, headers=all_headers, body=body)
            except _TRANSPORT_ERRORS as e:
                self.check_cancelled(f"{method} {ref.familiar}")
                parts = urlsplit(url)
                hint = ""
                if parts.scheme == "https" and "SSL" in str(e):
                    hint = f" - if it serves plain http, pass --insecure-registry {ref.domain}"
                raise RegistryError(f"cannot reach registry {ref.domain} ({parts.netloc}): {e}{hint}") from e
            try:
                if response.status == 401 and attempt == 0:
                    challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
                    self._auth[key] = self._authenticate(ref, challenge, wanted)
                    continue
                if redirects and response.status in _REDIRECTS and "Location" in response.headers:
                    location = urljoin(url, response.headers["Location"])
                    with self._follow(method, location, ref, headers or {}, body) as redirected:
                        yield redirected
                    return
                yield response
                return
            finally:
                self.http.release(response)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _follow(
        self, method: str, url: str, ref: Reference, headers: Mapping[str, str], body: Callable[[], Body] | None
    ) -> Iterator[Response]:
        """Follow redirects ourselves: the registry's Authorization must not go to another host."""
        for _ in range(5):
            try:
                response = self.http.request(method, url, headers=headers, body=body)
            except _TRANSPORT_ERRORS as e:
                self.check_cancelled(f"{method} {ref.familiar}")
                raise RegistryError(f"cannot fetch {urlsplit(url).netloc} (redirected from {ref.domain}): {e}") from e
            try:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                yield response
                return
            finally:
                self.http.release(response)
        raise RegistryError(f"too many redirects fetching from {ref.domain}")

    def _authenticate(self, ref: Reference, challenge: Challenge | None, scopes: Sequence[str]) -> str:
        creds = credentials_for(self.settings.auths, ref.domain)  # may run a docker credential helper
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
        return "Bearer " + self._fetch_token(ref, challenge, scopes, creds)

    def _fetch_token(
        self, ref: Reference, challenge: Challenge, scopes: Sequence[str], creds: Credentials | None
    ) -> str:
        realm = challenge.params["realm"]
        realm_host = urlsplit(realm).netloc
        service = challenge.params.get("service", "")
        wanted = list(scopes)
        if "scope" in challenge.params:
            wanted = sorted({*wanted, *challenge.params["scope"].split(" ")})
        try:
            if creds is not None and creds.identity_token:
                form = urlencode(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": creds.identity_token,
                        "service": service,
                        "scope": " ".join(wanted),
                        "client_id": _USER_AGENT,
                    }
                ).encode()
                response = self.http.request(
                    "POST", realm, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=lambda: form
                )  # fmt: skip
            else:
                query = (
                    [("service", service), *(("scope", s) for s in wanted)]
                    if service
                    else [("scope", s) for s in wanted]
                )
                auth_header = {"Authorization": basic_header(creds)} if creds is not None and creds.username else {}
                response = self.http.request("GET", _with_query(realm, query), headers=auth_header)
            try:
                text = response.text()
            finally:
                self.http.release(response)
        except _TRANSPORT_ERRORS as e:
            raise RegistryError(f"cannot reach token service {realm}: {e}") from e
        if response.status in (401, 403):
            what = "the credentials for" if creds else "anonymous access to"
            raise UnauthorizedError(
                f"token service {realm_host} refused {what} {ref.repository}: {truncate(text)}", status=response.status
            )
        if response.status != 200:
            raise RegistryError(f"token service {realm_host} answered {response.status}: {truncate(text)}",
                                status=response.status)  # fmt: skip
        doc = load_json(text.encode(), f"token from {realm_host}")
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service {realm_host} answered without a token")
        return token

    def _error(self, response: Response, what: str, ref: Reference) -> RegistryError:
        try:
            text = response.read(64 << 10).decode(errors="replace")
        except _TRANSPORT_ERRORS as e:
            text = f"(the body could not be read: {e})"
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

    def get_manifest(self, ref: Reference, selector: str | None = None) -> ResolvedManifest:
        """The manifest named by ``selector`` (a tag or digest; default the reference's), verified."""
        wanted = selector or ref.selector
        with self._send("GET", ref, self.url(ref, f"manifests/{wanted}"), headers={"Accept": ACCEPT}) as r:
            if r.status != 200:
                raise self._error(r, "pulling manifest of", ref)
            try:
                data = r.read(_MAX_MANIFEST + 1)
            except _TRANSPORT_ERRORS as e:
                raise RegistryError(f"reading the manifest of {ref.familiar} failed: {e}") from e
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

    def resolve(self, ref: Reference) -> ResolvedManifest:
        """The image manifest for our platform (following a manifest list / index)."""
        found = self.get_manifest(ref)
        if found.media_type not in INDEX_TYPES:
            if found.media_type not in MANIFEST_TYPES:
                raise RegistryError(f"{ref.familiar} has a manifest of unsupported type {found.media_type!r}")
            return found
        index = cast(Index, load_json(found.data, "manifest list"))
        wanted = self.settings.platform
        for descriptor in index["manifests"]:
            candidate = descriptor.get("platform")
            if candidate is not None and platform_matches(candidate, wanted):
                child = self.get_manifest(ref, check_digest(descriptor["digest"]))
                return ResolvedManifest(child.data, child.media_type, child.digest, index_digest=found.digest)
        available = ", ".join(format_platform(d["platform"]) for d in index["manifests"] if "platform" in d)
        raise PlatformNotFoundError(
            f"{ref.familiar} has no image for {format_platform(wanted)} (it has: {available or 'none listed'})"
        )

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> Digest:
        scopes = (f"repository:{ref.path}:pull,push",)
        url = self.url(ref, f"manifests/{ref.selector}")
        with self._send("PUT", ref, url, scopes=scopes, headers={"Content-Type": media_type},
                        body=lambda: data) as r:  # fmt: skip
            if r.status not in (200, 201, 202):
                raise self._error(r, "pushing manifest of", ref)
            said = r.headers.get("Docker-Content-Digest", "")
        digest = sha256_digest(data)
        if said and said != digest:
            raise DigestMismatchError(f"registry stored the manifest of {ref.familiar} as {said}, expected {digest}")
        return digest

    # -- blobs ---------------------------------------------------------------------------------------

    def blob_exists(self, ref: Reference, digest: str, *, push: bool = False) -> bool:
        scopes = (f"repository:{ref.path}:pull,push",) if push else None
        with self._send("HEAD", ref, self.url(ref, f"blobs/{digest}"), scopes=scopes) as r:
            if r.status == 200:
                return True
            if r.status == 404:
                return False
            raise self._error(r, "checking a blob of", ref)

    def fetch_blob(self, ref: Reference, descriptor: Descriptor, store: ImageStore, progress: Progress) -> None:
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
        progress.start(digest, label=digest[7:19], total=size)
        headers = {"Range": f"bytes={have}-"} if have else {}
        with self._send("GET", ref, self.url(ref, f"blobs/{digest}"), headers=headers) as r:
            if r.status == 206 and have:
                progress.advance(digest, have)
                mode = "ab"
            elif r.status == 200:
                have, hasher, mode = 0, hashlib.sha256(), "wb"
            else:
                raise self._error(r, "pulling a layer of", ref)
            deadline = time.monotonic() + self.settings.timeout
            try:
                with partial.open(mode, buffering=0) as out:
                    have = _receive(r, out, hasher, have=have, limit=size, deadline=deadline,
                                    advance=lambda n: progress.advance(digest, n), cancel=self.cancel)  # fmt: skip
            except _TRANSPORT_ERRORS as e:
                self.check_cancelled(f"pulling {ref.familiar}")
                raise RegistryError(
                    f"downloading blob {digest} of {ref.familiar} failed: {e}; pull again to resume"
                ) from e
        self.check_cancelled(f"pulling {ref.familiar}")  # a shut socket ends the body early: keep the partial
        actual = "sha256:" + hasher.hexdigest()
        if have != size or actual != digest:
            partial.unlink(missing_ok=True)
            raise DigestMismatchError(
                f"blob {digest} of {ref.familiar} arrived as {have} bytes hashing to {actual} "
                f"(expected {size} bytes): corrupt download or a misbehaving registry; retry the pull"
            )
        store.commit_blob(partial, digest)
        progress.finish(digest, note="pulled")

    def push_blob(
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
        if self.blob_exists(ref, digest, push=True):
            progress.finish(digest, note="exists")
            return "exists"
        location: str | None = None
        for source in mount_from:
            scopes = (f"repository:{ref.path}:pull,push", f"repository:{source}:pull")
            url = _with_query(self.url(ref, "blobs/uploads/"), [("mount", digest), ("from", source)])
            with self._send("POST", ref, url, scopes=scopes) as r:
                if r.status == 201:
                    progress.finish(digest, note=f"mounted from {source}")
                    return "mounted"
                if r.status == 202 and "Location" in r.headers:
                    location = urljoin(url, r.headers["Location"])
                    break
                if r.status not in (401, 403, 404):
                    raise self._error(r, "mounting a blob into", ref)
        if location is None:
            location = self._start_upload(ref)
        if self.settings.chunk_size:
            self._upload_chunked(ref, location, path, digest, progress)
        else:
            self._upload_monolithic(ref, location, path, digest, progress)
        progress.finish(digest, note="pushed")
        return "uploaded"

    def _start_upload(self, ref: Reference) -> str:
        scopes = (f"repository:{ref.path}:pull,push",)
        url = self.url(ref, "blobs/uploads/")
        with self._send("POST", ref, url, scopes=scopes, headers={"Content-Length": "0"}) as r:
            if r.status != 202 or "Location" not in r.headers:
                raise self._error(r, "starting an upload to", ref)
            return urljoin(url, str(r.headers["Location"]))

    def _upload_monolithic(self, ref: Reference, location: str, path: Path, digest: str, progress: Progress) -> None:
        scopes = (f"repository:{ref.path}:pull,push",)
        size = path.stat().st_size
        url = _with_query(location, [("digest", digest)])
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        deadline = time.monotonic() + self.settings.timeout

        def body() -> _ProgressFile:
            return _ProgressFile(path, advance=lambda n: progress.advance(digest, n), deadline=deadline,
                                 cancel=self.cancel)  # fmt: skip

        with self._send("PUT", ref, url, scopes=scopes, headers=headers, body=body) as r:
            if r.status not in (201, 204):
                raise self._error(r, "uploading a blob to", ref)

    def _upload_chunked(self, ref: Reference, location: str, path: Path, digest: str, progress: Progress) -> None:
        scopes = (f"repository:{ref.path}:pull,push",)
        chunk_size = self.settings.chunk_size or _CHUNK
        offset = 0
        with path.open("rb") as f:
            while chunk := f.read(chunk_size):
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
                           "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}  # fmt: skip
                body = _constant(chunk)
                with self._send("PATCH", ref, location, scopes=scopes, headers=headers, body=body) as r:
                    if r.status != 202 or "Location" not in r.headers:
                        raise self._error(r, "uploading a chunk to", ref)
                    location = urljoin(location, r.headers["Location"])
                offset += len(chunk)
                progress.advance(digest, len(chunk))
        url = _with_query(location, [("digest", digest)])
        with self._send("PUT", ref, url, scopes=scopes, headers={"Content-Length": "0"}) as r:
            if r.status not in (201, 204):
                raise self._error(r, "finishing the upload to", ref)


def _receive(
    response: Response,
    out: IO[bytes],
    hasher: Any,
    *,
    have: int,
    limit: int,
    advance: Callable[[int], None],
    cancel: Cancel,
    deadline: float,
) -> int:
    """Stream the body into ``out`` and ``hasher``; returns the byte count (stops past ``limit``).

    Blocking: runs on a worker thread, one per blob in flight. The socket is read into one buffer
    that is hashed and written from in place; each step releases the GIL, so several layers
    download and hash at once on all cores. Returns early (short) when ``cancel`` is set.
    """
    buffer = memoryview(bytearray(_CHUNK))
    while n := response.raw.readinto(buffer):
        chunk = buffer[:n]
        hasher.update(chunk)
        out.write(chunk)
        have += n
        advance(n)
        if have > limit:
            break
        if cancel.is_set():
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the download took longer than the registry timeout allows")
    return have


def _with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to its query (the registry's own upload state is kept as sent)."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


class _ProgressFile:
    """A blob file as a request body: ``http.client`` reads it in blocks on a worker thread."""

    def __init__(self, path: Path, *, advance: Callable[[int], None], deadline: float, cancel: Cancel) -> None:
        self._file = path.open("rb")
        self._advance = advance
        self._deadline = deadline
        self._cancel = cancel

    def read(self, size: int = -1) -> bytes:
        if self._cancel.is_set():
            raise ConnectionAbortedError("the upload was cancelled")
        if time.monotonic() > self._deadline:
            raise TimeoutError("the upload took longer than its time limit")
        data = self._file.read(size)
        self._advance(len(data))
        return data

    def close(self) -> None:
        self._file.close()
