"""Soak: mixed valid and invalid writes, watches that stall, and ``kill -9`` of the server.

For ``--minutes`` (default 30) one seeded client writes to a real kuberya server: valid
ConfigMap creates, updates and deletes, Deployments (0 replicas, so the controllers work but
no pod runs) and Services, interleaved with writes that must be refused (wrong types, bad
quantities, unknown fields under Strict, bad patches, bodies that do not parse). A few raw
watches are opened and never read. Every ``--kill-every`` seconds the server gets SIGKILL and
is started again on the same data dir.

Afterwards it checks what users depend on:

- every write the API acknowledged is there (creates and updates with their last value, deletes
  gone); a write in flight at a kill may have landed or not, either is fine;
- nothing malformed is stored: every ConfigMap, Deployment and Service lists through the
  official client's models, and every refused write was a 4xx, never a 5xx;
- the controllers did not crash-loop: the server logs have no tracebacks.

    .venv/bin/python bench/soak.py [--minutes 30] [--kill-every 180] [--seed N]

``tests/integration/test_soak_slice.py`` runs a bounded, fixed-seed slice of it in CI.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.adminhttp import AdminHTTP
from tests.conftest import start_server, stop_server

NAMESPACE = "soak"
SERVER_ARGS = ("--runtime", "process", "--disable", "service-proxy,cluster-dns")


@dataclass
class Outcome:
    requests: int = 0
    acknowledged: int = 0
    refused: int = 0
    server_errors: list[str] = field(default_factory=list)
    kills: int = 0
    stalled_watches: int = 0
    in_flight_at_kill: int = 0


class Client(AdminHTTP):
    """The admin connection, plus watches that are opened and never read."""

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        return self(method, path, body, content_type)

    def stall_a_watch(self) -> socket.socket:
        """Open a watch and never read from it: the server must drop it, not block on it."""
        sock = self.context.wrap_socket(socket.create_connection((self.host, self.port)), server_hostname=self.host)
        path = f"/api/v1/namespaces/{NAMESPACE}/configmaps?watch=true"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return sock


def invalid_writes(rng: random.Random, name: str) -> list[tuple[str, str, Any, str]]:
    """(method, path, body, content type) of writes upstream refuses; one is picked at random."""
    cms = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    deps = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    return [
        ("POST", cms, {"metadata": {"name": name}, "data": {"a": rng.randint(0, 9)}}, "application/json"),
        ("POST", cms + "?fieldValidation=Strict", {"metadata": {"name": name}, "bogus": 1}, "application/json"),
        ("POST", cms, b'{"metadata":{"name":"' + name.encode() + b'"},"data":{"a":NaN}}', "application/json"),
        ("POST", cms, b"[" * 5000, "application/json"),
        ("POST", cms, {"metadata": {"name": "Not_A_Name!"}}, "application/json"),
        ("POST", deps, deployment(name, replicas="three"), "application/json"),
        ("POST", deps, deployment(name, cpu="lots"), "application/json"),
        (
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/services",
            {"metadata": {"name": name}, "spec": {"selector": "a"}},
            "application/json",
        ),
        ("PATCH", f"{cms}/{name}", {"data": {"a": 1}}, "application/merge-patch+json"),
        ("PATCH", f"{cms}/{name}", [{"op": "frobnicate"}], "application/json-patch+json"),
    ]


def deployment(name: str, *, replicas: Any = 0, cpu: str = "100m") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "payment:v1", "resources": {"limits": {"cpu": cpu}}}]},
            },
        },
    }


class Soak:
    def __init__(self, data_dir: Path, *, seed: int, kill_every: float) -> None:
        self.data_dir = data_dir
        self.rng = random.Random(seed)
        self.kill_every = kill_every
        self.outcome = Outcome()
        # name -> expected ConfigMap value ("gone" for deleted); names whose last write was in
        # flight at a kill may hold either the old or the new state.
        self.expected: dict[str, str] = {}
        self.uncertain: dict[str, set[str]] = {}
        self.deployments: set[str] = set()
        self.cluster = start_server(data_dir, *SERVER_ARGS)
        self.client = Client(self.cluster)
        self.client.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        self.stalled: list[socket.socket] = []

    def run(self, seconds: float) -> Outcome:
        deadline = time.monotonic() + seconds
        next_kill = time.monotonic() + self.kill_every
        counter = 0
        try:
            while time.monotonic() < deadline:
                counter += 1
                if time.monotonic() >= next_kill:
                    # The kill lands from another thread at a random moment, usually mid-request.
                    threading.Timer(self.rng.uniform(0, 0.05), self.kill).start()
                    next_kill = time.monotonic() + self.kill_every
                self.step(counter)
                if self.cluster.process.poll() is not None:
                    self.restart()
        finally:
            for sock in self.stalled:
                sock.close()
        self.verify()
        return self.outcome

    def step(self, counter: int) -> None:
        roll = self.rng.random()
        name = f"cm-{self.rng.randrange(200)}"
        cms = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
        if roll < 0.02 and len(self.stalled) < 4:
            self.stalled.append(self.client.stall_a_watch())
            self.outcome.stalled_watches += 1
        elif roll < 0.45:
            value = f"v{counter}"
            if self.expected.get(name, "gone") == "gone":
                self.write(name, value, "POST", cms, {"metadata": {"name": name}, "data": {"v": value}})
            else:
                self.write(
                    name, value, "PATCH", f"{cms}/{name}", {"data": {"v": value}}, "application/merge-patch+json"
                )
        elif roll < 0.55:
            if self.expected.get(name, "gone") != "gone":
                self.write(name, "gone", "DELETE", f"{cms}/{name}", None)
        elif roll < 0.6:
            dep = f"dep-{self.rng.randrange(20)}"
            status = self.send("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment(dep))
            if status == 201:
                self.deployments.add(dep)
        else:
            method, path, body, content_type = self.rng.choice(invalid_writes(self.rng, f"bad-{counter}"))
            status = self.send(method, path, body, content_type)
            if status is not None and 400 <= status < 500:
                self.outcome.refused += 1
            elif status is not None and status < 400:
                self.outcome.server_errors.append(f"{method} {path}: accepted ({status}) but must be refused")

    def send(self, method: str, path: str, body: Any, content_type: str = "application/json") -> int | None:
        self.outcome.requests += 1
        try:
            status, answer = self.client.request(method, path, body, content_type)
        except (OSError, http.client.HTTPException):
            return None
        if status >= 500:
            self.outcome.server_errors.append(f"{method} {path}: {status} {answer}")
        return status

    def write(
        self, name: str, value: str, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> None:
        previous = self.expected.get(name, "gone")
        self.outcome.requests += 1
        try:
            status, answer = self.client.request(method, path, body, content_type)
        except (OSError, http.client.HTTPException):
            # In flight when the server died: it may or may not have landed.
            self.uncertain[name] = {previous, value} | self.uncertain.get(name, set())
            self.outcome.in_flight_at_kill += 1
            return
        if status >= 500:
            self.outcome.server_errors.append(f"{method} {path}: {status} {answer}")
        elif status < 300:
            self.expected[name] = value
            self.uncertain.pop(name, None)
            self.outcome.acknowledged += 1

    def kill(self) -> None:
        os.kill(self.cluster.pid, signal.SIGKILL)
        self.outcome.kills += 1

    def restart(self) -> None:
        self.cluster.process.wait()
        for sock in self.stalled:
            sock.close()
        self.stalled.clear()
        (self.data_dir / "ready").unlink(missing_ok=True)
        self.client.close()
        self.cluster = start_server(self.data_dir, *SERVER_ARGS)
        self.client = Client(self.cluster)

    def verify(self) -> None:
        import kubernetes

        status, listed = self.client.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps")
        assert status == 200, listed
        stored = {item["metadata"]["name"]: (item.get("data") or {}).get("v", "") for item in listed["items"]}
        lost = []
        for name, value in self.expected.items():
            have = stored.get(name, "gone")
            allowed = self.uncertain.get(name, set()) | {value}
            if have not in allowed:
                lost.append(f"{name}: stored {have!r}, acknowledged {value!r}")
        assert not lost, "acknowledged writes lost:\n" + "\n".join(lost)
        invalid = [n for n in stored if n.startswith("bad-")]
        assert not invalid, f"objects that had to be refused are stored: {invalid}"
        client = kubernetes.config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        try:
            kubernetes.client.CoreV1Api(client).list_namespaced_config_map(NAMESPACE)
            kubernetes.client.CoreV1Api(client).list_namespaced_service(NAMESPACE)
            deployments = kubernetes.client.AppsV1Api(client).list_namespaced_deployment(NAMESPACE)
        finally:
            client.close()
        assert {d.metadata.name for d in deployments.items} >= self.deployments
        log = (self.data_dir / "server.log").read_text(errors="replace")
        assert "Traceback" not in log, "the server logged a traceback:\n" + log[log.index("Traceback") - 2000 :][:6000]

    def stop(self) -> None:
        self.client.close()
        stop_server(self.cluster)


def soak(data_dir: Path, *, seconds: float, kill_every: float, seed: int) -> Outcome:
    run = Soak(data_dir, seed=seed, kill_every=kill_every)
    try:
        return run.run(seconds)
    finally:
        run.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--kill-every", type=float, default=180, help="seconds between kill -9s")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kuberya-soak-") as tmp:
        started = time.monotonic()
        outcome = soak(Path(tmp) / "data", seconds=args.minutes * 60, kill_every=args.kill_every, seed=args.seed)
        print(f"seed {args.seed}, {time.monotonic() - started:.0f} s")
    print(
        f"{outcome.requests} requests: {outcome.acknowledged} acknowledged writes, {outcome.refused} refused as "
        f"they must be, {outcome.kills} kill -9s ({outcome.in_flight_at_kill} writes in flight), "
        f"{outcome.stalled_watches} stalled watches, {len(outcome.server_errors)} server errors"
    )
    for error in outcome.server_errors[:20]:
        print("  ", error)
    if outcome.server_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
