"""The namespace controller: empties a terminating namespace, then lets it go.

A namespace deleted through the API keeps existing, in phase ``Terminating``, while its
``spec.finalizers`` holds ``kubernetes``. ``sync(name)`` then deletes every namespaced object in
it, over every discovered resource that can be listed and deleted; when a pass finds nothing left
it removes ``kubernetes`` through the ``/finalize`` subresource (upstream's way), and the server
deletes the namespace. Objects that take time to go (pods terminating gracefully, objects with
finalizers) make the pass report what remains and the name is looked at again shortly.

For a live namespace it does what upstream's serviceaccounts controller does: make sure the
``default`` ServiceAccount exists. At start it creates the namespaces every cluster has.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Unpack

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    KubeClient,
    MethodNotAllowedError,
    NotFoundError,
    ResourceRef,
    malformed,
)
from kuberya.client.resources import NAMESPACES, SERVICEACCOUNTS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import meta
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


FINALIZER = "kubernetes"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
COMPONENT = "namespace-controller"
DEFAULT_SERVICE_ACCOUNT = "default"


class ContentRemainingError(Exception):
    """Some objects in a terminating namespace are still going away."""


class NamespaceController(QueueController):
    """Deletes the contents of terminating namespaces and keeps live ones usable."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 2,
        recheck_seconds: float = 0.5,
        system_namespaces: Sequence[str] = SYSTEM_NAMESPACES,
        **wiring: Unpack[Wiring],
    ) -> None:
        super().__init__(client, name="namespace", component=COMPONENT, workers=workers, **wiring)
        self.recheck_seconds = recheck_seconds
        """How soon a namespace whose contents are still going away is looked at again."""
        self.system_namespaces = tuple(system_namespaces)
        # A namespace gone is a namespace emptied: its delete leaves nothing to do.
        self.namespaces = self.primary(NAMESPACES, enqueue_deletes=False)
        self.service_accounts = self.informer(
            SERVICEACCOUNTS, field_selector=f"metadata.name={DEFAULT_SERVICE_ACCOUNT}"
        )
        self.service_accounts.add_handlers(on_delete=self._enqueue_namespace_of)

    def _enqueue_namespace_of(self, obj: Obj) -> None:
        namespace = meta(obj).get("namespace")
        if namespace:
            self.queue.add(str(namespace))

    async def run(self) -> None:
        """Create the system namespaces, then reconcile namespaces until cancelled."""
        await self.ensure_system_namespaces()
        await super().run()

    async def ensure_system_namespaces(self) -> None:
        for name in self.system_namespaces:
            try:
                await self.client.create(
                    NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                )
            except AlreadyExistsError:
                continue
            logger.info("created namespace %s", name)

    async def sync(self, name: str) -> None:
        """Bring namespace ``name`` (as cached) to where it should be."""
        await self.invalid.sync(name, self._sync)

    async def _sync(self, name: str) -> None:
        namespace = self.namespaces.get(name)
        if namespace is None:
            return
        malformed.check(namespace, malformed.NAMESPACE)
        if meta(namespace).get("deletionTimestamp"):
            try:
                await self._delete_contents(namespace)
            except ContentRemainingError as remaining:
                logger.debug("namespace %s: %s; looking again in %.1fs", name, remaining, self.recheck_seconds)
                self.queue.add_after(name, self.recheck_seconds)
            return
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        await self._ensure_default_service_account(name)

    async def _ensure_default_service_account(self, namespace: str) -> None:
        if self.service_accounts.get(f"{namespace}/{DEFAULT_SERVICE_ACCOUNT}") is not None:
            return
        body = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace},
        }
        try:
            await self.client.create(SERVICEACCOUNTS, body, namespace=namespace)
        except (AlreadyExistsError, ForbiddenError, NotFoundError):
            # Already there (the cache lags), or the namespace is going away.
            return
        logger.info("namespace %s: created the default service account", namespace)

    async def _delete_contents(self, namespace: Obj) -> None:
        name = str(meta(namespace)["name"])
        if FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return  # already finalized by us; other finalizers belong to others
        resources = [r for r in await self.client.discover() if r.namespaced and r.supports("list", "delete")]
        remaining: list[str] = []
        failures: list[str] = []
        for ref in resources:
            try:
                remaining.extend(await self._delete_all(ref, name))
            except (NotFoundError, MethodNotAllowedError):
                continue
            except ApiError as exc:
                failures.append(f"{ref.group_resource}: {exc}")
        if failures:
            raise RuntimeError(f"namespace {name}: cannot delete all contents: {'; '.join(failures)}")
        if remaining:
            shown = ", ".join(remaining[:5]) + ("…" if len(remaining) > 5 else "")
            raise ContentRemainingError(f"{len(remaining)} objects still going away ({shown})")
        await self._finalize(name)

    async def _delete_all(self, ref: ResourceRef, namespace: str) -> list[str]:
        """Delete every object of ``ref`` in ``namespace``; returns those not gone yet."""
        listing = await self.client.list(ref, namespace=namespace)
        remaining = []
        for item in listing.get("items") or []:
            item_meta = meta(item)
            label = f"{ref.group_resource}/{item_meta.get('name')}"
            if item_meta.get("deletionTimestamp"):
                remaining.append(label)
                continue
            try:
                answer = await self.client.delete(
                    ref,
                    str(item_meta.get("name")),
                    namespace=namespace,
                    propagation_policy="Background",
                    preconditions={"uid": str(item_meta.get("uid", ""))} if item_meta.get("uid") else None,
                )
            except NotFoundError:
                continue
            except ConflictError:
                remaining.append(label)  # replaced by a new object of that name: next pass
                continue
            if answer.get("kind") != "Status" and meta(answer).get("deletionTimestamp"):
                remaining.append(label)
        return remaining

    async def _finalize(self, name: str) -> None:
        try:
            current = await self.client.get(NAMESPACES, name)
        except NotFoundError:
            return
        body = copy.deepcopy(current)
        spec = body.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.update(NAMESPACES, body, subresource="finalize")
        except NotFoundError:
            return
        logger.info("namespace %s: emptied and finalized", name)
