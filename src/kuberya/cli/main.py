"""The ``kuberya`` command line: the edge where the environment is read and async code is run.

Commands here parse options, read environment variables (``KUBERYA_DATA_DIR``, ``XDG_DATA_HOME``,
``KUBECONFIG``, ``HOME``) and hand plain values down; below the CLI nothing reads ``os.environ``.
``up``/``down``/``status`` drive the local server from outside (see :mod:`kuberya.cli.cluster`).

Output is for people when stdout is a terminal (rich, colours) and plain lines otherwise, so
that scripts and logs get text without escape codes; rich is imported only for a terminal, as
``up`` is on the clock. For the same reason the cluster's machinery (:mod:`kuberya.cli.cluster`,
subprocess, signal) is imported by the commands that drive the cluster, not by ``kuberya pull``.
Every error a user can meet is a :class:`click.ClickException` whose message says what happened
and what to do (exit status 1).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from kuberya.cli.images import register as register_image_commands
from kuberya.cli.options import GlobalOptions

if TYPE_CHECKING:  # imported for real only when used: PyYAML is not free, nor are subprocess and signal
    import subprocess

    from kuberya.cli.cluster import ClusterFiles, ReadyInfo
    from kuberya.cli.kubeconfig import MergeResult

CONTEXT = "kuberya"
"""The kubeconfig context (and cluster) name the server writes."""

EXIT_NOT_RUNNING = 3
"""``kuberya status`` when no cluster runs (the LSB convention for "program is not running")."""

MAIN_HELP = """\
쿠버야 (hey Kube): a single-node cluster that speaks the real Kubernetes API.

\b
Start a cluster, then use it with kubectl or any Kubernetes client:
  kuberya up                      # start in the background; returns when the API answers
  kubectl get nodes               # the `kuberya` context is merged into your kubeconfig
  kuberya status                  # is it running? which URL? since when?
  kuberya down                    # stop it (the data stays for the next `up`)

\b
Several clusters side by side, each with its own data dir and port:
  kuberya up --data-dir /tmp/test --port 0 --no-kubeconfig
  kubectl --kubeconfig /tmp/test/kubeconfig get nodes
  kuberya down --data-dir /tmp/test
"""


class CLIError(click.ClickException):
    """An error for the user; click prints ``Error: <message>`` and exits with status 1."""


_F = TypeVar("_F", bound=Callable[..., Any])


def data_dir_option(f: _F) -> _F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the cluster keeps its state [default: $KUBERYA_DATA_DIR, else "
        "$XDG_DATA_HOME/kuberya, else ~/.local/share/kuberya].",
    )(f)


def resolve_data_dir(data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir.expanduser().absolute()
    from kuberya.cli.options import default_data_dir

    return default_data_dir(os.environ, Path.home())


# -- output ---------------------------------------------------------------------------------------------


class Printer:
    """Rich for a terminal, plain text for pipes and files."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self._console: Any = None

    def success(self, text: str) -> None:
        self._line(f"[bold green]✓[/] {text}", f"✓ {text}")

    def warning(self, text: str) -> None:
        self._line(f"[bold yellow]![/] {text}", f"! {text}")

    def fields(self, rows: list[tuple[str, str]]) -> None:
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            self._line(f"  [dim]{key:<{width}}[/]  {_escape(value)}", f"  {key:<{width}}  {value}")

    def next_steps(self, rows: list[tuple[str, str]]) -> None:
        self._line("[bold]next:[/]", "next:")
        width = max(len(cmd) for cmd, _ in rows)
        for cmd, why in rows:
            self._line(f"  [cyan]{_escape(cmd):<{width}}[/]  [dim]{_escape(why)}[/]", f"  {cmd:<{width}}  {why}")

    def _line(self, rich_text: str, plain: str) -> None:
        if self.tty:
            if self._console is None:
                from rich.console import Console  # only a terminal pays for importing rich

                self._console = Console(highlight=False)
            self._console.print(rich_text)
        else:
            click.echo(plain)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


# -- commands -------------------------------------------------------------------------------------------


class LazyGroup(click.Group):
    """A group whose heavier commands are imported only when they run (or ``--help`` lists them).

    ``ask`` and ``demo`` pull in asyncio, aiohttp, the parser and the client: ~0.1–0.3 s that
    ``kuberya up`` — whose start-up time is a promise — should not pay for.
    """

    LAZY_COMMANDS: ClassVar[dict[str, str]] = {
        "ask": "kuberya.cli.ask:ask_command",
        "demo": "kuberya.demo.command:demo_command",
        "user": "kuberya.cli.users:user_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(
    cls=LazyGroup, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="kuberya", prog_name="kuberya")
@click.option("--context", default=None, metavar="NAME[,NAME…]",
              help="kubeconfig context(s) for `ask`; a comma list (aks,gke) runs on each.")  # fmt: skip
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use only this kubeconfig [default: $KUBECONFIG, ~/.kube/config, the local one].")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, context: str | None, kubeconfig: Path | None) -> None:
    """Kuberya."""
    ctx.obj = GlobalOptions(context=context, kubeconfig=kubeconfig)


register_image_commands(cli)


UP_HELP = """\
Start the local cluster.

By default the cluster runs in the background and this command returns as soon as the API
answers. It writes DATA_DIR/kubeconfig (context `kuberya`) and merges that context into your
kubeconfig (the first file of $KUBECONFIG, else ~/.kube/config), making it current only if you
have no current context.

\b
Examples:
  kuberya up                                   # 127.0.0.1:6443, data in ~/.local/share/kuberya
  kuberya up --port 0 --data-dir /tmp/k1       # any free port, a separate cluster
  kuberya up --foreground                      # run attached to this terminal; ^C stops it
"""


@cli.command(help=UP_HELP)
@data_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=6443, show_default=True,
              help="API port; 0 picks a free one.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --allow-non-loopback.")  # fmt: skip
@click.option("--allow-non-loopback", is_flag=True,
              help="Allow --host to be reachable from the network (still TLS + client auth).")  # fmt: skip
@click.option("--runtime", type=click.Choice(["process", "runc"]), default=None,
              help="How pods run: `runc` (OCI containers) or `process` (host processes) "
                   "[default: runc as root where runc is installed, else process].")  # fmt: skip
@click.option("--storage", default=None, metavar="URL",
              help="sqlite:///PATH or memory:// [default: sqlite in DATA_DIR].")  # fmt: skip
@click.option("--disable", multiple=True, metavar="NAME[,NAME]",
              help="Components not to run, e.g. service-proxy,cluster-dns (a second cluster on one host).")  # fmt: skip
@click.option("--check-storage", type=click.Choice(["quick", "full"]), default=None,
              help="Check the database before serving it: `quick` (bounded cost) or `full` (SQLite's "
                   "integrity_check and every row of the log; slower on a big store) [default: quick].")  # fmt: skip
@click.option("--foreground", is_flag=True, help="Run attached to this terminal; ^C stops the cluster.")
@click.option("--no-kubeconfig", is_flag=True, help="Do not touch your kubeconfig; use DATA_DIR/kubeconfig.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the API.")
def up(
    data_dir: Path | None,
    port: int,
    host: str,
    allow_non_loopback: bool,
    runtime: str | None,
    storage: str | None,
    disable: tuple[str, ...],
    check_storage: str | None,
    foreground: bool,
    no_kubeconfig: bool,
    timeout: float,
) -> None:
    from kuberya.cli.cluster import ClusterError, ClusterFiles, LaunchOptions, launch, pid_alive, probe

    started = time.monotonic()
    root = resolve_data_dir(data_dir)
    files = ClusterFiles(root)
    out = Printer()

    state = probe(files)
    if state.running and state.ready is not None:
        if foreground:
            raise CLIError(
                f"kuberya is already running in the background on {root} (pid {state.pid}); "
                f"run `kuberya down --data-dir {root}` first to run it in the foreground"
            )
        note = "" if state.ready.port == port or port == 0 else f" (on port {state.ready.port}, not {port})"
        out.success(f"kuberya is already running on {root}{note}")
        _report(out, state.ready, root, _merge(out, files, no_kubeconfig))
        return
    if state.running:
        # Another `up` is starting it right now: wait for that one instead of failing.
        pid = state.pid or 0
        ready = _wait(files, pid=pid, alive=lambda: pid_alive(pid), timeout=timeout, log_offset=None)
        out.success(f"kuberya is up on {root} (started by another command)")
        _report(out, ready, root, _merge(out, files, no_kubeconfig))
        return

    options = LaunchOptions(
        data_dir=root, host=host, port=port, runtime=runtime, storage=storage,
        allow_non_loopback=allow_non_loopback,
        disable=tuple(name.strip() for value in disable for name in value.split(",") if name.strip()),
        check_storage=check_storage,
    )  # fmt: skip
    try:
        started_server = launch(options, files, foreground=foreground)
    except ClusterError as e:
        raise CLIError(str(e)) from e
    process = started_server.process
    ready = _wait(
        files, pid=process.pid, alive=lambda: process.poll() is None, timeout=timeout,
        log_offset=started_server.log_offset,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    out.success(f"kuberya is up in {elapsed:.2f}s")
    _report(out, ready, root, _merge(out, files, no_kubeconfig), log=None if foreground else files.log_file)
    if foreground:
        sys.exit(_supervise_foreground(process))


def _wait(
    files: ClusterFiles, *, pid: int, alive: Callable[[], bool], timeout: float, log_offset: int | None
) -> ReadyInfo:
    from kuberya.cli.cluster import ClusterError, wait_ready

    try:
        return wait_ready(files, pid=pid, alive=alive, timeout=timeout, log_offset=log_offset)
    except ClusterError as e:
        raise CLIError(f"kuberya could not start: {e}") from e


def _supervise_foreground(process: subprocess.Popen[bytes]) -> int:
    """Wait for the attached server; ^C reaches it from the terminal, SIGTERM is passed on."""
    import signal

    # The terminal sends ^C to the whole process group: the server handles it, we just wait.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: process.send_signal(signal.SIGTERM))
    code: int = process.wait()
    return code


def _merge(out: Printer, files: ClusterFiles, no_kubeconfig: bool) -> MergeResult | None:
    """Merge into the user's kubeconfig, unless told not to; a failure is a warning, not an error."""
    if no_kubeconfig:
        return None
    from kuberya.cli.kubeconfig import (
        KubeconfigMergeError,
        merge_kubeconfig,
        user_kubeconfig_path,
    )

    target = user_kubeconfig_path(os.environ, Path.home())
    try:
        result = merge_kubeconfig(files.kubeconfig, target, context=CONTEXT)
    except KubeconfigMergeError as e:
        # The cluster runs; only the convenience failed. Say so, but don't fail `up`.
        out.warning(f"{e}")
        return None
    return result


def _report(out: Printer, ready: ReadyInfo, root: Path, merged: MergeResult | None, *, log: Path | None = None) -> None:
    rows = [("API", ready.url), ("pid", str(ready.pid))]
    rows.append(("kubeconfig", f"{ready.kubeconfig} (context {CONTEXT})"))
    if merged is not None:
        rows.append(("", f"context {CONTEXT!r} merged into {merged.path}"))
    if ready.runtime:
        rows.append(("runtime", ready.runtime_reason or ready.runtime))
    rows.append(("data dir", str(root)))
    if log is not None:
        rows.append(("log", str(log)))
    out.fields(rows)
    from kuberya.cli.options import default_data_dir

    is_default = root == default_data_dir(os.environ, Path.home())
    down = "kuberya down" if is_default else f"kuberya down --data-dir {root}"
    if merged is None:
        steps = [(f"kubectl --kubeconfig {ready.kubeconfig} get nodes", "use this cluster's own kubeconfig")]
    elif merged.current_context == CONTEXT:
        steps = [("kubectl get nodes", f"{CONTEXT!r} is your current context")]
    else:
        steps = [
            (f"kubectl --context {CONTEXT} get nodes", f"your current context is {merged.current_context!r}"),
            (f"kubectl config use-context {CONTEXT}", "to make kuberya the default"),
        ]
    steps.append((down, "stop the cluster"))
    out.next_steps(steps)


DOWN_HELP = """\
Stop the local cluster.

Sends SIGTERM and waits for a clean shutdown (pods, controllers, then the API, then
storage); after --timeout seconds the server process gets SIGKILL. The data stays: the next
`up` continues where this one stopped and starts the pods again. With --keep-pods the
containers keep running and the next `up` adopts them without a restart.

\b
Examples:
  kuberya down
  kuberya down --keep-pods
  kuberya down --data-dir /tmp/k1
"""


@cli.command(help=DOWN_HELP)
@data_dir_option
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for a clean stop before SIGKILL.")  # fmt: skip
@click.option("--keep-pods", is_flag=True, help="Leave the pods' containers running for the next `up` to adopt.")
def down(data_dir: Path | None, timeout: float, keep_pods: bool) -> None:
    from kuberya.cli.cluster import ClusterError, ClusterFiles, stop

    root = resolve_data_dir(data_dir)
    out = Printer()
    if keep_pods and root.is_dir():
        # The node agent looks for this file as it stops (kuberya.node.agent.KEEP_PODS_MARKER).
        (root / "keep-pods").write_text("")
    try:
        result = stop(ClusterFiles(root), timeout=timeout)
    except ClusterError as e:
        raise CLIError(str(e)) from e
    if result is None:
        out.success(f"kuberya is not running on {root}; nothing to stop")
    elif result.killed:
        out.warning(f"kuberya (pid {result.pid}) ignored SIGTERM for {timeout:.0f}s and was killed")
    else:
        out.success(f"kuberya (pid {result.pid}) stopped in {result.seconds:.2f}s")


STATUS_HELP = """\
Show whether the local cluster runs, where, since when, and whether its API answers.

Exit status: 0 running and answering, 1 running but the API does not answer, 3 not running.
"""


@cli.command(help=STATUS_HELP)
@data_dir_option
def status(data_dir: Path | None) -> None:
    import datetime as dt

    from kuberya.cli.cluster import ClusterFiles, check_api, probe

    root = resolve_data_dir(data_dir)
    out = Printer()
    state = probe(ClusterFiles(root))
    if not state.running:
        out.warning(f"kuberya is not running on {root}; start it with `kuberya up`")
        sys.exit(EXIT_NOT_RUNNING)
    if state.ready is None:
        out.warning(f"kuberya (pid {state.pid}) is starting or stopping on {root}")
        sys.exit(1)
    ready = state.ready
    check = check_api(ready)
    uptime = dt.datetime.now(dt.UTC) - ready.started_at
    rows = [
        ("API", ready.url),
        ("pid", str(ready.pid)),
        ("uptime", _format_duration(uptime.total_seconds())),
        ("answers", "yes" if check.ok else f"no: {check.detail}"),
        ("kubeconfig", f"{ready.kubeconfig} (context {ready.context})"),
        ("data dir", str(root)),
    ]
    if check.ok:
        out.success("kuberya is running")
    else:
        out.warning("kuberya is running but its API does not answer")
    out.fields(rows)
    if not check.ok:
        out.next_steps([(f"tail {ClusterFiles(root).log_file}", "see what the server says")])
        sys.exit(1)


def _format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def main() -> None:
    """The ``kuberya`` console script."""
    try:
        cli()
    except SystemExit as done:  # click ends every command with sys.exit
        from kuberya.cli.exiting import finish

        code = done.code
        finish(code if isinstance(code, int) else 0 if code is None else 1)
        raise
