"""Benchmark ``kuberya pull`` against ``skopeo copy`` of the same image from a loopback registry.

Goal (images issue §6): kuberya's pull throughput ≥ 1.0× skopeo's, measured in the same run.

A multi-layer image (busybox-static plus ``--layers`` layers of ``--layer-mb`` MB of random data,
gzip-compressed, so the bytes on the wire are the layer sizes) is composed offline, pushed once
with skopeo to a ``docker-registry`` on 127.0.0.1, then fetched ``--runs`` times by each tool into
a fresh destination: ``skopeo copy docker://… oci:DIR``; ``kuberya pull`` (the CLI, a
subprocess like skopeo: verify digests, write the blobs, name the image - no unpacking, as skopeo
does none either); and ``ImageService.pull`` in this process, which is how the node agent pulls
inside the long-running server (no interpreter start, no ~0.1 s of imports). Runs alternate
between the tools so all see the same machine state. Both ratios are printed: the CLI's includes
Python's start-up, a fixed cost that weighs less the larger the image. kuberya's bytecode is
compiled first, as a pip install does (see :func:`compile_bytecode`).

    .venv/bin/python bench/pull_bench.py [--runs 5] [--layers 6] [--layer-mb 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kuberya.images.archive import Named, export_oci_layout
from kuberya.images.compose import compose_image, tar_of
from kuberya.images.service import ImageService, ImageSettings
from kuberya.images.store import ImageStore
from kuberya.images.testing import busybox_layers, run_registry
from kuberya.images.transfer import RegistrySettings

CLI = [sys.executable, "-c", "from kuberya.cli.main import main; main()"]


def compile_bytecode() -> None:
    """Compile kuberya's modules first, as pip does when it installs a wheel.

    An editable checkout under ``PYTHONDONTWRITEBYTECODE`` (set on the project's machines) would
    otherwise compile every module on every CLI start: ~40 ms no installed kuberya pays.
    """
    import compileall

    import kuberya

    compileall.compile_dir(Path(kuberya.__file__).parent, quiet=1)


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=6, help="data layers on top of the 3 busybox layers")
    parser.add_argument("--layer-mb", type=int, default=32)
    args = parser.parse_args()
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: run scripts/setup (apt-get install docker-registry skopeo)")
    compile_bytecode()

    with tempfile.TemporaryDirectory(prefix="kuberya-pull-bench-") as tmp_name:
        tmp = Path(tmp_name)
        store = ImageStore(tmp / "src")
        layers = busybox_layers() + [
            tar_of({f"data/{i}.bin": os.urandom(args.layer_mb << 20)}) for i in range(args.layers)
        ]
        image = compose_image(store, layers, names=("bench:1",), compress=True)
        total = image.size
        export_oci_layout(store, [Named(image, "bench:1")], tmp / "layout")
        with run_registry(tmp / "registry") as registry:
            remote = f"{registry.host}/bench:1"
            subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{tmp / 'layout'}:1",
                            f"docker://{remote}"], check=True)  # fmt: skip
            times: dict[str, list[float]] = {"skopeo": [], "kuberya": [], "in-process": []}
            for run in range(args.runs):
                dest = tmp / f"skopeo-{run}"
                times["skopeo"].append(timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{remote}",
                                              f"oci:{dest}:1"]))  # fmt: skip
                data = tmp / f"kuberya-{run}"
                times["kuberya"].append(timed([*CLI, "pull", "-q", remote, "--insecure-registry", registry.host,
                                               "--data-dir", str(data)]))  # fmt: skip
                settings = RegistrySettings(insecure=frozenset({registry.host}))
                service = ImageService(ImageSettings(root=tmp / f"service-{run}", registry=settings))
                started = time.perf_counter()
                asyncio.run(service.pull(remote))
                times["in-process"].append(time.perf_counter() - started)
                shutil.rmtree(tmp / f"service-{run}")
                pulled = json.loads((dest / "index.json").read_text())["manifests"][0]["digest"]
                assert pulled == image.digest and (data / "images/blobs/sha256" / image.digest[7:]).exists()
                shutil.rmtree(dest)
                shutil.rmtree(data)
    median = {tool: statistics.median(t) for tool, t in times.items()}
    mb = total / 1e6
    print(f"image: {len(layers)} layers, {mb:.1f} MB on the wire; {args.runs} runs each, median wall time")
    for tool in ("skopeo", "kuberya", "in-process"):
        print(f"  {tool:10} {median[tool]:.3f} s  {mb / median[tool]:7.1f} MB/s   (runs: "
              f"{', '.join(f'{t:.3f}' for t in times[tool])})")  # fmt: skip
    for tool, what in (("kuberya", "`kuberya pull` CLI"), ("in-process", "ImageService.pull (node agent)")):
        ratio = median["skopeo"] / median[tool]
        print(f"{what} / skopeo copy throughput: {ratio:.2f}x  (goal ≥ 1.0x: {'met' if ratio >= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
