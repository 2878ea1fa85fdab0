"""config.json from a ContainerConfig and an image config, by upstream's rules; no runc needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberya.runtime.base import ContainerConfig, Mount, Resources
from kuberya.runtime.oci_spec import (
    DEFAULT_CAPABILITIES,
    OciSpecError,
    PodContext,
    User,
    build_spec,
    capabilities,
    container_env,
    resolve_argv,
    resolve_user,
)
from kuberya.runtime.podfiles import hosts_file, resolv_conf, write_pod_files
from kuberya.runtime.rootfs import overlay_options
from kuberya.runtime.shim import launcher_error

IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["default"], "Env": ["PATH=/image/bin", "A=image", "B=image"], "User": ""}


def config(*command: str, override: bool | None = None, **extra: object) -> ContainerConfig:
    return ContainerConfig(
        name="app",
        image="app:v1",
        command=command,
        env=(("B", "pod"), ("C", "pod")),
        log_path=Path("/logs/app.log"),
        image_entrypoint_override=bool(command) if override is None else override,
        **extra,  # type: ignore[arg-type]
    )


def test_command_and_args_against_entrypoint_and_cmd() -> None:
    assert resolve_argv(config(), IMAGE) == ["/entry", "default"]  # neither: Entrypoint + Cmd
    assert resolve_argv(config("a1", "a2", override=False), IMAGE) == ["/entry", "a1", "a2"]  # args replace Cmd
    assert resolve_argv(config("/bin/cmd", "x"), IMAGE) == ["/bin/cmd", "x"]  # command replaces both
    assert resolve_argv(config(), {"Cmd": ["only-cmd"]}) == ["only-cmd"]
    with pytest.raises(OciSpecError, match="has no command"):
        resolve_argv(config(), {})


def test_image_env_under_pod_env() -> None:
    assert container_env(config(), IMAGE, hostname="web") == [
        "PATH=/image/bin",
        "HOSTNAME=web",
        "A=image",
        "B=pod",
        "C=pod",
    ]
    assert container_env(config(), {}, hostname="web")[0].startswith("PATH=/usr/local/sbin:")


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1001:\nstaff:x:50:app,other\nweb:x:33:\n")
    return tmp_path


def ids(user: User) -> tuple[int, int]:
    return user.uid, user.gid


def test_users_from_the_security_context_or_the_image(rootfs: Path) -> None:
    assert resolve_user(config(), "", rootfs).uid == 0
    app = resolve_user(config(), "app", rootfs)
    assert (app.uid, app.gid, app.additional_gids) == (1000, 1001, (1001, 50))
    assert ids(resolve_user(config(), "1000:web", rootfs)) == (1000, 33)
    assert ids(resolve_user(config(), "4242", rootfs)) == (4242, 0)
    # runAsUser replaces the image's whole user (its group too); the gid then comes from passwd
    assert ids(resolve_user(config(run_as_user=1000), "root:web", rootfs)) == (1000, 1001)
    assert ids(resolve_user(config(run_as_user=7, run_as_group=8), "app", rootfs)) == (7, 8)
    with pytest.raises(OciSpecError, match="not in its /etc/passwd"):
        resolve_user(config(), "nobody-here", rootfs)


def test_capabilities() -> None:
    assert capabilities(config()) == list(DEFAULT_CAPABILITIES)
    added = capabilities(config(capabilities_add=("NET_ADMIN",), capabilities_drop=("CAP_KILL", "chown")))
    assert "CAP_NET_ADMIN" in added and "CAP_KILL" not in added and "CAP_CHOWN" not in added
    assert capabilities(config(capabilities_drop=("ALL",), capabilities_add=("NET_BIND_SERVICE",))) == [
        "CAP_NET_BIND_SERVICE"
    ]
    everything = capabilities(config(privileged=True))
    assert "CAP_SYS_ADMIN" in everything and len(everything) > len(DEFAULT_CAPABILITIES)
    assert "CAP_SYS_ADMIN" not in capabilities(config(privileged=True), available=DEFAULT_CAPABILITIES)


def test_the_whole_spec(tmp_path: Path) -> None:
    resources = Resources(cpu_request_millis=250, cpu_limit_millis=500, memory_limit_bytes=16 << 20)
    mounts = (Mount(Path("/v/deep"), "/data/deep", read_only=True), Mount(Path("/v/data"), "/data"))
    pod = PodContext(
        hostname="web",
        netns_path="/var/run/netns/kuberya-1",
        files=((tmp_path / "hosts", "/etc/hosts"),),
        cgroups_path="kuberya/podu/c1",
    )
    spec = build_spec(config("sh", resources=resources, mounts=mounts, read_only_root_filesystem=True), IMAGE, pod)
    assert "rlimits" not in spec["process"]
    assert spec["process"]["args"] == ["sh"] and spec["process"]["cwd"] == "/"
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["hostname"] == "web"
    assert spec["linux"]["namespaces"] == [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
        {"type": "network", "path": "/var/run/netns/kuberya-1"},
    ]
    assert spec["linux"]["cgroupsPath"] == "kuberya/podu/c1"
    assert spec["linux"]["resources"]["cpu"] == {"shares": 256, "quota": 50000, "period": 100000}
    assert spec["linux"]["resources"]["memory"] == {"limit": 16 << 20}
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    binds = [(m["destination"], m["options"][-1]) for m in spec["mounts"] if m["type"] == "bind"]
    assert binds == [("/etc/hosts", "ro"), ("/data", "rw"), ("/data/deep", "ro")]  # parents first
    host_network = build_spec(config("sh"), {}, PodContext(hostname="h", netns_path=None))
    assert {"type": "network"} not in host_network["linux"]["namespaces"]
    assert all(n["type"] != "network" for n in host_network["linux"]["namespaces"])


def test_pod_files(tmp_path: Path) -> None:
    assert hosts_file(ip="10.88.0.5", hostname="web").endswith("\n10.88.0.5\tweb\n")
    assert hosts_file(ip="10.88.0.5", hostname="web").startswith("# Kubernetes-managed hosts file.\n127.0.0.1\t")
    assert resolv_conf(nameservers=("10.96.0.10",), searches=("default.svc.cluster.local",), options=("ndots:5",)) == (
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n"
    )
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 192.0.2.1\n")
    assert resolv_conf(nameservers=(), host_resolv_conf=host) == "nameserver 192.0.2.1\n"
    files = write_pod_files(tmp_path, {"hostname": "web", "dns_nameservers": ["10.96.0.10"]}, ip="10.88.0.5")
    assert files.hostname.read_text() == "web\n"
    assert [target for _, target in files.mounts()] == ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]


def test_overlay_options_put_the_top_layer_first() -> None:
    options = overlay_options([Path("/l/bottom"), Path("/l/top")], upper=Path("/b/upper"), work=Path("/b/work"))
    assert options == "lowerdir=/l/top:/l/bottom,upperdir=/b/upper,workdir=/b/work"


def test_launcher_error_is_runcs_message(tmp_path: Path) -> None:
    log = tmp_path / "runc.log"
    log.write_text(
        'time="x" level=warning msg="ignored"\n'
        'time="x" level=error msg="runc run failed: exec: \\"nope\\": executable file not found in $PATH"\n'
    )
    assert launcher_error(str(log), 256) == 'runc run failed: exec: "nope": executable file not found in $PATH'
    assert launcher_error(str(tmp_path / "missing"), 256) == "the launcher failed with status 256"
