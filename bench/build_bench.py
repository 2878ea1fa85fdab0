"""Benchmark ``kuberya build`` against ``buildah bud`` alone on the same Dockerfile.

Goal (images issue §6): kuberya's overhead over buildah ≤ 10 %.

The base image (busybox-static, three layers, made offline) is loaded into a kuberya store and
handed to buildah once, so both sides start warm, as a developer's second build does. Each run
builds the same Dockerfile (a RUN that writes ``--mb`` MB, a COPY) with ``--no-cache``/no
``--layers`` on both sides, so every run really builds:

- ``buildah bud --isolation chroot --pull-never`` in the same buildah storage kuberya uses;
- ``kuberya build`` (the CLI): the same ``buildah bud``, plus ``buildah push oci:`` and the import
  into kuberya's store - what the overhead is.

Runs alternate. The overhead is (median kuberya − median buildah) / median buildah; kuberya's own
split (buildah seconds vs hand-over seconds) is printed from its output.

    .venv/bin/python bench/build_bench.py [--runs 5] [--mb 32]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kuberya.images.archive import Named, export_oci_layout
from kuberya.images.store import ImageStore
from kuberya.images.testing import busybox_image

CLI = [sys.executable, "-c", "from kuberya.cli.main import main; main()"]


def compile_bytecode() -> None:
    """Compile kuberya's modules first, as pip does when it installs a wheel.

    An editable checkout under ``PYTHONDONTWRITEBYTECODE`` (set on the project's machines) would
    otherwise compile every module on every CLI start: ~40 ms no installed kuberya pays.
    """
    import compileall

    import kuberya

    compileall.compile_dir(Path(kuberya.__file__).parent, quiet=1)


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=32, help="MB the RUN step writes")
    args = parser.parse_args()
    if not shutil.which("buildah"):
        sys.exit("buildah is not installed: run scripts/setup (apt-get install buildah)")
    compile_bytecode()

    with tempfile.TemporaryDirectory(prefix="kuberya-build-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        store = ImageStore(data / "images")
        base = busybox_image(store, "localhost/busybox:bench")
        export_oci_layout(store, [Named(base, "localhost/busybox:bench")], tmp / "layout")
        context = tmp / "ctx"
        context.mkdir()
        (context / "Dockerfile").write_text(
            "FROM localhost/busybox:bench\n"
            f"RUN dd if=/dev/urandom of=/data.bin bs=1M count={args.mb} 2>/dev/null && echo built > /built.txt\n"
            'COPY app.txt /app/app.txt\nCMD ["cat", "/built.txt"]\n'
        )
        (context / "app.txt").write_text("hello\n")
        buildah = [
            "buildah",
            "--root",
            str(data / "images/buildah/root"),
            "--runroot",
            str(data / "images/buildah/run"),
        ]
        # Warm-up: kuberya hands the base to buildah; both sides then find it there.
        timed([*CLI, "build", str(context), "-t", "bench:warm", "--no-cache", "--data-dir", str(data)])
        times: dict[str, list[float]] = {"buildah": [], "kuberya": []}
        splits: list[str] = []
        for run in range(args.runs):
            seconds, _ = timed([*buildah, "bud", "--isolation", "chroot", "--pull-never", "-t", f"plain:{run}",
                                "-f", str(context / "Dockerfile"), str(context)])  # fmt: skip
            times["buildah"].append(seconds)
            seconds, out = timed(
                [*CLI, "build", str(context), "-t", f"bench:{run}", "--no-cache", "--data-dir", str(data)]
            )
            times["kuberya"].append(seconds)
            splits.append(out.strip().splitlines()[-1])
    median = {tool: statistics.median(t) for tool, t in times.items()}
    print(f"Dockerfile: FROM busybox (3 layers) + RUN writing {args.mb} MB + COPY; {args.runs} runs each, median")
    for tool in ("buildah", "kuberya"):
        print(f"  {tool:8} {median[tool]:.3f} s   (runs: {', '.join(f'{t:.3f}' for t in times[tool])})")
    overhead = (median["kuberya"] - median["buildah"]) / median["buildah"]
    print(f"  last kuberya run: {splits[-1]}")
    print(f"kuberya build overhead over buildah bud: {overhead * 100:+.1f}%  (goal ≤ 10%: "
          f"{'met' if overhead <= 0.10 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
