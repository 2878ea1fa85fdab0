"""Pod networking without root: a user + network namespace per pod, its ports published on a loopback address.

Without root there is no bridge (:mod:`kuberya.runtime.network`), yet three replicas that all
listen on 8080 must not clash. :class:`RootlessNetwork` gives each sandbox:

- **its own network namespace**, made unprivileged: a holder process (:mod:`kuberya.runtime.nsholder`)
  started with ``unshare --user --map-root-user --net``, detached like a shim so it outlives an agent
  restart. The sandbox's ``netns_path`` is ``/proc/<holder>/ns/net`` and its ``userns_path``
  ``/proc/<holder>/ns/user``: containers and exec join both (``nsenter --user --net
  --preserve-credentials``; without root the user namespace must be joined to join the network one).
  Inside there is only ``lo``;
- **its own pod IP**, a loopback address from ``127.1.0.0/16`` (the host routes all of 127/8 to
  ``lo``; 127.0.1.1 is avoided, Debian names the host with it), recorded per sandbox so a restarted
  agent keeps it;
- **its ports published on that address**: for each TCP ``containerPort`` of the pod the agent's
  process listens on ``<pod IP>:<port>`` and relays every accepted connection to ``127.0.0.1:<port>``
  inside the pod's namespace, on a socket the holder made there
  (:class:`~kuberya.runtime.nsconnect.SocketFactory`). So probes, Endpoints, the userspace
  NodePort proxy and ``kubectl port-forward`` reach a pod on its pod IP, with no root.

- **a way to the Services**: the holder makes the whole service range (:data:`SERVICE_RANGES`)
  local to the namespace, and the service proxy listens on every TCP ClusterIP inside it (on
  sockets the holder makes, found through :func:`~kuberya.runtime.nsconnect.watch_socket_factories`)
  and forwards what the pod sends there to the Service's endpoints (:mod:`kuberya.proxy.podside`).
  So ``PAYMENT_SERVICE_HOST:PAYMENT_SERVICE_PORT`` works from a rootless pod as from a bridged one.

Limits, all from having no bridge: only declared ``containerPorts`` are reachable from outside the
pod; a ``tcpSocket`` probe succeeds once the relay listens (the host accepts the connection before
the pod is dialled; ``httpGet`` probes are exact, a refused pod resets the connection); and a pod
reaches no address outside its namespace but the TCP ClusterIPs: not other pods' IPs directly, not
the host, not the internet (no egress). The ClusterIP listeners share the pod's port space, so a
Service port that is also one of the pod's declared ports is left out in that pod, and an app that
binds an undeclared port some Service also uses finds it taken. Names it resolves with the cluster DNS, which answers
inside its namespace (:mod:`kuberya.proxy.dns`) and forwards other names from the host; its
``resolv.conf`` is bound over the host's in each container's mount namespace (:mod:`kuberya.runtime.process`).

When a sandbox goes its listeners close first and connections still being relayed get
:data:`RELAY_DRAIN_SECONDS` to finish: a response the pod wrote just before its containers ended
still reaches the client (a rollout loses no request to the relay).

Two clusters on one host allocate from the same range: an address whose port is taken (by the
other cluster) is skipped for the next one, so pod IPs may repeat across clusters, never a listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kuberya.runtime import nsholder
from kuberya.runtime.network import NetworkError, PodAttachment
from kuberya.runtime.nsconnect import SocketFactory, register_socket_factory, unregister_socket_factory
from kuberya.runtime.pipes import read_line
from kuberya.runtime.procstat import is_same_process, read_stat

log = logging.getLogger(__name__)

ADDRESS_RANGE = ipaddress.IPv4Network("127.1.0.0/16")
ADDRESS_TRIES = 32
"""Addresses tried before giving up on a port that is taken everywhere (a host process on 0.0.0.0)."""
HOLDER_LAUNCHER = (
    f"import sys; sys.path.insert(0, {str(Path(nsholder.__file__).parent)!r}); import nsholder; "
    "sys.exit(nsholder.main(sys.argv))"
)
HOLDER_START_TIMEOUT = 10.0
HOLDER_STOP_WAIT = 5.0
READ_CHUNK = 64 * 1024
DIAL_TIMEOUT = 5.0
RELAY_DRAIN_SECONDS = 2.0
SERVICE_RANGES = ("10.96.0.0/12",)
"""Made local to every rootless pod's namespace: Kubernetes' default service range, which holds
kuberya's (``10.96.0.0/16``). Inside a namespace whose only other address is loopback this shadows
nothing."""


@dataclass
class RootlessRecord:
    """``<state_dir>/<sandbox id>/network.json``."""

    ip: str
    ports: list[int]
    holder_pid: int | None = None
    holder_start: int | None = None

    @property
    def netns_path(self) -> str:
        return f"/proc/{self.holder_pid}/ns/net"

    @property
    def userns_path(self) -> str:
        return f"/proc/{self.holder_pid}/ns/user"

    def holder_alive(self) -> bool:
        return self.holder_pid is not None and is_same_process(self.holder_pid, self.holder_start)


@dataclass
class _Published:
    """What the agent's process holds for one sandbox: its listeners and the connections they relay."""

    servers: list[asyncio.Server] = field(default_factory=list)
    connections: set[asyncio.Task[Any]] = field(default_factory=set)


class RootlessNetwork:
    """A network namespace and a loopback pod IP per sandbox, no root needed; see the module docstring."""

    def __init__(self, *, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._records: dict[str, RootlessRecord] = {}
        self._published: dict[str, _Published] = {}
        self._claimed: set[str] = set()
        """Addresses being published for a sandbox not recorded yet (sandboxes are made concurrently)."""
        self._spawned: set[int] = set()

    @staticmethod
    def available() -> bool:
        """``unshare`` and ``nsenter`` exist, and this user may make a user namespace.

        Tried for real (one ``unshare … true``): distributions restrict user namespaces in different ways.
        """
        unshare = shutil.which("unshare")
        if unshare is None or shutil.which("nsenter") is None:
            return False
        try:
            probe = subprocess.run(
                [unshare, "--user", "--map-root-user", "--net", "true"], capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return probe.returncode == 0

    async def start(self) -> None:
        """Re-adopt the sandboxes of an earlier agent: their holders live on, their listeners are made again."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in self.state_dir.glob("*/network.json"):
            sandbox_id = path.parent.name
            try:
                record = RootlessRecord(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            self._records[sandbox_id] = record
            if not record.holder_alive():
                log.warning("sandbox %s: its network namespace holder is gone; the pod is unreachable", sandbox_id)
                continue
            self._register(sandbox_id, record)
            try:
                self._published[sandbox_id] = await self._publish(sandbox_id, record.ip, record.ports)
            except OSError as e:
                log.warning("sandbox %s: cannot publish its ports on %s again: %s", sandbox_id, record.ip, e)

    async def close(self) -> None:
        """Stop relaying (the agent is stopping); holders and their namespaces stay for the next agent."""
        for sandbox_id in list(self._published):
            await self._unpublish(sandbox_id, drain=0.0)
        for record in self._records.values():
            if record.holder_pid is not None:
                unregister_socket_factory(record.netns_path)
        for pid in list(self._spawned):
            self._reap(pid)

    def holds(self, sandbox_id: str) -> bool:
        return sandbox_id in self._records

    async def add(self, sandbox_id: str, *, container_ports: Sequence[int] = ()) -> PodAttachment:
        """Make the sandbox's namespace and publish its ports; on failure nothing is left behind."""
        ports = sorted({int(p) for p in container_ports if 0 < int(p) < 65536})
        directory = self.state_dir / sandbox_id
        directory.mkdir(parents=True, exist_ok=True)
        try:
            ip, published = await self._allocate(sandbox_id, ports)
            self._published[sandbox_id] = published
            record = RootlessRecord(ip=ip, ports=ports)
            self._records[sandbox_id] = record
            self._save(sandbox_id, record)
            record.holder_pid, record.holder_start = await self._spawn_holder(directory)
            self._save(sandbox_id, record)
            self._register(sandbox_id, record)
        except BaseException:
            await self.remove(sandbox_id)
            raise
        return PodAttachment(netns_name="", netns_path=record.netns_path, ip=ip, userns_path=record.userns_path)

    async def remove(self, sandbox_id: str) -> None:
        """Close the relays, end the holder (by its pid, once sure it is ours), forget the address. Idempotent."""
        await self._unpublish(sandbox_id)
        record = self._records.pop(sandbox_id, None)
        if record is not None and record.holder_pid is not None:
            unregister_socket_factory(record.netns_path)
            if record.holder_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.holder_pid, signal.SIGKILL)
                await self._wait_gone(record.holder_pid)
        shutil.rmtree(self.state_dir / sandbox_id, ignore_errors=True)

    # ---- addresses and relays ----------------------------------------------------------------

    async def _allocate(self, sandbox_id: str, ports: list[int]) -> tuple[str, _Published]:
        tried = 0
        last: OSError | None = None
        for address in ADDRESS_RANGE.hosts():
            ip = str(address)
            if ip in self._claimed or any(record.ip == ip for record in self._records.values()):
                continue
            self._claimed.add(ip)  # before the first await: a concurrent add must not pick it too
            try:
                return ip, await self._publish(sandbox_id, ip, ports)
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise NetworkError(f"publishing the ports of sandbox {sandbox_id} on {ip}: {e}") from e
                last = e
            finally:
                self._claimed.discard(ip)
            tried += 1
            if tried >= ADDRESS_TRIES:
                break
        raise NetworkError(
            f"cannot publish ports {', '.join(map(str, ports))} of sandbox {sandbox_id}: taken on every one of "
            f"{tried} addresses tried ({last}); is a host process listening on 0.0.0.0 on one of them?"
        )

    async def _publish(self, sandbox_id: str, ip: str, ports: Sequence[int]) -> _Published:
        published = _Published()
        try:
            for port in ports:
                relay = functools.partial(self._relay, sandbox_id, port)
                server = await asyncio.start_server(relay, host=ip, port=port, reuse_address=True)
                published.servers.append(server)
        except BaseException:
            for server in published.servers:
                server.close()
            raise
        return published

    async def _unpublish(self, sandbox_id: str, *, drain: float = RELAY_DRAIN_SECONDS) -> None:
        """Stop accepting, give open relays ``drain`` seconds to pass on what is in flight, then cut them."""
        published = self._published.pop(sandbox_id, None)
        if published is None:
            return
        for server in published.servers:
            server.close()
        if published.connections and drain > 0:
            await asyncio.wait(list(published.connections), timeout=drain)
        for task in list(published.connections):
            task.cancel()
        await asyncio.gather(*published.connections, return_exceptions=True)
        for server in published.servers:
            await server.wait_closed()

    async def _relay(
        self, sandbox_id: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One accepted connection, spliced to ``127.0.0.1:port`` in the pod; refused there → reset here."""
        task = asyncio.current_task()
        published = self._published.get(sandbox_id)
        record = self._records.get(sandbox_id)
        if task is None or published is None or record is None or record.holder_pid is None:
            writer.transport.abort()
            return
        published.connections.add(task)
        try:
            try:
                factory = SocketFactory(self.state_dir / sandbox_id)
                async with asyncio.timeout(DIAL_TIMEOUT):
                    sock = await factory.connect(port)
            except (OSError, TimeoutError):
                writer.transport.abort()  # a reset, as a refused pod port would give
                return
            pod_reader, pod_writer = await asyncio.open_connection(sock=sock, limit=READ_CHUNK)
            pipes = [asyncio.ensure_future(_pipe(reader, pod_writer)), asyncio.ensure_future(_pipe(pod_reader, writer))]
            try:
                await asyncio.gather(*pipes)
            except OSError:  # a reset on one side is a reset on the other
                pod_writer.transport.abort()
                writer.transport.abort()
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
                pod_writer.close()
        finally:
            writer.close()
            published.connections.discard(task)

    # ---- the holder --------------------------------------------------------------------------

    async def _spawn_holder(self, directory: Path) -> tuple[int, int | None]:
        unshare = shutil.which("unshare") or "unshare"
        ready_r, ready_w = os.pipe()
        os.set_inheritable(ready_w, True)
        argv = [unshare, "--user", "--map-root-user", "--net", "--",
                sys.executable, "-I", "-S", "-c", HOLDER_LAUNCHER, str(directory), str(ready_w),
                *SERVICE_RANGES]  # fmt: skip
        try:
            pid = os.posix_spawn(
                argv[0],
                argv,
                {"PATH": os.defpath},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (
                        os.POSIX_SPAWN_OPEN,
                        1,
                        str(directory / "holder.log"),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o640,
                    ),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,  # like a shim: not in the agent's session, so it outlives the agent
            )
        except OSError as e:
            os.close(ready_r)
            raise NetworkError(f"cannot start the network namespace holder ({unshare}): {e}") from e
        finally:
            os.close(ready_w)
        self._spawned.add(pid)
        try:
            async with asyncio.timeout(HOLDER_START_TIMEOUT):
                answer = await read_line(ready_r)
        except TimeoutError:
            answer = f"no answer within {HOLDER_START_TIMEOUT:.0f}s"
        finally:
            os.close(ready_r)
        stat = read_stat(pid)
        if answer.strip() != "ok" or stat is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await self._wait_gone(pid)
            detail = answer or (directory / "holder.log").read_text(errors="replace").strip()[-1000:] or "no output"
            raise NetworkError(f"the network namespace holder failed: {detail.removeprefix('error ')}")
        return pid, stat.start_ticks

    async def _wait_gone(self, pid: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLDER_STOP_WAIT
        while loop.time() < deadline:
            self._reap(pid)
            if _ended(pid):
                return
            await asyncio.sleep(0.01)
        log.warning("the network namespace holder %d did not end within %.0fs", pid, HOLDER_STOP_WAIT)

    def _reap(self, pid: int) -> None:
        if pid not in self._spawned:
            return
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            reaped = pid
        if reaped:
            self._spawned.discard(pid)

    def _register(self, sandbox_id: str, record: RootlessRecord) -> None:
        factory = SocketFactory(self.state_dir / sandbox_id, pod_ip=record.ip, pod_ports=frozenset(record.ports))
        register_socket_factory(record.netns_path, factory)

    def _save(self, sandbox_id: str, record: RootlessRecord) -> None:
        path = self.state_dir / sandbox_id / "network.json"
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(asdict(record)))
        os.replace(temporary, path)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the half-close on."""
    while chunk := await reader.read(READ_CHUNK):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


def _ended(pid: int) -> bool:
    """Gone, or a zombie (ended; reaped by whoever is its parent)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return data[data.rindex(b")") + 2 :].startswith(b"Z")
