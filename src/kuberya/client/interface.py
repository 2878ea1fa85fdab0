"""The client interface controllers depend on: :class:`ApiClient` and the fake both provide it.

Controllers take a :class:`KubeClient`, not the concrete :class:`~kuberya.client.ApiClient`, so
their tests hand them :class:`~kuberya.client.fake.FakeApiClient` and compare recorded actions.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from kuberya.client.prepare import PatchType, PropagationPolicy
from kuberya.client.resources import ResourceRef
from kuberya.client.watch import WatchEvent


class KubeClient(Protocol):
    async def get(
        self, ref: ResourceRef, name: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> dict[str, Any]: ...

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
    ) -> dict[str, Any]: ...

    async def create(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

    async def update(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

    async def update_status(
        self,
        ref: ResourceRef,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

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
    ) -> dict[str, Any]: ...

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
    ) -> dict[str, Any]: ...

    def watch(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]: ...

    async def discover(self, *, preferred_only: bool = True) -> builtins.list[ResourceRef]: ...

    async def raw(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any: ...
