"""Host ports on this machine: which TCP ports a container declares, and which are already taken.

A pod without a network namespace of its own (no root) shares the host's ports, and an app that
cannot bind fails in a way that says little. The pod syncer asks :func:`busy_host_ports` first
(``/proc/net/tcp{,6}``, sockets in state ``LISTEN``) and, when a declared port is taken, reports
that with a message that names it and tries again later.
"""

from __future__ import annotations

from pathlib import Path

from kuberya.node.state import PodState


def declared_tcp_ports(state: PodState, container_name: str) -> list[int]:
    spec = state.pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if container.get("name") == container_name:
            return [
                int(p["containerPort"])
                for p in container.get("ports") or []
                if p.get("containerPort") and str(p.get("protocol") or "TCP") == "TCP"
            ]
    return []


def busy_host_ports(ports: list[int]) -> list[int]:
    """Which of ``ports`` some socket on this host listens on (``/proc/net/tcp{,6}``, state 0A)."""
    if not ports:
        return []
    listening: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                listening.add(int(fields[1].rsplit(":", 1)[1], 16))
    return [port for port in ports if port in listening]
