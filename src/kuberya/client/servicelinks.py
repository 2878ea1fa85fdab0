"""Service environment variables, as the kubelet injects them into every container.

Upstream (``pkg/kubelet/envvars``) gives each container, for every Service it may see, the
variables Docker links once did::

    PAYMENT_SERVICE_HOST=10.96.0.12          PAYMENT_PORT=tcp://10.96.0.12:80
    PAYMENT_SERVICE_PORT=80                  PAYMENT_PORT_80_TCP=tcp://10.96.0.12:80
    PAYMENT_SERVICE_PORT_HTTP=80             PAYMENT_PORT_80_TCP_PROTO=tcp
                                             PAYMENT_PORT_80_TCP_PORT=80
                                             PAYMENT_PORT_80_TCP_ADDR=10.96.0.12

Which Services a pod sees (the kubelet's ``getServiceEnvVarMap``): those of its own namespace
when ``spec.enableServiceLinks`` is true (the default), and always the ``kubernetes`` Service of
``default``; Services without a ClusterIP (headless, ExternalName) give nothing.

It lives in the client layer, pure and I/O-free, because the node agent needs it and may import
only ``client``, ``runtime`` and ``images``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kuberya.client import malformed

MASTER_SERVICES = frozenset({"kubernetes"})
"""Services of the ``default`` namespace every pod sees, whatever ``enableServiceLinks`` says."""
MASTER_NAMESPACE = "default"


def env_name(name: str) -> str:
    """Upstream's ``makeEnvVariableName``: upper case, dashes to underscores (nothing else)."""
    return name.replace("-", "_").upper()


def has_cluster_ip(service: Mapping[str, Any]) -> bool:
    """Upstream's ``IsServiceIPSet``: a ClusterIP that is neither empty nor ``None``."""
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def service_env(services: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The variables for ``services``, in their order (upstream's ``envvars.FromServices``).

    Services without a ClusterIP or without ports are skipped.
    """
    result: list[tuple[str, str]] = []
    for service in services:
        spec = service.get("spec") or {}
        ports = [p for p in spec.get("ports") or [] if isinstance(p, Mapping)]
        if not has_cluster_ip(service) or not ports:
            continue
        prefix = env_name(str((service.get("metadata") or {}).get("name") or ""))
        ip = str(spec["clusterIP"])
        result.append((f"{prefix}_SERVICE_HOST", ip))
        result.append((f"{prefix}_SERVICE_PORT", str(int(ports[0].get("port") or 0))))
        # Named ports (only the first may be unnamed, says validation).
        for port in ports:
            if port.get("name"):
                result.append((f"{prefix}_SERVICE_PORT_{env_name(str(port['name']))}", str(int(port["port"]))))
        result.extend(_link_variables(prefix, ip, ports))
    return result


def _link_variables(prefix: str, ip: str, ports: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Docker-link variables; Docker special-cases the first port as ``{SVC}_PORT``."""
    result: list[tuple[str, str]] = []
    for i, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        number = int(port.get("port") or 0)
        url = f"{protocol.lower()}://{_join_host_port(ip, number)}"
        if i == 0:
            result.append((f"{prefix}_PORT", url))
        port_prefix = f"{prefix}_PORT_{number}_{protocol.upper()}"
        result.extend(
            [
                (port_prefix, url),
                (f"{port_prefix}_PROTO", protocol.lower()),
                (f"{port_prefix}_PORT", str(number)),
                (f"{port_prefix}_ADDR", ip),
            ]
        )
    return result


def pod_service_env(
    services: Iterable[Mapping[str, Any]], *, namespace: str, enable_service_links: bool = True
) -> list[tuple[str, str]]:
    """The service variables a pod in ``namespace`` gets (the kubelet's ``getServiceEnvVarMap``).

    ``services`` may hold every Service of the cluster (or just those of ``namespace`` and
    ``default``); the choice follows the module docstring. A Service of the pod's own namespace
    wins over a master Service of the same name. The result is sorted by service name so that a
    container's environment does not change from one start to the next; the agent puts the
    container's own ``env`` after it (container variables win, and ``$(VAR)`` references in them
    may name these).
    """
    chosen: dict[str, Mapping[str, Any]] = {}
    for service in services:
        # A Service stored malformed (by an older kuberya) gives no variables rather than
        # keeping every pod of its namespace from starting.
        if not malformed.conforms(service, malformed.SERVICE) or not has_cluster_ip(service):
            continue
        meta = service.get("metadata") or {}
        name, ns = str(meta.get("name") or ""), meta.get("namespace")
        if ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif ns == namespace and enable_service_links:
            chosen[name] = service
    return service_env(chosen[name] for name in sorted(chosen))


# -- cluster DNS for pods -----------------------------------------------------------------------------

CLUSTER_DNS_IP = "10.96.0.10"
"""The ClusterIP of ``kube-system/kube-dns``, where the cluster DNS answers (kubeadm's choice)."""
CLUSTER_DOMAIN = "cluster.local"


def pod_dns_config(
    namespace: str, *, nameserver: str = CLUSTER_DNS_IP, domain: str = CLUSTER_DOMAIN
) -> tuple[list[str], list[str], list[str]]:
    """``(nameservers, searches, options)`` of a ``dnsPolicy: ClusterFirst`` pod, as the kubelet writes them.

    The search path lets ``web`` and ``web.other-ns`` resolve from a pod; ``ndots:5`` makes the
    resolver try the search path first for any name with fewer than five dots.
    """
    return [nameserver], [f"{namespace}.svc.{domain}", f"svc.{domain}", domain], ["ndots:5"]


def render_resolv_conf(nameservers: Iterable[str], searches: Iterable[str], options: Iterable[str]) -> str:
    """The text of a pod's ``/etc/resolv.conf``."""
    lines = [f"nameserver {ns}" for ns in nameservers]
    searches, options = list(searches), list(options)
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
