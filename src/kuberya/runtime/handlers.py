"""One runtime in front of several runtime handlers, the way containerd serves one CRI.

A pod picks its handler with its RuntimeClass (``runtimeClassName`` → the class's ``handler``);
the node agent puts that name in :attr:`SandboxConfig.runtime_handler` (CRI's
``RunPodSandboxRequest.runtime_handler``; empty: the default handler) and talks to one
:class:`HandlerRuntime`, which:

- creates the sandbox with the handler's runtime and remembers which runtime owns each sandbox
  id and each container id made in it, so every later call about them goes to that runtime
  (stop, remove, status, exec, usage: logs, exec, port-forward, probes and metrics of a pod work
  whatever its handler);
- merges the handlers' answers where a call is not about one id (``list_pod_sandboxes``,
  ``list_containers``, ``events``), so adoption after a restart finds the sandboxes of all;
- stamps each sandbox's :attr:`SandboxStatus.runtime_handler`, as CRI's ``PodSandboxStatus`` does.

Each handler keeps its own state directory (their layouts are alike, so one directory would make
each adopt the other's sandboxes); ids are random per runtime, so they do not collide.
A handler this machine cannot run is not opened: :attr:`HandlerRuntime.unavailable` says why,
and the agent turns that into the pod's ``FailedCreatePodSandBox`` Warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerRuntime,
    ContainerStatus,
    ExecSession,
    NotFoundError,
    ResourceUsage,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)
from kuberya.runtime.events import EventHub

log = logging.getLogger(__name__)


class HandlerRuntime:
    """Routes the runtime protocol to one runtime per handler; see the module docstring."""

    def __init__(
        self,
        runtimes: Mapping[str, ContainerRuntime],
        *,
        default: str,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        if default not in runtimes:
            raise RuntimeError_(f"the default runtime handler {default!r} is not among {sorted(runtimes)}")
        self.runtimes = dict(runtimes)
        """Handler name → its runtime (the default's included)."""
        self.default = default
        self.unavailable = dict(unavailable or {})
        """Handler name → why this machine cannot run it (``runc needs root`` …)."""
        self.name = self.runtimes[default].name
        self._sandbox_handler: dict[str, str] = {}
        self._container_handler: dict[str, str] = {}
        self._hub = EventHub()
        self._pumps: list[asyncio.Task[None]] = []

    # ---- what the node asks about its handlers ---------------------------------------------------

    @property
    def handlers(self) -> frozenset[str]:
        return frozenset(self.runtimes)

    def handler_of_sandbox(self, sandbox_id: str) -> str:
        """The handler whose runtime owns the sandbox; the default for an id never seen."""
        return self._sandbox_handler.get(sandbox_id, self.default)

    def runtime_of_sandbox(self, sandbox_id: str) -> ContainerRuntime:
        return self.runtimes[self.handler_of_sandbox(sandbox_id)]

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every handler's runtime, learn what each still holds and merge their event streams."""
        for handler, runtime in list(self.runtimes.items()):
            try:
                await runtime.start()
            except Exception as exc:
                if handler == self.default:
                    raise
                # Another handler that cannot start must not keep the node's own pods from running.
                log.warning("runtime handler %s failed to start: %s", handler, exc)
                self.unavailable[handler] = f"it failed to start: {exc}"
                del self.runtimes[handler]
                continue
            # Subscribe right after start, as the agent does, so no event between is lost.
            events = runtime.events()
            self._pumps.append(asyncio.create_task(self._pump(events), name=f"runtime-events-{handler}"))
            for sandbox in await runtime.list_pod_sandboxes():
                self._sandbox_handler[sandbox.id] = handler
            for container in await runtime.list_containers():
                self._container_handler[container.id] = handler

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self._pumps.clear()
        for runtime in self.runtimes.values():
            await runtime.close()
        self._hub.close()

    async def _pump(self, events: AsyncIterator[ContainerEvent]) -> None:
        try:
            async for event in events:
                self._hub.publish(event)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if all(pump.done() for pump in self._pumps if pump is not asyncio.current_task()):
            self._hub.close()  # every handler's stream has ended: so does the merged one

    def events(self) -> AsyncIterator[ContainerEvent]:
        return self._hub.subscribe()

    # ---- sandboxes ------------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        handler = config.runtime_handler or self.default
        runtime = self.runtimes.get(handler)
        if runtime is None:
            reason = self.unavailable.get(handler)
            raise RuntimeError_(f'no runtime for "{handler}" is configured' + (f" ({reason})" if reason else ""))
        sandbox = await runtime.run_pod_sandbox(config)
        self._sandbox_handler[sandbox.id] = handler
        return replace(sandbox, runtime_handler=handler)

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self._sandbox_runtime(sandbox_id).stop_pod_sandbox(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        handler = self._sandbox_handler.get(sandbox_id)
        if handler is None:
            return  # idempotent, as the CRI asks
        runtime = self.runtimes[handler]
        await runtime.remove_pod_sandbox(sandbox_id)
        del self._sandbox_handler[sandbox_id]
        # The runtime removed the sandbox's containers with it: forget the ones it no longer has.
        remaining = {container.id for container in await runtime.list_containers()}
        for container_id in [c for c, h in self._container_handler.items() if h == handler and c not in remaining]:
            del self._container_handler[container_id]

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        found: list[SandboxStatus] = []
        for handler, runtime in self.runtimes.items():
            for sandbox in await runtime.list_pod_sandboxes():
                self._sandbox_handler.setdefault(sandbox.id, handler)
                found.append(replace(sandbox, runtime_handler=handler))
        return found

    # ---- containers -----------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        handler = self._sandbox_handler.get(sandbox_id)
        if handler is None:
            raise NotFoundError(f"no sandbox {sandbox_id!r} in any runtime handler")
        container_id = await self.runtimes[handler].create_container(sandbox_id, config)
        self._container_handler[container_id] = handler
        return container_id

    async def start_container(self, container_id: str) -> None:
        await self._container_runtime(container_id).start_container(container_id)

    async def stop_container(self, container_id: str, *, timeout: float, signal: int = 15) -> None:
        await self._container_runtime(container_id).stop_container(container_id, timeout=timeout, signal=signal)

    async def remove_container(self, container_id: str) -> None:
        handler = self._container_handler.pop(container_id, None)
        if handler is not None:
            await self.runtimes[handler].remove_container(container_id)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return await self._container_runtime(container_id).container_status(container_id)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        if sandbox_id is not None:
            return await self._sandbox_runtime(sandbox_id).list_containers(sandbox_id)
        found: list[ContainerStatus] = []
        for handler, runtime in self.runtimes.items():
            for container in await runtime.list_containers():
                self._container_handler.setdefault(container.id, handler)
                found.append(container)
        return found

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> ExecSession:
        return await self._container_runtime(container_id).exec(container_id, command, tty=tty, stdin=stdin)

    async def exec_sync(self, container_id: str, command: list[str], *, timeout: float) -> tuple[int, bytes]:
        return await self._container_runtime(container_id).exec_sync(container_id, command, timeout=timeout)

    async def sandbox_usage(self, sandbox_id: str) -> ResourceUsage | None:
        return await self._sandbox_runtime(sandbox_id).sandbox_usage(sandbox_id)

    async def container_usage(self, container_id: str) -> ResourceUsage | None:
        return await self._container_runtime(container_id).container_usage(container_id)

    # ---- routing --------------------------------------------------------------------------------

    def _sandbox_runtime(self, sandbox_id: str) -> ContainerRuntime:
        handler = self._sandbox_handler.get(sandbox_id)
        if handler is None:
            raise NotFoundError(f"no sandbox {sandbox_id!r} in any runtime handler")
        return self.runtimes[handler]

    def _container_runtime(self, container_id: str) -> ContainerRuntime:
        handler = self._container_handler.get(container_id)
        if handler is None:
            raise NotFoundError(f"no container {container_id!r} in any runtime handler")
        return self.runtimes[handler]


def runtime_name_of(runtime: ContainerRuntime, sandbox: SandboxStatus | None) -> str:
    """The name of the runtime that runs ``sandbox``: its containerID scheme, its rules for argv and images.

    Behind a :class:`HandlerRuntime` it is the sandbox's handler's runtime, else ``runtime`` itself.
    """
    if isinstance(runtime, HandlerRuntime) and sandbox is not None:
        # The handler stamped on the sandbox first: it stays right after the sandbox is removed
        # (a terminated pod's last status still names the runtime that ran it).
        owner = runtime.runtimes.get(sandbox.runtime_handler) or runtime.runtime_of_sandbox(sandbox.id)
        return owner.name
    return runtime.name
