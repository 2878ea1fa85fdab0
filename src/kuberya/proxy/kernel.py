"""The kernel path: nftables DNAT from ``clusterIP:port`` to endpoints, in a table of our own.

What kube-proxy's nftables mode does, reduced to one rule per service port::

    ip daddr 10.96.0.20 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.88.0.2 . 8080,
                                                                        1 : 10.88.0.3 . 8080 }

All rules live in the table ``ip kuberya`` (its own ``output`` and ``prerouting`` nat chains
jump to ``services``), so nothing of anyone else's ruleset is touched and deleting the table
undoes everything. :func:`render_ruleset` is pure; :class:`NftablesDNAT` replaces the table
atomically (one ``nft -f`` transaction) and removes it.

It is the ClusterIP path as root because ``bench/proxy_bench.py`` measured it at the speed of a
direct connection where the userspace proxy reached about half (``docs/DECISIONS.md``). What it
costs: a pod talking to a Service backed by a pod on the same bridge would get the reply
straight from that pod (not from the ClusterIP) over the bridge, so DNATed connections from the
pod network are masqueraded to the gateway (the ``postrouting`` chain); that traffic is routed
by the host, so it needs ``net.ipv4.ip_forward`` (which the pod network sets up for egress
anyway). Removed endpoints stop getting new connections at once; existing ones live on in
conntrack until they end — the kernel cannot bound their draining as the userspace proxy does.

UDP service ports get the same rule with ``udp dport``: this is the only path that forwards UDP
(``serviceproxy.unserved`` says what is not served elsewhere). A UDP "connection" is a conntrack
entry keyed by the client's address and port, so a client that keeps sending from one port to a
removed endpoint goes on reaching it until the entry idles out (30 s unreplied, 120 s once both
ways have talked); kube-proxy deletes such entries with ``conntrack -D``, which needs the
``conntrack`` tool that this machine kind lacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Iterable

from kuberya.proxy.table import ServicePort

logger = logging.getLogger(__name__)

TABLE = "kuberya"
_OWNED_TABLE = re.compile(r"^kuberya[\w-]*-p(\d+)$")
"""Our tables end in ``-p<pid>`` of the process that made them (see :meth:`NftablesDNAT.collect_stale`)."""


def render_rule(entry: ServicePort) -> str | None:
    """The DNAT rule of one service port, or None when it has no ClusterIP or no usable endpoint."""
    endpoints = entry.usable_endpoints()
    if not entry.cluster_ip or not endpoints or entry.protocol not in ("TCP", "UDP"):
        return None
    proto = entry.protocol.lower()
    match = f"ip daddr {entry.cluster_ip} {proto} dport {entry.port}"
    if len(endpoints) == 1:
        return f"{match} dnat ip to {endpoints[0].ip}:{endpoints[0].port}"
    targets = ", ".join(f"{i} : {e.ip} . {e.port}" for i, e in enumerate(endpoints))
    return f"{match} dnat ip to numgen inc mod {len(endpoints)} map {{ {targets} }}"


def render_ruleset(entries: Iterable[ServicePort], *, table: str = TABLE, pod_cidr: str | None = None) -> str:
    """An ``nft -f`` script that replaces the whole table with rules for ``entries``."""
    rules = [r for r in (render_rule(e) for e in entries) if r]
    body = "\n".join(f"    {r}" for r in rules)
    hairpin = (
        "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n"
        f"    ct status dnat ip saddr {pod_cidr} masquerade\n  }}\n"
        if pod_cidr
        else ""
    )
    return (
        # "add" then "delete" makes the replace work whether or not the table exists yet.
        f"add table ip {table}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"  chain services {{\n{body}\n  }}\n"
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    jump services\n  }\n"
        "  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n    jump services\n  }\n"
        f"{hairpin}"
        "}\n"
    )


async def _nft(script: str | None, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "nft",
        *args,
        stdin=asyncio.subprocess.PIPE if script is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(script.encode() if script is not None else None)
    if process.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


class NftablesDNAT:
    """Keeps the table ``ip kuberya`` equal to the DNAT rules of a proxy table."""

    def __init__(self, *, table: str = TABLE, pod_cidr: str | None = "10.88.0.0/16") -> None:
        if not table.startswith("kuberya"):
            raise ValueError(f"the nftables table must be named kuberya*, not {table!r}")
        # The pid in the name lets a later proxy remove the table of one that was killed.
        self.table = f"{table}-p{os.getpid()}"
        self.pod_cidr = pod_cidr
        """Connections from here to a ClusterIP are masqueraded (see the module docstring)."""

    async def apply(self, entries: Iterable[ServicePort]) -> None:
        await _nft(render_ruleset(entries, table=self.table, pod_cidr=self.pod_cidr), "-f", "-")

    async def collect_stale(self) -> list[str]:
        """Delete our tables whose process is gone (a proxy killed with -9 cannot clean up)."""
        removed = []
        listing = json.loads(await _nft(None, "-j", "list", "tables", "ip") or "{}")
        for item in listing.get("nftables") or []:
            name = str((item.get("table") or {}).get("name") or "")
            match = _OWNED_TABLE.match(name)
            if match is None or name == self.table or _alive(int(match.group(1))):
                continue
            try:
                await _nft(None, "delete", "table", "ip", name)
            except RuntimeError as e:
                logger.debug("%s", e)
                continue
            removed.append(name)
        if removed:
            logger.info("removed the nftables tables of dead proxies: %s", ", ".join(removed))
        return removed

    async def remove(self) -> None:
        try:
            await _nft(None, "delete", "table", "ip", self.table)
        except RuntimeError as e:
            logger.debug("%s", e)  # already gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
