"""The kuberya server process: ``python -m kuberya.server --data-dir DIR [--port N] …``.

``kuberya up`` runs this module as a child process (the CLI may not import the server), detached
in the background or attached with ``--foreground``. Like k3s, components start in the order of
their readiness signals and the process stops in the reverse order:

startup
    1. lock the data dir (``kuberya.pid`` + ``flock``): one server per directory;
    2. PKI: make or reuse the CA, serving and admin certificates;
    3. storage: check (``--check-storage quick|full``), open and start the revision log (a
       damaged database stops here, exit 1, before anything is served);
    4. API: listen with TLS (a busy port stops here, exit 1);
    5. write ``DATA_DIR/kubeconfig``, then ``DATA_DIR/ready`` — *the* readiness signal the CLI
       waits for: it appears, atomically, only once the API answers;
    6. controllers: in-process API clients started as named, guarded tasks, all reading one
       shared informer per resource (one watch and one cache of each, not one per component);
       which there are and how they are supervised is :mod:`kuberya.server.components`.

shutdown (SIGTERM/SIGINT, or an essential component crashed)
    remove ``ready`` (we no longer promise to answer) → stop the controllers and their shared
    informers → close the listener
    and drain open requests for ``shutdown_timeout_seconds`` → close storage → remove the pid
    file and unlock.

Every failure a user can meet ends in one line on stderr that says what happened and what to do;
when backgrounded, stderr is ``DATA_DIR/kuberya.log`` and ``kuberya up`` shows its tail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import errno
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from kuberya.apiserver.app import create_app
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.meta.datadir import ReadyInfo
from kuberya.runtime import default_runtime_name, runtime_choice_reason
from kuberya.server.components import (
    COMPONENTS,
    ComponentContext,
    Supervisor,
    describe_error,
    import_components,
)
from kuberya.server.config import DEFAULT_PORT, RUNTIMES, STORAGE_CHECKS, ConfigError, ServerConfig
from kuberya.server.kubeconfig import CONTEXT, write_kubeconfig
from kuberya.server.lock import DataDirInUseError, DataDirLock
from kuberya.server.pki import ClusterPKI, PKIError, ensure_pki_out_of_process, serving_hosts, write_file_atomic
from kuberya.storage import (
    Backend,
    CheckLevel,
    CorruptStoreError,
    StartupCheck,
    StorageError,
    StoreInUseError,
    open_backend,
)

if TYPE_CHECKING:
    from kuberya.client.api import ApiClient
    from kuberya.client.factory import SharedInformerFactory

logger = logging.getLogger("kuberya.server")

COMPONENT_START_DELAY = 0.15
"""Seconds between the readiness signal and the start of the components (see _start_components)."""

CONTROLLER_STOP_TIMEOUT = 15.0
"""How long cancelled components may take to finish before shutdown goes on without them. The
node agent stops every pod in this time (SIGKILL, network teardown): generous, because a pod left
behind outlives the cluster; `kuberya down` waits longer than this before its SIGKILL."""


class StartupError(Exception):
    """A step of startup failed in a way the user can fix; the message says how."""


# -- the server --------------------------------------------------------------------------------------


class Server:
    """One cluster: storage, the API listener and the components, started and stopped in order."""

    def __init__(self, config: ServerConfig, *, rootless_network: bool = False) -> None:
        self.config = config
        self.rootless_network = rootless_network
        self.layout = config.layout
        self._stop = asyncio.Event()
        self._failure: str | None = None
        self._backend: Backend | None = None
        self._runner: web.AppRunner | None = None
        self._client: ApiClient | None = None
        self._informers: SharedInformerFactory | None = None
        self._supervisor = Supervisor(self._fatal)

    def _fatal(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
        self._stop.set()

    async def serve(self) -> str | None:
        """Run until a signal or a fatal failure; return what failed, or None after a clean stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            await self._startup()
            if not gc.isenabled():
                # __main__ turned the collector off for the import-heavy startup (see there).
                # Once (the API already answers by now) drop the cycles startup left behind,
                # then freeze what remains — it lives as long as the process — out of the
                # collector's way and collect normally from now on.
                gc.collect()
                gc.freeze()
                gc.enable()
            await self._stop.wait()
        except StartupError as e:
            self._failure = str(e)
        except Exception as e:
            # A bug rather than a user error: keep the traceback in the log, then stop in order.
            logger.exception("startup failed")
            self._failure = f"startup failed: {describe_error(e)}"
        finally:
            await self._shutdown()
        logger.info("kuberya stopped")
        return self._failure

    async def _startup(self) -> None:
        config = self.config
        try:
            pki = ensure_pki_out_of_process(self.layout.pki_dir, hosts=serving_hosts(config.host))
        except PKIError as e:
            raise StartupError(str(e)) from e
        if pki.generated:
            logger.info("PKI: made %s under %s", ", ".join(pki.generated), pki.paths.dir)

        await self._start_storage()
        assert self._backend is not None
        port = await self._listen(pki)
        url = config.url(port)

        try:
            write_kubeconfig(self.layout.kubeconfig, server_url=url, pki=pki)
            self._write_ready(port=port, url=url, pki=pki)
        except OSError as e:
            raise StartupError(f"cannot write into the data dir {config.data_dir}: {e}") from e
        logger.info("API ready at %s (kubeconfig %s)", url, self.layout.kubeconfig)

        await self._start_components()

    async def _start_storage(self) -> None:
        url = self.config.effective_storage_url
        try:
            check = StartupCheck(level=CheckLevel(self.config.storage_check), value_problem=stored_object_problem)
            backend = open_backend(url, retain=self.config.retain_revisions, check=check)
            await backend.start()
        except CorruptStoreError as e:
            # The store's own message names the file and says what to do with it.
            raise StartupError(f"the database is corrupt: {e}") from e
        except StoreInUseError as e:
            raise StartupError(f"the database is in use: {e}") from e
        except StorageError as e:
            raise StartupError(f"cannot open the database at {url}: {e}") from e
        except ValueError as e:  # a URL no driver understands
            raise StartupError(f"{e}; pass --storage sqlite:///PATH or --storage memory://") from e
        self._backend = backend

    async def _listen(self, pki: ClusterPKI) -> int:
        """Serve the API with TLS; return the port actually bound (``--port 0`` asks the kernel)."""
        config = self.config
        assert self._backend is not None
        settings = APIServerSettings(
            node_name=config.node_name,
            retain_revisions=config.retain_revisions,
            auth=AuthSettings(
                client_ca_file=pki.paths.ca_cert,
                token_file=pki.paths.tokens,
                service_account_key_file=pki.paths.service_account_key,
                users_file=pki.paths.users,
            ),
            node_agent_socket=config.data_dir / "kubelet.sock",
        )
        app = create_app(backend=self._backend, settings=settings)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=config.shutdown_timeout_seconds,
            # A watch handler waits on storage, not on its socket: without this a client that went
            # away would hold its handler (and its storage subscription) until the next write.
            handler_cancellation=True,
        )
        await runner.setup()
        self._runner = runner
        # "localhost" would resolve to 127.0.0.1 *and* ::1, and with port 0 each would get a
        # different port; one address keeps the URL unambiguous.
        host = "127.0.0.1" if config.host == "localhost" else config.host
        site = web.TCPSite(runner, host, config.port, ssl_context=pki.server_ssl_context())
        try:
            await site.start()
        except OSError as e:
            raise StartupError(_listen_error(config, e)) from e
        return int(runner.addresses[0][1])

    def _write_ready(self, *, port: int, url: str, pki: ClusterPKI) -> None:
        ready = ReadyInfo(
            pid=os.getpid(),
            port=port,
            url=url,
            started_at=dt.datetime.now(dt.UTC),
            kubeconfig=self.layout.kubeconfig,
            context=CONTEXT,
            ca_file=pki.paths.ca_cert,
            client_cert_file=pki.paths.admin_cert,
            client_key_file=pki.paths.admin_key,
            runtime=self.config.runtime,
            runtime_reason=runtime_reason(self.config.runtime),
        ).to_json()
        write_file_atomic(self.layout.ready_file, json.dumps(ready, indent=2).encode() + b"\n", mode=0o644)

    async def _start_components(self) -> None:
        # The imports happen after the readiness signal and take a while: in a thread, so that
        # the event loop keeps answering the API meanwhile (`kuberya up` is probing /readyz
        # right now) instead of stalling behind them.
        # A thread still holds the GIL most of the time it imports, so first give the client that
        # waits for readiness a moment to get its answer (~0.3 s of imports would slow its TLS
        # handshake and request); the controllers start that much later, which nobody sees.
        await asyncio.sleep(COMPONENT_START_DELAY)
        wanted = [spec for spec in COMPONENTS if spec.name not in self.config.disabled_components]
        for name in sorted(self.config.disabled_components):
            logger.info("component %s disabled (--disable)", name)
        available = await asyncio.to_thread(import_components, wanted)
        if not available:
            return
        from kuberya.client.api import ApiClient
        from kuberya.client.factory import SharedInformerFactory

        # The components are clients like any other: they reach the API through the kubeconfig
        # just written, over TLS, as the admin (DESIGN.md, decision 2).
        client = ApiClient.from_kubeconfig(self.layout.kubeconfig, context=CONTEXT)
        self._client = client
        self._informers = informers = SharedInformerFactory(client)
        context = ComponentContext(
            client=client, informers=informers, node_name=self.config.node_name, runtime=self.config.runtime,
            data_dir=self.config.data_dir, rootless_network=self.rootless_network,
            hpa_sync_period=self.config.hpa_sync_period, plugin_path=self.config.plugin_path,
        )  # fmt: skip
        for spec, factory in available:
            try:
                component = factory(client, informers=informers, **spec.options(context))
            except Exception as e:
                raise StartupError(f"cannot build component {spec.name}: {describe_error(e)}") from e
            self._supervisor.start(spec, component)
            logger.info("component %s started", spec.name)

    async def _shutdown(self) -> None:
        # Each step runs even if an earlier one failed: a half-shut server must still let go of
        # its port, its database and its data dir.
        self.layout.ready_file.unlink(missing_ok=True)
        if self._supervisor.running:
            with _step("stopping components"):
                await self._supervisor.stop(CONTROLLER_STOP_TIMEOUT)
        if self._informers is not None:
            # Each informer stopped with its last component; this ends those of a component that
            # did not stop in time, before the client they watch through is closed.
            with _step("stopping the shared informers"):
                await self._informers.stop()
        if self._client is not None:
            with _step("closing the API client"):
                await self._client.close()
        if self._runner is not None:
            with _step("closing the API listener"):
                await self._runner.cleanup()
        if self._backend is not None:
            with _step("closing storage"):
                await self._backend.close()


def stored_object_problem(value: bytes) -> str | None:
    """What is wrong with one stored value, as the storage check sees it; None when it is fine.

    Storage holds opaque bytes; the API server stores each object as its JSON
    (``kuberya.apiserver.objectstore.encode``), so anything else there is damage.
    """
    try:
        obj = json.loads(value)
    except ValueError as e:  # UnicodeDecodeError is one too
        return f"is not JSON ({e})"
    if not isinstance(obj, dict):
        return f"is JSON but not an object ({type(obj).__name__})"
    if not isinstance(obj.get("metadata"), dict):
        return "is an object without metadata"
    return None


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    """Run one shutdown step, logging its duration and, instead of raising, its failure.

    The duration says where a slow stop spent its time; a failure must not keep the steps after
    it from running.
    """
    started = time.monotonic()
    try:
        yield
    except Exception:
        logger.exception("error while %s", what)
    else:
        logger.info("%s took %.0f ms", what, (time.monotonic() - started) * 1000)


def runtime_reason(runtime: str) -> str:
    """Why pods run on ``runtime``: the default's reason, or that it was asked for."""
    if runtime == default_runtime_name():
        return runtime_choice_reason()
    return f"{runtime}: chosen with --runtime (the default here is {runtime_choice_reason()})"


def _listen_error(config: ServerConfig, e: OSError) -> str:
    where = f"{config.host}:{config.port}"
    if e.errno == errno.EADDRINUSE:
        return (
            f"port {config.port} is busy: another kuberya or Kubernetes API server? "
            "use --port (0 picks a free one) or `kuberya down`"
        )
    if e.errno == errno.EACCES:
        return f"not allowed to listen on {where}: ports below 1024 need privileges; use --port"
    if e.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {config.host} is not an address of this machine"
    return f"cannot listen on {where}: {e.strerror or e}"


# -- entry point --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> ServerConfig:
    return _parse(argv)[0]


def _parse(argv: Sequence[str] | None) -> tuple[ServerConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m kuberya.server",
        description="Run one kuberya cluster in this process (what `kuberya up` starts).",
    )
    parser.add_argument("--data-dir", required=True, type=Path, help="directory the cluster keeps its state in")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port; 0 picks a free one")
    parser.add_argument("--storage", default=None, help="sqlite:///PATH or memory:// (default: DATA_DIR/state.db)")
    parser.add_argument(
        "--check-storage",
        default="quick",
        choices=STORAGE_CHECKS,
        help="check the database before serving it: quick (default, bounded cost) or full (every row)",
    )
    parser.add_argument(
        "--runtime",
        default=None,
        choices=RUNTIMES,
        help="container runtime (default: runc as root where runc is installed, else process)",
    )
    parser.add_argument(
        "--allow-non-loopback", action="store_true", help="allow --host to be reachable from the network"
    )
    names = ", ".join(spec.name for spec in COMPONENTS)
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"do not run these components (as k3s's --disable); one of: {names}",
    )
    # Hidden: a test seam, the rootless pod network (kuberya.runtime.rootless) even as root.
    parser.add_argument("--rootless-network", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runtime = args.runtime or default_runtime_name()
    if args.rootless_network and runtime != "process":
        parser.error(f"--rootless-network is the process runtime's pod network: add --runtime process (not {runtime})")
    disabled = frozenset(name.strip() for value in args.disable for name in value.split(",") if name.strip())
    unknown = disabled - {spec.name for spec in COMPONENTS}
    if unknown:
        parser.error(f"--disable: unknown component(s) {', '.join(sorted(unknown))}; known: {names}")
    config = ServerConfig(
        data_dir=args.data_dir.expanduser().absolute(),
        host=args.host,
        port=args.port,
        storage_url=args.storage,
        storage_check=args.check_storage,
        runtime=runtime,
        allow_non_loopback=args.allow_non_loopback,
        disabled_components=disabled,
    )
    return config, args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The server process's entry point: the only place below the CLI that reads the environment.

    ``environ`` (default: ``os.environ``) gives the ``PATH`` the runtime's helpers run with and
    the hidden ``KUBERYA_HPA_SYNC_PERIOD`` (seconds; tests shorten the HPA period with it).
    """
    config, args = _parse(argv)
    env = os.environ if environ is None else environ
    period = env.get("KUBERYA_HPA_SYNC_PERIOD")
    config = replace(config, hpa_sync_period=float(period) if period else None, plugin_path=env.get("PATH") or None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config.validate()
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = DataDirLock.acquire(config.layout.pid_file)
    except (ConfigError, DataDirInUseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot use the data dir {config.data_dir}: {e}", file=sys.stderr)
        return 1
    try:
        logger.info("kuberya starting (pid %d, data dir %s)", os.getpid(), config.data_dir)
        logger.info("runtime %s", runtime_reason(config.runtime))
        failure = asyncio.run(Server(config, rootless_network=args.rootless_network).serve())
    finally:
        lock.release()
    if failure is not None:
        # One plain line, last, so that `kuberya up` can show it on its own under the log's tail.
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0
