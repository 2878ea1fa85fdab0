"""``kuberya build``: Dockerfiles and Containerfiles built by buildah, the result imported into the store.

kuberya does not reimplement a builder (DESIGN.md, non-goals): buildah runs the build with
``--isolation chroot`` by default (no OCI runtime needed; ``oci`` uses runc) in a buildah storage
that kuberya owns (``DATA_DIR/images/buildah``), so builds don't touch the user's own buildah or
podman images and that storage keeps buildah's layer cache (``--layers``) between builds.

The two stores meet at OCI layouts, in both directions:

1. *bases in*: each ``FROM`` image is ensured in kuberya's store first (pulled with kuberya's
   registry settings and credentials when missing, by the ``ensure_base`` callback), then handed to
   buildah with ``buildah pull oci:DIR`` + ``buildah tag`` unless buildah already holds the same
   image id. The build itself runs with ``--pull-never``: every image comes through kuberya.
2. *result out*: ``buildah bud -t oci:DIR`` writes the result straight into an OCI layout
   (uncompressed by default: no gzip on the local loop; ``compress=True`` for images meant for
   registries) - no commit to buildah's storage and no ``buildah push`` copy afterwards - and the
   layout is imported by *moving* its blobs into the store: the config and manifest are hashed,
   the layers taken by the digests buildah computed as it wrote them (see
   :func:`~kuberya.images.archive.load_archive`'s ``adopt_layers``).

:class:`BuildResult` reports the seconds spent in buildah and in the hand-over, so the overhead
over ``buildah bud`` alone is measured on every build (see ``bench/build_bench.py``).

Everything here blocks (buildah runs as plain subprocesses), so ``kuberya build`` never imports
asyncio; the server awaits :meth:`kuberya.images.service.ImageService.build`, which runs it on a
thread and stops buildah when its task is cancelled (:class:`~kuberya.images.transfer.Cancel`).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kuberya.images.archive import Named, export_oci_layout, load_archive
from kuberya.images.errors import BuildahMissingError, BuildError, InvalidReferenceError
from kuberya.images.files import remove_tree
from kuberya.images.image import Image
from kuberya.images.reference import parse_reference
from kuberya.images.store import ImageStore
from kuberya.images.transfer import Cancel

INSTALL_HINT = "install it with `sudo apt-get install buildah` (Debian/Ubuntu) or `sudo dnf install buildah` (Fedora)"
_FROM = re.compile(r"^\s*FROM\s+(?P<args>.*)$", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<value>\S*))?\s*$", re.IGNORECASE)
_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True, slots=True)
class BuildSettings:
    storage_root: Path | None = None
    """buildah's ``--root`` (its image storage); None: buildah's default for this user."""
    run_root: Path | None = None
    """buildah's ``--runroot``; None: buildah's default."""
    isolation: str = "chroot"
    """``chroot`` (no OCI runtime needed) or ``oci`` (runc)."""
    runtime: str = "runc"
    compress: bool = False
    """gzip the layers of the result (smaller pushes, slower builds)."""
    buildah: str = "buildah"


@dataclass(frozen=True, slots=True)
class BuildRequest:
    context: Path
    tags: tuple[str, ...]
    dockerfile: Path | None = None
    """None: ``Containerfile`` or ``Dockerfile`` in the context."""
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    layers: bool = True
    """Let buildah cache intermediate layers between builds, as ``docker build`` does."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    image: Image
    buildah_seconds: float
    import_seconds: float
    bases: tuple[str, ...] = ()

    @property
    def overhead(self) -> float:
        """Hand-over time as a fraction of buildah's own build time."""
        return self.import_seconds / self.buildah_seconds if self.buildah_seconds else 0.0


EnsureBase = Callable[[str], Image]
Log = Callable[[str], None]


def find_buildah(name: str = "buildah") -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildahMissingError(
            f"`kuberya build` needs buildah for Dockerfiles, and it is not installed: {INSTALL_HINT}"
        )
    return path


def find_dockerfile(context: Path, dockerfile: Path | None) -> Path:
    if dockerfile is not None:
        path = dockerfile if dockerfile.is_absolute() else Path.cwd() / dockerfile
        if not path.is_file():
            raise BuildError(f"no Dockerfile at {dockerfile}")
        return path
    for name in ("Containerfile", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    raise BuildError(f"{context} has no Containerfile or Dockerfile")


def base_images(text: str, build_args: Mapping[str, str]) -> list[str]:
    """The external images a Dockerfile builds ``FROM`` (not ``scratch``, not earlier stages)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    bases: list[str] = []
    seen_from = False
    for line in _logical_lines(text):
        arg = _ARG.match(line)
        if arg and not seen_from:  # only ARGs before the first FROM apply to FROM lines
            name = arg.group("name")
            args[name] = build_args.get(name, arg.group("value") or "")
            continue
        match = _FROM.match(line)
        if not match:
            continue
        seen_from = True
        words = [w for w in shlex.split(match.group("args")) if not w.startswith("--")]
        if not words:
            raise BuildError(f"FROM without an image: {line.strip()!r}")
        image = _expand(words[0], {**args, **{k: v for k, v in build_args.items() if k in args}})
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if image.lower() != "scratch" and image.lower() not in stages and image not in bases:
            bases.append(image)
    return bases


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        if raw.endswith("\\"):
            current += raw[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def _expand(text: str, args: Mapping[str, str]) -> str:
    def substitute(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("bare")
        value = args.get(name, "")
        return value or (m.group("default") or "")

    return _VAR.sub(substitute, text)


class Buildah:
    """buildah with kuberya's storage options; every call is one subprocess, terminated on ``cancel``."""

    def __init__(self, settings: BuildSettings, *, cancel: Cancel | None = None) -> None:
        self.settings = settings
        self.binary = find_buildah(settings.buildah)
        self.cancel = cancel or Cancel()
        self._running: subprocess.Popen[bytes] | None = None
        self.cancel.on_set(self._terminate)

    def _terminate(self) -> None:
        process = self._running
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()  # buildah cleans up its mounts and containers on SIGTERM

    def argv(self, *args: str) -> list[str]:
        globals_: list[str] = []
        if self.settings.storage_root is not None:
            globals_ += ["--root", str(self.settings.storage_root)]
        if self.settings.run_root is not None:
            globals_ += ["--runroot", str(self.settings.run_root)]
        return [self.binary, *globals_, *args]

    def run(self, *args: str, log: Log | None = None) -> str:
        """Run buildah; lines go to ``log`` as they come when given, else are captured and returned."""
        if self.cancel.is_set():
            raise BuildError(f"the build was cancelled before `buildah {args[0]}`")
        process = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)  # fmt: skip
        self._running = process
        if self.cancel.is_set():  # set between the check and the start: nobody terminated it
            self._terminate()
        assert process.stdout is not None
        lines: list[str] = []
        try:
            for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if log is not None:
                    log(line)
            code = process.wait()
        finally:
            self._running = None
            process.stdout.close()
        if self.cancel.is_set():
            raise BuildError(f"the build was cancelled during `buildah {args[0]}`")
        if code != 0:
            tail = "\n".join(lines[-15:])
            raise BuildError(f"`buildah {args[0]}` failed (exit status {code}):\n{tail}")
        return "\n".join(lines)

    def image_id(self, name: str) -> str | None:
        try:
            out = self.run("images", "--quiet", "--no-trunc", name)
        except BuildError:
            return None
        ids = [line.strip() for line in out.splitlines() if line.strip().startswith("sha256:")]
        return ids[0] if ids else None


def hand_over_base(buildah: Buildah, store: ImageStore, image: Image, name: str, *, work: Path) -> bool:
    """Make ``image`` available to buildah as ``name``; False when buildah already had it."""
    if buildah.image_id(name) == image.id:
        return False
    layout = work / f"base-{image.short_id}"
    export_oci_layout(store, [Named(image, name)], layout)
    tag = parse_reference(name).tag or "latest"
    # `buildah pull oci:DIR` names the image after the directory and refuses a path that is no
    # valid image name (a data dir under /home/John_Doe, say): such a layout is pulled through a
    # symlink whose path always parses.
    source = layout
    try:
        parse_reference(f"localhost{layout}")
    except InvalidReferenceError:
        source = Path("/tmp") / f"kuberya-base-{secrets.token_hex(8)}"
        source.symlink_to(layout, target_is_directory=True)
    try:
        pulled = (buildah.run("pull", "--quiet", f"oci:{source}:{tag}")).strip().splitlines()[-1]
        buildah.run("tag", pulled, name)
        # Drop the name buildah gave the image after the directory; keep ours. Best effort.
        with contextlib.suppress(BuildError):
            buildah.run("rmi", f"localhost{source}:latest")
    finally:
        if source != layout:
            source.unlink(missing_ok=True)
    return True


def build(
    store: ImageStore,
    request: BuildRequest,
    settings: BuildSettings,
    *,
    ensure_base: EnsureBase,
    log: Log,
    cancel: Cancel | None = None,
) -> BuildResult:
    """Build ``request`` with buildah and import the result into ``store`` named by ``request.tags``."""
    if not request.tags:
        raise BuildError("a build needs at least one name (-t NAME[:TAG])")
    try:
        names = tuple(parse_reference(t).name for t in request.tags)
    except InvalidReferenceError as e:
        raise BuildError(str(e)) from e
    buildah = Buildah(settings, cancel=cancel)
    context = request.context.resolve()
    if not context.is_dir():
        raise BuildError(f"build context {request.context} is not a directory")
    dockerfile = find_dockerfile(context, request.dockerfile)
    bases = base_images(dockerfile.read_text(errors="replace"), request.build_args)
    # Lower-case hex only: buildah turns this path into an image name, which must parse.
    work = store.tmp / f"build-{secrets.token_hex(8)}"
    work.mkdir(parents=True)
    try:
        started = time.monotonic()
        for base in bases:
            image = ensure_base(base)
            if hand_over_base(buildah, store, image, parse_reference(base).name, work=work):
                log(f"base image {base} handed to buildah")
        handover = time.monotonic() - started
        layout = work / "result"
        # Straight into an OCI layout: buildah writes the layers once, where we import them from,
        # instead of committing to its storage and then copying everything out with `buildah push`.
        args = ["bud", "--isolation", settings.isolation, "--pull-never", "-f", str(dockerfile)]
        args += ["-t", f"oci:{layout}:latest", f"--disable-compression={'false' if settings.compress else 'true'}"]
        if settings.isolation == "oci":
            args += ["--runtime", settings.runtime]
        if request.layers:
            args.append("--layers")
        for key, value in request.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        if request.target:
            args += ["--target", request.target]
        started = time.monotonic()
        buildah.run(*args, str(context), log=log)
        built = time.monotonic() - started
        started = time.monotonic()
        images = load_archive(layout, store, names=names, move=True, adopt_layers=True)
        imported = time.monotonic() - started + handover
    finally:
        remove_tree(work)
    return BuildResult(image=images[0], buildah_seconds=built, import_seconds=imported, bases=tuple(bases))
