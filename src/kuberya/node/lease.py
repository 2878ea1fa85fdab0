"""The node lease: the node agent's heartbeat, a Lease renewed every 10 seconds.

As upstream's kubelet (``component-helpers/apimachinery/lease``, started by ``pkg/kubelet``):
the Lease ``<node name>`` in ``kube-node-lease`` holds ``holderIdentity: <node name>`` and
``leaseDurationSeconds: 40``, and every ``renew_interval`` (a quarter of the duration: 10 s) its
``renewTime`` moves to now. It is created when missing, owned by the Node (so it goes with it)
as soon as the Node exists, and a conflicting write is retried at once on a fresh copy, at most
five times, as upstream's ``maxUpdateRetries``. A failed renewal is logged and tried again at
the next tick: the node controller reads an expired lease as a node that stopped heartbeating
(:mod:`kuberya.controllers.node`).
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Callable

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    Clock,
    ConflictError,
    KubeClient,
    LoopClock,
    NotFoundError,
    SharedInformerFactory,
)
from kuberya.client.resources import LEASES, NODES
from kuberya.meta.timefmt import RFC3339_MICRO
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
"""Upstream's ``nodeLeaseDurationSeconds`` default."""
MAX_UPDATE_RETRIES = 5
FIELD_MANAGER = "kubelet"


def micro_time(when: datetime.datetime) -> str:
    """``when`` as ``metav1.MicroTime`` serializes: ``2026-01-02T03:04:05.123456Z``."""
    return when.astimezone(datetime.UTC).strftime(RFC3339_MICRO)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class NodeLeaseController:
    """Creates and renews this node's Lease; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        *,
        node_name: str,
        lease_duration_seconds: int = LEASE_DURATION_SECONDS,
        renew_interval: float | None = None,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        now: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        del informers  # one object, read and written directly: no cache to share
        self.client = client
        self.node_name = node_name
        self.lease_duration_seconds = lease_duration_seconds
        self.renew_interval = renew_interval if renew_interval is not None else lease_duration_seconds / 4
        self._clock: Clock = clock or LoopClock()
        self._now = now or _utc_now
        """The wall clock ``renewTime`` is read from (tests pin it)."""

    async def run(self) -> None:
        """Renew the lease every ``renew_interval`` until cancelled."""
        while True:
            try:
                await self.sync()
            except (ApiError, OSError) as exc:
                logger.warning("node lease %s: cannot renew: %s", self.node_name, exc)
            await self._clock.sleep(self.renew_interval)

    async def sync(self) -> Obj:
        """Make the lease exist, owned by the Node, renewed now; return it as written."""
        try:
            lease = await self.client.get(LEASES, self.node_name, namespace=NODE_LEASE_NAMESPACE)
        except NotFoundError:
            created = await self._create()
            if created is not None:
                return created
            lease = await self.client.get(LEASES, self.node_name, namespace=NODE_LEASE_NAMESPACE)
        for attempt in range(MAX_UPDATE_RETRIES):
            try:
                return await self.client.update(
                    LEASES, await self._renewed(lease), namespace=NODE_LEASE_NAMESPACE, field_manager=FIELD_MANAGER
                )
            except ConflictError:
                if attempt == MAX_UPDATE_RETRIES - 1:
                    raise
                lease = await self.client.get(LEASES, self.node_name, namespace=NODE_LEASE_NAMESPACE)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _create(self) -> Obj | None:
        body: Obj = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.node_name, "namespace": NODE_LEASE_NAMESPACE},
            "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": self.lease_duration_seconds},
        }
        body = await self._renewed(body)
        try:
            return await self.client.create(LEASES, body, namespace=NODE_LEASE_NAMESPACE, field_manager=FIELD_MANAGER)
        except AlreadyExistsError:
            return None  # created meanwhile (a previous agent): renew that one

    async def _renewed(self, lease: Obj) -> Obj:
        out = copy.deepcopy(lease)
        spec = out.setdefault("spec", {})
        spec["holderIdentity"] = self.node_name
        spec["leaseDurationSeconds"] = self.lease_duration_seconds
        spec["renewTime"] = micro_time(self._now())
        metadata = out.setdefault("metadata", {})
        if not metadata.get("ownerReferences"):
            owner = await self._node_owner()
            if owner is not None:
                metadata["ownerReferences"] = [owner]
        return out

    async def _node_owner(self) -> Obj | None:
        # Upstream's setNodeOwnerFunc: the Node may not be registered yet; the next renewal retries.
        try:
            node = await self.client.get(NODES, self.node_name)
        except NotFoundError:
            return None
        uid = (node.get("metadata") or {}).get("uid")
        if not uid:
            return None
        return {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": uid}
