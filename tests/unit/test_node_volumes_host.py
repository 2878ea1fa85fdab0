"""hostPath volumes: every ``type`` with upstream's checks and messages, and the rootless reach check."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from kuberya.node import hostpath
from kuberya.node.hostpath import HostPathError, check_host_path
from tests.unit.test_node_support import pod, running


def test_directory_or_create_makes_a_0755_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    old = os.umask(0)
    try:
        assert check_host_path(str(target), "DirectoryOrCreate") == target
    finally:
        os.umask(old)
    assert target.is_dir() and target.stat().st_mode & 0o777 == 0o755


def test_file_or_create_makes_an_empty_0644_file_but_not_its_parent(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        check_host_path(str(tmp_path / "f"), "FileOrCreate")
    finally:
        os.umask(old)
    assert (tmp_path / "f").read_bytes() == b"" and (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    with pytest.raises(HostPathError, match="could not be created"):
        check_host_path(str(tmp_path / "missing" / "f"), "FileOrCreate")


@pytest.mark.parametrize(
    ("path_type", "message"),
    [
        ("Directory", "hostPath type check failed: {p} is not a directory, it's a File"),
        ("Socket", "hostPath type check failed: {p} is not a socket file, it's a File"),
        ("CharDevice", "hostPath type check failed: {p} is not a character device, it's a File"),
        ("BlockDevice", "hostPath type check failed: {p} is not a block device, it's a File"),
        ("DirectoryOrCreate", "hostPath type check failed: {p} is not a directory, it's a File"),
    ],
)
def test_a_file_is_not_another_type(tmp_path: Path, path_type: str, message: str) -> None:
    path = tmp_path / "plain"
    path.write_text("x")
    with pytest.raises(HostPathError) as caught:
        check_host_path(str(path), path_type)
    assert str(caught.value) == message.format(p=path)


def test_types_that_match(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        check_host_path(str(sock_path), "Socket")
        check_host_path("/dev/null", "CharDevice")
        check_host_path(str(tmp_path), "Directory")
        check_host_path(str(sock_path), "")  # unset: nothing checked
        with pytest.raises(HostPathError, match="is not a file, it's a Socket"):
            check_host_path(str(sock_path), "File")
    finally:
        server.close()


def test_missing_paths_and_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(HostPathError) as caught:
        check_host_path(str(missing), "File")
    assert str(caught.value) == f"hostPath {missing} doesn't exist"
    with pytest.raises(HostPathError, match=r"must not contain '\.\.'"):
        check_host_path(f"{tmp_path}/../etc", "")
    with pytest.raises(HostPathError, match="Folder is an invalid volume type"):
        check_host_path(str(tmp_path), "Folder")
    check_host_path(str(missing), "")  # unset type: a missing path is the container's business
    assert not missing.exists()


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"), reason="needs root and a system python"
)
def test_rootless_agent_is_told_it_cannot_reach_a_path(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    # hostpath.py stands on the standard library alone: its source runs under the system's python
    # as nobody (the venv is not readable by other users).
    source = Path(hostpath.__file__).read_text()
    code = source + (
        f"\ntry:\n    check_host_path({str(private)!r}, 'Directory')\n"
        "except HostPathError as e:\n    print(e); raise SystemExit(3)\n"
    )
    result = subprocess.run(
        ["/usr/bin/python3", "-c", code], user="nobody", capture_output=True, text=True, check=False, cwd="/"
    )
    assert result.returncode == 3, result.stderr
    assert "is not reachable by the node agent's user" in result.stdout
    assert str(private) in result.stdout


async def test_a_failed_check_is_a_failed_mount_until_the_path_is_right(tmp_path: Path) -> None:
    host = tmp_path / "host-file"
    async with running(tmp_path / "data") as h:
        body = pod(volumes=[{"name": "f", "hostPath": {"path": str(host), "type": "File"}}])
        body["spec"]["containers"][0]["volumeMounts"] = [{"name": "f", "mountPath": "/data"}]
        h.add_pod(body)
        await h.settle()
        assert h.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}
        message = f'MountVolume.SetUp failed for volume "f" : hostPath {host} doesn\'t exist'
        assert ("Warning", "FailedMount", message) in h.events()
        host.write_text("hello")
        await h.advance(3)
        assert "running" in h.container()["state"]
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert [(m.host_path, m.container_path, m.read_only) for m in config.mounts] == [(host, "/data", False)]
