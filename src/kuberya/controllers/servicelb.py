"""The service load-balancer controller: LoadBalancer Services get the node as their ingress.

On one machine a "load balancer" is the node itself: the proxy already serves every
LoadBalancer Service's NodePorts on the node address, so all that is missing is the status that
tells clients where to go. Like k3s's ServiceLB (klipper-lb) but without its per-service pods,
``sync(key)`` sets ``status.loadBalancer.ingress`` to ``[{ip: <node_ip>}]`` for every Service of
type LoadBalancer without a foreign ``spec.loadBalancerClass``, and clears it when a Service
stops being one. ``kubectl get svc`` then shows the address under EXTERNAL-IP.

Writes are JSON merge patches of ``/status`` alone, made only when the status differs.
"""

from __future__ import annotations

import logging
from typing import Unpack

from kuberya.client import KubeClient, malformed
from kuberya.client.resources import SERVICES
from kuberya.controllers.base import QueueController, Wiring
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


LOAD_BALANCER_CLASS = "kuberya.io/servicelb"
"""The class we answer for besides none at all (``spec.loadBalancerClass`` unset)."""
COMPONENT = "service-lb-controller"
# What this controller reads of a Service: it has no business refusing one for its ports.
_SERVICE = malformed.fields(
    metadata=malformed.METADATA, spec=malformed.fields(type=malformed.string, loadBalancerClass=malformed.string)
)


class ServiceLBController(QueueController):
    """Publishes the node address as the ingress of LoadBalancer Services."""

    def __init__(
        self, client: KubeClient, *, node_ip: str = "127.0.0.1", workers: int = 1, **wiring: Unpack[Wiring]
    ) -> None:
        super().__init__(client, name="servicelb", component=COMPONENT, workers=workers, **wiring)
        self.node_ip = node_ip
        """What LoadBalancer Services are reachable at: where the proxy binds NodePorts."""
        # A deleted Service takes its status with it: there is nothing to clear.
        self.services = self.primary(SERVICES, enqueue_deletes=False)

    def desired_ingress(self, service: Obj) -> list[Obj]:
        spec = service.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            return []
        return [{"ip": self.node_ip}]

    def is_ours(self, service: Obj) -> bool:
        lb_class = (service.get("spec") or {}).get("loadBalancerClass")
        return lb_class in (None, "", LOAD_BALANCER_CLASS)

    async def sync(self, key: str) -> None:
        """Make Service ``key``'s ``status.loadBalancer`` say where it is reachable."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        service = self.services.get(key)
        if service is None:
            return
        malformed.check(service, _SERVICE)
        if not self.is_ours(service):
            return
        wanted = self.desired_ingress(service)
        current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if current == wanted:
            return
        # A merge patch replaces the list whole; an empty loadBalancer clears it.
        status = {"loadBalancer": {"ingress": wanted} if wanted else {"ingress": None}}
        if await self.patch_status(SERVICES, service, status) is None:
            return
        logger.info("service %s: load balancer ingress %s", key, wanted or "cleared")
