"""The asyncio Kubernetes API client: one aiohttp session, typed errors, watch streams, discovery.

Requests are built by the I/O-free :mod:`kuberya.client.prepare`; this module only sends them,
turns non-2xx answers into :mod:`kuberya.client.errors` and feeds watch bodies to
:class:`~kuberya.client.watch.WatchDecoder`. One :class:`aiohttp.ClientSession` (keep-alive) is
opened on first use, inside the running loop, and closed by :meth:`ApiClient.close`.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from kuberya.client.errors import error_from_response
from kuberya.client.kubeconfig import load_kubeconfig
from kuberya.client.prepare import (
    JSON,
    PatchType,
    PreparedRequest,
    PropagationPolicy,
    prepare_create,
    prepare_delete,
    prepare_get,
    prepare_list,
    prepare_patch,
    prepare_update,
    prepare_watch,
)
from kuberya.client.resources import ResourceRef
from kuberya.client.watch import WatchDecoder, WatchEvent, raise_for_error

logger = logging.getLogger(__name__)

USER_AGENT = "kuberya/0.1.0"
_WATCH_READ_SLACK = 30.0
"""Seconds past a watch's ``timeoutSeconds`` before a silent connection is considered dead."""


class ApiClient:
    """An asynchronous client of one Kubernetes API server."""

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
        self._request_timeout = request_timeout
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
                timeout=aiohttp.ClientTimeout(total=self._request_timeout),
            )
        return self._session

    async def _send(self, req: PreparedRequest) -> Any:
        session = self._get_session()
        async with session.request(
            req.method,
            self.base_url + req.path,
            params=list(req.params),
            headers=dict(req.headers),
            data=req.body,
        ) as resp:
            payload = await resp.read()
            if resp.status >= 400:
                raise error_from_response(resp.status, payload)
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

    async def get(
        self, ref: ResourceRef, name: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> dict[str, Any]:
        return await self._send_object(prepare_get(ref, name, namespace=namespace, subresource=subresource))

    async def list(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> dict[str, Any]:
        req = prepare_list(
            ref,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
            limit=limit,
            continue_=continue_,
        )
        return await self._send_object(req)

    async def create(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        req = prepare_create(ref, body, namespace=namespace, field_manager=field_manager, dry_run=dry_run)
        return await self._send_object(req)

    async def update(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        req = prepare_update(
            ref,
            body,
            namespace=namespace,
            subresource=subresource,
            field_manager=field_manager,
            dry_run=dry_run,
        )
        return await self._send_object(req)

    async def update_status(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        return await self.update(
            ref, body, namespace=namespace, subresource="status", field_manager=field_manager, dry_run=dry_run
        )

    async def patch(
        self,
        ref: ResourceRef,
        name: str,
        body: Mapping[str, Any] | Sequence[Any],
        *,
        namespace: str | None = None,
        patch_type: PatchType,
        field_manager: str | None = None,
        force: bool | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        req = prepare_patch(
            ref,
            name,
            body,
            namespace=namespace,
            patch_type=patch_type,
            field_manager=field_manager,
            force=force,
            subresource=subresource,
            dry_run=dry_run,
        )
        return await self._send_object(req)

    async def delete(
        self,
        ref: ResourceRef,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete; returns the server's answer: a ``Status``, or the object if deletion is pending."""
        req = prepare_delete(
            ref,
            name,
            namespace=namespace,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            preconditions=preconditions,
            dry_run=dry_run,
        )
        return await self._send_object(req)

    async def watch(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Stream changes after ``resource_version`` until the server ends the watch.

        An ``ERROR`` event raises its typed error (410 → :class:`~kuberya.client.errors.ExpiredError`).
        """
        req = prepare_watch(
            ref,
            namespace=namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
        read_timeout = timeout_seconds + _WATCH_READ_SLACK if timeout_seconds else None
        session = self._get_session()
        async with session.request(
            req.method,
            self.base_url + req.path,
            params=list(req.params),
            headers=dict(req.headers),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=read_timeout),
        ) as resp:
            if resp.status >= 400:
                raise error_from_response(resp.status, await resp.read())
            decoder = WatchDecoder()
            async for chunk in resp.content.iter_any():
                for event in decoder.feed(chunk):
                    raise_for_error(event)
                    yield event
            for event in decoder.close():
                raise_for_error(event)
                yield event

    async def raw(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """Any request: ``body`` is JSON-encoded unless bytes; the answer is decoded JSON or text."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Accept": JSON}
        if data is not None:
            headers["Content-Type"] = content_type
        return await self._send(PreparedRequest(method.upper(), path, tuple(params), headers, data))

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
