"""What one kuberya server process is told to do, and where it keeps its files.

``ServerConfig`` holds plain values only (like uvicorn's ``Config``): the command line fills it in,
``validate()`` refuses combinations that would be unsafe or cannot work, and the assembly in
``kuberya.server.main`` turns names (``storage_url``, ``runtime``) into implementations. Nothing
here reads the environment: the CLI does that and passes values down.

``DataDirLayout`` (:mod:`kuberya.meta.datadir`, shared with the CLI, which may not import this
package) names every file the server keeps in its data directory; ``ready`` is the readiness
signal: it appears, atomically, once the API answers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from kuberya.meta.datadir import DataDirLayout as DataDirLayout  # re-exported for the server

DEFAULT_PORT = 6443
"""Upstream's API server port, so that muscle memory (and docs) carry over."""

RUNTIMES = ("process", "runc")
"""Container runtimes the node agent can be given by name (DESIGN.md, decision 5)."""

STORAGE_CHECKS = ("quick", "full")
"""How thoroughly the store's file is checked before it is served (``kuberya.storage.sqlitecheck``)."""

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ConfigError(ValueError):
    """A configuration that cannot or must not be served; the message says what to change."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path
    """Everything the cluster keeps lives here: the database, the PKI, kubeconfig, pid, log."""
    host: str = "127.0.0.1"
    """The address the API listens on. Anything but loopback needs ``allow_non_loopback``."""
    port: int = DEFAULT_PORT
    """The API's TCP port; 0 lets the kernel pick a free one (the ready file tells which)."""
    storage_url: str | None = None
    """``sqlite:///abs/path.db`` or ``memory://``; None means ``<data_dir>/state.db`` (SQLite)."""
    runtime: str = "process"
    """The container runtime by name (one of :data:`RUNTIMES`). ``process`` runs a pod's containers
    as plain host processes (no isolation; for development and machines without runc); ``runc``
    runs real OCI containers. The default becomes ``runc`` where it can run once it is wired in."""
    allow_non_loopback: bool = False
    disabled_components: frozenset[str] = frozenset()
    """Components not to start (``--disable service-proxy,cluster-dns``): a second cluster on one
    host, say, that must not program the host's service addresses a first one already owns."""
    """Listening beyond loopback exposes the cluster to the network; it must be asked for."""
    hpa_sync_period: float | None = None
    """Seconds between the HPA controller's rounds; None: upstream's 15 s. Only tests shorten it."""
    plugin_path: str | None = None
    """``PATH`` for the helper binaries the runtime runs (CNI plugins); the server's own, filled in
    by its entry point (None: a standard one)."""
    node_name: str = "kuberya"
    """The name of the one Node; the node controller registers it and pods are bound to it."""
    retain_revisions: int = 1000
    """Revisions of history the store keeps for watches; older ones answer 410 Expired."""
    storage_check: str = "quick"
    """One of :data:`STORAGE_CHECKS`: ``quick`` (bounded cost, every start) or ``full`` (SQLite's
    integrity_check and every row and value of the log; its cost grows with the store)."""
    shutdown_timeout_seconds: float = 2.0
    """How long open requests (watches, mostly) may drain once the listener is closed."""

    @property
    def layout(self) -> DataDirLayout:
        return DataDirLayout(self.data_dir)

    @property
    def effective_storage_url(self) -> str:
        # The driver takes everything after "sqlite://" as the path: an absolute one gives three slashes.
        return self.storage_url or f"sqlite://{self.layout.database}"

    @property
    def client_host(self) -> str:
        """The address a local client should dial: loopback for loopback and wildcard binds."""
        if self.host in LOOPBACK_HOSTS or self.host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return self.host

    def url(self, port: int) -> str:
        """Return the API's URL once it listens on ``port`` (the real one when ``self.port`` is 0)."""
        host = self.client_host
        if ":" in host:  # a bare IPv6 address needs brackets in a URL
            host = f"[{host}]"
        return f"https://{host}:{port}"

    def validate(self) -> None:
        """Raise :class:`ConfigError` for what must not be served."""
        if not self.data_dir.is_absolute():
            raise ConfigError(f"the data dir must be an absolute path, not {self.data_dir}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is not a TCP port; use 1-65535, or 0 for any free one")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"unknown runtime {self.runtime!r}; choose one of: {', '.join(RUNTIMES)}")
        if not self.allow_non_loopback and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host}: that is reachable from the network. "
                "Listen on 127.0.0.1 (the default), or pass --allow-non-loopback if you mean it."
            )
        if self.retain_revisions < 1:
            raise ConfigError("retain_revisions must be at least 1")
        if self.storage_check not in STORAGE_CHECKS:
            raise ConfigError(
                f"unknown storage check {self.storage_check!r}; choose one of: {', '.join(STORAGE_CHECKS)}"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
