"""The node controller: registers this machine as the cluster's one Node and keeps it Ready.

What a kubelet's node-status loop does: create the Node (labels, addresses, capacity, nodeInfo)
if it is missing, keep the well-known labels on it, and every ``heartbeat_seconds`` write the
status through the ``status`` subresource with fresh ``lastHeartbeatTime``s. A condition's
``lastTransitionTime`` moves only when its status changes. A Node deleted by someone is
registered again at once (an informer on it queues the key).

Health is read from the node agent's Lease (``kube-node-lease/<node>``, :mod:`kuberya.node.lease`)
as upstream's node lifecycle controller reads it: a lease not renewed within
:data:`NODE_MONITOR_GRACE_PERIOD` turns every condition ``Unknown`` (``NodeStatusUnknown``,
"Kubelet stopped posting node status."), keeping its last heartbeat time. As upstream's, the
grace period runs at the earliest from when this controller first looked (a server started after
a long stop does not find its node dead before the agent's first renewal), and no lease yet (the
agent is starting) counts as healthy.

The machine's facts (:class:`HostInfo`) come from ``/proc/meminfo``, ``/etc/os-release``,
``statvfs`` and :mod:`platform`: describing the host is this component's job. Tests pass their own.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    Clock,
    KubeClient,
    LoopClock,
    NotFoundError,
    SharedInformerFactory,
    WorkQueue,
    run_workers,
)
from kuberya.client.resources import LEASES, NODES
from kuberya.client.tasks import start_task
from kuberya.meta.timefmt import now_rfc3339, parse_time
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


DEFAULT_KUBELET_VERSION = "v1.37.0-kuberya"
CONTAINER_RUNTIME_VERSION = "kuberya://0.1.0"
MAX_PODS = "110"
_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The facts about this machine that the Node object reports."""

    cpus: int
    memory_ki: int
    """Total memory in KiB (``MemTotal``)."""
    ephemeral_storage_ki: int
    """Size of the filesystem holding the node's data, in KiB."""
    architecture: str
    """Go-style: ``amd64``, ``arm64``."""
    kernel_version: str
    os_image: str
    """``PRETTY_NAME`` of ``/etc/os-release``."""
    internal_ip: str = "127.0.0.1"


def read_host_info(*, data_dir: Path = Path("/"), proc: Path = Path("/proc"), etc: Path = Path("/etc")) -> HostInfo:
    """Describe this machine; ``data_dir`` is where ephemeral storage lives."""
    memory_ki = 0
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_ki = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        logger.warning("cannot read %s/meminfo; reporting no memory", proc)
    os_image = "Linux"
    try:
        for line in (etc / "os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "PRETTY_NAME":
                os_image = value.strip().strip('"')
                break
    except OSError:
        pass
    try:
        st = os.statvfs(data_dir)
        storage_ki = st.f_blocks * st.f_frsize // 1024
    except OSError:
        storage_ki = 0
    machine = platform.machine()
    return HostInfo(
        cpus=os.cpu_count() or 1,
        memory_ki=memory_ki,
        ephemeral_storage_ki=storage_ki,
        architecture=_GO_ARCH.get(machine.lower(), machine.lower()),
        kernel_version=platform.release(),
        os_image=os_image,
    )


NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_MONITOR_GRACE_PERIOD = 50.0
"""Seconds a lease may go unrenewed before the node is Unknown (kube-controller-manager's
``--node-monitor-grace-period`` default since v1.32)."""
_UNKNOWN = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")

_CONDITIONS = (
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


class NodeController:
    """Registers the Node of this machine and posts its status every heartbeat."""

    def __init__(
        self,
        client: KubeClient,
        *,
        node_name: str,
        heartbeat_seconds: float = 10.0,
        host: HostInfo | None = None,
        kubelet_version: str | None = None,
        clock: Clock | None = None,
        informers: SharedInformerFactory | None = None,
        now: Callable[[], str] | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.heartbeat_seconds = heartbeat_seconds
        self._host = host
        self.kubelet_version = kubelet_version
        """Reported as ``nodeInfo.kubeletVersion``; None: the server's version, else the default."""
        self._clock: Clock = clock or LoopClock()
        shared = informers or SharedInformerFactory(client, clock=self._clock)
        self._now: Callable[[], str] = now or now_rfc3339
        """Clock for condition timestamps (RFC 3339); tests pin it."""
        self.queue: WorkQueue[str] = WorkQueue(name="node", clock=self._clock)
        self._first_look: datetime.datetime | None = None
        """When the lease was first read: the grace period never starts before (upstream's probeTimestamp)."""
        self.nodes = shared.informer(NODES, field_selector=f"metadata.name={node_name}")
        self.nodes.add_handlers(on_delete=lambda _obj: self.queue.add(self.node_name))

    @property
    def host(self) -> HostInfo:
        if self._host is None:
            self._host = read_host_info()
        return self._host

    async def run(self) -> None:
        """Register the node, then heartbeat until cancelled."""
        if self.kubelet_version is None:
            self.kubelet_version = await self._server_version()
        self.queue.add(self.node_name)
        try:
            async with asyncio.TaskGroup() as group:
                start_task(self.nodes.run(), name="node-informer", group=group)
                start_task(
                    run_workers(self.queue, self.sync, workers=1, name="node"),
                    name="node-workers",
                    group=group,
                )
        finally:
            self.queue.shutdown()

    async def _server_version(self) -> str:
        try:
            version = await self.client.raw("GET", "/version")
        except (ApiError, OSError) as exc:
            logger.debug("no server version (%s); reporting %s", exc, DEFAULT_KUBELET_VERSION)
            return DEFAULT_KUBELET_VERSION
        git = version.get("gitVersion") if isinstance(version, dict) else None
        return str(git) if git else DEFAULT_KUBELET_VERSION

    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": self.host.architecture,
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": self.host.architecture,
            "node-role.kubernetes.io/control-plane": "",
        }

    def desired_status(self, previous: Obj | None, *, heartbeating: bool = True) -> Obj:
        """Build the status to post now; conditions keep their transition time if unchanged.

        Not ``heartbeating`` (the lease expired), every condition is Unknown and keeps the
        heartbeat time it had, as upstream's node lifecycle controller writes it.
        """
        now = self._now()
        # Whatever a malformed stored status holds is overwritten by this one, not read.
        previous = previous if isinstance(previous, dict) else {}
        listed = previous.get("conditions")
        old = {c.get("type"): c for c in listed if isinstance(c, dict)} if isinstance(listed, list) else {}
        conditions = []
        for ctype, status, reason, message in _CONDITIONS:
            before = old.get(ctype)
            heartbeat = now
            if not heartbeating:
                status, reason, message = _UNKNOWN
                heartbeat = (before or {}).get("lastHeartbeatTime") or now
            transition = before.get("lastTransitionTime") if before and before.get("status") == status else None
            conditions.append(
                {
                    "type": ctype,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": transition or now,
                }
            )
        host = self.host
        resources = {
            "cpu": str(host.cpus),
            "memory": f"{host.memory_ki}Ki",
            "pods": MAX_PODS,
            "ephemeral-storage": f"{host.ephemeral_storage_ki}Ki",
        }
        return {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": host.internal_ip},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": host.kernel_version,
                "osImage": host.os_image,
                "containerRuntimeVersion": CONTAINER_RUNTIME_VERSION,
                "kubeletVersion": self.kubelet_version or DEFAULT_KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": host.architecture,
            },
            "phase": "Running",
        }

    async def sync(self, name: str) -> None:
        """Make the Node exist with our labels, post its status, and schedule the next heartbeat."""
        try:
            try:
                node = await self.client.get(NODES, name)
            except NotFoundError:
                node = await self._register(name)
            else:
                await self._ensure_labels(node)
            heartbeating = await self.lease_renewed(name)
            await self.client.patch(
                NODES,
                name,
                {"status": self.desired_status(node.get("status"), heartbeating=heartbeating)},
                patch_type="merge",
                subresource="status",
            )
        finally:
            # Whatever went wrong, the next heartbeat is due as usual (a failure's backoff may
            # bring it earlier, never later): a node that stops posting is taken for dead.
            self.queue.add_after(name, self.heartbeat_seconds)

    async def lease_renewed(self, name: str) -> bool:
        """Whether the node's Lease was renewed within the grace period (no lease yet: True)."""
        try:
            lease = await self.client.get(LEASES, name, namespace=NODE_LEASE_NAMESPACE)
        except NotFoundError:
            return True
        renewed, now = parse_time((lease.get("spec") or {}).get("renewTime")), parse_time(self._now())
        if renewed is None or now is None:
            return True  # nothing to judge by: the agent has not renewed it yet
        if self._first_look is None:
            self._first_look = now
        return (now - max(renewed, self._first_look)).total_seconds() <= NODE_MONITOR_GRACE_PERIOD

    async def _register(self, name: str) -> Obj:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": self.labels()},
            "spec": {},
        }
        try:
            node = await self.client.create(NODES, body)
        except AlreadyExistsError:
            return await self.client.get(NODES, name)
        logger.info("registered node %s", name)
        return node

    async def _ensure_labels(self, node: Obj) -> None:
        current = (node.get("metadata") or {}).get("labels") or {}
        if not isinstance(current, dict):
            current = {}  # our merge patch below replaces whatever is stored with a map
        missing = {k: v for k, v in self.labels().items() if current.get(k) != v}
        if missing:
            await self.client.patch(
                NODES,
                str(node["metadata"]["name"]),
                {"metadata": {"labels": copy.deepcopy(missing)}},
                patch_type="merge",
            )
