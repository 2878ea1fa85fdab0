"""``kuberya demo`` end to end, as a user runs it: a subprocess on its own data dir, read from its output.

The fast demo (process runtime, apps from source, no builds) runs wherever the e2e tier runs as
root. The full demo (runc containers from images built with buildah on the offline bases) runs
when the machine can: root, runc, buildah, and the base images in ``scripts/base-images``'s
cache, so that no test ever runs mmdebstrap. Both are followed by ``--clean-up`` and ``kuberya
down``, and then no process of the demo's pods may be left on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, VENV_KUBECTL

KUBERYA = Path(sys.executable).parent / "kuberya"
BASE_CACHE = Path(os.environ.get("KUBERYA_BASE_CACHE") or Path.home() / ".cache" / "kuberya" / "base-images")
STEPS = [
    "[1/9] Start the cluster",
    "[2/9] Build the images",
    "[3/9] Run three payment apps",
    "[4/9] Run one marvel-collection pod",
    "[5/9] Pods and services",
    "[6/9] Requests through the Service",
    "[7/9] Scale to 5, then back to 3",
    "[8/9] Roll out v2 under load, then roll back",
    "[9/9] Summary",
]


def run_demo(data_dir: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "NO_COLOR": "1", "LANG": "C.UTF-8", "KUBERYA_BASE_CACHE": str(BASE_CACHE)}
    env.pop("KUBERYA_DATA_DIR", None)
    started = time.monotonic()
    result = subprocess.run(
        [str(KUBERYA), "demo", "--data-dir", str(data_dir), "--lang", "en", "--clean-up", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return result, time.monotonic() - started


def section(output: str, number: int) -> str:
    start = output.index(f"[{number}/9]")
    end = output.find(f"[{number + 1}/9]", start)
    return output[start : end if end >= 0 else len(output)]


def demo_pod_names(output: str) -> set[str]:
    return set(
        re.findall(r"^\s+((?:payment-[a-z0-9]+-[a-z0-9]+)|marvel-collection)\s+\d+/\d+", section(output, 5), re.M)
    )


def pod_processes(names: set[str]) -> list[str]:
    """Processes on this machine whose environment names one of these pods (``HOSTNAME``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"HOSTNAME=") and entry[9:].decode(errors="replace") in names:
                found.append(f"{proc.name} {cmdline} ({entry.decode(errors='replace')})")
    return found


def stop_cluster(data_dir: Path) -> None:
    """Whatever happened: delete the demo's objects while the API is up, then `kuberya down`."""
    kubeconfig = data_dir / "kubeconfig"
    if (data_dir / "ready").exists() and kubeconfig.exists():
        subprocess.run(
            [str(VENV_KUBECTL), "--kubeconfig", str(kubeconfig), "delete", "--ignore-not-found", "--wait=true",
             "--timeout=60s", "deployment/payment", "pod/marvel-collection", "service/payment"],
            capture_output=True, timeout=90,
        )  # fmt: skip
    subprocess.run([str(KUBERYA), "down", "--data-dir", str(data_dir)], capture_output=True, timeout=60)


def check_story(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout
    assert result.returncode == 0, f"kuberya demo exited {result.returncode}\n{output}\n{result.stderr}"
    assert "Traceback" not in output + result.stderr
    for step in STEPS:
        assert step in output, f"no {step!r} in the narration:\n{output}"
    answered = re.findall(r"^\s+payment-\S+\s+(\d+)\s", section(output, 6), re.M)
    assert len(answered) == 3 and sum(map(int, answered)) == 30, section(output, 6)
    assert "3 pods answered the 30 requests" in output
    assert re.search(r"bought .+ from payment pod payment-", section(output, 6)), section(output, 6)
    rollout = section(output, 8)
    assert re.search(r"v2: 0 failed requests out of [1-9]\d*", rollout), rollout
    assert re.search(r"rollback: 0 failed requests out of [1-9]\d*", rollout), rollout
    assert re.search(r"VERSIONS SEEN\s*\n\s*v2\s.*v1 \d+, v2 \d+", rollout), rollout
    assert "the demo's apps are gone" in section(output, 9)
    return output


def check_gone(data_dir: Path, output: str) -> None:
    names = demo_pod_names(output)
    assert len(names) == 4, section(output, 5)
    down = subprocess.run(
        [str(KUBERYA), "down", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while (left := pod_processes(names)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the demo's pods outlived the demo: {left}"


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo needs root for pod networks (3 replicas on one port)")
def test_fast_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "kuberya"
    try:
        result, seconds = run_demo(data_dir, "--fast", timeout=240)
        output = check_story(result)
        assert "runtime: process" in section(output, 1)
        assert "python3 examples/payment/serve.py" in section(output, 2)
        check_gone(data_dir, output)
        print(f"\nkuberya demo --fast: {seconds:.1f}s")
    finally:
        stop_cluster(data_dir)


def _full_demo_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("runc", "buildah", "node"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    for prefix in ("python_3.11-kuberya-", "node_kuberya-"):
        if not list(BASE_CACHE.glob(f"{prefix}*.tar")):
            return f"no {prefix}*.tar in {BASE_CACHE}: run `sudo bash scripts/base-images all` once"
    return None


@pytest.mark.skipif(_full_demo_unavailable() is not None, reason=str(_full_demo_unavailable()))
def test_full_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "kuberya"
    try:
        result, seconds = run_demo(data_dir, timeout=300)
        output = check_story(result)
        assert "runtime: runc" in section(output, 1)
        for tag in ("payment:v1", "payment:v2", "marvel-collection:v1"):
            assert f"built {tag}" in section(output, 2), section(output, 2)
        check_gone(data_dir, output)
        print(f"\nkuberya demo (runc, fresh data dir): {seconds:.1f}s")
        assert seconds < 240, f"the full demo took {seconds:.0f}s"
    finally:
        stop_cluster(data_dir)
