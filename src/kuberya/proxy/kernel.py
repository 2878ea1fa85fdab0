"""The kernel path: nftables DNAT from service frontends to endpoints, in a table of our own.

What kube-proxy's nftables mode does, reduced to one rule per frontend::

    ip daddr 10.96.0.20 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.88.0.2 . 8080,
                                                                        1 : 10.88.0.3 . 8080 }

All rules live in the table ``ip kuberya-…`` (its own ``output`` and ``prerouting`` nat chains
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

**Loopback frontends** (NodePorts on ``127.0.0.1``, LoadBalancer ingress ``127.0.0.1:port``) are
DNATed too, in the ``output`` hook only (``localhost`` chain: a packet from the bridge addressed
to 127.0.0.1 is never a client). A connection from ``127.0.0.1`` DNATed to a pod leaves through
the pod bridge with a loopback source, which the kernel allows only with ``route_localnet`` on
that device — for the packet going out and for the reply coming in. :class:`RouteLocalnet` sets
it on kuberya's bridge only, never on ``all``/``default``, and the table then carries

* a masquerade of those flows to the bridge's address (a pod would otherwise answer 127.0.0.1,
  its own loopback), and
* kube-proxy's fix for CVE-2020-8558, ``localnet_guard``: packets arriving on the bridge for
  ``127.0.0.0/8`` are dropped unless conntrack says we DNATed them (the replies of our own
  flows). Without it a pod that routes ``127.0.0.1`` to its gateway reaches every host service
  bound to loopback (``tests/integration/test_services.py`` shows both). Spelled ``ct status &
  dnat == 0``: ``ct status != dnat`` compares the whole status word and drops every reply.

The guard lives in each cluster's table and ``route_localnet`` is switched on only after the
table is in place, and off only when no ``kuberya*-p<pid>`` table with a guard is left on the
host (several clusters share the bridge; a table of a killed proxy keeps its guard until a later
proxy collects it, and that proxy turns the setting off then). Both steps hold one host-wide lock.

UDP service ports get the same rule with ``udp dport``: this is the only path that forwards UDP
(``serviceproxy.unserved`` says what is not served elsewhere). A UDP "connection" is a conntrack
entry keyed by the client's address and port, so a client that keeps sending from one port to a
removed endpoint goes on reaching it until the entry idles out (30 s unreplied, 120 s once both
ways have talked); kube-proxy deletes such entries with ``conntrack -D``, which needs the
``conntrack`` tool that this machine kind lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

from kuberya.proxy.netdev import ip_command
from kuberya.proxy.table import Endpoint, ServicePort

logger = logging.getLogger(__name__)

TABLE = "kuberya"
POD_BRIDGE = "kuberya0"
"""The pod bridge of ``kuberya.runtime.network`` (``DEFAULT_BRIDGE``; the proxy may not import the runtime)."""
GUARD_CHAIN = "localnet_guard"
"""The chain holding the CVE-2020-8558 drop rule; a table with it is a reason to keep ``route_localnet``."""
LOCK_FILE = Path("/run/kuberya/route_localnet.lock")
_OWNED_TABLE = re.compile(r"^kuberya[\w-]*-p(\d+)$")
"""Our tables end in ``-p<pid>`` of the process that made them (see :meth:`NftablesDNAT.collect_stale`)."""
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class LocalnetUnavailable(RuntimeError):
    """``route_localnet`` could not be written on the pod bridge (read-only ``/proc/sys``, no such device)."""


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in LOOPBACK
    except ValueError:
        return False


def _dnat(match: str, endpoints: Sequence[Endpoint]) -> str:
    if len(endpoints) == 1:
        return f"{match} dnat ip to {endpoints[0].ip}:{endpoints[0].port}"
    targets = ", ".join(f"{i} : {e.ip} . {e.port}" for i, e in enumerate(endpoints))
    return f"{match} dnat ip to numgen inc mod {len(endpoints)} map {{ {targets} }}"


def render_rule(entry: ServicePort) -> str | None:
    """The DNAT rule of one service port, or None when it has no ClusterIP or no usable endpoint.

    None too for a TCP port with ``sessionAffinity: ClientIP``: the userspace proxy serves that
    ClusterIP, with affinity (a per-endpoint set of client addresses, as kube-proxy keeps, would
    be emptied by every whole-table replace here).
    """
    endpoints = entry.usable_endpoints()
    if not entry.cluster_ip or not endpoints or entry.protocol not in ("TCP", "UDP"):
        return None
    if entry.protocol == "TCP" and entry.affinity_timeout is not None:
        return None
    return _dnat(f"ip daddr {entry.cluster_ip} {entry.protocol.lower()} dport {entry.port}", endpoints)


def render_local_rules(entry: ServicePort, *, node_port_hosts: Iterable[str]) -> list[str]:
    """The DNAT rules of ``entry``'s loopback frontends (NodePorts, LoadBalancer ingress); none without endpoints.

    With no rule, a connection to the frontend is refused by the host (nothing listens there).
    """
    endpoints = entry.usable_endpoints()
    if not endpoints or entry.protocol not in ("TCP", "UDP"):
        return []
    frontends = entry.frontends(node_port_hosts=node_port_hosts, cluster_ips=False)
    proto = entry.protocol.lower()
    return [_dnat(f"ip daddr {host} {proto} dport {port}", endpoints) for host, port in frontends if is_loopback(host)]


def within(ip: str, networks: Iterable[ipaddress.IPv4Network]) -> bool:
    """Whether ``ip`` is an IPv4 address in one of ``networks`` (False for anything else)."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def serves_on_loopback(entry: ServicePort, *, bridge_networks: Iterable[ipaddress.IPv4Network]) -> bool:
    """Whether the kernel can take ``entry``'s loopback frontends from the userspace proxy.

    TCP only (a UDP NodePort stays unserved, as before); not with ``sessionAffinity`` (the kernel
    path has no affinity, the userspace balancer has); and only when every endpoint is on
    loopback or on the pod bridge: a loopback source may not leave through any other device.
    """
    if entry.protocol != "TCP" or entry.affinity_timeout is not None:
        return False
    networks = (LOOPBACK, *bridge_networks)
    return all(within(endpoint.ip, networks) for endpoint in entry.endpoints)


def render_ruleset(
    entries: Iterable[ServicePort],
    *,
    table: str = TABLE,
    pod_cidr: str | None = None,
    loopback: Iterable[ServicePort] = (),
    node_port_hosts: Iterable[str] = (),
    bridge: str | None = None,
) -> str:
    """An ``nft -f`` script that replaces the whole table with rules for ``entries``.

    ``loopback`` are the entries whose loopback frontends the kernel serves; ``bridge`` names the
    pod bridge whose ``route_localnet`` they rely on (masquerade and guard, see the module docstring).
    """
    rules = [r for r in (render_rule(e) for e in entries) if r]
    hosts = tuple(node_port_hosts)
    local = [r for e in loopback for r in render_local_rules(e, node_port_hosts=hosts)]
    indent = "\n    "
    postrouting = []
    if pod_cidr:
        postrouting.append(f"ct status dnat ip saddr {pod_cidr} masquerade")
    if bridge:
        postrouting.append(f'ct status dnat ip saddr 127.0.0.0/8 oifname "{bridge}" masquerade')
    nat_postrouting = (
        "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n"
        f"    {indent.join(postrouting)}\n  }}\n"
        if postrouting
        else ""
    )
    guard = (
        f"  chain {GUARD_CHAIN} {{\n    type filter hook input priority 0; policy accept;\n"
        f'    iifname "{bridge}" ip daddr 127.0.0.0/8 ct status & dnat == 0 counter drop\n  }}\n'
        if bridge
        else ""
    )
    return (
        # "add" then "delete" makes the replace work whether or not the table exists yet.
        f"add table ip {table}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"  chain services {{\n    {indent.join(rules)}\n  }}\n"
        f"  chain localhost {{\n    {indent.join(local)}\n  }}\n"
        "  chain output {\n    type nat hook output priority -100; policy accept;\n"
        "    jump services\n    ip daddr 127.0.0.0/8 jump localhost\n  }\n"
        "  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n    jump services\n  }\n"
        f"{nat_postrouting}"
        f"{guard}"
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


@contextlib.asynccontextmanager
async def _host_lock(path: Path) -> AsyncIterator[None]:
    """One holder at a time on this host: turning ``route_localnet`` on and off must not interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class RouteLocalnet:
    """``net.ipv4.conf.<bridge>.route_localnet`` on the pod bridge, shared by every kuberya on the host."""

    def __init__(self, bridge: str = POD_BRIDGE, *, proc: Path = Path("/proc/sys/net/ipv4/conf")) -> None:
        if not bridge.startswith("kuberya"):
            raise ValueError(f"route_localnet is only ever set on kuberya's own bridge, not {bridge!r}")
        self.bridge = bridge
        self.path = proc / bridge / "route_localnet"

    def exists(self) -> bool:
        return self.path.parent.is_dir()

    def enabled(self) -> bool:
        try:
            return self.path.read_text().strip() == "1"
        except OSError:
            return False

    def set(self, on: bool) -> None:
        """Write the setting; OSError when the bridge is gone or ``/proc/sys`` is read-only."""
        if self.enabled() != on:
            self.path.write_text("1\n" if on else "0\n")
            logger.info("net.ipv4.conf.%s.route_localnet = %d", self.bridge, int(on))

    async def networks(self) -> list[ipaddress.IPv4Network]:
        """The bridge's IPv4 subnets (pods live there); none while the bridge does not exist."""
        out = await ip_command("-j", "addr", "show", "dev", self.bridge, check=False)
        found = []
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info") or []:
                if info.get("family") == "inet":
                    found.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
        return found


class NftablesDNAT:
    """Keeps the table ``ip kuberya-…`` equal to the DNAT rules of a proxy table."""

    def __init__(
        self,
        *,
        table: str = TABLE,
        pod_cidr: str | None = "10.88.0.0/16",
        localnet: RouteLocalnet | None = None,
        lock_file: Path = LOCK_FILE,
    ) -> None:
        if not table.startswith("kuberya"):
            raise ValueError(f"the nftables table must be named kuberya*, not {table!r}")
        # The pid in the name lets a later proxy remove the table of one that was killed.
        self.table = f"{table}-p{os.getpid()}"
        self.pod_cidr = pod_cidr
        """Connections from here to a ClusterIP are masqueraded (see the module docstring)."""
        self.localnet = localnet or RouteLocalnet()
        """Also without loopback frontends: the last table out turns the setting off, whoever set it."""
        self.serve_loopback = localnet is not None
        """Whether this table serves loopback frontends; turned off when ``route_localnet`` cannot be set."""
        self.lock_file = lock_file

    async def apply(self, entries: Iterable[ServicePort], *, loopback: Iterable[ServicePort] = (),
                    node_port_hosts: Iterable[str] = ()) -> None:  # fmt: skip
        """Replace the table; with loopback frontends, then make sure the bridge lets their flows through.

        Raises :class:`LocalnetUnavailable` when ``route_localnet`` cannot be written (the caller then
        turns :attr:`serve_loopback` off and leaves loopback frontends to the userspace proxy).
        """
        if not self.serve_loopback:
            await self._load(render_ruleset(entries, table=self.table, pod_cidr=self.pod_cidr))
            return
        script = render_ruleset(entries, table=self.table, pod_cidr=self.pod_cidr, loopback=loopback,
                                node_port_hosts=node_port_hosts, bridge=self.localnet.bridge)  # fmt: skip
        async with _host_lock(self.lock_file):
            await self._load(script)  # the guard first, then the setting it guards
            if self.localnet.exists():  # no bridge yet: no pod either, and loopback endpoints need nothing
                try:
                    self.localnet.set(True)
                except OSError as e:
                    raise LocalnetUnavailable(
                        f"cannot set net.ipv4.conf.{self.localnet.bridge}.route_localnet: {e}"
                    ) from e

    async def _load(self, script: str) -> None:
        await _nft(script, "-f", "-")

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
            await self._release_localnet()
        return removed

    async def remove(self) -> None:
        try:
            await _nft(None, "delete", "table", "ip", self.table)
        except RuntimeError as e:
            logger.debug("%s", e)  # already gone
        await self._release_localnet()

    async def guarded_tables(self) -> list[str]:
        """Our tables (of any kuberya on the host) that carry the localnet guard."""
        listing = json.loads(await _nft(None, "-j", "list", "chains", "ip") or "{}")
        return sorted(
            {
                str(chain.get("table"))
                for item in listing.get("nftables") or []
                if (chain := item.get("chain") or {}).get("name") == GUARD_CHAIN
                and _OWNED_TABLE.match(str(chain.get("table") or ""))
            }
        )

    async def _release_localnet(self) -> None:
        """Turn ``route_localnet`` off when no table is left to guard it (another cluster may still use it)."""
        localnet = self.localnet
        async with _host_lock(self.lock_file):
            try:
                users = await self.guarded_tables()
            except (RuntimeError, ValueError) as e:
                logger.warning("cannot list nftables chains (%s); leaving route_localnet as it is", e)
                return
            if users or not localnet.exists():
                return
            try:
                localnet.set(False)
            except OSError as e:
                logger.warning("cannot reset net.ipv4.conf.%s.route_localnet: %s", localnet.bridge, e)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
