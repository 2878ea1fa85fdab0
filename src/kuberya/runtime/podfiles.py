"""The files a pod's containers share: ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname``.

They are written once per sandbox into its directory and bind-mounted into every container of the
pod, as the kubelet does (runc: through the OCI spec's mounts; the process runtime: by each
container's shim, in a mount namespace of the container's own):

- ``hosts`` is the kubelet's "Kubernetes-managed hosts file" (``managedHostsFileContent``):
  localhost and the IPv6 names, then the pod IP with the pod's hostname, preceded by its FQDN when
  the pod names a ``subdomain`` (``<ip> <hostname>.<subdomain>.<ns>.svc.<domain> <hostname>``, tab-separated).
  A pod on the host network gets the host's own file under a header of its own instead
  (``nodeHostsFileContent``). Either way ``spec.hostAliases`` follow, one line per IP.
- ``resolv.conf`` lists the sandbox's DNS nameservers, searches and options; with none (dnsPolicy
  ``Default``, or no cluster DNS yet) it is a copy of the host's.
- ``hostname`` holds the pod's hostname (the UTS namespace's name is set from the OCI spec).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberya.runtime.base import kernel_hostname

HOST_HOSTS = Path("/etc/hosts")
HOST_RESOLV_CONF = Path("/etc/resolv.conf")
MANAGED_HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
MANAGED_HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
IPV6_NAMES = (
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


@dataclass(frozen=True, slots=True)
class PodFiles:
    hosts: Path
    resolv_conf: Path
    hostname: Path

    def mounts(self) -> tuple[tuple[Path, str], ...]:
        """(host file, path in the container) for each file."""
        return ((self.hosts, "/etc/hosts"), (self.resolv_conf, "/etc/resolv.conf"), (self.hostname, "/etc/hostname"))


HostAliases = Sequence[tuple[str, Sequence[str]]]


def host_alias_entries(aliases: HostAliases) -> str:
    """``hostsEntriesFromHostAliases``: a blank line, a comment, then each IP with all its names."""
    if not aliases:
        return ""
    lines = "".join("\t".join((ip, *names)) + "\n" for ip, names in aliases)
    return "\n# Entries added by HostAliases.\n" + lines


def hosts_file(*, ip: str, hostname: str, domain: str = "", aliases: HostAliases = ()) -> str:
    """The kubelet's managed hosts file for a pod with its own IP (``domain``: its DNS domain)."""
    own = f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n"
    return f"{MANAGED_HOSTS_HEADER}127.0.0.1\tlocalhost\n{IPV6_NAMES}{own}{host_alias_entries(aliases)}"


def host_network_hosts_file(*, hostname: str, aliases: HostAliases = (), host_hosts: Path = HOST_HOSTS) -> str:
    """A host-network pod's hosts file: the node's own, then its host aliases."""
    try:
        node = host_hosts.read_text()
    except OSError:  # no readable host file: the managed one for loopback, so names still resolve
        return hosts_file(ip="127.0.0.1", hostname=hostname, aliases=aliases)
    return MANAGED_HOSTS_HEADER_HOST_NETWORK + node + host_alias_entries(aliases)


def resolv_conf(
    *,
    nameservers: Sequence[str],
    searches: Sequence[str] = (),
    options: Sequence[str] = (),
    host_resolv_conf: Path = HOST_RESOLV_CONF,
) -> str:
    """The pod's resolver configuration (the host's when the sandbox names no nameserver)."""
    if not nameservers:
        try:
            return host_resolv_conf.read_text()
        except OSError:
            return ""
    lines = [f"nameserver {server}" for server in nameservers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def pod_files(directory: Path) -> PodFiles:
    """Where a sandbox's files are."""
    return PodFiles(hosts=directory / "hosts", resolv_conf=directory / "resolv.conf", hostname=directory / "hostname")


def write_pod_files(directory: Path, sandbox: Mapping[str, Any], *, ip: str) -> PodFiles:
    """Write the three files into ``directory`` (the sandbox's own).

    ``sandbox`` is a recorded :class:`~kuberya.runtime.base.SandboxConfig` (its fields as a dict).
    """
    files = pod_files(directory)
    hostname = str(sandbox["hostname"])
    # A record from before host aliases were kept has none (JSON turned the tuples into lists).
    aliases = [(str(alias_ip), [str(n) for n in names]) for alias_ip, names in sandbox.get("host_aliases") or ()]
    if sandbox.get("host_network"):
        hosts = host_network_hosts_file(hostname=hostname, aliases=aliases)
    else:
        hosts = hosts_file(ip=ip, hostname=hostname, domain=str(sandbox.get("hostname_domain") or ""), aliases=aliases)
    files.hosts.write_text(hosts)
    files.resolv_conf.write_text(
        resolv_conf(
            nameservers=sandbox.get("dns_nameservers") or (),
            searches=sandbox.get("dns_searches") or (),
            options=sandbox.get("dns_options") or (),
        )
    )
    files.hostname.write_text(kernel_hostname(sandbox) + "\n")
    for path in (files.hosts, files.resolv_conf, files.hostname):
        path.chmod(0o644)
    return files
