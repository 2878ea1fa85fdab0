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
    service_account_key_file: Path | None = None
    """The ES256 key that signs and verifies service-account tokens (``pki/sa.key``); None: no tokens."""
    users_file: Path | None = None
    """``kuberya user``'s record (``pki/users.json``): certificates whose serial it lists as revoked get 401."""


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
    max_request_body_bytes: int = 3 * 1024 * 1024
    """Largest request body accepted, before any decoding; above it 413 (upstream's
    ``MaxRequestBodyBytes``, 3 MiB, sized to what etcd would store)."""
    max_requests_in_flight: int = 400
    """Non-mutating requests (GET, HEAD) served at once; one more gets 429 with ``Retry-After: 1``
    (upstream's ``--max-requests-inflight``). Long-running requests and ``system:masters`` are not
    counted, as upstream. 0 means no limit."""
    max_mutating_requests_in_flight: int = 200
    """The same for every other method (upstream's ``--max-mutating-requests-inflight``)."""
    max_watches_per_user: int = 1000
    """Concurrent watches one user may hold; one more gets 429. Upstream has no such cap (its
    priority-and-fairness queues play that part): this keeps one runaway client from holding the
    server's memory in watches, with room for every informer of a busy controller manager."""
    request_timeout_seconds: float = 60.0
    """How long a request that is not long-running may take before it is answered 504
    (upstream's ``--request-timeout``); a client's ``?timeout=`` may only shorten it."""
    watch_write_timeout_seconds: float = 10.0
    """How long one write to a watcher may wait for the client to read. A watcher that lets its
    socket buffers fill and stay full that long is disconnected, so its events stop piling up in
    the server (its informer re-lists or resumes from its last resourceVersion)."""
    node_agent_socket: Path | None = None
    """The node agent's local HTTP socket (upstream: the kubelet's port). ``pods/log``, ``exec``,
    ``attach`` and ``portforward`` are proxied to it; without it they answer 501."""
