"""Settings of the API server, grouped and frozen; the server assembly fills them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AuthSettings:
    client_ca_file: Path | None = None
    """PEM CA whose client certificates are accepted (the TLS layer verifies them)."""
    token_file: Path | None = None
    """Static bearer tokens, one ``token,user,uid,"group1,group2"`` line each (the upstream format)."""
    allow_anonymous: bool = False
    """Only for in-process tests over plain HTTP; never set by ``kuberya up``."""


@dataclass(frozen=True, slots=True)
class APIServerSettings:
    cluster_name: str = "kuberya"
    node_name: str = "kuberya"
    """The name of the one Node, used by defaulting (pods' spec.nodeName is bound by the scheduler)."""
    service_cidr: str = "10.96.0.0/16"
    """ClusterIPs are allocated from it; the first address is the ``kubernetes`` Service."""
    node_port_range: tuple[int, int] = (30000, 32767)
    compaction_interval_seconds: float = 300.0
    """How often history older than ``retain_revisions`` is dropped (upstream: 5 minutes)."""
    retain_revisions: int = 1000
    watch_bookmark_interval_seconds: float = 60.0
    """How often idle watches that asked for bookmarks get one."""
    auth: AuthSettings = field(default_factory=AuthSettings)
    node_agent_socket: Path | None = None
    """The node agent's local HTTP socket (upstream: the kubelet's port). ``pods/log``, ``exec``,
    ``attach`` and ``portforward`` are proxied to it; without it they answer 501."""
