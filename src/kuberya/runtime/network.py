"""Pod networking as root: a network namespace per pod on a CNI bridge.

For each sandbox :meth:`PodNetwork.add` creates ``ip netns add kuberya-<id>`` (the prefix marks
it as ours; only namespaces recorded in our own state are ever deleted), then runs the CNI
plugins from ``/usr/lib/cni`` the way the CNI spec says a runtime must: the plugin binary with
``CNI_COMMAND``/``CNI_CONTAINERID``/``CNI_NETNS``/``CNI_IFNAME``/``CNI_PATH`` in its environment and
the network configuration as JSON on stdin:

- ``loopback`` brings ``lo`` up inside the namespace;
- ``bridge`` (bridge ``kuberya0``, ``isGateway`` so the host reaches pods through the bridge's
  address, ``ipMasq: false`` so no traffic leaves the machine, ``hairpinMode`` so a pod can reach
  itself through a Service address) with ``host-local`` IPAM. Every kuberya on this machine
  shares the bridge, so they share one IPAM store too (``/run/kuberya/ipam/<bridge>``, which
  host-local locks): two clusters on one host (tests do this) never hand out one address twice.

:meth:`PodNetwork.remove` runs ``DEL`` (releasing the IP; the spec asks DEL to tolerate a
namespace that is already gone) and deletes the namespace, which destroys the pod's end of the
veth pair and with it the host's.

The subnet defaults to ``10.88.0.0/16``. When a route on the machine already covers part of it,
the first free ``10.x.0.0/16`` is used instead and a warning says so. The choice is recorded
(``network.json``) so that a restarted runtime keeps the subnet its IPAM state was made for.

Without root there is no :class:`PodNetwork`: the process runtime uses the rootless network
(:mod:`kuberya.runtime.rootless`) instead, where user namespaces are allowed; both are a
:class:`SandboxNetwork` to the runtimes. Where neither can run, pods share the host's network,
their IP is ``127.0.0.1``, and two pods listening on the same port clash; the node agent reports
that as the pod's error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import shutil
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kuberya.runtime.base import RuntimeError_

log = logging.getLogger(__name__)

NETNS_PREFIX = "kuberya-"
NETNS_DIR = Path("/var/run/netns")
DEFAULT_SUBNET = "10.88.0.0/16"
DEFAULT_BRIDGE = "kuberya0"
CNI_PATH = Path("/usr/lib/cni")
CNI_VERSION = "1.0.0"


class NetworkError(RuntimeError_):
    """Setting up or tearing down a pod's network failed."""


@dataclass(frozen=True, slots=True)
class PodAttachment:
    netns_name: str
    netns_path: str
    ip: str
    userns_path: str | None = None
    """The user namespace that owns the network namespace, when it is not the host's (rootless)."""


class SandboxNetwork(Protocol):
    """What a runtime needs from a pod network: a namespace and an IP per sandbox."""

    async def start(self) -> None:
        """Prepare, and take back what an earlier instance left running."""

    async def close(self) -> None:
        """Release what this process holds; the pods' namespaces stay."""

    async def add(self, sandbox_id: str, *, container_ports: Sequence[int] = ()) -> PodAttachment:
        """The sandbox's namespace and IP; ``container_ports`` are the pod's TCP ports."""

    async def remove(self, sandbox_id: str) -> None:
        """Tear the sandbox's network down. Idempotent."""

    def holds(self, sandbox_id: str) -> bool:
        """Whether something of the sandbox's network is left to remove."""


DEFAULT_PLUGIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""The CNI plugins' ``PATH`` when the server was given none."""


class PodNetwork:
    """A bridge network for pods; see the module docstring."""

    def __init__(
        self,
        *,
        state_dir: Path,
        subnet: str | None = None,
        bridge: str = DEFAULT_BRIDGE,
        cni_path: Path = CNI_PATH,
        plugin_path: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.plugin_path = plugin_path or DEFAULT_PLUGIN_PATH
        """``PATH`` for the CNI plugins (they run ``ip``, ``iptables``…): the server's own, passed
        down from its entry point; nothing below it reads the environment."""
        self.requested_subnet = subnet
        self.bridge = bridge
        self.cni_path = cni_path
        self.subnet = ""
        """The subnet in use, decided by :meth:`start`."""

    @staticmethod
    def available(cni_path: Path = CNI_PATH) -> bool:
        """Root, the ``ip`` tool and the three plugins: what a pod network needs here."""
        plugins = ("bridge", "host-local", "loopback")
        return (
            os.geteuid() == 0
            and shutil.which("ip") is not None
            and all(os.access(cni_path / plugin, os.X_OK) for plugin in plugins)
        )

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        record = self.state_dir / "network.json"
        if record.exists():
            saved = json.loads(record.read_text())
            self.subnet, self.bridge = saved["subnet"], saved["bridge"]
            return
        # A bridge left by an earlier kuberya (its state dir gone) keeps its subnet: our own route
        # must not count as a clash, and the new IPAM state must match the bridge's address.
        existing = host_routes(only_interface=self.bridge)
        if existing and not self.requested_subnet:
            self.subnet = str(existing[0])
        else:
            self.subnet = choose_subnet(
                self.requested_subnet or DEFAULT_SUBNET, routes=host_routes(exclude_interface=self.bridge)
            )
        if self.requested_subnet and self.subnet != self.requested_subnet:
            log.warning("pod subnet %s overlaps a route on this machine: using %s", self.requested_subnet, self.subnet)
        elif not self.requested_subnet and self.subnet != DEFAULT_SUBNET:
            log.warning("pod subnet %s is taken on this machine: using %s", DEFAULT_SUBNET, self.subnet)
        record.write_text(json.dumps({"subnet": self.subnet, "bridge": self.bridge}))

    def config(self) -> dict[str, Any]:
        return {
            "cniVersion": CNI_VERSION,
            "name": "kuberya",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": True,
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": self.subnet}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": str(SHARED_IPAM_DIR / self.bridge),
            },
        }

    async def close(self) -> None:
        """Nothing to release: the bridge and the namespaces belong to the pods."""

    def holds(self, sandbox_id: str) -> bool:
        return (NETNS_DIR / (NETNS_PREFIX + sandbox_id)).exists()

    async def add(self, sandbox_id: str, *, container_ports: Sequence[int] = ()) -> PodAttachment:
        """Create the pod's namespace and attach it; on failure nothing is left behind.

        ``container_ports`` need nothing here: the pod IP is routed from the host.
        """
        name = NETNS_PREFIX + sandbox_id
        path = str(NETNS_DIR / name)
        await _run("ip", "netns", "add", name)
        # The two plugins touch different interfaces: run them side by side (~8 ms less per pod).
        outcomes = await asyncio.gather(
            self._plugin("ADD", "loopback", {"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"},
                         sandbox_id=sandbox_id, netns=path, ifname="lo"),
            self._plugin("ADD", "bridge", self.config(), sandbox_id=sandbox_id, netns=path),
            return_exceptions=True,
        )  # fmt: skip
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            await self.remove(sandbox_id)
            raise failures[0]
        result = outcomes[1]
        assert isinstance(result, dict)
        try:
            ip = str(ipaddress.ip_interface(result["ips"][0]["address"]).ip)
        except (KeyError, IndexError, ValueError) as error:
            await self.remove(sandbox_id)
            raise NetworkError(f"the bridge plugin returned no IP address: {result}") from error
        return PodAttachment(netns_name=name, netns_path=path, ip=ip)

    async def remove(self, sandbox_id: str) -> None:
        """DEL from the plugins, then delete the namespace. Idempotent."""
        name = NETNS_PREFIX + sandbox_id
        path = NETNS_DIR / name
        netns = str(path) if path.exists() else ""
        try:
            await self._plugin("DEL", "bridge", self.config(), sandbox_id=sandbox_id, netns=netns)
        except NetworkError as error:
            log.warning("CNI DEL for sandbox %s: %s", sandbox_id, error)
        if netns:
            await _run("ip", "netns", "delete", name)

    async def _plugin(
        self,
        command: str,
        plugin: str,
        config: dict[str, Any],
        *,
        sandbox_id: str,
        netns: str,
        ifname: str = "eth0",
    ) -> dict[str, Any]:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": sandbox_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(self.cni_path),
            "PATH": self.plugin_path,
        }
        process = await asyncio.create_subprocess_exec(
            str(self.cni_path / plugin),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        stdout, stderr = await process.communicate(json.dumps(config).encode())
        if process.returncode != 0:
            try:
                error = json.loads(stdout)
                detail = f"{error.get('msg', '')} {error.get('details', '')}".strip()
            except ValueError:
                detail = (stdout or stderr).decode(errors="replace").strip()
            raise NetworkError(f"CNI {plugin} {command} for sandbox {sandbox_id} failed: {detail}")
        if command != "ADD" or not stdout.strip():
            return {}
        result: dict[str, Any] = json.loads(stdout)
        return result


SHARED_IPAM_DIR = Path("/run/kuberya/ipam")
"""Machine-wide, like the bridge it allocates on; on tmpfs, so a reboot forgets stale leases."""


def host_routes(*, exclude_interface: str = "", only_interface: str = "") -> list[ipaddress.IPv4Network]:
    """The IPv4 routes of this machine (``/proc/net/route``), the default route excepted."""
    routes = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if (exclude_interface and fields[0] == exclude_interface) or (only_interface and fields[0] != only_interface):
            continue
        destination = socket.inet_ntoa(struct.pack("<L", int(fields[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<L", int(fields[7], 16)))
        network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        if network.prefixlen:
            routes.append(network)
    return routes


def choose_subnet(wanted: str, *, routes: list[ipaddress.IPv4Network]) -> str:
    """``wanted`` if no route overlaps it, else the first free ``10.x.0.0/16`` after 10.88."""
    candidate = ipaddress.IPv4Network(wanted)
    if not any(candidate.overlaps(route) for route in routes):
        return str(candidate)
    for second in [*range(88, 256), *range(1, 88)]:
        candidate = ipaddress.IPv4Network(f"10.{second}.0.0/16")
        if not any(candidate.overlaps(route) for route in routes):
            return str(candidate)
    raise NetworkError(f"no free 10.x.0.0/16 for pods: every one overlaps a route; pass a pod CIDR ({wanted} is taken)")


async def _run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise NetworkError(f"{' '.join(argv)} failed: {stderr.decode(errors='replace').strip()}")
