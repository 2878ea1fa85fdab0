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
    6. controllers: in-process API clients started as named, guarded tasks.

shutdown (SIGTERM/SIGINT, or an essential component crashed)
    remove ``ready`` (we no longer promise to answer) → stop the controllers → close the listener
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
import hashlib
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from kuberya.apiserver.app import create_app
from kuberya.apiserver.settings import APIServerSettings, AuthSettings
from kuberya.client.offered import OfferedEndpoints
from kuberya.runtime import default_runtime_name, runtime_choice_reason
from kuberya.server import trust_store
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

logger = logging.getLogger("kuberya.server")

COMPONENT_START_DELAY = 0.15
"""Seconds between the readiness signal and the start of the components (see _start_components)."""

CONTROLLER_STOP_TIMEOUT = 15.0
"""How long cancelled components may take to finish before shutdown goes on without them. The
node agent stops every pod in this time (SIGKILL, network teardown): generous, because a pod left
behind outlives the cluster; `kuberya down` waits longer than this before its SIGKILL."""


class StartupError(Exception):
    """A step of startup failed in a way the user can fix; the message says how."""


# -- components -------------------------------------------------------------------------------------


class Component(Protocol):
    """A long-lived part of the cluster: runs until cancelled."""

    async def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ComponentContext:
    """What a component may be built from: the API client and a few cluster-wide names."""

    client: ApiClient
    node_name: str
    runtime: str
    data_dir: Path
    rootless_network: bool = False
    """The hidden ``--rootless-network``: the process runtime's rootless pod network even as root (tests)."""
    offered: OfferedEndpoints = field(default_factory=OfferedEndpoints)
    """The proxy publishes what it applied, the node agent waits on it before stopping a pod."""


def _no_options(_: ComponentContext) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """One in-process component, found by import path so that a missing one is skipped, not fatal.

    To add a component, append a spec to :data:`COMPONENTS`: ``factory`` names a callable (usually
    the class) called as ``factory(client, **options(context))`` that returns something with
    ``async def run()``.
    """

    name: str
    """Used for the task's name and in every log line about it."""
    factory: str
    """``"package.module:Attribute"``."""
    options: Callable[[ComponentContext], dict[str, Any]] = _no_options
    """Keyword arguments for the factory beyond the client."""
    essential: bool = True
    """An essential component that crashes stops the whole server (k3s's rule: fail loudly rather
    than run half a cluster); a non-essential one is logged and left stopped."""


COMPONENTS: tuple[ComponentSpec, ...] = (
    ComponentSpec("garbage-collector", "kuberya.controllers.garbage_collector:GarbageCollector"),
    ComponentSpec("namespace-controller", "kuberya.controllers.namespace:NamespaceController"),
    ComponentSpec(
        "node-controller",
        "kuberya.controllers.node:NodeController",
        options=lambda ctx: {"node_name": ctx.node_name},
    ),
    ComponentSpec("deployment-controller", "kuberya.controllers.deployment:DeploymentController"),
    ComponentSpec("replicaset-controller", "kuberya.controllers.replicaset:ReplicaSetController"),
    # Upstream's 15 s sync period; the hidden KUBERYA_HPA_SYNC_PERIOD (seconds) shortens it for tests.
    ComponentSpec(
        "hpa-controller",
        "kuberya.controllers.hpa:HorizontalPodAutoscalerController",
        options=lambda _: {"sync_period": float(v)} if (v := os.environ.get("KUBERYA_HPA_SYNC_PERIOD")) else {},
    ),
    ComponentSpec(
        "scheduler",
        "kuberya.controllers.scheduler:Scheduler",
        options=lambda ctx: {"node_name": ctx.node_name},
    ),
    ComponentSpec(
        "node-agent",
        "kuberya.node.agent:NodeAgent",
        options=lambda ctx: {
            "node_name": ctx.node_name,
            "runtime": _node_runtime(ctx),
            "data_dir": ctx.data_dir,
            "stop_pods_on_exit": True,
            "offered_endpoints": ctx.offered,
        },
    ),
    ComponentSpec("endpoints-controller", "kuberya.controllers.endpoints:EndpointsController"),
    ComponentSpec("endpointslice-controller", "kuberya.controllers.endpointslices:EndpointSliceController"),
    ComponentSpec("servicelb-controller", "kuberya.controllers.servicelb:ServiceLBController"),
    # Not essential: they bind host addresses another kuberya on this machine may hold; the API
    # and the controllers are worth keeping up without them (each logs what it could not do).
    ComponentSpec(
        "service-proxy",
        "kuberya.proxy.serviceproxy:ServiceProxy",
        # One nftables table per cluster (by data dir), so that two clusters never rewrite each other's.
        options=lambda ctx: {
            "nft_table": "kuberya-" + hashlib.sha256(str(ctx.data_dir).encode()).hexdigest()[:8],
            "pod_namespaces": _pod_namespaces(),
            "offered": ctx.offered,
        },
        essential=False,
    ),
    ComponentSpec(
        "cluster-dns",
        "kuberya.proxy.dns:ClusterDNS",
        options=lambda _: {"pod_namespaces": _pod_namespaces()},
        essential=False,
    ),
)


def _pod_namespaces() -> Any:
    """The rootless pod namespaces of this process, for the components that listen inside them.

    The proxy may not import the runtime; the module satisfies ``kuberya.proxy.podnamespaces.PodNamespaces``.
    """
    from kuberya.runtime import nsconnect

    return nsconnect


def _node_runtime(ctx: ComponentContext) -> Any:
    """The node agent's runtime: its name, or with ``--rootless-network`` the runtime itself, opened so.

    Where the agent would put it (``DATA_DIR/runtime``); the agent does not close a runtime it was
    given, and this one needs no closing beyond the process's end (its pods are stopped by the agent).
    """
    if not ctx.rootless_network:
        return ctx.runtime
    from kuberya.runtime import open_runtime

    return open_runtime(ctx.runtime, state_dir=ctx.data_dir / "runtime", rootless_network=True)


def load_symbol(target: str) -> Any | None:
    """Return the attribute named by ``"module:attr"``, or None when that module does not exist (yet).

    Only the *named* module being absent counts as "not there": a module that exists but fails to
    import is a bug, and its error propagates.
    """
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(f"{e.name}.")):
            return None
        raise
    return getattr(module, attr)


def _import_components(
    specs: Sequence[ComponentSpec],
) -> list[tuple[ComponentSpec, Callable[..., Component]]]:
    available: list[tuple[ComponentSpec, Callable[..., Component]]] = []
    for spec in specs:
        factory = load_symbol(spec.factory)
        if factory is None:
            logger.info("component %s is not available in this build; skipped", spec.name)
            continue
        available.append((spec, factory))
    if available:
        importlib.import_module("kuberya.client.api")
    # The API server loads these on first use so that `up` does not wait for them; warm them
    # here, off the event loop, so the first kubectl request does not pay for them either.
    for module in WARM_UP_MODULES:
        importlib.import_module(module)
    trust_store.load_deferred()
    return available


WARM_UP_MODULES = (
    "yaml",
    "kuberya.resources.patching",
    "kuberya.resources.schema",
)
"""Not warmed: ``kuberya.resources.protobuf`` (~9 MB of descriptors, for kubectl's typed creates
only); the first protobuf body pays ~0.1 s to load it instead of every idle cluster paying in memory."""


class Supervisor:
    """Runs components as named tasks and reports the first essential crash."""

    def __init__(self, on_fatal: Callable[[str], None]) -> None:
        self._on_fatal = on_fatal
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self, spec: ComponentSpec, component: Component) -> None:
        task = asyncio.create_task(self._guard(spec, component), name=f"kuberya:{spec.name}")
        self._tasks[spec.name] = task

    async def _guard(self, spec: ComponentSpec, component: Component) -> None:
        try:
            await component.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # Logged here, at once, with the traceback: a crash must never wait for shutdown to surface.
            logger.exception("component %s crashed", spec.name)
            reason = f"{spec.name} crashed: {_describe(e)}"
        else:
            if self._stopping:
                return
            logger.error("component %s returned; it should run until stopped", spec.name)
            reason = f"{spec.name} stopped unexpectedly"
        if spec.essential:
            self._on_fatal(reason)

    async def stop(self, timeout: float) -> None:
        """Cancel every component and wait up to ``timeout`` for them to finish."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks.values(), timeout=timeout)
        for task in pending:
            logger.warning("component %s did not stop within %.0fs; leaving it", task.get_name(), timeout)
        self._tasks.clear()


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
            self._failure = f"startup failed: {_describe(e)}"
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
            auth=AuthSettings(client_ca_file=pki.paths.ca_cert, token_file=pki.paths.tokens),
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
        ready = {
            "pid": os.getpid(),
            "port": port,
            "url": url,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "kubeconfig": str(self.layout.kubeconfig),
            "context": CONTEXT,
            # So that the CLI can check /readyz itself without knowing the PKI's layout.
            "ca_file": str(pki.paths.ca_cert),
            "client_cert_file": str(pki.paths.admin_cert),
            "client_key_file": str(pki.paths.admin_key),
            "runtime": self.config.runtime,
            "runtime_reason": runtime_reason(self.config.runtime),
        }
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
        available = await asyncio.to_thread(_import_components, wanted)
        if not available:
            return
        from kuberya.client.api import ApiClient

        # The components are clients like any other: they reach the API through the kubeconfig
        # just written, over TLS, as the admin (DESIGN.md, decision 2).
        client = ApiClient.from_kubeconfig(self.layout.kubeconfig, context=CONTEXT)
        self._client = client
        context = ComponentContext(
            client=client, node_name=self.config.node_name, runtime=self.config.runtime,
            data_dir=self.config.data_dir, rootless_network=self.rootless_network,
        )  # fmt: skip
        for spec, factory in available:
            try:
                component = factory(client, **spec.options(context))
            except Exception as e:
                raise StartupError(f"cannot build component {spec.name}: {_describe(e)}") from e
            self._supervisor.start(spec, component)
            logger.info("component %s started", spec.name)

    async def _shutdown(self) -> None:
        # Each step runs even if an earlier one failed: a half-shut server must still let go of
        # its port, its database and its data dir.
        self.layout.ready_file.unlink(missing_ok=True)
        if self._supervisor.running:
            with _step("stopping components"):
                await self._supervisor.stop(CONTROLLER_STOP_TIMEOUT)
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


def _describe(error: BaseException) -> str:
    """Name the first real error: a TaskGroup's ``ExceptionGroup`` says only "1 sub-exception"."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"


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


def main(argv: Sequence[str] | None = None) -> int:
    config, args = _parse(argv)
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
