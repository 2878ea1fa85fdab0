"""Image commands: ``images``, ``pull``, ``push``, ``tag``, ``rmi``, ``load``, ``save``, ``build``, ``prune``.

They drive :class:`kuberya.images.service.ImageService` on the store in ``DATA_DIR/images`` (the
same ``--data-dir`` as ``kuberya up``), so what the CLI pulls, builds or loads is what the node agent
runs. This module is the edge: it reads the environment (``DOCKER_CONFIG``/``~/.docker/config.json``
for credentials, ``KUBERYA_INSECURE_REGISTRIES``), runs pulls, pushes and builds as blocking calls
(none of them imports asyncio: their start-up is on the clock, see ``bench/``), and turns
every :class:`~kuberya.images.errors.ImageError` into a message and exit status 1.

Everything of :mod:`kuberya.images`, asyncio and rich is imported inside the commands: the ``kuberya``
entry point imports this module to register the commands, and ``kuberya up`` is on the clock.
Progress is drawn with rich bars on a terminal and as one plain line per blob otherwise.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kuberya.cli.exiting import exit_fast_when_done

if TYPE_CHECKING:
    from kuberya.images.image import Image
    from kuberya.images.leases import Lease
    from kuberya.images.service import ImageService
    from kuberya.images.transfer import Progress

_F = TypeVar("_F", bound=Callable[..., Any])


def _data_dir_option(f: _F) -> _F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the cluster keeps its state; images are in DATA_DIR/images [default: $KUBERYA_DATA_DIR, "
        "else $XDG_DATA_HOME/kuberya, else ~/.local/share/kuberya].",
    )(f)


def _insecure_option(f: _F) -> _F:
    return click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Reach this registry over plain http (repeatable; also $KUBERYA_INSECURE_REGISTRIES, comma-separated).",
    )(f)


def _service(data_dir: Path | None, *, insecure: tuple[str, ...] = (), platform: str | None = None,
             chunk_size: int | None = None, concurrency: int = 4) -> ImageService:  # fmt: skip
    from kuberya.cli.options import default_data_dir
    from kuberya.images.auth import load_docker_config
    from kuberya.images.oci import host_platform, parse_platform
    from kuberya.images.service import ImageService, ImageSettings
    from kuberya.images.transfer import RegistrySettings

    root = data_dir.expanduser().absolute() if data_dir else default_data_dir(os.environ, Path.home())
    config_dir = Path(os.environ["DOCKER_CONFIG"]) if os.environ.get("DOCKER_CONFIG") else Path.home() / ".docker"
    env_insecure = [h.strip() for h in os.environ.get("KUBERYA_INSECURE_REGISTRIES", "").split(",") if h.strip()]
    registry = RegistrySettings(
        insecure=frozenset([*insecure, *env_insecure]),
        auths=load_docker_config(config_dir / "config.json"),
        platform=parse_platform(platform) if platform else host_platform(),
        chunk_size=chunk_size,
        concurrency=concurrency,
    )
    return ImageService(ImageSettings(root=root / "images", registry=registry))


@contextmanager
def _errors() -> Iterator[None]:
    from kuberya.images.errors import ImageError

    try:
        yield
    except ImageError as e:
        raise click.ClickException(str(e)) from e


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"  # pragma: no cover


def _ago(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, length in (("year", 31536000), ("month", 2592000), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


class _Bars:
    """rich bars for a terminal, one plain line per finished blob otherwise (logs, CI)."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}

    def __enter__(self) -> _Bars:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=Console(stderr=True), transient=False,
            )  # fmt: skip
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, key: str, *, label: str, total: int) -> None:
        self._sizes[key] = total
        if self._progress is not None and key not in self._tasks:
            self._tasks[key] = self._progress.add_task(label, total=total)

    def advance(self, key: str, amount: int) -> None:
        if self._progress is not None and key in self._tasks:
            self._progress.update(self._tasks[key], advance=amount)

    def finish(self, key: str, *, note: str) -> None:
        if self._progress is not None and key in self._tasks:
            task = self._tasks[key]
            self._progress.update(task, completed=self._sizes.get(key, 0), description=f"{key[7:19]} {note}")
        elif not self.quiet:
            click.echo(f"{key[7:19]}: {note} ({_size(self._sizes.get(key, 0))})", err=True)


def _progress(quiet: bool) -> tuple[_Bars, Progress]:
    bars = _Bars(quiet=quiet)
    return bars, bars


def _done(text: str) -> None:
    click.echo(f"✓ {text}")


# -- commands ----------------------------------------------------------------------------------------


@click.command("images", help="List the images in the local store.")
@_data_dir_option
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--digests", is_flag=True, help="Show manifest digests.")
@click.option("--no-trunc", is_flag=True, help="Full image ids.")
def images_command(data_dir: Path | None, quiet: bool, digests: bool, no_trunc: bool) -> None:
    from kuberya.images.reference import parse_reference

    with _errors():
        service = _service(data_dir)
        found = service.images()
        users = _users_by_image(service, found)
    if quiet:
        seen: set[str] = set()
        for image in found:
            ident = image.id if no_trunc else image.short_id
            if ident not in seen:
                seen.add(ident)
                click.echo(ident)
        return
    rows = [["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED", "SIZE", "CONTAINERS"]]
    for image in found:
        for name in image.names or ("",):  # a removed image kept by its containers has no name
            ref = parse_reference(name) if name else None
            repository, tag = (ref.familiar_repository, ref.tag or "<none>") if ref else ("<none>", "<none>")
            ident = image.id if no_trunc else image.short_id
            in_use = str(len(users[image.digest])) if image.digest in users else ""
            rows.append([repository, tag, *([image.digest] if digests else []), ident, _ago(image.created),
                         _size(image.size), in_use])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@click.command("pull", help="Pull an image from a registry into the local store (e.g. `kuberya pull python:3.12`).")
@click.argument("name")
@_data_dir_option
@_insecure_option
@click.option("--platform", metavar="OS/ARCH", default=None, help="Platform to pull from a multi-platform image.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
def pull_command(
    name: str, data_dir: Path | None, insecure: tuple[str, ...], platform: str | None, quiet: bool
) -> None:
    started = time.monotonic()
    with _errors():
        service = _service(data_dir, insecure=insecure, platform=platform)
        bars, progress = _progress(quiet)
        with bars:
            image = service.pull_blocking(name, progress=progress)
    exit_fast_when_done()
    if quiet:
        click.echo(image.digest)
        return
    layers = len(image.manifest["layers"])
    _done(f"pulled {image.names[0] if image.names else name} in {time.monotonic() - started:.2f}s "
          f"({layers} layer{'s' if layers != 1 else ''}, {_size(image.size)})")  # fmt: skip
    click.echo(f"  digest  {image.digest}")


@click.command("push", help="Push a local image to its registry; with DEST, push it under that name (tagged locally).")
@click.argument("name")
@click.argument("dest", required=False)
@_data_dir_option
@_insecure_option
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, metavar="BYTES",
              help="Upload in chunks of this size instead of one request per layer.")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
def push_command(
    name: str, dest: str | None, data_dir: Path | None, insecure: tuple[str, ...], chunk_size: int | None, quiet: bool
) -> None:
    with _errors():
        service = _service(data_dir, insecure=insecure, chunk_size=chunk_size)
        bars, progress = _progress(quiet)
        with bars:
            digest = service.push_blocking(name, dest=dest, progress=progress)
    exit_fast_when_done()
    if quiet:
        click.echo(digest)
        return
    _done(f"pushed {dest or name}")
    click.echo(f"  digest  {digest}")


@click.command("tag", help="Give a local image another name: kuberya tag SRC DST.")
@click.argument("source")
@click.argument("target")
@_data_dir_option
def tag_command(source: str, target: str, data_dir: Path | None) -> None:
    with _errors():
        image = _service(data_dir).tag(source, target)
    _done(f"tagged {image.short_id} as {target}")


def _users_by_image(service: ImageService, named: list[Image]) -> dict[str, list[Lease]]:
    """Manifest digest → the containers using it (live leases); adds the unnamed images they keep to ``named``."""
    from contextlib import suppress

    from kuberya.images.errors import ImageError

    users: dict[str, list[Lease]] = {}
    ids: dict[str, str] = {image.id: image.digest for image in named}
    for lease in service.store.leases():
        if lease.alive and lease.image:
            users.setdefault(ids.get(lease.image_id, lease.image), []).append(lease)
    known = {image.digest for image in named}
    for digest in sorted(users.keys() - known):
        with suppress(ImageError):  # a manifest gc could not keep (a lease without an image): nothing to list
            named.append(service.store.load(digest))
    return users


RMI_HELP = """Remove images (by name or id), then delete blobs and layers nothing uses any more.

An image a container uses (a pod on the runc runtime) is not removed unless --force: then it
is untagged, and its layers stay until the last container using it is deleted.
"""


@click.command("rmi", help=RMI_HELP)
@click.argument("names", nargs=-1, required=True)
@_data_dir_option
@click.option("--no-prune", is_flag=True, help="Only untag; leave unreferenced blobs and layers for `kuberya prune`.")
@click.option("-f", "--force", is_flag=True, help="Untag images even if containers use them (their layers stay).")
def rmi_command(names: tuple[str, ...], data_dir: Path | None, no_prune: bool, force: bool) -> None:
    with _errors():
        service = _service(data_dir)
        for name in names:
            users = _users_blocking_removal(service, name)
            if users and not force:
                raise click.ClickException(_in_use_message(name, users))
            result = service.remove(name, prune=False)
            for untagged in result.untagged:
                click.echo(f"untagged: {untagged}")
            if users:
                click.echo(f"kept: its layers, used by {_count(len(users), 'container')}, until they are deleted")
        if not no_prune:
            _report_gc(service)


def _users_blocking_removal(service: ImageService, ref: str) -> list[Lease]:
    """The containers using the image ``ref`` names, when removing ``ref`` leaves that image without a name.

    Removing one of several names only untags (as ``docker rmi`` does): the image stays listed, so it is no
    conflict. Removing by id, or the last name, is.
    """
    from kuberya.images.errors import ImageError
    from kuberya.images.reference import parse_reference

    image = service.get(ref)
    try:
        name = parse_reference(ref).name
    except ImageError:
        name = ""
    # What `ImageService.remove` does: a name of the image untags that name, anything else (an id) all of them.
    others = set(image.names) - {name} if name in image.names else set()
    return [] if others else service.store.users_of(image)


def _in_use_message(ref: str, users: list[Lease]) -> str:
    shown = ", ".join(f"{u.description or u.id}" for u in users[:3]) + (" …" if len(users) > 3 else "")
    return (
        f"image {ref} is being used by {_count(len(users), 'container')} ({shown}): delete the pod(s) first, "
        "or pass --force to untag it anyway (its layers stay until those containers are deleted)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


@click.command("prune", help="Delete blobs, unpacked layers and temporary files no image or container uses.")
@_data_dir_option
def prune_command(data_dir: Path | None) -> None:
    with _errors():
        _report_gc(_service(data_dir))


def _report_gc(service: ImageService) -> None:
    result = service.gc()
    kept = f"; kept the images of {_count(result.leases_kept, 'container')}" if result.leases_kept else ""
    _done(
        f"removed {result.blobs_removed} blobs ({_size(result.bytes_freed)}), {result.layers_removed} unpacked layers"
        + kept
    )


@click.command("load", help="Load images from a `docker save` archive, an OCI archive or an OCI layout directory.")
@click.option("-i", "--input", "source", required=True, type=click.Path(exists=True, path_type=Path),
              help="The archive (tar, maybe compressed) or layout directory.")  # fmt: skip
@click.option("--name", "names", multiple=True, help="Name the loaded image(s) this instead of the archive's names.")
@_data_dir_option
def load_command(source: Path, names: tuple[str, ...], data_dir: Path | None) -> None:
    with _errors():
        loaded = _service(data_dir).load(source, names=names)
    for image in loaded:
        _done(f"loaded {', '.join(image.names) or image.short_id} ({image.short_id})")


@click.command("save", help="Save images to one archive that `docker load`, skopeo and `kuberya load` read.")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Archive to write."
)
@_data_dir_option
def save_command(names: tuple[str, ...], output: Path, data_dir: Path | None) -> None:
    with _errors():
        saved = _service(data_dir).save(list(names), output)
    _done(f"saved {len(saved)} image{'s' if len(saved) != 1 else ''} to {output}")


BUILD_HELP = """\
Build an image from DIR and store it as NAME.

With a Dockerfile or Containerfile, buildah builds it (base images come from kuberya's store,
pulled first if missing). Without one, kuberya detects a Python, Node.js or static-site app and
generates a Containerfile; --print shows it (and why) without building.

\b
Examples:
  kuberya build examples/payment -t payment:v1
  kuberya build . -t app:dev --build-arg VERSION=1.2 -f deploy/Containerfile
  kuberya build . -t site --print
"""


@click.command("build", help=BUILD_HELP)
@click.argument("context", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]", help="Name of the result (repeatable).")
@click.option("-f", "--file", "dockerfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The Dockerfile/Containerfile [default: DIR/Containerfile or DIR/Dockerfile].")  # fmt: skip
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="A build argument (repeatable).")
@click.option("--target", default=None, help="Build up to this stage of a multi-stage Dockerfile.")
@click.option("--base", default=None, metavar="IMAGE", help="Base image for a detected app (no Dockerfile).")
@click.option("--print", "print_only", is_flag=True, help="Show the Containerfile that would be built, and stop.")
@click.option("--isolation", type=click.Choice(["chroot", "oci"]), default="chroot", show_default=True,
              help="How buildah runs RUN steps: chroot, or oci (runc).")  # fmt: skip
@click.option("--compress", is_flag=True, help="gzip the result's layers (smaller to push, slower to build).")
@click.option("--no-cache", is_flag=True, help="Do not reuse buildah's cached layers.")
@_data_dir_option
@_insecure_option
def build_command(
    context: Path,
    tags: tuple[str, ...],
    dockerfile: Path | None,
    build_args: tuple[str, ...],
    target: str | None,
    base: str | None,
    print_only: bool,
    isolation: str,
    compress: bool,
    no_cache: bool,
    data_dir: Path | None,
    insecure: tuple[str, ...],
) -> None:
    from dataclasses import replace

    from kuberya.images.build import BuildRequest
    from kuberya.images.service import ImageService

    args = {}
    for item in build_args:
        key, sep, value = item.partition("=")
        if not sep:
            value = os.environ.get(key, "")  # `--build-arg KEY` takes the value from the environment, as docker does
        args[key] = value
    has_dockerfile = dockerfile is not None or any((context / n).is_file() for n in ("Containerfile", "Dockerfile"))
    with _errors():
        generated = None if has_dockerfile else ImageService.detect(context, base=base)
        if print_only:
            if generated is None:
                path = dockerfile or next(
                    context / n for n in ("Containerfile", "Dockerfile") if (context / n).is_file()
                )
                click.echo(f"# {path} (used as is)")
                click.echo(path.read_text(), nl=False)
            else:
                click.echo(f"# generated by kuberya: {generated.reason}")
                click.echo(generated.containerfile, nl=False)
            return
        if not tags:
            raise click.UsageError("give the image a name with -t NAME[:TAG]")
        service = _service(data_dir, insecure=insecure)
        service.settings.root.mkdir(parents=True, exist_ok=True)
        settings = replace(service.build_settings(), isolation=isolation, compress=compress)
        service = type(service)(replace(service.settings, build=settings))
        if generated is not None:
            click.echo(f"detected: {generated.reason}", err=True)
            dockerfile = service.store.temp_path("Containerfile")
            dockerfile.write_text(generated.containerfile)
        request = BuildRequest(context=context, tags=tags, dockerfile=dockerfile, build_args=args, target=target,
                               layers=not no_cache)  # fmt: skip
        try:
            bars, progress = _progress(quiet=False)
            with bars:
                result = service.build_blocking(request, log=lambda line: click.echo(line, err=True), progress=progress)
        finally:
            if generated is not None and dockerfile is not None:
                dockerfile.unlink(missing_ok=True)
    image: Image = result.image
    _done(f"built {', '.join(image.names)} ({image.short_id}) in {result.buildah_seconds + result.import_seconds:.2f}s "
          f"(buildah {result.buildah_seconds:.2f}s, import {result.import_seconds:.2f}s)")  # fmt: skip


COMMANDS = (images_command, pull_command, push_command, tag_command, rmi_command, load_command, save_command,
            build_command, prune_command)  # fmt: skip


def register(group: click.Group) -> None:
    """Add the image commands to the ``kuberya`` group."""
    for command in COMMANDS:
        group.add_command(command)
