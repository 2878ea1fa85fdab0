"""The node agent: kuberya's kubelet. Runs the pods bound to this node through a container runtime.

Startup: open and start the runtime (``open_runtime(name, state_dir=DATA_DIR/runtime)``; for
``runc`` with an :class:`~kuberya.images.service.ImageService` on ``DATA_DIR/images``, the store the
CLI uses, shared by the agent's pulls (:mod:`kuberya.node.pulling`) and the runtime's resolver),
and next to it every other RuntimeClass handler this machine can run (``runc`` or ``process``,
state in ``DATA_DIR/runtime-handlers/<name>``), all behind one
:class:`~kuberya.runtime.handlers.HandlerRuntime` that routes each pod to its handler's runtime;
subscribe to its container events, take stock of the sandboxes and containers it still holds
(to adopt them), then run, as named guarded tasks:

- an informer on ``pods?fieldSelector=spec.nodeName=<node>`` whose events wake the pods'
  workers (:mod:`kuberya.node.workers`; the sync itself is :mod:`kuberya.node.pods`);
- the runtime's event stream: a container that starts or exits wakes its pod's worker at once,
  which is what keeps pod start-up and restarts fast with nothing polling;
- ConfigMap and Secret informers (:mod:`kuberya.node.sources`): env and projected volumes read
  from them, and a change wakes the pods using it;
- the streaming server for ``kubectl logs/exec/attach`` on ``DATA_DIR/kubelet.sock``, reading
  the :class:`ContainerRegistry` the agent keeps;
- the event recorder (:mod:`kuberya.node.events`) and a slow log-rotation check (every
  :data:`~kuberya.node.logs.ROTATE_CHECK_SECONDS`);
- the resource metrics publisher (:mod:`kuberya.node.metrics`): the node's and pods' CPU and
  memory to ``metrics.k8s.io``, for ``kubectl top`` and the HPA;
- once the pod informer has synced: the removal of sandboxes whose pods no longer exist;
- the Node's ``status.runtimeHandlers`` (:mod:`kuberya.node.handlerstatus`).

Shutdown (cancellation) stops the workers and probes but leaves containers running: they belong
to their pods, and the next agent adopts them. The :class:`ContainerRegistry` it keeps is what the
streaming side (logs, exec) reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from kuberya.client import ApiError, Clock, KubeClient, LoopClock, SharedInformerFactory, malformed
from kuberya.client.resources import NODES, PODS, RUNTIMECLASSES
from kuberya.client.tasks import cancel_and_wait, start_task
from kuberya.meta.handover import OfferedEndpointsView
from kuberya.meta.types import Obj
from kuberya.node.adoption import Adoptable
from kuberya.node.events import EventRecorder
from kuberya.node.handlerstatus import publish_runtime_handlers, runtime_handlers
from kuberya.node.logs import ROTATE_CHECK_SECONDS, container_log_path, remove_pod_logs, rotate_if_large
from kuberya.node.metrics import MetricsPublisher
from kuberya.node.pods import PodSyncer, SyncSettings
from kuberya.node.pulling import ImageManager, ImageSource, StoreImages
from kuberya.node.registry import ContainerRegistry
from kuberya.node.runtimes import IMAGE_RUNTIMES, RuntimeHandlers
from kuberya.node.sources import ConfigSources
from kuberya.node.state import LABEL_POD_UID
from kuberya.node.streaming import StreamingServer
from kuberya.node.tmpfs import unmount_all
from kuberya.node.volumes import VolumeManager, referenced_sources
from kuberya.node.workers import PodWorkers
from kuberya.runtime import HANDLERS, handler_unavailable, open_runtime
from kuberya.runtime.base import ContainerEvent, ContainerRuntime
from kuberya.runtime.handlers import HandlerRuntime
from kuberya.runtime.rootfs import RootfsError

logger = logging.getLogger(__name__)

_IGNORED_META = ("resourceVersion", "managedFields", "generation")


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _wants_sync(old: Obj, new: Obj) -> bool:
    """Whether an update concerns the agent (spec or metadata), not just the status it wrote."""
    if old.get("spec") != new.get("spec"):
        return True
    old_meta = {k: v for k, v in (old.get("metadata") or {}).items() if k not in _IGNORED_META}
    new_meta = {k: v for k, v in (new.get("metadata") or {}).items() if k not in _IGNORED_META}
    return old_meta != new_meta


KEEP_PODS_MARKER = "keep-pods"
"""Written by ``kuberya down --keep-pods``: the agent leaves running pods alone when it stops."""


class NodeAgent:
    """Runs this node's pods; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        *,
        node_name: str,
        runtime: str | ContainerRuntime,
        data_dir: Path,
        backoff_base: float = 10.0,
        backoff_cap: float = 300.0,
        host_ip: str | None = None,
        registry: ContainerRegistry | None = None,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        wall: Callable[[], float] = time.time,
        log_max_bytes: int | None = None,
        serve_streaming: bool = True,
        images: ImageSource | None = None,
        stop_pods_on_exit: bool = False,
        offered_endpoints: OfferedEndpointsView | None = None,
        plugin_path: str | None = None,
        runtime_handler: str | None = None,
        other_handlers: bool = True,
    ) -> None:
        self.client = client
        self.other_handlers = other_handlers
        """When the agent opens its runtime by name: open the other handlers of
        :data:`~kuberya.runtime.HANDLERS` this machine can run next to it (False: only that one)."""
        self.runtime_handler = runtime_handler or (runtime if isinstance(runtime, str) else None)
        """The RuntimeClass ``handler`` this node's runtime answers to: its name (``runc``, ``process``)."""
        self.plugin_path = plugin_path
        """``PATH`` for the pod network's CNI plugins when the agent opens its runtime by name."""
        self.offered_endpoints = offered_endpoints
        """What the service proxy in this process has applied (the server shares it), for draining."""
        self.node_name = node_name
        self.data_dir = Path(data_dir)
        self.registry = registry or ContainerRegistry()
        """Which runtime container backs each pod container (the streaming side reads it)."""
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.host_ip = host_ip
        self.clock: Clock = clock or LoopClock()
        self.wall = wall
        self.log_max_bytes = log_max_bytes
        self.serve_streaming = serve_streaming
        """Serve logs/exec/attach on ``DATA_DIR/kubelet.sock`` (:mod:`kuberya.node.streaming`)."""
        self.images = images
        self.stop_pods_on_exit = stop_pods_on_exit
        """Stop every pod when the agent stops (``kuberya down``), unless ``DATA_DIR/keep-pods``
        exists (``kuberya down --keep-pods``): then running containers stay for the next agent to
        re-adopt, as after a crash."""
        """Where images come from; None: made on ``DATA_DIR/images`` for an image runtime, else no pulls."""
        self._runtime_name = runtime if isinstance(runtime, str) else None
        self.runtime: ContainerRuntime | None = None if isinstance(runtime, str) else runtime
        self.recorder = EventRecorder(client, node_name=node_name, wall=wall)
        # The process's shared informers (the server's factory), or this agent's own.
        shared = informers or SharedInformerFactory(client, clock=self.clock)
        self.sources = ConfigSources(client, informers=shared, on_change=self._source_changed)
        self.volumes = VolumeManager(self.data_dir, self.sources, warn=self._volume_warning)
        self.pods = shared.informer(PODS, field_selector=f"spec.nodeName={node_name}")
        self.runtime_classes = shared.informer(RUNTIMECLASSES)
        self.pods.add_handlers(
            on_add=lambda pod: self.workers.update(pod),
            on_update=lambda old, new: self.workers.update(new, wake=_wants_sync(old, new)),
            on_delete=lambda pod: self.workers.remove(pod),
        )
        self.syncer: PodSyncer | None = None
        self.workers = PodWorkers(self._sync, self.clock)
        self.ready = asyncio.Event()
        """Set once the runtime is started and adoption stock taken (tests wait on it)."""

    async def run(self) -> None:
        """Run until cancelled."""
        owned = self.runtime is None
        if self.runtime is None:
            assert self._runtime_name is not None
            self.runtime = self._open_runtime(self._runtime_name)
        runtime = self.runtime
        await runtime.start()
        events = runtime.events()
        streaming = await self._start_streaming() if self.serve_streaming else None
        try:
            host_ip = self.host_ip or await self._node_ip()
            self.syncer = PodSyncer(
                client=self.client,
                runtime=runtime,
                recorder=self.recorder,
                registry=self.registry,
                volumes=self.volumes,
                lookup=self.sources,
                clock=self.clock,
                settings=SyncSettings(
                    node_name=self.node_name,
                    data_dir=self.data_dir,
                    host_ip=host_ip,
                    backoff_base=self.backoff_base,
                    backoff_cap=self.backoff_cap,
                    node_cpu_millis=(os.cpu_count() or 1) * 1000,
                    node_memory_bytes=_memory_bytes(),
                ),
                wake=self.workers.wake,
                wall=self.wall,
                images=self._image_manager(),
                offered=self.offered_endpoints,
                handlers=self._handlers(runtime),
            )
            self.syncer.adoptable = await self._inventory(runtime)
            self.ready.set()
            async with asyncio.TaskGroup() as group:
                start_task(self.recorder.run(), name="node-events", group=group)
                start_task(self.sources.run(), name="node-sources", group=group)
                start_task(self._runtime_events(events), name="node-runtime-events", group=group)
                start_task(self.pods.run(), name="node-pods", group=group)
                start_task(self.runtime_classes.run(), name="node-runtimeclasses", group=group)
                start_task(self._remove_orphans(runtime), name="node-orphans", group=group)
                start_task(self._rotate_logs(), name="node-log-rotation", group=group)
                metrics = MetricsPublisher(self.client, runtime, node_name=self.node_name, clock=self.clock)
                start_task(metrics.run(), name="node-metrics", group=group)
                assert self.syncer.handlers is not None
                handlers = runtime_handlers(self.syncer.handlers.handlers)
                publish = publish_runtime_handlers(
                    self.client, node_name=self.node_name, handlers=handlers, clock=self.clock
                )
                start_task(publish, name="node-runtime-handlers", group=group)
        finally:
            if streaming is not None:
                await streaming.close()
            await self.stop_workers()
            if self.stop_pods_on_exit:
                await self._stop_all_pods(runtime)
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if owned:
                await runtime.close()

    async def _stop_all_pods(self, runtime: ContainerRuntime) -> None:
        keep_marker = self.data_dir / KEEP_PODS_MARKER
        if keep_marker.exists():
            keep_marker.unlink(missing_ok=True)
            logger.info("keeping running pods for the next start (kuberya down --keep-pods)")
            return
        # Like a node shutting down: every container gets SIGKILL with its sandbox. The API
        # objects stay; the next agent finds them without sandboxes and starts them again.
        started = time.monotonic()
        sandboxes = await runtime.list_pod_sandboxes()
        results = await asyncio.gather(
            *(self._remove_sandbox(runtime, sandbox.id) for sandbox in sandboxes), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            logger.warning("could not stop a pod on shutdown: %s", failure)
        # Memory-backed emptyDirs go as a reboot takes them; the next agent mounts fresh ones for the
        # pods it starts again. Left mounted they would outlive the data dir (`kuberya down` then rm).
        try:
            unmount_all(self.data_dir / "pods")
        except (OSError, RootfsError) as exc:
            logger.warning("could not unmount the pods' memory volumes on shutdown: %s", exc)
        logger.info(
            "stopped %d pod(s) on shutdown in %.2fs", len(sandboxes) - len(failures), time.monotonic() - started
        )

    @staticmethod
    async def _remove_sandbox(runtime: ContainerRuntime, sandbox_id: str) -> None:
        await runtime.stop_pod_sandbox(sandbox_id)
        await runtime.remove_pod_sandbox(sandbox_id)

    def _handlers(self, runtime: ContainerRuntime) -> RuntimeHandlers:
        """The handlers the node has: a :class:`HandlerRuntime`'s, else the one runtime's name."""
        if isinstance(runtime, HandlerRuntime):
            handlers, unavailable = runtime.handlers, dict(runtime.unavailable)
        else:
            handlers, unavailable = frozenset({self.runtime_handler} if self.runtime_handler else ()), {}
        return RuntimeHandlers(
            handlers=handlers,
            lookup=self.runtime_classes.get,
            synced=self.runtime_classes.has_synced.is_set,
            unavailable=unavailable,
        )

    def _open_runtime(self, name: str) -> ContainerRuntime:
        """The runtime ``name`` and, when it is one of the handlers, the others this machine can run."""
        default = self._open_one(name, self.data_dir / "runtime")
        if name not in HANDLERS or not self.other_handlers:
            return default
        runtimes, unavailable = {name: default}, {}
        for other in HANDLERS:
            if other == name:
                continue
            reason = handler_unavailable(other)
            if reason is not None:
                unavailable[other] = reason
                logger.info("runtime handler %s is not available: %s", other, reason)
                continue
            runtimes[other] = self._open_one(other, self.data_dir / "runtime-handlers" / other)
        return HandlerRuntime(runtimes, default=name, unavailable=unavailable)

    def _open_one(self, name: str, state_dir: Path) -> ContainerRuntime:
        if name not in IMAGE_RUNTIMES:
            return open_runtime(name, state_dir=state_dir, plugin_path=self.plugin_path)
        from kuberya.images.service import ImageService, ImageSettings
        from kuberya.runtime.runc import image_service_resolver

        if isinstance(self.images, StoreImages):
            service = self.images.service
        else:
            service = ImageService(ImageSettings(root=self.data_dir / "images"))
            self.images = self.images or StoreImages(service)
        return open_runtime(
            name, state_dir=state_dir, image_resolver=image_service_resolver(service), plugin_path=self.plugin_path
        )

    def _image_manager(self) -> ImageManager | None:
        if self.images is None:
            return None
        return ImageManager(
            self.images,
            recorder=self.recorder,
            lookup=self.sources,
            clock=self.clock,
            wake=self.workers.wake,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
        )

    async def _start_streaming(self) -> StreamingServer | None:
        server = StreamingServer(self.registry, socket_path=self.data_dir / "kubelet.sock")
        try:
            await server.start()
        except OSError as exc:
            logger.error("logs and exec are unavailable: cannot serve %s: %s", server.socket_path, exc)
            return None
        return server

    async def stop_workers(self) -> None:
        states = self.workers.states()
        await self.workers.stop()
        await cancel_and_wait(*[t for s in states for r in s.records() for t in r.probes])

    async def _sync(self, state: Any) -> bool:
        assert self.syncer is not None
        return await self.syncer.sync(state)

    async def _node_ip(self) -> str:
        try:
            node = await self.client.get(NODES, self.node_name)
        except (ApiError, OSError):
            return "127.0.0.1"
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP" and address.get("address"):
                return str(address["address"])
        return "127.0.0.1"

    async def _inventory(self, runtime: ContainerRuntime) -> dict[str, Adoptable]:
        found: dict[str, Adoptable] = {}
        for sandbox in await runtime.list_pod_sandboxes():
            found.setdefault(sandbox.pod_uid, Adoptable()).sandboxes.append(sandbox)
        for container in await runtime.list_containers():
            uid = container.labels.get(LABEL_POD_UID)
            if uid in found:
                found[uid].containers.append(container)
        return found

    async def _remove_orphans(self, runtime: ContainerRuntime) -> None:
        """Once the pods are known: remove the sandboxes of pods that no longer exist."""
        await self.pods.wait_synced()
        assert self.syncer is not None
        live = {str((p.get("metadata") or {}).get("uid")) for p in self.pods.list()}
        for uid in [u for u in self.syncer.adoptable if u not in live]:
            found = self.syncer.adoptable.pop(uid)
            for sandbox in found.sandboxes:
                logger.info(
                    "removing sandbox %s of pod %s/%s, which no longer exists",
                    sandbox.id,
                    sandbox.namespace,
                    sandbox.name,
                )
                try:
                    await runtime.stop_pod_sandbox(sandbox.id)
                    await runtime.remove_pod_sandbox(sandbox.id)
                except Exception as exc:
                    logger.warning("cannot remove sandbox %s: %s", sandbox.id, exc)
                else:
                    self.volumes.cleanup(uid)
                    remove_pod_logs(self.data_dir, sandbox.namespace, sandbox.name, uid)

    async def _runtime_events(self, events: AsyncIterator[ContainerEvent]) -> None:
        async for event in events:
            if self.syncer is None:
                continue
            uid = self.syncer.sandbox_owner.get(event.sandbox_id)
            if uid is not None:
                self.workers.wake(uid)
        logger.info("the runtime's event stream ended")

    def _volume_warning(self, pod: Obj, reason: str, message: str) -> None:
        self.recorder.record(pod, "Warning", reason, message)

    def _source_changed(self, kind: str, namespace: str, name: str) -> None:
        for state in self.workers.states():
            if state.namespace != namespace or not malformed.conforms(state.pod, malformed.POD):
                continue  # a pod that cannot be read is not run, and must not keep the others unwoken
            if (kind, name) in referenced_sources(state.pod):
                self.workers.wake(state.uid)

    async def _rotate_logs(self) -> None:
        kwargs = {} if self.log_max_bytes is None else {"max_bytes": self.log_max_bytes}
        while True:
            await self.clock.sleep(ROTATE_CHECK_SECONDS)
            for state in self.workers.states():
                for rec in state.records():
                    if rec.running:
                        path = container_log_path(
                            self.data_dir, state.namespace, state.name, state.uid, rec.name, rec.restart_count
                        )
                        rotate_if_large(path, **kwargs)
