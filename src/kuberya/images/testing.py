"""Test support for images: a loopback registry and offline base images, for tests and benchmarks.

Like :mod:`kuberya.runtime.fake`, this ships in the package so that every tier (these tests, the
node agent's and runtime's tests, the benchmarks) makes its images the same way. Nothing here is
used by kuberya itself. ``run_registry`` starts Debian's ``docker-registry`` (distribution 2.8) on
a free 127.0.0.1 port with its storage in a directory you give, and stops it by its PID.
``busybox_image`` composes a three-layer image from ``/bin/busybox`` (Debian ``busybox-static``),
offline and deterministically.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kuberya.images.archive import Named, export_oci_layout
from kuberya.images.compose import compose_image, tar_of
from kuberya.images.image import Image
from kuberya.images.oci import Platform
from kuberya.images.store import ImageStore

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "ls", "cat", "echo", "env", "true", "mkdir", "httpd", "sleep", "wget")


@dataclass
class Registry:
    host: str
    """``127.0.0.1:<port>``: pass it to ``--insecure-registry``."""
    pid: int
    root: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_registry(workdir: Path) -> Iterator[Registry]:
    """``docker-registry serve`` on a free loopback port, storage in ``workdir``; stopped by PID."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: kuberya-test\n"
    )
    with (workdir / "registry.log").open("ab") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError as e:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = (workdir / "registry.log").read_text()
                    raise RuntimeError(f"docker-registry did not start: {log_text}") from e
                time.sleep(0.05)
        yield Registry(host=f"127.0.0.1:{port}", pid=process.pid, root=workdir)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def busybox_layers(extra_mb: int = 0) -> list[bytes]:
    """Three layers: busybox + applet symlinks, /etc, and an app layer (optionally padded with data)."""
    symlinks = {f"bin/{a}": "busybox" for a in APPLETS}
    files: dict[str, bytes | str] = {"app/hello.txt": "hello from kuberya\n"}
    if extra_mb:
        files["app/data.bin"] = os.urandom(extra_mb << 20)
    return [
        tar_of({"bin/busybox": BUSYBOX.read_bytes()}, symlinks=symlinks),
        tar_of({"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"}),
        tar_of(files),
    ]


def busybox_image(store: ImageStore, name: str, *, platform: Platform | None = None, extra_mb: int = 0,
                  layers: list[bytes] | None = None) -> Image:  # fmt: skip
    return compose_image(
        store, layers or busybox_layers(extra_mb), names=(name,), platform=platform,
        config={"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
    )  # fmt: skip


def layout_of(store: ImageStore, image: Image, name: str, out: Path) -> Path:
    export_oci_layout(store, [Named(image, name)], out)
    return out
