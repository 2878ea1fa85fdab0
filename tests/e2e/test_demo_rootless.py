"""``kuberya demo --fast`` as a user without root: the talk's demo on the rootless pod network.

Where runc can't run the demo runs the apps from source on the process runtime, each pod in a user
and network namespace of its own with a 127.1.x.y address (:mod:`kuberya.runtime.rootless`). The
tests drop to uid 65534 with ``setpriv`` to run it exactly as such a user would: the whole story
must hold — three payment pods answering through the Service (a NodePort, since the host cannot
reach a ClusterIP without root), marvel-collection paying through payment's ClusterIP from inside
its own namespace, and no failed request through the rollout and the rollback — and afterwards no
process of the demo may be left.

Skipped where uid 65534 cannot run this checkout (an interpreter or checkout under a private home,
say) or may not make user namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.test_demo import KUBERYA, check_story, demo_pod_names, pod_processes, section
from tests.e2e.test_rootless_cluster import processes_naming

NOBODY = 65534


def as_nobody(*argv: str, home: Path) -> list[str]:
    setpriv = shutil.which("setpriv") or "setpriv"
    env = [f"HOME={home}", "NO_COLOR=1", "LANG=C.UTF-8", f"PATH={KUBERYA.parent}:/usr/sbin:/usr/bin:/sbin:/bin"]
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", "-i", *env, *argv]


def why_not() -> str:
    """Why uid 65534 cannot run the demo here, or "" when it can."""
    if os.geteuid() != 0:
        return "needs root to run the demo as another, unprivileged user"
    if not shutil.which("setpriv"):
        return "needs setpriv (util-linux)"
    try:
        runs = subprocess.run(as_nobody(str(KUBERYA), "--help", home=Path("/")), capture_output=True, timeout=60)
        namespaces = subprocess.run(
            as_nobody("unshare", "--user", "--map-root-user", "--net", "true", home=Path("/")),
            capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot probe uid {NOBODY}: {e}"
    if runs.returncode != 0:
        return f"uid {NOBODY} cannot run {KUBERYA} (a checkout or interpreter it may not read)"
    if namespaces.returncode != 0:
        return f"uid {NOBODY} may not make user namespaces here"
    return ""


@pytest.fixture
def home() -> Iterator[Path]:
    """A home of uid 65534's own; pytest's tmp_path sits under root's private directory."""
    top = Path(tempfile.mkdtemp(prefix="kuberya-rootless-demo-"))
    top.chmod(0o755)
    home = top / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    try:
        yield home
    finally:
        data_dir = home / "kuberya"
        if (data_dir / "kuberya.pid").exists():
            subprocess.run(as_nobody(str(KUBERYA), "down", "--data-dir", str(data_dir), home=home),
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(bool(why_not()), reason=why_not() or "-")
def test_fast_demo_without_root(home: Path) -> None:
    data_dir = home / "kuberya"
    started = time.monotonic()
    result = subprocess.run(
        as_nobody(str(KUBERYA), "demo", "--data-dir", str(data_dir), "--lang", "en", "--clean-up", "--fast", home=home),
        capture_output=True, text=True, cwd=REPO, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output = check_story(result)
    print(f"\nkuberya demo --fast as uid {NOBODY}: {time.monotonic() - started:.1f}s")
    assert "runtime: process" in section(output, 1) and "not root" in section(output, 1)
    assert "NodePort" in section(output, 6)  # the host has no route to a ClusterIP without root
    assert "http://10.96." in section(output, 6)  # marvel-collection paid through payment's ClusterIP

    names = demo_pod_names(output)
    assert len(names) == 4, section(output, 5)
    down = subprocess.run(as_nobody(str(KUBERYA), "down", "--data-dir", str(data_dir), home=home),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while (pod_processes(names) or processes_naming(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pod_processes(names), "processes of the demo's pods outlived the demo"
    assert not processes_naming(data_dir), "namespace holders or shims outlived the demo"
