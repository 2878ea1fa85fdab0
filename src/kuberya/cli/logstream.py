"""Streaming a pod's log (``follow=true``) for ``ask "payment 로그 실시간으로"``.

:class:`kuberya.client.ApiClient` reads whole bodies (``raw``) or watch events (``watch``); a
followed log is neither — an open-ended text body. Rather than reach into the client's session,
this opens its own aiohttp session from the same kubeconfig credentials (the client package's
public :func:`~kuberya.client.kubeconfig.load_kubeconfig`) and yields text as it arrives.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from kuberya.client.errors import error_from_response
from kuberya.client.kubeconfig import load_kubeconfig


class KubeconfigLogFollower:
    """A :data:`kuberya.cli.plan_runner.LogFollower` for one kubeconfig context."""

    def __init__(self, kubeconfig: Path, context: str) -> None:
        self.kubeconfig = kubeconfig
        self.context = context

    async def __call__(self, path: str, query: Sequence[tuple[str, str]]) -> AsyncIterator[str]:
        import aiohttp

        creds = load_kubeconfig(self.kubeconfig, context=self.context)
        ssl = creds.ssl_context()
        headers = {"Authorization": f"Bearer {creds.token}"} if creds.token else {}
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl if ssl is not None else True),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None),
            ) as session,
            session.get(creds.server + path, params=list(query)) as resp,
        ):
            if resp.status >= 400:
                raise error_from_response(resp.status, await resp.read())
            async for chunk in resp.content.iter_any():
                yield decoder.decode(chunk)
            if tail := decoder.decode(b"", final=True):
                yield tail
