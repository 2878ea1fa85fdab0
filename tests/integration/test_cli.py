"""``kuberya up`` / ``status`` / ``down`` through the real command line, as a user runs them.

Each test gets its own data dir, HOME and KUBECONFIG under tmp_path and asks for ``--port 0``,
so tests never touch the user's files or collide on 6443. The CLI is run as a subprocess: what
is tested is what a user meets, exit codes and messages included.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.storage_files import DAMAGES, damage, sql, write_store

KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass
class Env:
    tmp: Path
    data_dir: Path
    user_kubeconfig: Path

    @property
    def vars(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERYA_", "XDG_", "KUBECONFIG"))}
        return {**env, "HOME": str(self.tmp / "home"), "KUBECONFIG": str(self.user_kubeconfig)}

    def kuberya(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from kuberya.cli.main import main; main()", *args],
            capture_output=True, text=True, env=self.vars, timeout=timeout,
        )  # fmt: skip

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.kuberya("up", "--data-dir", str(self.data_dir), "--port", "0", *args)

    def ready(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.data_dir / "ready").read_text())
        return data


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    (tmp_path / "home").mkdir()
    e = Env(tmp_path, tmp_path / "data", tmp_path / "kube" / "config")
    yield e
    # Whatever a test left running is stopped by the CLI itself, which signals only the pid
    # holding this data dir's lock.
    e.kuberya("down", "--data-dir", str(e.data_dir), "--timeout", "5")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def test_up_status_up_again_down(env: Env) -> None:
    out = ok(env.up())
    ready = env.ready()
    pid, url = int(ready["pid"]), str(ready["url"])  # type: ignore[call-overload]
    assert url.startswith("https://127.0.0.1:")
    assert url in out
    assert "kubectl get nodes" in out  # the merged context became current: the user had none
    assert str(env.data_dir / "kubeconfig") in out

    merged = yaml.safe_load(env.user_kubeconfig.read_text())
    assert merged["current-context"] == "kuberya"
    assert [c["name"] for c in merged["contexts"]] == ["kuberya"]
    assert stat.S_IMODE(env.user_kubeconfig.stat().st_mode) == 0o600

    status = env.kuberya("status", "--data-dir", str(env.data_dir))
    assert ok(status).splitlines()[0].endswith("kuberya is running")
    assert "yes" in status.stdout and str(pid) in status.stdout

    again = ok(env.up())
    assert "already running" in again
    assert env.ready()["pid"] == pid

    # The server itself refuses a second instance on the same dir, and says what to do.
    direct = subprocess.run(
        [sys.executable, "-m", "kuberya.server", "--data-dir", str(env.data_dir), "--port", "0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert direct.returncode == 1
    assert f"data dir {env.data_dir} is in use by kuberya (pid {pid})" in direct.stderr
    assert f"kuberya down --data-dir {env.data_dir}" in direct.stderr

    down = ok(env.kuberya("down", "--data-dir", str(env.data_dir)))
    assert f"pid {pid}" in down and "stopped" in down
    assert not alive(pid)
    assert not (env.data_dir / "ready").exists()
    assert not (env.data_dir / "kuberya.pid").exists()

    assert env.kuberya("status", "--data-dir", str(env.data_dir)).returncode == 3
    assert "not running" in ok(env.kuberya("down", "--data-dir", str(env.data_dir)))


def test_real_clients_accept_the_ecdsa_pki(env: Env) -> None:
    ok(env.up("--no-kubeconfig"))
    assert not env.user_kubeconfig.exists()
    kubeconfig = env.data_dir / "kubeconfig"

    version = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert "gitVersion" in version.stdout

    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="kuberya"))
    names = [ns.metadata.name for ns in api.list_namespace().items]
    assert "default" in names
    api.api_client.close()


def test_user_kubeconfig_keeps_its_entries_and_current_context(env: Env) -> None:
    env.user_kubeconfig.parent.mkdir()
    env.user_kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
                "users": [{"name": "me", "user": {"token": "t"}}],
                "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "me"}}],
                "current-context": "prod",
            }
        )
    )
    out = ok(env.up())
    merged = yaml.safe_load(env.user_kubeconfig.read_text())
    assert merged["current-context"] == "prod"
    assert {c["name"] for c in merged["contexts"]} == {"prod", "kuberya"}
    assert {u["name"] for u in merged["users"]} == {"me", "kuberya-admin"}
    assert "kubectl --context kuberya get nodes" in out


def test_restart_keeps_data_and_credentials(env: Env) -> None:
    ok(env.up())
    admin_cert = (env.data_dir / "pki" / "admin.crt").read_bytes()
    kubectl = [str(KUBECTL), "--kubeconfig", str(env.user_kubeconfig)]
    created = subprocess.run([*kubectl, "create", "namespace", "kept"], capture_output=True, text=True, timeout=30)
    assert created.returncode == 0, created.stderr
    ok(env.kuberya("down", "--data-dir", str(env.data_dir)))

    ok(env.up())  # a new port (--port 0): the merge updates the server URL
    assert (env.data_dir / "pki" / "admin.crt").read_bytes() == admin_cert
    got = subprocess.run([*kubectl, "get", "namespace", "kept"], capture_output=True, text=True, timeout=30)
    assert got.returncode == 0, got.stderr


def test_busy_port_is_a_clear_error(env: Env) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = env.kuberya("up", "--data-dir", str(env.data_dir), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} is busy" in result.stderr
    assert "--port" in result.stderr


@pytest.mark.parametrize("how", DAMAGES)
def test_corrupt_database_is_a_clear_error(env: Env, how: str) -> None:
    env.data_dir.mkdir(mode=0o700)
    database = env.data_dir / "state.db"
    asyncio.run(write_store(database, objects=200, keep_wal=how == "garbage-wal"))
    damage(database, how)
    result = env.up()
    assert result.returncode == 1
    # The server's one-line reason leads what `up` prints: what is wrong, which file, what to do.
    first = result.stderr.splitlines()[0]
    assert "corrupt" in first and str(database) in first, result.stderr
    assert "backup" in first and "aside" in first, result.stderr
    assert not (env.data_dir / "ready").exists(), "nothing was served"


def test_the_full_storage_check_is_asked_for_with_a_flag(env: Env) -> None:
    env.data_dir.mkdir(mode=0o700)
    database = env.data_dir / "state.db"
    asyncio.run(write_store(database, objects=20))
    # A hole in one key's history: its latest row looks fine, only the full scan of the log sees it.
    sql(database, "DELETE FROM kine WHERE id = (SELECT MIN(id) FROM kine WHERE name LIKE '%/o3')")
    result = env.up("--check-storage", "full")
    assert result.returncode == 1
    assert "missing from the log" in result.stderr.splitlines()[0], result.stderr


def test_listening_beyond_loopback_needs_a_flag(env: Env) -> None:
    result = env.up("--host", "0.0.0.0")
    assert result.returncode == 1
    assert "--allow-non-loopback" in result.stderr


def test_a_killed_server_leaves_nothing_that_blocks_the_next_up(env: Env) -> None:
    ok(env.up())
    pid = int(env.ready()["pid"])  # type: ignore[call-overload]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert env.kuberya("status", "--data-dir", str(env.data_dir)).returncode == 3
    ok(env.up())
    assert env.ready()["pid"] != pid


def test_foreground_runs_attached_and_stops_on_sigterm(env: Env) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from kuberya.cli.main import main; main()",
         "up", "--foreground", "--data-dir", str(env.data_dir), "--port", "0", "--no-kubeconfig"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env.vars,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # the server's log lines come first, on the same terminal
            seen.append(line)
            if "kuberya is up" in line:
                break
        else:
            raise AssertionError("".join(seen))
        assert env.kuberya("status", "--data-dir", str(env.data_dir)).returncode == 0
        server_pid = int(env.ready()["pid"])  # type: ignore[call-overload]
        process.send_signal(signal.SIGTERM)  # passed on to the server, which shuts down cleanly
        assert process.wait(timeout=20) == 0
        assert not alive(server_pid)
        assert not (env.data_dir / "kuberya.pid").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
