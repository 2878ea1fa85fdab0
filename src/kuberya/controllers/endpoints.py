"""The endpoints controller: one ``Endpoints`` object per selecting Service, kept equal to its pods.

Level-triggered as upstream's ``endpoints_controller``: informers on Services, Pods and
Endpoints only enqueue ``namespace/name`` keys of Services; ``sync(key)`` computes the whole
desired object from the caches and writes it only when it differs from what is stored.

What goes in (upstream's ``syncService``):

* Services of type ExternalName and Services without a selector are left alone (their
  Endpoints, if any, belong to the user);
* a pod counts when its labels match the selector, it has a ``podIP``, it is not terminal
  (Succeeded/Failed) and, unless ``publishNotReadyAddresses``, not terminating;
* its address (``ip``, ``nodeName``, ``targetRef`` {Pod, namespace, name, uid}, ``hostname`` when
  the pod names the Service as its subdomain) goes into ``addresses`` when the pod is Ready (or
  the Service publishes not-ready addresses), else into ``notReadyAddresses``;
* every service port is resolved per pod (:func:`find_port`: a named ``targetPort`` is looked up
  in that pod's containers), so pods that number one port name differently end up in different
  subsets; a pod that lacks a named port is left out of that port only;
* a headless Service without ports still lists its pods, in a subset without ports;
* subsets are repacked as upstream's ``RepackSubsets``: addresses offering the same set of ports
  share one subset; everything is sorted so that equal content compares equal.

The Endpoints carries the Service's labels plus ``service.kubernetes.io/headless`` for headless
Services. When the Service goes, its Endpoints is deleted.

The pod helpers here (:func:`find_port`, :func:`selected_pods`, …) and the event wiring
(:class:`ServicePodsController`) are shared with the EndpointSlice controller, which makes the
same choices in the newer shape.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from kuberya.client import (
    AlreadyExistsError,
    ConflictError,
    Informer,
    KubeClient,
    NotFoundError,
    malformed,
    object_key,
    split_key,
)
from kuberya.client.resources import ENDPOINTS, PODS, SERVICES
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import NAMESPACE_INDEX, meta, namespace_index
from kuberya.controllers.pods import is_ready, phase
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


COMPONENT = "endpoint-controller"
HEADLESS_LABEL = "service.kubernetes.io/headless"


class PortNotFoundError(LookupError):
    """A service port names a ``targetPort`` the pod does not declare."""


# -- what services and pods say -------------------------------------------------------------------


def service_selector(service: Obj) -> dict[str, str] | None:
    """The selector of a Service these controllers manage, or None to leave it alone.

    ExternalName Services get no endpoints; a missing or empty selector means the endpoints are
    the user's (an empty map would otherwise select every pod of the namespace).
    """
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        return None
    return {str(k): str(v) for k, v in selector.items()}


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def services_selecting(services: Informer, pod: Obj) -> list[Obj]:
    """The Services (from an informer indexed by namespace) whose selector picks ``pod``."""
    namespace = str(meta(pod).get("namespace") or "")
    return [
        service
        for service in services.by_index(NAMESPACE_INDEX, namespace)
        if (selector := service_selector(service)) is not None and labels_match(selector, pod)
    ]


def labels_match(selector: Mapping[str, str], pod: Obj) -> bool:
    labels = meta(pod).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    if status.get("podIP"):
        return str(status["podIP"])
    for entry in status.get("podIPs") or []:
        if isinstance(entry, dict) and entry.get("ip"):
            return str(entry["ip"])
    return ""


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def should_be_in_endpoints(pod: Obj, *, include_terminating: bool) -> bool:
    """Upstream's ``ShouldPodBeInEndpoints``: not terminal, has an IP, terminating only if asked."""
    if is_terminal(pod) or not pod_ip(pod):
        return False
    return include_terminating or not is_terminating(pod)


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int:
    """The pod's port number for ``service_port`` (upstream's ``podutil.FindPort``).

    A numeric ``targetPort`` is taken as it is (absent, it defaults to ``port``); a name is
    looked up among the container ports of the pod with the same protocol, sidecar init
    containers included.
    """
    target = service_port.get("targetPort")
    if target is None or target == "":
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    name = str(target)
    if name.isdigit():
        return int(name)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    # Sidecars (restartable init containers) serve traffic too.
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == name and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    raise PortNotFoundError(f"no container port named {name!r} ({protocol})")


def target_ref(pod: Obj) -> dict[str, Any]:
    m = meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"), "uid": m.get("uid")}


def endpoint_hostname(service: Obj, pod: Obj) -> str | None:
    """The pod's ``spec.hostname`` when it asks to be named under this Service (``subdomain``)."""
    spec = pod.get("spec") or {}
    if (
        spec.get("hostname")
        and spec.get("subdomain") == meta(service).get("name")
        and meta(service).get("namespace") == meta(pod).get("namespace")
    ):
        return str(spec["hostname"])
    return None


def endpoints_labels(service: Obj) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (meta(service).get("labels") or {}).items()}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def selected_pods(pods: Iterable[Obj], selector: Mapping[str, str]) -> list[Obj]:
    """The pods ``selector`` picks, by name.

    A malformed pod is left out, rather than failing every sync of its Services: it cannot run
    (the scheduler and the node agent say so on it).
    """
    picked = (p for p in pods if labels_match(selector, p) and malformed.conforms(p, malformed.POD))
    return sorted(picked, key=lambda p: str(meta(p).get("name") or ""))


# -- the desired subsets ---------------------------------------------------------------------------


PortKey = tuple[str, int, str, str]
"""(name, port, protocol, appProtocol): everything an endpoint port holds."""


def _port_key(port: Mapping[str, Any]) -> PortKey:
    return (str(port.get("name") or ""), int(port.get("port") or 0), str(port.get("protocol") or "TCP"),
            str(port.get("appProtocol") or ""))  # fmt: skip


def desired_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The ``subsets`` of the Service's Endpoints, repacked and sorted (see the module docstring)."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    # address key -> (address, ready); port key -> set of address keys offering it.
    addresses: dict[tuple[str, str], tuple[Obj, bool]] = {}
    offered: dict[PortKey | None, set[tuple[str, str]]] = {}
    port_objects: dict[PortKey, Obj] = {}
    for pod in pods:
        if not should_be_in_endpoints(pod, include_terminating=publish_not_ready):
            continue
        address: Obj = {"ip": pod_ip(pod), "targetRef": target_ref(pod)}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        hostname = endpoint_hostname(service, pod)
        if hostname:
            address["hostname"] = hostname
        key = (address["ip"], str(address["targetRef"]["uid"] or ""))
        ready = publish_not_ready or is_ready(pod)
        if not service_ports:
            if is_headless(service):
                addresses[key] = (address, ready)
                offered.setdefault(None, set()).add(key)
            continue
        for service_port in service_ports:
            try:
                number = find_port(pod, service_port)
            except PortNotFoundError as e:
                logger.debug("service %s: pod %s: %s", object_key(service), object_key(pod), e)
                continue
            port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
            if service_port.get("name"):
                port["name"] = service_port["name"]
            if service_port.get("appProtocol"):
                port["appProtocol"] = service_port["appProtocol"]
            addresses[key] = (address, ready)
            offered.setdefault(_port_key(port), set()).add(key)
            port_objects[_port_key(port)] = port
    return _repack(addresses, offered, port_objects)


def _repack(
    addresses: dict[tuple[str, str], tuple[Obj, bool]],
    offered: dict[PortKey | None, set[tuple[str, str]]],
    port_objects: dict[PortKey, Obj],
) -> list[Obj]:
    """Group addresses by the exact set of ports they offer: one subset per distinct set."""
    ports_of: dict[tuple[str, str], list[PortKey]] = {}
    for port_key, keys in offered.items():
        for key in keys:
            entry = ports_of.setdefault(key, [])
            if port_key is not None:
                entry.append(port_key)
    groups: dict[tuple[PortKey, ...], list[tuple[str, str]]] = {}
    for address_key, offered_ports in ports_of.items():
        groups.setdefault(tuple(sorted(offered_ports)), []).append(address_key)
    subsets: list[Obj] = []
    for port_keys, members in sorted(groups.items()):
        ready = [copy.deepcopy(addresses[k][0]) for k in sorted(members) if addresses[k][1]]
        not_ready = [copy.deepcopy(addresses[k][0]) for k in sorted(members) if not addresses[k][1]]
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if port_keys:
            subset["ports"] = [copy.deepcopy(port_objects[k]) for k in port_keys]
        subsets.append(subset)
    return subsets


# -- the controller --------------------------------------------------------------------------------


class ServicePodsController(QueueController):
    """What both endpoints controllers are: Service keys, enqueued by the Services and their pods.

    A Service's own changes enqueue it; a pod's add, update or delete enqueues every Service
    whose selector picks it (before and after an update: a label change moves a pod from one
    Service to another). Both informers are indexed by namespace.
    """

    def __init__(
        self, client: KubeClient, *, name: str, component: str, workers: int, **wiring: Unpack[Wiring]
    ) -> None:
        super().__init__(client, name=name, component=component, workers=workers, **wiring)
        self.services = self.primary(SERVICES)
        self.pods = self.informer(PODS)
        self.services.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_handlers(
            on_add=self._enqueue_services_of,
            on_update=self._pod_updated,
            on_delete=self._enqueue_services_of,
        )

    def _enqueue_services_of(self, pod: Obj) -> None:
        for service in services_selecting(self.services, pod):
            self.enqueue(service)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._enqueue_services_of(old)
        self._enqueue_services_of(new)


class EndpointsController(ServicePodsController):
    """Keeps ``v1/Endpoints`` of every selecting Service equal to its matching pods."""

    def __init__(self, client: KubeClient, *, workers: int = 2, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="endpoints", component=COMPONENT, workers=workers, **wiring)
        self.endpoints = self.informer(ENDPOINTS)
        # A managed Endpoints deleted or changed by someone else is put back.
        self.endpoints.add_handlers(on_update=self.enqueue_new, on_delete=self.enqueue)

    async def sync(self, key: str) -> None:
        """Make the Endpoints of Service ``key`` what its pods say it should be."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        namespace, name = split_key(key)
        assert namespace is not None, f"a Service key without a namespace: {key}"
        service = self.services.get(key)
        if service is None:
            await self._delete(namespace, name)
            return
        malformed.check(service, malformed.SERVICE)
        selector = service_selector(service)
        if selector is None:
            return
        pods = selected_pods(self.pods.by_index(NAMESPACE_INDEX, namespace), selector)
        subsets = desired_subsets(service, pods)
        labels = endpoints_labels(service)
        current = self.endpoints.get(key)
        if current is None:
            body: Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "subsets": subsets,
            }
            try:
                await self.client.create(ENDPOINTS, body, namespace=namespace)
            except AlreadyExistsError:
                # The cache lags our own earlier create: look again once it has caught up.
                self.queue.add_after(key, 0.1)
            return
        if _normalized(current.get("subsets")) == subsets and (meta(current).get("labels") or {}) == labels:
            return
        updated = copy.deepcopy(current)
        updated["metadata"]["labels"] = labels
        updated["subsets"] = subsets
        try:
            await self.client.update(ENDPOINTS, updated, namespace=namespace)
        except ConflictError:
            self.queue.add_after(key, 0.1)  # a newer version is on its way into the cache

    async def _delete(self, namespace: str, name: str) -> None:
        if self.endpoints.get(f"{namespace}/{name}") is None:
            return
        try:
            await self.client.delete(ENDPOINTS, name, namespace=namespace)
        except NotFoundError:
            return


def _normalized(subsets: Any) -> list[Obj]:
    """Stored subsets with the defaults the server fills in, for comparing with desired ones."""
    result = copy.deepcopy(subsets) if isinstance(subsets, list) else []
    for subset in result:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")
    return result
