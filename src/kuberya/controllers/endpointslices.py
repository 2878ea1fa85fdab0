"""The EndpointSlice controller: ``discovery.k8s.io/v1`` slices for every selecting Service.

The same inputs and the same level-triggered shape as :mod:`kuberya.controllers.endpoints`
(informers on Services, Pods and our own slices enqueue Service keys; ``sync(key)`` computes the
desired state from the caches), with upstream's EndpointSlice semantics:

* terminating pods stay listed, with conditions ``ready: false``, ``serving: <pod Ready>``,
  ``terminating: true`` — the proxy uses that to drain them rather than cut them off;
  ``publishNotReadyAddresses`` makes every listed endpoint ready and serving;
* pods are grouped by the resolved port set (a named ``targetPort`` may map to different
  numbers on different pods); each group fills slices of at most ``max_endpoints_per_slice``;
* a Service with no endpoints keeps one empty placeholder slice, as upstream does;
* every slice carries ``kubernetes.io/service-name``, ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io`` and the Service's labels (``service.kubernetes.io/headless``
  for headless ones), a controller ``ownerReference`` to the Service (so the garbage collector
  removes them with it; we also delete them when we see the Service gone) and a
  ``generateName`` of ``<service>-``.

Reconciling reuses existing slices of the same port set in name order, updates those whose
content differs, creates what is missing and deletes what is left over. Slices without our
``managed-by`` label (mirrored or hand-made ones) are never touched.

The cache lags our own writes, and a sync on a stale cache would create a second slice for the
same pods. Like upstream's ``EndpointSliceTracker``, :class:`WrittenSlices` remembers the
resourceVersion of every slice we wrote (or that we deleted it) until the cache has caught up;
until then a sync of that Service waits and retries instead of acting.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any, Unpack

from kuberya.client import (
    ConflictError,
    KubeClient,
    NotFoundError,
    malformed,
    split_key,
)
from kuberya.client.resources import ENDPOINTSLICES
from kuberya.controllers.base import Wiring
from kuberya.controllers.endpoints import (
    PortNotFoundError,
    ServicePodsController,
    endpoint_hostname,
    endpoints_labels,
    find_port,
    is_terminating,
    pod_ip,
    selected_pods,
    service_selector,
    should_be_in_endpoints,
    target_ref,
)
from kuberya.controllers.ownership import NAMESPACE_INDEX, meta, owner_reference
from kuberya.controllers.pods import is_ready
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
COMPONENT = "endpoint-slice-controller"
SERVICE_INDEX = "service"
MAX_ENDPOINTS_PER_SLICE = 100


def slice_service_index(slice_: Obj) -> list[str]:
    """Our slices under ``namespace/service``; slices managed by others are not indexed."""
    labels = meta(slice_).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{meta(slice_).get('namespace')}/{labels[SERVICE_NAME_LABEL]}"]


def address_type(ip: str) -> str:
    return "IPv6" if isinstance(ipaddress.ip_address(ip), ipaddress.IPv6Address) else "IPv4"


def pod_endpoint(service: Obj, pod: Obj) -> Obj:
    """One pod as a slice endpoint, with upstream's conditions."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    terminating = is_terminating(pod)
    serving = publish_not_ready or is_ready(pod)
    # "ready" is never true for a terminating pod, unless the Service publishes not-ready ones.
    ready = publish_not_ready or (serving and not terminating)
    endpoint: Obj = {
        "addresses": [pod_ip(pod)],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": target_ref(pod),
    }
    if (pod.get("spec") or {}).get("nodeName"):
        endpoint["nodeName"] = pod["spec"]["nodeName"]
    hostname = endpoint_hostname(service, pod)
    if hostname:
        endpoint["hostname"] = hostname
    return endpoint


def pod_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The endpoint ports this pod offers for the Service's ports (unresolvable ones left out)."""
    ports: list[Obj] = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        try:
            number = find_port(pod, service_port)
        except PortNotFoundError:
            continue
        port: Obj = {
            "name": service_port.get("name") or "",
            "port": number,
            "protocol": service_port.get("protocol") or "TCP",
        }
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"]))


def _ports_key(ports: Iterable[Obj]) -> tuple[tuple[str, int, str, str], ...]:
    return tuple(
        sorted(
            (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
             str(p.get("appProtocol") or ""))
            for p in ports
        )
    )  # fmt: skip


def desired_groups(service: Obj, pods: Iterable[Obj]) -> list[tuple[str, list[Obj], list[Obj]]]:
    """``(addressType, ports, endpoints)`` per distinct port set, endpoints sorted by address."""
    groups: dict[tuple[str, tuple[tuple[str, int, str, str], ...]], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not should_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = pod_ports(service, pod)
        if (service.get("spec") or {}).get("ports") and not ports:
            continue  # the pod offers none of the Service's ports
        key = (address_type(pod_ip(pod)), _ports_key(ports))
        groups.setdefault(key, (ports, []))[1].append(pod_endpoint(service, pod))
    result = []
    for (family, _), (ports, endpoints) in sorted(groups.items()):
        endpoints.sort(key=lambda e: (e["addresses"][0], str(e["targetRef"].get("name"))))
        result.append((family, ports, endpoints))
    return result


class WrittenSlices:
    """Our own writes the slice cache has not shown yet, per Service key."""

    def __init__(self) -> None:
        self._expected: dict[str, dict[str, int | None]] = {}
        """service key -> slice name -> resourceVersion written (None: deleted)."""

    def wrote(self, service_key: str, slice_: Obj) -> None:
        rv = str(meta(slice_).get("resourceVersion") or "")
        if rv.isdigit():
            self._expected.setdefault(service_key, {})[str(meta(slice_).get("name"))] = int(rv)

    def deleted(self, service_key: str, name: str) -> None:
        self._expected.setdefault(service_key, {})[name] = None

    def forget(self, service_key: str) -> None:
        self._expected.pop(service_key, None)

    def is_stale(self, service_key: str, cached: Iterable[Obj]) -> bool:
        """Tell whether the cache misses one of our writes; forgets them once it shows them all."""
        expected = self._expected.get(service_key)
        if not expected:
            return False
        seen = {str(meta(s).get("name")): str(meta(s).get("resourceVersion") or "0") for s in cached}
        for name, rv in expected.items():
            if rv is None:
                if name in seen:
                    return True
            elif name not in seen or (seen[name].isdigit() and int(seen[name]) < rv):
                return True
        del self._expected[service_key]
        return False


class EndpointSliceController(ServicePodsController):
    """Keeps the managed EndpointSlices of every selecting Service equal to its pods."""

    def __init__(
        self,
        client: KubeClient,
        *,
        workers: int = 2,
        max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
        **wiring: Unpack[Wiring],
    ) -> None:
        super().__init__(client, name="endpointslice", component=COMPONENT, workers=workers, **wiring)
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.stale_retry_seconds = 0.1
        """How soon a sync that found the cache behind our own writes looks again."""
        self.written = WrittenSlices()
        self.slices = self.informer(ENDPOINTSLICES, label_selector=f"{MANAGED_BY_LABEL}={CONTROLLER_NAME}")
        self.slices.add_index(SERVICE_INDEX, slice_service_index)
        self.slices.add_handlers(
            on_add=self._enqueue_service_of_slice,
            on_update=lambda _o, new: self._enqueue_service_of_slice(new),
            on_delete=self._enqueue_service_of_slice,
        )

    def _enqueue_service_of_slice(self, slice_: Obj) -> None:
        for key in slice_service_index(slice_):
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        """Make the managed slices of Service ``key`` match its pods."""
        await self.invalid.sync(key, self._sync)

    async def _sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        assert namespace is not None, f"a Service key without a namespace: {key}"
        existing = self.slices.by_index(SERVICE_INDEX, key)
        if self.written.is_stale(key, existing):
            self.queue.add_after(key, self.stale_retry_seconds)
            return
        service = self.services.get(key)
        if service is not None:
            malformed.check(service, malformed.SERVICE)
        selector = service_selector(service) if service is not None else None
        if service is None or selector is None:
            # Gone, or not ours to manage any more (a removed selector would leave slices that lie).
            for stale in existing:
                await self._delete(key, stale)
            return
        pods = selected_pods(self.pods.by_index(NAMESPACE_INDEX, namespace), selector)
        desired = self._desired_slices(service, pods)
        by_ports: dict[tuple[str, tuple[tuple[str, int, str, str], ...]], list[Obj]] = {}
        for current in sorted(existing, key=lambda s: str(meta(s).get("name"))):
            group_key = (str(current.get("addressType") or "IPv4"), _ports_key(current.get("ports") or []))
            by_ports.setdefault(group_key, []).append(current)
        leftovers = list(existing)
        changed = False
        for body in desired:
            group_key = (str(body["addressType"]), _ports_key(body["ports"]))
            reusable = by_ports.get(group_key) or []
            if reusable:
                current = reusable.pop(0)
                leftovers.remove(current)
                changed |= await self._update_if_changed(key, current, body)
            else:
                self.written.wrote(key, await self.client.create(ENDPOINTSLICES, body, namespace=namespace))
                changed = True
        for stale in leftovers:
            await self._delete(key, stale)
            changed = True
        if changed:
            logger.debug("endpointslices of %s: %d slice(s)", key, len(desired))

    def _desired_slices(self, service: Obj, pods: list[Obj]) -> list[Obj]:
        namespace, name = meta(service).get("namespace"), str(meta(service).get("name"))
        labels = endpoints_labels(service)
        labels[SERVICE_NAME_LABEL] = name
        labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
        owner = owner_reference(service, api_version="v1", kind="Service")

        def new_slice(family: str, ports: list[Obj], endpoints: list[Obj]) -> Obj:
            return {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": f"{name}-",
                    "namespace": namespace,
                    "labels": dict(labels),
                    "ownerReferences": [dict(owner)],
                },
                "addressType": family,
                "ports": copy.deepcopy(ports),
                "endpoints": endpoints,
            }

        slices: list[Obj] = []
        for family, ports, endpoints in desired_groups(service, pods):
            size = self.max_endpoints_per_slice
            for start in range(0, len(endpoints), size):
                slices.append(new_slice(family, ports, endpoints[start : start + size]))
        if not slices:
            slices.append(new_slice("IPv4", [], []))  # upstream's placeholder
        return slices

    async def _update_if_changed(self, key: str, current: Obj, body: Obj) -> bool:
        wanted_labels = body["metadata"]["labels"]
        same = (
            _sorted_endpoints(current.get("endpoints")) == body["endpoints"]
            and (meta(current).get("labels") or {}) == wanted_labels
            and _owner_uids(current) == _owner_uids(body)
        )
        if same:
            return False
        updated = copy.deepcopy(current)
        updated["metadata"]["labels"] = wanted_labels
        updated["metadata"]["ownerReferences"] = body["metadata"]["ownerReferences"]
        updated["endpoints"] = body["endpoints"]
        updated["ports"] = body["ports"]
        try:
            self.written.wrote(
                key, await self.client.update(ENDPOINTSLICES, updated, namespace=meta(current).get("namespace"))
            )
        except ConflictError:
            self.queue.add_after(key, self.stale_retry_seconds)  # a newer version is on its way to the cache
        return True

    async def _delete(self, key: str, slice_: Obj) -> None:
        self.written.deleted(key, str(meta(slice_).get("name")))
        try:
            await self.client.delete(
                ENDPOINTSLICES,
                str(meta(slice_).get("name")),
                namespace=meta(slice_).get("namespace"),
                preconditions={"uid": str(meta(slice_).get("uid"))} if meta(slice_).get("uid") else None,
            )
        except (NotFoundError, ConflictError):
            return


def _owner_uids(obj: Obj) -> list[str]:
    return sorted(str(r.get("uid")) for r in meta(obj).get("ownerReferences") or [] if isinstance(r, dict))


def _sorted_endpoints(endpoints: Any) -> list[Obj]:
    if not isinstance(endpoints, list):
        return []
    return sorted(
        endpoints, key=lambda e: (str((e.get("addresses") or [""])[0]), str((e.get("targetRef") or {}).get("name")))
    )
