"""The asyncio Kubernetes API client: one aiohttp session, typed errors, watch streams, discovery.

Requests are built by the I/O-free :mod:`kuberya.client.prepare`; this module only sends them,
turns non-2xx answers into :mod:`kuberya.client.errors` and feeds watch bodies to
:class:`~kuberya.client.watch.WatchDecoder`. One :class:`aiohttp.ClientSession` (keep-alive) is
opened on first use, inside the running loop, and closed by :meth:`ApiClient.close`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import aiohttp

from kuberya.client.errors import error_from_response
from kuberya.client.interface import KubeClient
from kuberya.client.kubeconfig import load_kubeconfig
from kuberya.client.prepare import (
    JSON,
    DeleteOptions,
    GetOptions,
    ListOptions,
    PatchOptions,
    PreparedRequest,
    RawOptions,
    UpdateOptions,
    WatchOptions,
    WriteOptions,
    prepare_create,
    prepare_delete,
    prepare_get,
    prepare_list,
    prepare_patch,
    prepare_raw,
    prepare_update,
    prepare_watch,
)
from kuberya.client.resources import ResourceRef
from kuberya.client.watch import WatchDecoder, WatchEvent, raise_for_error

logger = logging.getLogger(__name__)

USER_AGENT = "kuberya/0.1.0"
_WATCH_READ_SLACK = 30.0
"""Seconds past a watch's ``timeoutSeconds`` before a silent connection is considered dead."""


class ApiClient(KubeClient):
    """An asynchronous client of one Kubernetes API server (verbs documented on :class:`KubeClient`)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl: ssl_module.SSLContext | bool | None,
        token: str | None = None,
        request_timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl: ssl_module.SSLContext | bool = True if ssl is None else ssl
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, *, context: str | None = None) -> ApiClient:
        """Make a client for ``context`` (default: current-context) of the kubeconfig at ``path``."""
        creds = load_kubeconfig(path, context=context)
        ctx = creds.ssl_context()
        return cls(creds.server, ssl=ctx if ctx is not None else True, token=creds.token)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": USER_AGENT}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=100),
                headers=headers,
                timeout=self._timeout,
            )
        return self._session

    @contextlib.asynccontextmanager
    async def _response(
        self, req: PreparedRequest, timeout: aiohttp.ClientTimeout | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send ``req``; yield the response, unless it is an error: then raise its typed error."""
        async with self._get_session().request(
            req.method,
            self.base_url + req.path,
            params=list(req.params),
            headers=dict(req.headers),
            data=req.body,
            timeout=timeout or self._timeout,
        ) as resp:
            if resp.status >= 400:
                raise error_from_response(resp.status, await resp.read())
            yield resp

    async def _send(self, req: PreparedRequest) -> Any:
        async with self._response(req) as resp:
            payload = await resp.read()
            if not payload:
                return {}
            if "json" in resp.headers.get("Content-Type", JSON):
                return json.loads(payload)
            return payload.decode("utf-8", errors="replace")

    async def _send_object(self, req: PreparedRequest) -> dict[str, Any]:
        result = await self._send(req)
        if not isinstance(result, dict):
            raise ValueError(f"{req.method} {req.path}: expected a JSON object, got {type(result).__name__}")
        return result

    async def get(self, ref: ResourceRef, name: str, **options: Unpack[GetOptions]) -> dict[str, Any]:
        return await self._send_object(prepare_get(ref, name, **options))

    async def list(self, ref: ResourceRef, **options: Unpack[ListOptions]) -> dict[str, Any]:
        return await self._send_object(prepare_list(ref, **options))

    async def create(
        self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[WriteOptions]
    ) -> dict[str, Any]:
        return await self._send_object(prepare_create(ref, body, **options))

    async def update(
        self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[UpdateOptions]
    ) -> dict[str, Any]:
        return await self._send_object(prepare_update(ref, body, **options))

    async def patch(
        self, ref: ResourceRef, name: str, body: Mapping[str, Any] | Sequence[Any], **options: Unpack[PatchOptions]
    ) -> dict[str, Any]:
        return await self._send_object(prepare_patch(ref, name, body, **options))

    async def delete(self, ref: ResourceRef, name: str, **options: Unpack[DeleteOptions]) -> dict[str, Any]:
        return await self._send_object(prepare_delete(ref, name, **options))

    async def watch(self, ref: ResourceRef, **options: Unpack[WatchOptions]) -> AsyncIterator[WatchEvent]:
        req = prepare_watch(ref, **options)
        timeout_seconds = options.get("timeout_seconds")
        read_timeout = timeout_seconds + _WATCH_READ_SLACK if timeout_seconds else None
        async with self._response(req, aiohttp.ClientTimeout(total=None, sock_read=read_timeout)) as resp:
            decoder = WatchDecoder()
            async for chunk in resp.content.iter_any():
                for event in decoder.feed(chunk):
                    raise_for_error(event)
                    yield event
            for event in decoder.close():
                raise_for_error(event)
                yield event

    async def raw(self, method: str, path: str, **options: Unpack[RawOptions]) -> Any:
        return await self._send(prepare_raw(method, path, **options))

    async def version(self) -> dict[str, Any]:
        """Return the server's ``/version`` (``gitVersion``, ``major``, ``minor``…)."""
        return await self._send_object(PreparedRequest("GET", "/version", (), {"Accept": JSON}))

    async def discover(self, *, preferred_only: bool = True) -> builtins.list[ResourceRef]:
        """Every resource the server serves (subresources left out), from ``/api`` and ``/apis``.

        With ``preferred_only`` a group contributes only its preferred version, as client-go's
        ``ServerPreferredResources`` (what the garbage collector and namespace controller use). A
        group whose resource list fails (an unavailable aggregated API) is logged and skipped.
        """
        core, groups = await asyncio.gather(self.raw("GET", "/api"), self.raw("GET", "/apis"))
        group_versions: builtins.list[tuple[str, str]] = [("", v) for v in core.get("versions", [])]
        for group in groups.get("groups", []):
            versions = group.get("versions", [])
            preferred = group.get("preferredVersion") or (versions[0] if versions else None)
            chosen = [preferred] if preferred_only and preferred else versions
            group_versions.extend((group["name"], v["version"]) for v in chosen)

        async def resources_of(group: str, version: str) -> builtins.list[ResourceRef]:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                listing = await self.raw("GET", path)
            except Exception as exc:
                logger.warning("discovery of %s failed, skipping it: %s", path, exc)
                return []
            return parse_resource_list(group, version, listing)

        lists = await asyncio.gather(*(resources_of(g, v) for g, v in group_versions))
        return [ref for refs in lists for ref in refs]


def parse_resource_list(group: str, version: str, listing: Mapping[str, Any]) -> builtins.list[ResourceRef]:
    """Parse the resources of one ``APIResourceList``, subresources (``pods/status``) left out."""
    refs = []
    for res in listing.get("resources", []):
        name = str(res.get("name", ""))
        if not name or "/" in name:
            continue
        refs.append(
            ResourceRef(
                group,
                version,
                name,
                bool(res.get("namespaced")),
                str(res.get("kind", "")),
                frozenset(res.get("verbs") or ()),
            )
        )
    return refs
