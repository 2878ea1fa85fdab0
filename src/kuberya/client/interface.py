"""The client interface controllers depend on: :class:`ApiClient` and the fake both provide it.

Controllers take a :class:`KubeClient`, not the concrete :class:`~kuberya.client.ApiClient`, so
their tests hand them :class:`~kuberya.client.fake.FakeApiClient` and compare recorded actions.

Each verb's keyword options are declared once, in :mod:`kuberya.client.prepare`, and taken here
as ``**options: Unpack[...]``: a call with a keyword its verb does not take fails type checking.
Both clients subclass this protocol, so what is written in terms of the other verbs
(:meth:`KubeClient.update_status`) is written here once.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, Unpack

from kuberya.client.prepare import (
    DeleteOptions,
    GetOptions,
    ListOptions,
    PatchOptions,
    RawOptions,
    UpdateOptions,
    WatchOptions,
    WriteOptions,
)
from kuberya.client.resources import ResourceRef
from kuberya.client.watch import WatchEvent


class KubeClient(Protocol):
    async def get(self, ref: ResourceRef, name: str, **options: Unpack[GetOptions]) -> dict[str, Any]: ...

    async def list(self, ref: ResourceRef, **options: Unpack[ListOptions]) -> dict[str, Any]: ...

    async def create(
        self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[WriteOptions]
    ) -> dict[str, Any]: ...

    async def update(
        self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[UpdateOptions]
    ) -> dict[str, Any]: ...

    async def update_status(
        self, ref: ResourceRef, body: Mapping[str, Any], **options: Unpack[WriteOptions]
    ) -> dict[str, Any]:
        """Replace only ``status`` (the ``/status`` subresource): an ``update`` of it."""
        return await self.update(ref, body, subresource="status", **options)

    async def patch(
        self, ref: ResourceRef, name: str, body: Mapping[str, Any] | Sequence[Any], **options: Unpack[PatchOptions]
    ) -> dict[str, Any]: ...

    async def delete(self, ref: ResourceRef, name: str, **options: Unpack[DeleteOptions]) -> dict[str, Any]:
        """Delete; returns the server's answer: a ``Status``, or the object if deletion is pending."""
        ...

    def watch(self, ref: ResourceRef, **options: Unpack[WatchOptions]) -> AsyncIterator[WatchEvent]:
        """Stream changes after ``resource_version`` until the server ends the watch.

        An ``ERROR`` event raises its typed error (410 → :class:`~kuberya.client.errors.ExpiredError`).
        """
        ...

    async def discover(self, *, preferred_only: bool = True) -> builtins.list[ResourceRef]: ...

    async def raw(self, method: str, path: str, **options: Unpack[RawOptions]) -> Any:
        """Any request; the answer is decoded JSON, or text."""
        ...
