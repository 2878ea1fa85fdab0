"""The demo's images: the offline base images, then ``payment:v1``, ``payment:v2`` and ``marvel-collection:v1``.

There is no public hub to pull ``python:3.11-slim`` from on an offline machine, so the apps'
Dockerfiles take their base as ``ARG BASE``. The bases are found, in this order:

1. in the cluster's store already (``python:3.11-kuberya``, ``node:kuberya``: what
   ``scripts/base-images`` builds from Debian packages with mmdebstrap, and ``bash scripts/demo``
   runs first);
2. built now by ``scripts/base-images`` when the demo runs from a checkout, as root — its cache
   (``~/.cache/kuberya/base-images``, keyed by content) makes a second data dir load them in seconds;
3. pulled from a registry: the Dockerfiles' own defaults (``python:3.11-slim``, ``node:20-slim``),
   for a machine that can reach one.

Whatever fails is a :class:`ImagesUnavailable` whose message says why and what to do; the demo
then falls back to running the apps from source with the process runtime.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kuberya.demo.apps import DemoApp

PULL_TIMEOUT = 120.0
"""Seconds to give a registry for one base image before giving up on pulling."""
SCRIPT_TIMEOUT = 600.0
"""Seconds for ``scripts/base-images`` (two mmdebstrap runs the first time, ~80 s here)."""

DOCKERFILE_BASES = {"python:3.11-kuberya": "python:3.11-slim", "node:kuberya": "node:20-slim"}
"""The Dockerfiles' own ``ARG BASE`` defaults, for a machine that can pull."""


class ImagesUnavailable(Exception):
    """No way to get the bases or build the images; ``hint`` says what would fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class BuiltImage:
    tag: str
    short_id: str
    seconds: float
    command: str
    reused: bool = False
    """Not rebuilt: the store's image is newer than every file of the app (:func:`up_to_date`)."""


def up_to_date(image_created: float | None, directory: Path) -> bool:
    """Whether an image made at ``image_created`` (epoch seconds) is newer than every source file.

    The demo's builds are deterministic given the sources, the base and the tag's version, so a
    second run of the demo reuses what the first built instead of spending ~20 s rebuilding it.
    """
    if image_created is None:
        return False
    newest = max(
        (p.stat().st_mtime for p in directory.rglob("*") if p.is_file() and ".mypy_cache" not in p.parts),
        default=0.0,
    )
    return newest < image_created


def buildah_available() -> bool:
    return shutil.which("buildah") is not None


def missing(store_root: Path, names: list[str]) -> list[str]:
    """The image names the store does not hold (without creating a store just to look)."""
    if not (store_root / "index.json").exists():
        return list(names)
    from kuberya.images.store import ImageStore

    store = ImageStore(store_root)
    return [n for n in names if store.find(n) is None]


async def ensure_bases(
    apps: Mapping[str, DemoApp],
    *,
    data_dir: Path,
    script: Path | None,
    on_line: Callable[[str], None],
    on_command: Callable[[str], None],
) -> dict[str, str]:
    """``{app name: base image}`` for every app, getting the bases by the module docstring's order."""
    store_root = data_dir / "images"
    wanted = sorted({app.base for app in apps.values()})
    absent = missing(store_root, wanted)
    if absent and script is not None and os.geteuid() == 0 and shutil.which("mmdebstrap"):
        names = [{"python:3.11-kuberya": "python", "node:kuberya": "node"}.get(n, n) for n in absent]
        on_command(f"bash scripts/base-images --data-dir {data_dir} {' '.join(names)}")
        await _run_script(script, data_dir, names, on_line)
        absent = missing(store_root, wanted)
    if not absent:
        return {name: app.base for name, app in apps.items()}
    return await _pull_defaults(apps, store_root, absent, on_line=on_line, on_command=on_command, script=script)


async def _run_script(script: Path, data_dir: Path, names: list[str], on_line: Callable[[str], None]) -> None:
    env = dict(os.environ)
    env.setdefault("PY", sys.executable)
    kuberya = Path(sys.executable).with_name("kuberya")
    if kuberya.exists():
        env.setdefault("KUBERYA", str(kuberya))
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(script),
        "--data-dir",
        str(data_dir),
        *names,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    assert process.stdout is not None
    tail: list[str] = []
    try:
        async with asyncio.timeout(SCRIPT_TIMEOUT):
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    tail = [*tail[-4:], line]
                    on_line(line)
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        code = -1
    if code != 0:
        last = "; ".join(tail) or f"exit status {code}"
        raise ImagesUnavailable(
            f"scripts/base-images could not build the base images ({last})",
            f"run `sudo bash {script} all` to see why, then `kuberya demo` again",
        )


async def _pull_defaults(
    apps: Mapping[str, DemoApp],
    store_root: Path,
    absent: list[str],
    *,
    on_line: Callable[[str], None],
    on_command: Callable[[str], None],
    script: Path | None,
) -> dict[str, str]:
    from kuberya.images.errors import ImageError
    from kuberya.images.service import ImageService, ImageSettings

    service = ImageService(ImageSettings(root=store_root))
    bases = {name: app.base for name, app in apps.items()}
    for local in absent:
        remote = DOCKERFILE_BASES.get(local, local)
        on_command(f"kuberya pull {remote}")
        try:
            async with asyncio.timeout(PULL_TIMEOUT):
                await service.pull(remote)
        except (ImageError, OSError, TimeoutError) as e:
            build_hint = (
                f"build them offline with `sudo bash {script} all`"
                if script is not None
                else "build them offline with scripts/base-images from a kuberya checkout (as root)"
            )
            raise ImagesUnavailable(
                f"no base image {local} in the store and {remote} cannot be pulled ({e})", build_hint
            ) from e
        on_line(f"pulled {remote}")
        for name, base in bases.items():
            if base == local:
                bases[name] = remote
    return bases


async def build_images(
    apps: Mapping[str, DemoApp],
    bases: Mapping[str, str],
    *,
    data_dir: Path,
    on_start: Callable[[str], None],
    on_line: Callable[[str], None],
    on_built: Callable[[BuiltImage], None],
) -> list[BuiltImage]:
    """``payment:v1``, ``payment:v2``, ``marvel-collection:v1`` with buildah, into the cluster's store."""
    from kuberya.images.build import BuildRequest
    from kuberya.images.errors import BuildahMissingError, ImageError
    from kuberya.images.service import ImageService, ImageSettings

    store_root = data_dir / "images"
    store_root.mkdir(parents=True, exist_ok=True)
    service = ImageService(ImageSettings(root=store_root))
    wanted = [("payment", "v1"), ("payment", "v2"), ("marvel-collection", "v1")]
    built = []
    for name, version in wanted:
        app = apps[name]
        tag = f"{name}:{version}"
        args = {"BASE": bases[name], "VERSION": version}
        flags = " ".join(f"--build-arg {k}={v}" for k, v in args.items())
        command = f"kuberya build {_relative(app.directory)} -t {tag} {flags}"
        on_start(command)
        started = time.monotonic()
        existing = service.find(tag)
        if existing is not None and up_to_date(
            existing.created.timestamp() if existing.created else None, app.directory
        ):
            built.append(BuiltImage(tag, existing.short_id, time.monotonic() - started, command, reused=True))
            on_built(built[-1])
            continue

        def log(line: str) -> None:
            if line.startswith("STEP") or "error" in line.lower():
                on_line(line.strip())

        try:
            # No layer cache (buildah's --layers): the Dockerfiles have no RUN step, so it saves
            # nothing here, and buildah 1.28 refuses to commit a cached step on a base whose config
            # has no history (``history lists 0 non-empty layers``), as the offline bases have.
            request = BuildRequest(context=app.directory, tags=(tag,), build_args=args, layers=False)
            result = await service.build(request, log=log)
        except BuildahMissingError as e:
            raise ImagesUnavailable(
                str(e), "install buildah (`sudo apt-get install buildah`), or run `kuberya demo --fast`"
            ) from e
        except ImageError as e:
            lines = [line for line in str(e).splitlines() if line.strip()]
            why = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
            raise ImagesUnavailable(f"building {tag} failed: {why[:300]}", f"try it alone: `{command}`") from e
        built.append(BuiltImage(tag, result.image.short_id, time.monotonic() - started, command))
        on_built(built[-1])
    return built


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
