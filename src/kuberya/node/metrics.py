"""Resource metrics of this node and its pods, published to ``metrics.k8s.io`` (the kubelet + metrics-server part).

Every :data:`PUBLISH_INTERVAL_SECONDS` the agent samples cumulative CPU time and the memory working
set of each running pod through the runtime (:meth:`ContainerRuntime.sandbox_usage`: the pod's
cgroup, or ``/proc`` where there are no cgroups) and of the node (``/proc/stat``,
``/proc/meminfo``), turns CPU time into a rate over the window since the previous sample, and
publishes the lot with two writes the API server keeps in memory (see
:mod:`kuberya.apiserver.metrics` for why and how)::

    PUT /apis/metrics.k8s.io/v1beta1/nodes/<node>        NodeMetrics
    PUT /apis/metrics.k8s.io/v1beta1/nodes/<node>/pods   PodMetricsList (replaces the node's last one)

Values are in metrics-server's units and quantity forms: CPU in nanocores (``"12345678n"``, or
``"5m"`` when it divides evenly, as ``resource.Quantity`` prints it), memory in bytes as a binary
quantity (``"20480Ki"``). A container's usage is its pod's when it runs alone (the common case,
and the most accurate: the pod cgroup's working set); when several run, each gets its own process
tree's (:meth:`ContainerRuntime.container_usage`).

A pod or container seen for the first time has no previous sample: its window then starts when it
started (cumulative CPU divided by its age), so ``kubectl top`` and the HPA see a new pod after one
round instead of two. Windows shorter than :data:`MIN_WINDOW_SECONDS` are skipped as too noisy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kuberya.client import ApiError, Clock, KubeClient
from kuberya.meta.timefmt import go_duration, rfc3339
from kuberya.meta.types import Obj
from kuberya.runtime.base import ContainerRuntime, ContainerState, ContainerStatus, ResourceUsage, SandboxStatus

logger = logging.getLogger(__name__)


API_PREFIX = "/apis/metrics.k8s.io/v1beta1"
API_VERSION = "metrics.k8s.io/v1beta1"
PUBLISH_INTERVAL_SECONDS = 5.0
MIN_WINDOW_SECONDS = 1.0
_TICKS = os.sysconf("SC_CLK_TCK")
_DECIMAL_SUFFIXES = ((9, ""), (6, "m"), (3, "u"), (0, "n"))
"""Nanocores → the largest unit that keeps the number whole (``resource.Quantity``'s canonical form)."""
_BINARY_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def cpu_quantity(nanocores: int) -> str:
    """``5000000`` → ``"5m"``, ``1234567`` → ``"1234567n"``, ``2000000000`` → ``"2"``."""
    if nanocores == 0:
        return "0"
    for exponent, suffix in _DECIMAL_SUFFIXES:
        if nanocores % 10**exponent == 0:
            return f"{nanocores // 10**exponent}{suffix}"
    raise AssertionError("unreachable: every integer divides by 10**0")


def memory_quantity(size: int) -> str:
    """``20971520`` → ``"20Mi"``, ``12288`` → ``"12Ki"``, ``1000`` → ``"1000"``."""
    for suffix, unit in _BINARY_SUFFIXES:
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one round publishes for one container or node: a rate over a window, and memory."""

    timestamp: float
    window: float
    nanocores: int
    memory_bytes: int

    def usage(self) -> dict[str, str]:
        return {"cpu": cpu_quantity(self.nanocores), "memory": memory_quantity(self.memory_bytes)}


class RateTracker:
    """Turns cumulative CPU seconds into rates, remembering one previous sample per source."""

    def __init__(self) -> None:
        self._previous: dict[str, ResourceUsage] = {}
        self._seen: set[str] = set()

    def rate(self, source: str, usage: ResourceUsage, *, started_at: float | None) -> Sample | None:
        """The sample of ``source`` since its previous one (or since ``started_at``); None if too short."""
        self._seen.add(source)
        previous = self._previous.get(source)
        self._previous[source] = usage
        if previous is not None and usage.cpu_usage_seconds >= previous.cpu_usage_seconds:
            since, cpu_before = previous.timestamp, previous.cpu_usage_seconds
        elif started_at is not None:  # first sight, or the counter went back (a new process tree)
            since, cpu_before = started_at, 0.0
        else:
            return None
        window = usage.timestamp - since
        if window < MIN_WINDOW_SECONDS:
            return None
        nanocores = max(0, round((usage.cpu_usage_seconds - cpu_before) / window * 1e9))
        return Sample(usage.timestamp, window, nanocores, usage.memory_working_set_bytes)

    def end_round(self) -> None:
        """Forget the sources not seen since the last call (pods and containers that went away)."""
        for source in [s for s in self._previous if s not in self._seen]:
            del self._previous[source]
        self._seen.clear()


def read_node_usage(proc: Path = Path("/proc")) -> ResourceUsage:
    """The node's cumulative busy CPU seconds and memory working set, from ``/proc``.

    Busy is every ``cpu`` column but idle and iowait. The working set is, as cAdvisor defines it for
    the root cgroup, what is in use minus the inactive file cache: MemTotal − MemFree − Inactive(file).
    """
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    meminfo = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        meminfo[key] = int(value.split()[0]) * 1024
    working_set = meminfo.get("MemTotal", 0) - meminfo.get("MemFree", 0) - meminfo.get("Inactive(file)", 0)
    return ResourceUsage(time.time(), busy / _TICKS, max(0, working_set))


def boot_time(proc: Path = Path("/proc")) -> float:
    """When the machine booted (the node's counters start there)."""
    return time.time() - float((proc / "uptime").read_text().split()[0])


class MetricsPublisher:
    """Samples and publishes this node's metrics until cancelled; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        runtime: ContainerRuntime,
        *,
        node_name: str,
        clock: Clock,
        interval: float = PUBLISH_INTERVAL_SECONDS,
        node_usage: Callable[[], ResourceUsage] = read_node_usage,
        node_started_at: Callable[[], float] = boot_time,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.clock = clock
        self.interval = interval
        self.node_usage = node_usage
        self.node_started_at = node_started_at
        self.rates = RateTracker()
        self._failing = False

    async def run(self) -> None:
        while True:
            try:
                await self.publish_once()
            except (ApiError, OSError) as exc:
                # Metrics are best effort: say so once per outage, not every round.
                if not self._failing:
                    logger.warning("cannot publish resource metrics (kubectl top, the HPA wait): %s", exc)
                self._failing = True
            else:
                if self._failing:
                    logger.info("resource metrics are published again")
                self._failing = False
            await self.clock.sleep(self.interval)

    async def publish_once(self) -> None:
        node = await asyncio.to_thread(self.node_usage)
        pods = await self.pod_metrics()
        self.rates.end_round()
        node_sample = self.rates.rate("node", node, started_at=self.node_started_at())
        if node_sample is not None:
            body = {
                "kind": "NodeMetrics",
                "apiVersion": API_VERSION,
                "metadata": {"name": self.node_name},
                "timestamp": rfc3339(node_sample.timestamp),
                "window": go_duration(round(node_sample.window, 3)),
                "usage": node_sample.usage(),
            }
            await self.client.raw("PUT", f"{API_PREFIX}/nodes/{self.node_name}", body=body)
        listing = {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": pods}
        await self.client.raw("PUT", f"{API_PREFIX}/nodes/{self.node_name}/pods", body=listing)

    async def pod_metrics(self) -> list[Obj]:
        """A PodMetrics for every pod with a running container and a sample long enough."""
        newest: dict[str, SandboxStatus] = {}
        for sandbox in await self.runtime.list_pod_sandboxes():
            known = newest.get(sandbox.pod_uid)
            if known is None or sandbox.created_at > known.created_at:
                newest[sandbox.pod_uid] = sandbox
        items = []
        for sandbox in newest.values():
            try:
                item = await self._pod(sandbox)
            except Exception as exc:  # one pod going away mid-sample must not cost the others theirs
                logger.debug("no metrics for pod %s/%s: %s", sandbox.namespace, sandbox.name, exc)
                continue
            if item is not None:
                items.append(item)
        return items

    def _sample(self, source: str, usage: ResourceUsage | None, started_at: float | None) -> Sample | None:
        return None if usage is None else self.rates.rate(source, usage, started_at=started_at)

    async def _pod(self, sandbox: SandboxStatus) -> Obj | None:
        running = [c for c in await self.runtime.list_containers(sandbox.id) if c.state is ContainerState.RUNNING]
        if not running:
            return None
        samples: list[tuple[ContainerStatus, Sample]] = []
        if len(running) == 1:
            sample = self._sample(sandbox.id, await self.runtime.sandbox_usage(sandbox.id), sandbox.created_at)
            if sample is not None:
                samples.append((running[0], sample))
        else:
            for container in running:
                usage = await self.runtime.container_usage(container.id)
                sample = self._sample(container.id, usage, container.started_at)
                if sample is not None:
                    samples.append((container, sample))
        if not samples or len(samples) != len(running):
            return None  # a pod with a container missing would under-report: wait for a full round
        first = samples[0][1]
        return {
            "kind": "PodMetrics",
            "apiVersion": API_VERSION,
            "metadata": {"name": sandbox.name, "namespace": sandbox.namespace, "uid": sandbox.pod_uid},
            "timestamp": rfc3339(first.timestamp),
            "window": go_duration(round(first.window, 3)),
            "containers": [{"name": container.name, "usage": sample.usage()} for container, sample in samples],
        }
