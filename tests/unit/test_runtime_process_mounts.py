"""The process runtime's mount plan: mounts → ordered binds and the mount points they need, and their removal.

The binds themselves are made by the shim in a mount namespace (tests/integration/
test_runtime_process_mounts.py); here the pure plan, the bookkeeping of the mount points the
runtime makes on the host (inside ``tmp_path``), what the shim is told, and what exec joins.
"""

from __future__ import annotations

import marshal
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kuberya.runtime.base import ContainerConfig, Mount, SandboxConfig
from kuberya.runtime.execution import ExecContext
from kuberya.runtime.mountplan import (
    REGISTRY_NAME,
    Bind,
    _host_mount_points,
    make_mount_points,
    plan_binds,
    release_mount_points,
)
from kuberya.runtime.oci_spec import PodContext, build_spec
from kuberya.runtime.process import ProcessRuntime

DIRS = {Path("/v/data"), Path("/v/logs"), Path("/v/root")}


def is_dir(path: Path) -> bool:
    return path in DIRS


def test_parents_are_bound_first_and_a_mount_point_below_a_bind_is_in_its_source() -> None:
    mounts = (
        Mount(Path("/v/logs"), "/data/logs"),
        Mount(Path("/v/app.conf"), "/etc/app/app.conf", read_only=True),
        Mount(Path("/v/data"), "/data/"),
    )
    binds = plan_binds(mounts, is_dir=is_dir)
    assert binds == [
        Bind("/v/data", "/data", read_only=False, host_mount_point="/data", is_file=False),
        Bind("/v/logs", "/data/logs", read_only=False, host_mount_point="/v/data/logs", is_file=False),
        Bind("/v/app.conf", "/etc/app/app.conf", read_only=True, host_mount_point="/etc/app/app.conf", is_file=True),
    ]


def test_the_deepest_containing_bind_holds_the_mount_point_and_a_file_holds_none() -> None:
    mounts = (
        Mount(Path("/v/root"), "/srv"),
        Mount(Path("/v/data"), "/srv/data"),
        Mount(Path("/v/logs"), "/srv/data/logs"),
        Mount(Path("/v/file"), "/conf"),
        Mount(Path("/v/logs"), "/conf/x"),  # below a file: nowhere to be; the bind will say so
        Mount(Path("/v/logs"), "/srvother"),  # a sibling by prefix only
    )
    points = {b.target: b.host_mount_point for b in plan_binds(mounts, is_dir=is_dir)}
    assert points == {
        "/srv": "/srv",
        "/conf": "/conf",
        "/srvother": "/srvother",
        "/srv/data": "/v/root/data",
        "/conf/x": "/conf/x",
        "/srv/data/logs": "/v/data/logs",
    }


def test_same_depth_keeps_the_pods_order_and_relative_paths_follow_the_working_dir() -> None:
    mounts = (Mount(Path("/v/data"), "b"), Mount(Path("/v/logs"), "/a"), Mount(Path("/v/root"), "/"))
    binds = plan_binds(mounts, working_dir="/work", is_dir=is_dir)
    assert [(b.target, b.host_mount_point) for b in binds] == [
        ("/", "/"),
        ("/a", "/v/root/a"),
        ("/work/b", "/v/root/work/b"),
    ]


def test_missing_mount_points_are_made_recorded_and_removed_once_unused(tmp_path: Path) -> None:
    state, host = tmp_path / "state", tmp_path / "host"
    volume, config = tmp_path / "volume", tmp_path / "app.conf"
    volume.mkdir()
    config.write_text("x")
    (host / "etc").mkdir(parents=True)
    mounts = (Mount(volume, f"{host}/srv/data"), Mount(config, f"{host}/etc/app/app.conf"))
    binds = plan_binds(mounts)
    made, warnings = make_mount_points(binds, state)
    assert (made, warnings) == (binds, [])
    assert (host / "srv" / "data").is_dir() and (host / "etc" / "app" / "app.conf").read_bytes() == b""
    assert (state / REGISTRY_NAME).exists()

    # In use by another container: kept.
    assert release_mount_points(state, in_use={f"{host}/srv/data"}) == [
        f"{host}/etc/app/app.conf",
        f"{host}/etc/app",
    ]
    assert (host / "srv" / "data").is_dir()
    # Unused: it goes, and the parent the runtime made; the host's own /etc stays.
    assert release_mount_points(state, in_use=set()) == [f"{host}/srv/data", f"{host}/srv"]
    assert sorted(p.name for p in host.iterdir()) == ["etc"] and list((host / "etc").iterdir()) == []
    assert release_mount_points(state, in_use=set()) == []


def test_only_empty_mount_points_of_our_own_are_removed(tmp_path: Path) -> None:
    state, host = tmp_path / "state", tmp_path / "host"
    host.mkdir()
    volume, config = tmp_path / "volume", tmp_path / "app.conf"
    volume.mkdir()
    config.write_text("x")
    binds = plan_binds((Mount(volume, f"{host}/a/data"), Mount(config, f"{host}/b.conf"), Mount(volume, f"{host}/c")))
    make_mount_points(binds, state)
    (host / "a" / "data" / "mine").write_text("a user's file")  # not empty: kept, and so its parent
    (host / "b.conf").write_text("written")  # a file with data: never ours to delete
    (host / "c").rename(tmp_path / "c-moved")
    (host / "c").mkdir()  # someone else's now: another inode (the moved one still holds the old)
    assert release_mount_points(state, in_use=set()) == []
    assert sorted(p.name for p in host.iterdir()) == ["a", "b.conf", "c"]
    (host / "a" / "data" / "mine").unlink()  # emptied: a later removal takes it, and only it
    assert release_mount_points(state, in_use=set()) == [f"{host}/a/data", f"{host}/a"]
    assert sorted(p.name for p in host.iterdir()) == ["b.conf", "c"]


def test_what_cannot_be_made_is_said_for_the_start_to_fail(tmp_path: Path) -> None:
    state = tmp_path / "state"
    a_file = tmp_path / "plain"
    a_file.write_text("")
    volume = tmp_path / "volume"
    volume.mkdir()
    binds = plan_binds((Mount(tmp_path / "gone", "/nowhere/data"), Mount(volume, f"{a_file}/sub")))
    made, warnings = make_mount_points(binds, state)
    assert made == []
    assert warnings == [
        f"the volume for /nowhere/data is missing on the host ({tmp_path / 'gone'})",
        f"cannot make the mount point {a_file}/sub for a volume: Not a directory",
    ]
    assert not Path("/nowhere").exists()


def test_host_mount_points_are_read_unescaped(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n30 22 0:5 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
    )
    assert _host_mount_points(mountinfo) == {"/", "/mnt/with space"}


def test_exec_joins_the_uts_namespace_only_when_the_container_has_one() -> None:
    pod = ExecContext(netns_path="/run/netns/p", env={}, cwd="/app", namespaces_pid=42)
    assert pod.argv(["ls"]) == [
        "nsenter", "--net=/run/netns/p", "--mount=/proc/42/ns/mnt", "--uts=/proc/42/ns/uts", "--wd=/app", "--", "ls",
    ]  # fmt: skip
    host_network = ExecContext(netns_path=None, env={}, cwd="", namespaces_pid=42, join_uts=False)
    assert host_network.argv(["ls"]) == ["nsenter", "--mount=/proc/42/ns/mnt", "--wd=/", "--", "ls"]
    assert ExecContext(netns_path=None, env={}, cwd="/").argv(["ls"]) == ["ls"]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    """The host network, no cgroups: containers are only created here, never started."""
    runtime = ProcessRuntime(state_dir=tmp_path / "state", network=None)
    await runtime.start()
    yield runtime
    for sandbox in await runtime.list_pod_sandboxes():
        await runtime.remove_pod_sandbox(sandbox.id)
    await runtime.close()


async def test_the_shim_is_told_the_binds_and_removal_releases_the_mount_points(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    target = tmp_path / "host" / "data"
    sandbox = await runtime.run_pod_sandbox(
        SandboxConfig(pod_uid=secrets.token_hex(4), name="p", namespace="default", hostname="p", host_network=True)
    )
    config = ContainerConfig(
        name="app",
        image="app:v1",
        command=("true",),
        env=(),
        log_path=tmp_path / "app.log",
        mounts=(Mount(volume, str(target), read_only=True), Mount(tmp_path / "gone", "/nowhere")),
    )
    container_id = await runtime.create_container(sandbox.id, config)
    spec = marshal.loads((runtime.state_dir / "containers" / container_id / "shim.spec").read_bytes())
    assert spec["volumes"] == [[str(volume), str(target), True]]
    assert spec["mount_errors"] == [f"the volume for /nowhere is missing on the host ({tmp_path / 'gone'})"]
    assert "pod_files" not in spec and "hostname" not in spec  # a host-network pod: a mount namespace alone
    assert target.is_dir()
    await runtime.remove_container(container_id)
    assert not (tmp_path / "host").exists()


def test_runc_binds_a_subpath_file_read_only_and_a_directory_recursively(tmp_path: Path) -> None:
    """runc makes a file mount point for a file source itself; ``rbind`` carries an emptyDir's tmpfs."""
    config = ContainerConfig(
        name="app",
        image="app:v1",
        command=("sh",),
        env=(),
        log_path=tmp_path / "log",
        image_entrypoint_override=True,
        mounts=(
            Mount(tmp_path / "cm" / "app.conf", "/etc/app.conf", read_only=True),
            Mount(tmp_path / "mem", "/cache"),
        ),
    )
    spec = build_spec(config, {}, PodContext(hostname="p", netns_path=None))
    binds = [m for m in spec["mounts"] if m["type"] == "bind"]
    assert binds == [
        {"destination": "/cache", "type": "bind", "source": str(tmp_path / "mem"),
         "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/etc/app.conf", "type": "bind", "source": str(tmp_path / "cm" / "app.conf"),
         "options": ["rbind", "rprivate", "ro"]},
    ]  # fmt: skip
    # (fewer path components first)
