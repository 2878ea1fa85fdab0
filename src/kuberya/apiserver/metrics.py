"""The resource metrics API, ``metrics.k8s.io/v1beta1``: what metrics-server serves, served in-process.

``kubectl top pods|nodes`` and the HPA controller read ``PodMetrics`` and ``NodeMetrics`` here, in
exactly metrics-server's shape::

    {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
     "metadata": {"name", "namespace", "creationTimestamp", "labels"},
     "timestamp": "…Z", "window": "5.002s",
     "containers": [{"name": "app", "usage": {"cpu": "12345678n", "memory": "20480Ki"}}]}

Metrics are samples, not state: they are kept in memory (:class:`MetricsStore`), never in storage,
and lost on restart like metrics-server's. The node agent (:mod:`kuberya.node.metrics`) is their
only writer and publishes a node's whole view every few seconds with two kuberya-specific writes,
which upstream's read-only API does not have and discovery does not advertise:

- ``PUT /apis/metrics.k8s.io/v1beta1/nodes/<node>`` with a ``NodeMetrics``: the node's usage;
- ``PUT /apis/metrics.k8s.io/v1beta1/nodes/<node>/pods`` with a ``PodMetricsList``: the usage of
  every pod on that node, *replacing* what the node published before — so a pod that went away
  simply drops out, with no delete to send.

Reads join the samples with the live objects, as metrics-server does with its informers: a pod
list (namespace, ``labelSelector``, ``fieldSelector``) is taken from storage and each pod that has
a sample of the same uid is answered, with the pod's current labels. A pod without a sample is
left out of lists and is a 404 by name. A node's samples older than :data:`STALE_AFTER_SECONDS`
are dropped: an agent that stopped publishing must not keep an autoscaler busy with old numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.request import json_response, query_flag, read_object, selection_from_query
from kuberya.meta.timefmt import now_rfc3339
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
API_GROUP = kinds.APIGroup(name=GROUP, versions=(VERSION,))
STALE_AFTER_SECONDS = 60.0
"""A node's samples are dropped this long after its last publish (12 missed rounds of 5 s)."""

_READ_VERBS = ("get", "list")
RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        group=GROUP,
        version=VERSION,
        resource="nodes",
        kind="NodeMetrics",
        singular="",
        namespaced=False,
        verbs=_READ_VERBS,
        served_from_storage=False,
    ),
    ResourceType(
        group=GROUP,
        version=VERSION,
        resource="pods",
        kind="PodMetrics",
        singular="",
        namespaced=True,
        verbs=_READ_VERBS,
        served_from_storage=False,
    ),
)
_PODS_TYPE = kinds.lookup("", "v1", "pods")
_NODES_TYPE = kinds.lookup("", "v1", "nodes")


def resources_in(group: str, version: str) -> tuple[ResourceType, ...]:
    """The metrics types served in ``group/version`` (for discovery); empty for any other group."""
    return RESOURCE_TYPES if (group, version) == (GROUP, VERSION) else ()


@dataclass(slots=True)
class _NodeSamples:
    received: float
    """``time.monotonic()`` of the last publish."""
    node: JSONObject | None = None
    pods: dict[tuple[str, str], JSONObject] = field(default_factory=dict)
    """``(namespace, name)`` → the published PodMetrics."""


class MetricsStore:
    """The latest samples each node published; see the module docstring."""

    def __init__(self, *, stale_after: float = STALE_AFTER_SECONDS) -> None:
        self.stale_after = stale_after
        self._nodes: dict[str, _NodeSamples] = {}

    def publish_node(self, name: str, metrics: JSONObject) -> None:
        samples = self._nodes.setdefault(name, _NodeSamples(time.monotonic()))
        samples.received = time.monotonic()
        samples.node = metrics

    def publish_pods(self, node: str, items: list[JSONObject]) -> None:
        samples = self._nodes.setdefault(node, _NodeSamples(time.monotonic()))
        samples.received = time.monotonic()
        samples.pods = {(item["metadata"]["namespace"], item["metadata"]["name"]): item for item in items}

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.stale_after
        for name in [name for name, samples in self._nodes.items() if samples.received < cutoff]:
            del self._nodes[name]

    def node(self, name: str) -> JSONObject | None:
        self._expire()
        samples = self._nodes.get(name)
        return samples.node if samples is not None else None

    def pod(self, namespace: str, name: str) -> JSONObject | None:
        self._expire()
        for samples in self._nodes.values():
            found = samples.pods.get((namespace, name))
            if found is not None:
                return found
        return None


METRICS_KEY = web.AppKey("metrics", MetricsStore)


async def serve(request: web.Request, *, store: ObjectStore, version: str, rest: list[str]) -> web.Response:
    """Answer one request below ``/apis/metrics.k8s.io/<version>/`` (``rest`` is what follows)."""
    if version != VERSION:
        raise errors.path_not_found(request.path)
    metrics: MetricsStore = request.app[METRICS_KEY]
    method = request.method
    if rest[:1] == ["nodes"] and len(rest) <= 3:
        name = rest[1] if len(rest) > 1 else None
        if len(rest) == 3 and rest[2] == "pods" and name and method == "PUT":
            return await _publish_pods(request, metrics, name)
        if len(rest) == 3:
            raise errors.path_not_found(request.path)
        if method == "PUT" and name:
            return await _publish_node(request, metrics, name)
        _check_read(request)
        return await _read_nodes(request, store, metrics, name)
    namespace: str | None = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if rest[:1] == ["pods"] and len(rest) <= 2:
        _check_read(request)
        return await _read_pods(request, store, metrics, namespace, rest[1] if len(rest) > 1 else None)
    raise errors.path_not_found(request.path)


def _check_read(request: web.Request) -> None:
    if request.method != "GET":
        raise errors.method_not_allowed(f"{request.method} is not supported on {API_VERSION}: it is read-only")
    if query_flag(request, "watch"):
        raise errors.method_not_allowed(f"watch is not supported on {API_VERSION} (as with metrics-server)")


# -- writes (the node agent) -------------------------------------------------------------------


async def _publish_node(request: web.Request, metrics: MetricsStore, name: str) -> web.Response:
    body = await read_object(request)
    _check_kind(body, "NodeMetrics")
    if (body.get("metadata") or {}).get("name") != name:
        raise errors.bad_request(f"a NodeMetrics PUT to nodes/{name} must carry metadata.name {name!r}")
    _check_sample(body, "usage")
    metrics.publish_node(name, body)
    return json_response(body)


async def _publish_pods(request: web.Request, metrics: MetricsStore, node: str) -> web.Response:
    body = await read_object(request)
    _check_kind(body, "PodMetricsList")
    items = body.get("items")
    if not isinstance(items, list):
        raise errors.bad_request("a PodMetricsList needs items: a list of PodMetrics")
    for item in items:
        if not isinstance(item, dict):
            raise errors.bad_request("every item of a PodMetricsList must be a PodMetrics object")
        _check_kind(item, "PodMetrics")
        meta = item.get("metadata") or {}
        if not meta.get("name") or not meta.get("namespace"):
            raise errors.bad_request("every PodMetrics needs metadata.name and metadata.namespace")
        _check_sample(item, "containers")
    metrics.publish_pods(node, items)
    return json_response({"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": []})


def _check_kind(obj: JSONObject, kind: str) -> None:
    if obj.get("kind") != kind or obj.get("apiVersion") != API_VERSION:
        raise errors.bad_request(
            f"expected a {kind} of {API_VERSION}, got {obj.get('kind')} of {obj.get('apiVersion')}"
        )


def _check_sample(obj: JSONObject, payload: str) -> None:
    if not isinstance(obj.get("timestamp"), str) or not isinstance(obj.get("window"), str) or payload not in obj:
        raise errors.bad_request(f"a {obj.get('kind')} needs timestamp, window and {payload}")


# -- reads (kubectl top, the HPA controller) -----------------------------------------------------


def _answer(sample: JSONObject, live: JSONObject, *, namespaced: bool) -> JSONObject:
    """The sample as metrics-server shows it: the live object's name and labels, created now."""
    live_meta = live.get("metadata") or {}
    meta: JSONObject = {"name": live_meta.get("name"), "creationTimestamp": now_rfc3339()}
    if namespaced:
        meta["namespace"] = live_meta.get("namespace")
    if live_meta.get("labels"):
        meta["labels"] = dict(live_meta["labels"])
    out: JSONObject = {"kind": sample["kind"], "apiVersion": API_VERSION, "metadata": meta}
    for key in ("timestamp", "window", "usage", "containers"):
        if key in sample:
            out[key] = sample[key]
    return out


def _same_uid(sample: JSONObject, live: JSONObject) -> bool:
    """A sample names its pod's uid: one of an earlier pod of the same name is not this pod's."""
    published = (sample.get("metadata") or {}).get("uid")
    return not published or published == (live.get("metadata") or {}).get("uid")


def _list(kind: str, items: list[JSONObject]) -> web.Response:
    return json_response({"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items})


async def _read_pods(
    request: web.Request, store: ObjectStore, metrics: MetricsStore, namespace: str | None, name: str | None
) -> web.Response:
    assert _PODS_TYPE is not None
    if name is not None:
        pod = await store.get_or_none(_PODS_TYPE, namespace, name)
        sample = metrics.pod(namespace or "", name)
        if pod is None or sample is None or not _same_uid(sample, pod):
            raise errors.not_found(GROUP, "podmetrics", f"{namespace}/{name}" if namespace else name)
        return json_response(_answer(sample, pod, namespaced=True))
    selection = selection_from_query(request, _PODS_TYPE, namespace)
    pods = (await store.list(_PODS_TYPE, selection=selection)).items
    items = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        sample = metrics.pod(str(meta.get("namespace")), str(meta.get("name")))
        if sample is not None and _same_uid(sample, pod):
            items.append(_answer(sample, pod, namespaced=True))
    return _list("PodMetrics", items)


async def _read_nodes(
    request: web.Request, store: ObjectStore, metrics: MetricsStore, name: str | None
) -> web.Response:
    assert _NODES_TYPE is not None
    if name is not None:
        node = await store.get_or_none(_NODES_TYPE, None, name)
        sample = metrics.node(name)
        if node is None or sample is None:
            raise errors.not_found(GROUP, "nodemetrics", name)
        return json_response(_answer(sample, node, namespaced=False))
    selection = selection_from_query(request, _NODES_TYPE, None)
    items: list[Any] = []
    for node in (await store.list(_NODES_TYPE, selection=selection)).items:
        sample = metrics.node(str((node.get("metadata") or {}).get("name")))
        if sample is not None:
            items.append(_answer(sample, node, namespaced=False))
    return _list("NodeMetrics", items)
