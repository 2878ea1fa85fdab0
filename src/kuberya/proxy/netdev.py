"""Service addresses on the host: each ClusterIP as a /32 on a link of ours, ``kuberya-svc``.

A ClusterIP is virtual: nothing owns it until the host does. As kube-proxy's IPVS mode does
with ``kube-ipvs0``, the proxy puts every ClusterIP it serves on one link that routes nowhere;
the kernel then treats the address as local, so

* the host reaches ``clusterIP:port`` over the loopback path, and
* a pod, whose default route points at the bridge gateway (the host), reaches it too: the
  packet arrives on the bridge addressed to a local address and is delivered to our listener;
  no forwarding, NAT or sysctl is involved.

The link is a ``dummy`` where the kernel has that driver and otherwise a bridge with no ports
(this machine's kernel lacks ``dummy``): both are up, carry no traffic and take addresses. It is
named ``kuberya-*`` so that it is recognisably ours, and removed by whoever releases its last
address. Each :class:`ServiceAddressDevice` removes only the addresses it added, so the proxy
and the cluster DNS can share the link. Everything here needs root (CAP_NET_ADMIN); callers
check :func:`can_manage_links` first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable

logger = logging.getLogger(__name__)

DEVICE_NAME = "kuberya-svc"


_ensuring = asyncio.Lock()
"""One link creation at a time in this process (see :meth:`ServiceAddressDevice.ensure`)."""


class LinkError(RuntimeError):
    """An ``ip`` command failed; the message holds its stderr."""


def can_manage_links() -> bool:
    return os.geteuid() == 0


async def ip_command(*args: str, check: bool = True) -> str:
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise LinkError(f"ip {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


class ServiceAddressDevice:
    """Adds and removes /32 service addresses on the ``kuberya-svc`` link."""

    def __init__(self, name: str = DEVICE_NAME) -> None:
        if not name.startswith("kuberya"):
            raise ValueError(f"the service address link must be named kuberya-*, not {name!r}")
        self.name = name
        self._mine: set[str] = set()

    async def exists(self) -> bool:
        return bool((await ip_command("-o", "link", "show", "dev", self.name, check=False)).strip())

    async def ensure(self) -> None:
        """Create the link (dummy, else an empty bridge) and bring it up; nothing if it is there.

        The proxy and the cluster DNS of one server both call this as they start, and other
        clusters on the host may too: creations are serialized in this process, and a link that
        another process created in between ("File exists") is taken as made.
        """
        async with _ensuring:
            if not await self.exists():
                await self._create()
            await ip_command("link", "set", self.name, "up")

    async def _create(self) -> None:
        for kind in ("dummy", "bridge"):
            try:
                await ip_command("link", "add", self.name, "type", kind)
                break
            except LinkError:
                if await self.exists():
                    return  # another kuberya made it meanwhile
                if kind == "bridge":
                    raise
        # No IPv6 link-local address: the link is an address holder, not a network.
        await ip_command("link", "set", self.name, "addrgenmode", "none", check=False)
        logger.info("created link %s for service addresses", self.name)

    async def addresses(self) -> set[str]:
        out = await ip_command("-j", "addr", "show", "dev", self.name, check=False)
        found: set[str] = set()
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info") or []:
                if info.get("family") == "inet":
                    found.add(str(info["local"]))
        return found

    async def sync(self, wanted: Iterable[str]) -> None:
        """Make the addresses we added exactly ``wanted`` (others' addresses are left alone)."""
        wanted = set(wanted)
        present = await self.addresses()
        added = wanted - present
        for ip in sorted(added):
            await ip_command("addr", "add", f"{ip}/32", "dev", self.name)
        for ip in sorted((self._mine - wanted) & present):
            await ip_command("addr", "del", f"{ip}/32", "dev", self.name, check=False)
        # An address that was there before us is someone else's to remove.
        self._mine = (self._mine & wanted) | added

    async def release(self) -> None:
        """Remove our addresses; delete the link when no address is left on it."""
        if not await self.exists():
            return
        await self.sync(())
        if not await self.addresses():
            await ip_command("link", "del", self.name, check=False)
            logger.info("removed link %s", self.name)
