"""The server's in-process components: which there are, how they are built, and how they are run.

:data:`COMPONENTS` lists the controllers, the node agent, the service proxy and cluster DNS in
start order, each by import path (``"package.module:Attribute"``), so that a component missing
from a build is skipped with a log line rather than failing the server. Each is built from a
:class:`ComponentContext` - the in-process API client, the one shared informer factory and a few
cluster-wide names - and run by the :class:`Supervisor` as a named task. An essential component
that crashes or returns stops the whole server (k3s's rule: fail loudly rather than run half a
cluster); a non-essential one is logged and left stopped. The server (:mod:`kuberya.server.main`)
decides when they start and stop.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kuberya.client.offered import OfferedEndpoints
from kuberya.server import trust_store

if TYPE_CHECKING:
    from kuberya.client.api import ApiClient
    from kuberya.client.factory import SharedInformerFactory

logger = logging.getLogger("kuberya.server")


class Component(Protocol):
    """A long-lived part of the cluster: runs until cancelled."""

    async def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ComponentContext:
    """What a component may be built from: the API client and a few cluster-wide names."""

    client: ApiClient
    informers: SharedInformerFactory
    """The process's one informer per resource, which every component reads (passed to each)."""
    node_name: str
    runtime: str
    data_dir: Path
    rootless_network: bool = False
    """The hidden ``--rootless-network``: the process runtime's rootless pod network even as root (tests)."""
    offered: OfferedEndpoints = field(default_factory=OfferedEndpoints)
    """The proxy publishes what it applied, the node agent waits on it before stopping a pod."""
    hpa_sync_period: float | None = None
    """The HPA controller's period (None: its default, upstream's 15 s)."""
    plugin_path: str | None = None
    """``PATH`` for the runtime's CNI plugins."""


def _no_options(_: ComponentContext) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """One in-process component, found by import path so that a missing one is skipped, not fatal.

    To add a component, append a spec to :data:`COMPONENTS`: ``factory`` names a callable (usually
    the class) called as ``factory(client, informers=FACTORY, **options(context))`` that returns
    something with ``async def run()``; ``FACTORY`` is the process's ``SharedInformerFactory``.
    """

    name: str
    """Used for the task's name and in every log line about it."""
    factory: str
    """``"package.module:Attribute"``."""
    options: Callable[[ComponentContext], dict[str, Any]] = _no_options
    """Keyword arguments for the factory beyond the client."""
    essential: bool = True
    """An essential component that crashes stops the whole server (k3s's rule: fail loudly rather
    than run half a cluster); a non-essential one is logged and left stopped."""


COMPONENTS: tuple[ComponentSpec, ...] = (
    ComponentSpec("garbage-collector", "kuberya.controllers.garbage_collector:GarbageCollector"),
    ComponentSpec("namespace-controller", "kuberya.controllers.namespace:NamespaceController"),
    ComponentSpec(
        "node-controller",
        "kuberya.controllers.node:NodeController",
        options=lambda ctx: {"node_name": ctx.node_name},
    ),
    ComponentSpec("deployment-controller", "kuberya.controllers.deployment:DeploymentController"),
    ComponentSpec("replicaset-controller", "kuberya.controllers.replicaset:ReplicaSetController"),
    ComponentSpec("statefulset-controller", "kuberya.controllers.statefulset:StatefulSetController"),
    ComponentSpec("daemonset-controller", "kuberya.controllers.daemonset:DaemonSetController"),
    ComponentSpec("disruption-controller", "kuberya.controllers.disruption:DisruptionController"),
    ComponentSpec("replication-controller", "kuberya.controllers.replication:ReplicationManager"),
    ComponentSpec("cronjob-controller", "kuberya.controllers.cronjob:CronJobController"),
    ComponentSpec("job-controller", "kuberya.controllers.job:JobController"),
    ComponentSpec("ttl-after-finished-controller", "kuberya.controllers.ttl_after_finished:TTLAfterFinishedController"),
    ComponentSpec("resourcequota-controller", "kuberya.controllers.resourcequota:ResourceQuotaController"),
    ComponentSpec(
        "clusterrole-aggregation-controller",
        "kuberya.controllers.clusterrole_aggregation:ClusterRoleAggregationController",
    ),
    ComponentSpec(
        "persistentvolume-binder-controller", "kuberya.controllers.persistentvolume:PersistentVolumeController"
    ),
    ComponentSpec("ephemeral-volume-controller", "kuberya.controllers.ephemeral:EphemeralVolumeController"),
    ComponentSpec(
        "persistentvolumeclaim-protection-controller", "kuberya.controllers.pvc_protection:PVCProtectionController"
    ),
    ComponentSpec("persistentvolume-protection-controller", "kuberya.controllers.pv_protection:PVProtectionController"),
    ComponentSpec(
        "serviceaccount-token-controller",
        "kuberya.controllers.serviceaccount_tokens:TokensController",
        options=lambda ctx: {"key_file": ctx.data_dir / "pki" / "sa.key", "ca_file": ctx.data_dir / "pki" / "ca.crt"},
    ),
    # Upstream's 15 s sync period unless the server was told otherwise (tests, see main()).
    ComponentSpec(
        "hpa-controller",
        "kuberya.controllers.hpa:HorizontalPodAutoscalerController",
        options=lambda ctx: {"sync_period": ctx.hpa_sync_period} if ctx.hpa_sync_period else {},
    ),
    ComponentSpec(
        "scheduler",
        "kuberya.controllers.scheduler:Scheduler",
        options=lambda ctx: {"node_name": ctx.node_name},
    ),
    ComponentSpec(
        "node-agent",
        "kuberya.node.agent:NodeAgent",
        options=lambda ctx: {
            "node_name": ctx.node_name,
            "runtime": _node_runtime(ctx),
            "runtime_handler": ctx.runtime,  # the RuntimeClass handler it answers to, even when opened here
            "data_dir": ctx.data_dir,
            "stop_pods_on_exit": True,
            "offered_endpoints": ctx.offered,
            "plugin_path": ctx.plugin_path,
        },
    ),
    # The node agent's heartbeat (upstream's kubelet node lease), beside the agent it speaks for.
    ComponentSpec(
        "node-lease",
        "kuberya.node.lease:NodeLeaseController",
        options=lambda ctx: {"node_name": ctx.node_name},
    ),
    # The default StorageClass's provisioner (kuberya.io/local-path): volumes are directories of this node's data dir.
    ComponentSpec(
        "local-path-provisioner",
        "kuberya.node.provisioner:LocalPathProvisioner",
        options=lambda ctx: {"node_name": ctx.node_name, "data_dir": ctx.data_dir},
    ),
    ComponentSpec("endpoints-controller", "kuberya.controllers.endpoints:EndpointsController"),
    ComponentSpec("endpointslice-controller", "kuberya.controllers.endpointslices:EndpointSliceController"),
    ComponentSpec("servicelb-controller", "kuberya.controllers.servicelb:ServiceLBController"),
    # Not essential: they bind host addresses another kuberya on this machine may hold; the API
    # and the controllers are worth keeping up without them (each logs what it could not do).
    ComponentSpec(
        "service-proxy",
        "kuberya.proxy.serviceproxy:ServiceProxy",
        # One nftables table per cluster (by data dir), so that two clusters never rewrite each other's.
        options=lambda ctx: {
            "nft_table": "kuberya-" + hashlib.sha256(str(ctx.data_dir).encode()).hexdigest()[:8],
            "pod_namespaces": _pod_namespaces(),
            "offered": ctx.offered,
        },
        essential=False,
    ),
    ComponentSpec(
        "cluster-dns",
        "kuberya.proxy.dns:ClusterDNS",
        options=lambda _: {"pod_namespaces": _pod_namespaces()},
        essential=False,
    ),
)


def _pod_namespaces() -> Any:
    """The rootless pod namespaces of this process, for the components that listen inside them.

    The proxy may not import the runtime; the module satisfies ``kuberya.meta.handover.PodNamespaces``.
    """
    from kuberya.runtime import nsconnect

    return nsconnect


def _node_runtime(ctx: ComponentContext) -> Any:
    """The node agent's runtime: its name, or with ``--rootless-network`` the runtime itself, opened so.

    Where the agent would put it (``DATA_DIR/runtime``); the agent does not close a runtime it was
    given, and this one needs no closing beyond the process's end (its pods are stopped by the agent).
    """
    if not ctx.rootless_network:
        return ctx.runtime
    from kuberya.runtime import open_runtime

    return open_runtime(
        ctx.runtime, state_dir=ctx.data_dir / "runtime", rootless_network=True, plugin_path=ctx.plugin_path
    )


def load_symbol(target: str) -> Any | None:
    """Return the attribute named by ``"module:attr"``, or None when that module does not exist (yet).

    Only the *named* module being absent counts as "not there": a module that exists but fails to
    import is a bug, and its error propagates.
    """
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(f"{e.name}.")):
            return None
        raise
    return getattr(module, attr)


def import_components(
    specs: Sequence[ComponentSpec],
) -> list[tuple[ComponentSpec, Callable[..., Component]]]:
    available: list[tuple[ComponentSpec, Callable[..., Component]]] = []
    for spec in specs:
        factory = load_symbol(spec.factory)
        if factory is None:
            logger.info("component %s is not available in this build; skipped", spec.name)
            continue
        available.append((spec, factory))
    if available:
        importlib.import_module("kuberya.client.api")
    # The API server loads these on first use so that `up` does not wait for them; warm them
    # here, off the event loop, so the first kubectl request does not pay for them either.
    for module in WARM_UP_MODULES:
        importlib.import_module(module)
    trust_store.load_deferred()
    return available


WARM_UP_MODULES = (
    "yaml",
    "kuberya.resources.patching",
    "kuberya.resources.schema",
)
"""Not warmed: ``kuberya.resources.protobuf`` (~9 MB of descriptors, for kubectl's typed creates
only); the first protobuf body pays ~0.1 s to load it instead of every idle cluster paying in memory."""


class Supervisor:
    """Runs components as named tasks and reports the first essential crash."""

    def __init__(self, on_fatal: Callable[[str], None]) -> None:
        self._on_fatal = on_fatal
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self, spec: ComponentSpec, component: Component) -> None:
        task = asyncio.create_task(self._guard(spec, component), name=f"kuberya:{spec.name}")
        self._tasks[spec.name] = task

    async def _guard(self, spec: ComponentSpec, component: Component) -> None:
        try:
            await component.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # Logged here, at once, with the traceback: a crash must never wait for shutdown to surface.
            logger.exception("component %s crashed", spec.name)
            reason = f"{spec.name} crashed: {describe_error(e)}"
        else:
            if self._stopping:
                return
            logger.error("component %s returned; it should run until stopped", spec.name)
            reason = f"{spec.name} stopped unexpectedly"
        if spec.essential:
            self._on_fatal(reason)

    async def stop(self, timeout: float) -> None:
        """Cancel every component and wait up to ``timeout`` for them to finish."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks.values(), timeout=timeout)
        for task in pending:
            logger.warning("component %s did not stop within %.0fs; leaving it", task.get_name(), timeout)
        self._tasks.clear()


def describe_error(error: BaseException) -> str:
    """Name the first real error: a TaskGroup's ``ExceptionGroup`` says only "1 sub-exception"."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"
