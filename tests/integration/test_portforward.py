"""``kubectl port-forward`` and the Python client's ``portforward`` against a real pod (issue §6).

The pod runs ``python3 -m http.server`` bound to 127.0.0.1 only when it has a network namespace
of its own (root), so an answer proves the agent connected *inside* the pod's namespace, as
upstream does. Every kubectl the machine has is tried, over each transport it speaks: the
SPDY-over-WebSocket tunnel (1.31+'s default) and plain SPDY (``KUBECTL_PORT_FORWARD_WEBSOCKETS
=false``). Each kubectl started here is stopped by its PID.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Cluster

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: python:3
    command: [{python}, -m, http.server, "8080", "--bind", "{bind}"]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""

WAIT_LISTENING = """
import socket, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", 8080), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
"""
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """A namespace with pod and service ``web``; the pod is deleted (and waited for) at the end."""
    namespace = f"pf-{os.getpid()}"
    cluster.kubectl("create", "namespace", namespace)
    # As root the pod has its own network namespace: listening on its loopback only proves that
    # the agent connects inside it. Otherwise it shares the host's, and 127.0.0.1 is the host's.
    manifest = POD.format(name="web", python=sys.executable, bind="127.0.0.1")
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    try:
        cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/web", "--timeout=60s", timeout=90)
        # A probe could not reach a server on the pod's loopback: wait for it from inside the pod.
        cluster.kubectl("exec", "-n", namespace, "web", "--", sys.executable, "-c", WAIT_LISTENING, timeout=30)
        yield namespace, "web"
    finally:
        cluster.kubectl("delete", "-n", namespace, "pod/web", "--wait=true", "--timeout=60s", check=False, timeout=90)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@contextmanager
def port_forward(cluster: Cluster, binary: Path, *args: str, websockets: bool = True) -> Iterator[int]:
    """Run ``kubectl port-forward ARGS``; yield the local port; stop it by PID."""
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HOME": str(cluster.data_dir / "home"),
        "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true" if websockets else "false",
    }
    process = subprocess.Popen(
        [str(binary), "port-forward", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if match := FORWARDING.search(line):
                yield int(match.group(1))
                break
            if not line and process.poll() is not None:
                break
        else:
            pytest.fail("kubectl port-forward did not start in time")
        if not line:
            assert process.stderr is not None
            pytest.fail(f"kubectl port-forward exited {process.returncode}: {process.stderr.read()}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def get(port: int, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def concurrent_gets(port: int, count: int) -> list[tuple[int, bytes]]:
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def one() -> None:
        answer = get(port)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


@pytest.mark.parametrize("websockets", [True, False], ids=["websocket-tunnel", "spdy"])
def test_kubectl_port_forward_pod(
    cluster: Cluster, web: tuple[str, str], kubectl_binary: Path, websockets: bool
) -> None:
    namespace, name = web
    with port_forward(cluster, kubectl_binary, "-n", namespace, f"pod/{name}", ":8080", websockets=websockets) as port:
        status, body = get(port)
        assert status == 200 and b"Directory listing" in body
        answers = concurrent_gets(port, 8)
        assert len(answers) == 8 and all(s == 200 for s, _ in answers)
        status, _ = get(port, "/no-such-file")  # a second request on the same forward, answered 404
        assert status == 404


def test_kubectl_port_forward_service(cluster: Cluster, web: tuple[str, str], kubectl_binary: Path) -> None:
    namespace, name = web
    with port_forward(cluster, kubectl_binary, "-n", namespace, f"svc/{name}", ":80") as port:
        status, body = get(port)
        assert status == 200 and b"Directory listing" in body


def test_port_without_listener_reports_the_error(cluster: Cluster, web: tuple[str, str]) -> None:
    namespace, name = web
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir / "home")}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kubectl"), "port-forward", "-n", namespace, f"pod/{name}", ":8099"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        match = FORWARDING.search(process.stdout.readline())
        assert match, "kubectl port-forward did not start"
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            get(int(match.group(1)))
        _, stderr = process.communicate(timeout=15)  # upstream kubectl gives up on the first error
        assert "failed to connect to localhost:8099" in stderr
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.communicate(timeout=10)


def test_python_client_portforward(cluster: Cluster, web: tuple[str, str]) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    namespace, name = web
    api = config.new_client_from_config(str(cluster.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        forward = portforward(core.connect_get_namespaced_pod_portforward, name, namespace, ports="8080")
        sock = forward.socket(8080)
        sock.setblocking(True)
        sock.settimeout(10)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        assert data.startswith(b"HTTP/1.0 200") and b"Directory listing" in data
        assert forward.error(8080) is None
        deadline = time.monotonic() + 10
        while forward.connected and time.monotonic() < deadline:  # the client's proxy thread winds down
            time.sleep(0.05)
        forward.websocket.shutdown()  # websocket-client leaves the socket of a server-closed socket open
    finally:
        api.close()
