"""Container probes (startup, liveness, readiness) and lifecycle hooks, as the kubelet's prober.

One :class:`ProbeWorker` per (container instance, probe kind) runs as a task: it waits for
``initialDelaySeconds`` after the container started, then probes every ``periodSeconds`` with a
``timeoutSeconds`` budget, counting consecutive successes and failures against
``successThreshold``/``failureThreshold``. Each failed attempt is reported (``Unhealthy`` events)
and each thresholded result too (``on_result``); the agent owns what follows (readiness → the
container's ``ready``; liveness/startup failure → kill and restart per policy). Liveness and
readiness workers are only started once the startup probe (if any) has succeeded, which is how
startup gates them. A worker belongs to one container instance: a restart gets new workers.

Probes connect only to the pod's own IP (loopback for host-network pods): ``httpGet`` speaks a
minimal HTTP/1.1 (200–399 is success, ``https`` without certificate checks as upstream),
``tcpSocket`` connects, ``exec`` runs in the container through the runtime, and ``grpc`` is
approximated by a TCP connect (kuberya carries no gRPC stack). Messages are upstream's
(``HTTP probe failed with statuscode: 500``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kuberya.client import Clock
from kuberya.meta.types import Obj
from kuberya.runtime.base import ContainerRuntime, RuntimeError_

logger = logging.getLogger(__name__)

USER_AGENT = "kube-probe/1.37"
KINDS = ("startup", "liveness", "readiness")


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Where a container's probes and hooks go."""

    host: str
    """The pod IP, or 127.0.0.1 for host-network pods."""
    container_id: str
    runtime: ContainerRuntime
    ports: dict[str, int]
    """The container's named ports."""


def _port(value: Any, ports: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    if text in ports:
        return ports[text]
    raise ValueError(f"port {text!r} is not a named port of the container")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def http_get(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    """One HTTP GET; ``(success, message)``."""
    scheme = str(spec.get("scheme") or "HTTP").upper()
    try:
        port = _port(spec.get("port"), target.ports)
    except ValueError as exc:
        return False, str(exc)
    path = str(spec.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    hostport = _hostport(target.host, port)
    url = f"{scheme.lower()}://{hostport}{path}"
    headers = {"Host": hostport, "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    for header in spec.get("httpHeaders") or []:
        name = str(header.get("name") or "")
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = str(header.get("value") or "")
    context: ssl.SSLContext | None = None
    if scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    async def request() -> int:
        reader, writer = await asyncio.open_connection(target.host, port, ssl=context)
        try:
            head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            writer.write(head.encode("latin-1"))
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                raise ConnectionError("malformed HTTP response")
            return int(parts[1])
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    try:
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that lands just after the
        # request finished (cpython#86296), and a probe worker that ignores its cancel never ends.
        async with asyncio.timeout(timeout):
            code = await request()
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except ConnectionRefusedError:
        return False, f'Get "{url}": dial tcp {hostport}: connect: connection refused'
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        return False, f'Get "{url}": {exc}'
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def tcp_connect(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    try:
        port = _port(spec.get("port"), target.ports)
    except ValueError as exc:
        return False, str(exc)
    hostport = _hostport(target.host, port)
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(target.host, port)
    except TimeoutError:
        return False, f"dial tcp {hostport}: i/o timeout"
    except ConnectionRefusedError:
        return False, f"dial tcp {hostport}: connect: connection refused"
    except OSError as exc:
        return False, f"dial tcp {hostport}: {exc}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def exec_command(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    command = [str(part) for part in spec.get("command") or []]
    try:
        code, output = await target.runtime.exec_sync(target.container_id, command, timeout=timeout)
    except RuntimeError_ as exc:
        return False, str(exc)
    text = output.decode("utf-8", errors="replace").strip()
    if code == -1:
        return False, f"command {' '.join(command)!r} timed out"
    if code != 0:
        return False, text or f"command {' '.join(command)!r} exited with {code}"
    return True, text


async def run_action(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    """Run a probe's or hook's handler (``exec``, ``httpGet``, ``tcpSocket``, ``grpc``)."""
    if (handler := spec.get("exec")) is not None:
        return await exec_command(handler, target, timeout)
    if (handler := spec.get("httpGet")) is not None:
        return await http_get(handler, target, timeout)
    if (handler := spec.get("tcpSocket")) is not None:
        return await tcp_connect(handler, target, timeout)
    if (handler := spec.get("grpc")) is not None:
        return await tcp_connect({"port": handler.get("port")}, target, timeout)
    return False, "probe has no handler (exec, httpGet, tcpSocket or grpc)"


class ProbeWorker:
    """Probes one container instance periodically; reports failures and thresholded results."""

    def __init__(
        self,
        kind: str,
        probe: Obj,
        target: ProbeTarget,
        *,
        clock: Clock,
        started_at: float,
        on_failure: Callable[[str, str], None],
        on_result: Callable[[str, bool], None],
    ) -> None:
        self.kind = kind
        self.probe = probe
        self.target = target
        self.clock = clock
        self.started_at = started_at
        """The container's start, on ``clock``: ``initialDelaySeconds`` counts from it."""
        self.on_failure = on_failure
        self.on_result = on_result
        self.period = max(float(probe.get("periodSeconds") or 10), 0.001)
        self.timeout = max(float(probe.get("timeoutSeconds") or 1), 0.001)
        self.success_threshold = max(int(probe.get("successThreshold") or 1), 1)
        self.failure_threshold = max(int(probe.get("failureThreshold") or 3), 1)

    async def run(self) -> None:
        delay = self.started_at + float(self.probe.get("initialDelaySeconds") or 0) - self.clock.now()
        if delay > 0:
            await self.clock.sleep(delay)
        successes = failures = 0
        while True:
            ok, message = await self.probe_once()
            if ok:
                successes, failures = successes + 1, 0
                if successes >= self.success_threshold:
                    self.on_result(self.kind, True)
                    if self.kind == "startup":
                        return
            else:
                successes, failures = 0, failures + 1
                self.on_failure(self.kind, message)
                if failures >= self.failure_threshold:
                    self.on_result(self.kind, False)
                    if self.kind in ("liveness", "startup"):
                        return  # the container is killed; its successor gets a new worker
            await self.clock.sleep(self.period)

    async def probe_once(self) -> tuple[bool, str]:
        try:
            return await run_action(self.probe, self.target, self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("%s probe of container %s failed unexpectedly", self.kind, self.target.container_id)
            return False, str(exc)
