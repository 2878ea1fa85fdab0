"""What the cluster benches share: a server of their own in a temp dir, and how to read a process's CPU.

A bench measures a real ``kuberya`` server started as the tests start one
(:func:`tests.conftest.start_server`), talks to it over TLS with the admin's client certificate,
and leaves nothing behind: its pods are force-deleted and the server stopped even when the bench
fails half-way.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Cluster, start_server, stop_server

from bench.api_bench import ssl_context

SETTLE_SECONDS = 1.0
"""How long a new server is left alone before it is measured (its components list and watch)."""


@dataclass(frozen=True, slots=True)
class BenchCluster:
    cluster: Cluster
    ssl: ssl.SSLContext
    tmp: Path

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def pid(self) -> int:
        return self.cluster.pid


@contextmanager
def bench_cluster(
    *server_args: str, prefix: str = "kuberya-bench-", cleanup: tuple[str, ...] = ()
) -> Iterator[BenchCluster]:
    """A process-runtime server of its own; ``cleanup`` names what to delete (kubectl) before its pods."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        cluster = start_server(Path(tmp) / "data", "--runtime", "process", *server_args)
        try:
            time.sleep(SETTLE_SECONDS)
            yield BenchCluster(cluster, ssl_context(cluster.kubeconfig, Path(tmp)), Path(tmp))
        finally:
            for what in cleanup:
                cluster.kubectl("delete", what, check=False, timeout=120)
            cluster.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", check=False, timeout=120)
            stop_server(cluster)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deployment(name: str, replicas: int, **spec: Any) -> dict[str, Any]:
    """A Deployment of ``replicas`` pods that sleep (the process runtime runs the command on the host)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
                },
            },
            **spec,
        },
    }
