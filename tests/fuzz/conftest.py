"""A kuberya server of the fuzz tier's own: in memory, no controllers, no node agent.

Fuzzed writes create nodes, namespaces and pods with generated specs; on the session's shared
cluster they would be scheduled, run and reconciled. Here only the fuzzer writes, so the store's
revision moves only when a request it sent was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import Cluster, start_server, stop_server
from tests.fuzz import harness, seeds


@dataclass
class FuzzServer:
    cluster: Cluster
    session: requests.Session

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def log(self) -> Path:
        return self.cluster.data_dir / "server.log"


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    data_dir = tmp_path_factory.mktemp("kuberya-fuzz")
    cluster = start_server(data_dir, "--runtime", "process", "--storage", "memory://", "--disable", harness.COMPONENTS)
    session = harness.admin_session(cluster.kubeconfig, data_dir / "client")
    seeds.create_seed_objects(session, cluster.url)
    yield FuzzServer(cluster, session)
    session.close()
    stop_server(cluster)
