"""The runc runtime with real containers: a busybox image, a pod network, cgroups, OOM, exec, re-adoption.

The image is built here, not pulled: Debian's static busybox in one layer (with ``/etc/passwd``
and ``/etc/group``) and a second layer with a web root, stacked by overlayfs. Pods get a bridge of
the test's own (a unique name) and runc containers ids with the ``kuberya-test-`` prefix in a runc
root under the test's temp dir, so nothing of a kuberya running on this machine is touched. Traffic
only goes to pod IPs these tests created. Every fixture removes its containers, mounts, namespaces,
links and cgroups even when the test fails. One test instead runs a container from an image store
(:mod:`kuberya.images.testing`'s busybox) and removes that image under it with the real CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kuberya.images.service import ImageService, ImageSettings
from kuberya.images.testing import busybox_image
from kuberya.runtime.base import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    Mount,
    Resources,
    SandboxConfig,
)
from kuberya.runtime.cgroups import CgroupManager, _all_v1_bases
from kuberya.runtime.crilog import parse_cri_line
from kuberya.runtime.network import NETNS_DIR, NETNS_PREFIX, PodNetwork
from kuberya.runtime.rootfs import mounts_under
from kuberya.runtime.runc import ImageRootfs, RuncRuntime, image_service_resolver

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("runc") is None or not PodNetwork.available(),
        reason="the runc runtime needs root, runc and the CNI plugins",
    ),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs a static busybox (Debian busybox-static)"),
]

ID_PREFIX = "kuberya-test-"
IMAGE_CONFIG = {"Env": ["PATH=/bin", "IMAGE_VAR=from-image", "GREETING=image"], "WorkingDir": "/www", "Cmd": ["sh"]}


def build_layers(root: Path) -> tuple[Path, Path]:
    """busybox (every applet a symlink) + users in one layer; a web root in another."""
    base, app = root / "layer-base", root / "layer-app"
    (base / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", base / "bin" / "busybox")
    applets = subprocess.run([base / "bin" / "busybox", "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            (base / "bin" / applet).symlink_to("busybox")
    for directory in ("etc", "proc", "sys", "dev", "tmp", "www"):
        (base / directory).mkdir(exist_ok=True)
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/www:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\nweb:x:1000:\nextra:x:2000:web\n")
    (app / "www").mkdir(parents=True)
    (app / "www" / "index.html").write_text("hello from a runc pod")
    return base, app


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    return build_layers(tmp_path_factory.mktemp("image"))


def resolver_for(layers: tuple[Path, ...], config: dict[str, object] | None = None) -> Callable[[str], object]:
    async def resolve(image: str) -> ImageRootfs:
        extra = {"Entrypoint": ["/bin/echo", "entry"], "Cmd": ["default"]} if image == "echo:v1" else {}
        return ImageRootfs(layers=layers, config={**IMAGE_CONFIG, **extra, **(config or {})}, image_id="sha256:test")

    return resolve


def sandbox_config(name: str = "web") -> SandboxConfig:
    return SandboxConfig(pod_uid=f"{name}-{secrets.token_hex(4)}", name=name, namespace="default", hostname=name)


def container_config(tmp_path: Path, *command: str, name: str = "app", **extra: object) -> ContainerConfig:
    fields: dict[str, object] = {"image_entrypoint_override": bool(command), **extra}
    return ContainerConfig(
        name=name,
        image=str(fields.pop("image", "busybox:test")),
        command=fields.pop("command", command),  # type: ignore[arg-type]
        env=(("GREETING", "hello"),),
        log_path=tmp_path / "logs" / f"{name}-{secrets.token_hex(3)}.log",
        **fields,  # type: ignore[arg-type]
    )


def make_runtime(tmp_path: Path, layers: tuple[Path, ...], bridge: str) -> RuncRuntime:
    return RuncRuntime(
        state_dir=tmp_path / "state",
        network=PodNetwork(state_dir=tmp_path / "network", bridge=bridge),
        cgroups=CgroupManager.detect(),
        image_resolver=resolver_for(layers),  # type: ignore[arg-type]
        id_prefix=ID_PREFIX,
    )


async def cleanup(runtime: RuncRuntime) -> None:
    for sandbox in await runtime.list_pod_sandboxes():
        await runtime.remove_pod_sandbox(sandbox.id)
    for entry in await runtime.runc_list():  # nothing should be left; make sure of it
        await runtime._runc("delete", "--force", entry["id"], check=False)
    await runtime.close()
    for pid in list(runtime._spawned):
        reap(pid)


def reap(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def remove_bridge(bridge: str) -> None:
    subprocess.run(["ip", "link", "delete", bridge], stderr=subprocess.DEVNULL, check=False)
    for base in _all_v1_bases():
        with contextlib.suppress(OSError):
            (base / "kuberya").rmdir()  # only when empty: another kuberya's pods stay


@pytest.fixture
async def runtime(tmp_path: Path, layers: tuple[Path, ...]) -> AsyncIterator[RuncRuntime]:
    bridge = f"kyr{secrets.token_hex(4)}"
    runtime = make_runtime(tmp_path, layers, bridge)
    await runtime.start()
    try:
        yield runtime
    finally:
        await cleanup(runtime)
        remove_bridge(bridge)


async def started(runtime: RuncRuntime, sandbox_id: str, config: ContainerConfig) -> str:
    container_id = await runtime.create_container(sandbox_id, config)
    await runtime.start_container(container_id)
    return container_id


async def wait_exited(runtime: RuncRuntime, container_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (await runtime.container_status(container_id)).state is not ContainerState.EXITED:
        assert time.monotonic() < deadline, f"container {container_id} still running"
        await asyncio.sleep(0.02)


async def next_event(events: AsyncIterator[ContainerEvent], match: Callable[[ContainerEvent], bool]) -> ContainerEvent:
    async def find() -> ContainerEvent:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("the event stream ended")

    return await asyncio.wait_for(find(), 10)


def log_records(path: Path) -> list[tuple[str, bytes]]:
    return [(r.stream, r.text) for r in map(parse_cri_line, path.read_bytes().splitlines())]


async def output_of(runtime: RuncRuntime, sandbox_id: str, config: ContainerConfig) -> list[bytes]:
    container_id = await started(runtime, sandbox_id, config)
    await wait_exited(runtime, container_id)
    return [text for _, text in log_records(config.log_path)]


async def fetch(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_http_server_on_the_pod_ip(runtime: RuncRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config("web"))
    assert sandbox.ip is not None and sandbox.ip != "127.0.0.1"
    config = container_config(tmp_path, "httpd", "-f", "-p", "8080", "-h", "/www")
    container_id = await started(runtime, sandbox.id, config)
    status = await runtime.container_status(container_id)
    assert (status.state, status.image_id) == (ContainerState.RUNNING, "sha256:test")
    assert await fetch(f"http://{sandbox.ip}:8080/index.html") == "hello from a runc pod"

    code, hosts = await runtime.exec_sync(container_id, ["cat", "/etc/hosts", "/etc/hostname"], timeout=10)
    assert code == 0 and f"{sandbox.ip}\tweb\n".encode() in hosts and hosts.endswith(b"web\n")
    code, resolv = await runtime.exec_sync(container_id, ["cat", "/etc/resolv.conf"], timeout=10)
    assert code == 0 and resolv == Path("/etc/resolv.conf").read_bytes()
    usage = await runtime.sandbox_usage(sandbox.id)
    assert usage is not None and usage.memory_working_set_bytes > 0


async def test_isolation_user_env_and_image_config(runtime: RuncRuntime, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("the host's")
    sandbox = await runtime.run_pod_sandbox(sandbox_config("iso"))
    script = (
        f"cat {secret} 2>/dev/null || echo no-host-file; hostname; echo $IMAGE_VAR $GREETING; pwd; ps -o pid,comm; true"
    )
    lines = await output_of(runtime, sandbox.id, container_config(tmp_path, "sh", "-c", script))
    assert lines[:4] == [b"no-host-file", b"iso", b"from-image hello", b"/www"]
    # only the container's own processes: sh as pid 1 and ps (no host process is visible)
    assert [line.split()[1:] for line in lines[4:]] == [[b"COMMAND"], [b"sh"], [b"ps"]]
    assert lines[5].split()[0] == b"1"
    ids = "id -u; id -g; id -G; touch /x 2>/dev/null && echo wrote || echo read-only"
    user = container_config(tmp_path, "sh", "-c", ids, run_as_user=1000, read_only_root_filesystem=True)
    assert await output_of(runtime, sandbox.id, user) == [b"1000", b"1000", b"1000 2000", b"read-only"]
    # upstream's command/args rules against the image's Entrypoint ["/bin/echo", "entry"] and Cmd ["default"]
    image_defaults = container_config(tmp_path, image="echo:v1")
    assert await output_of(runtime, sandbox.id, image_defaults) == [b"entry default"]
    args_only = container_config(tmp_path, image="echo:v1", command=("arg",), image_entrypoint_override=False)
    assert await output_of(runtime, sandbox.id, args_only) == [b"entry arg"]
    command = container_config(tmp_path, "echo", "mine", image="echo:v1")
    assert await output_of(runtime, sandbox.id, command) == [b"mine"]


async def test_memory_limit_gives_oomkilled(runtime: RuncRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config("oom"))
    limits = Resources(cpu_request_millis=250, cpu_limit_millis=500, memory_limit_bytes=16 << 20)
    hog = container_config(tmp_path, "sh", "-c", "x=a; while true; do x=$x$x; done", resources=limits)
    container_id = await started(runtime, sandbox.id, hog)
    await wait_exited(runtime, container_id, timeout=30)
    status = await runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_exec_logs_tty_and_stop(runtime: RuncRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config("exec"))
    trap = 'trap "echo bye; exit 0" TERM; echo out; echo err >&2; while true; do sleep 0.05; done'
    config = container_config(tmp_path, "sh", "-c", trap)
    container_id = await started(runtime, sandbox.id, config)

    code, output = await runtime.exec_sync(container_id, ["sh", "-c", "echo hi; echo oops >&2; exit 3"], timeout=10)
    # stdout and stderr are two pipes: their order in the combined output is not defined.
    assert (code, sorted(output.splitlines())) == (3, [b"hi", b"oops"])
    piped = await runtime.exec(container_id, ["sh", "-c", "read line; echo got $line"], tty=False, stdin=True)
    await piped.write_stdin(b"ping\n")
    await piped.close_stdin()
    assert b"".join([chunk async for chunk in piped.stdout()]) == b"got ping\n"
    assert await piped.wait() == 0

    session = await runtime.exec(container_id, ["sh", "-c", "tty; echo done"], tty=True, stdin=False)
    output = b"".join([chunk async for chunk in session.stdout()])
    assert await session.wait() == 0
    assert b"/dev/pts/" in output and b"done" in output

    await runtime.stop_container(container_id, timeout=10)  # sh (pid 1) has a TERM handler: it exits 0
    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 0, "Completed")
    assert sorted(log_records(config.log_path)) == [("stderr", b"err"), ("stdout", b"bye"), ("stdout", b"out")]

    stubborn = await started(runtime, sandbox.id, container_config(tmp_path, "sleep", "600"))
    began = time.monotonic()
    await runtime.stop_container(stubborn, timeout=0.3)  # pid 1 without a handler ignores SIGTERM
    assert time.monotonic() - began < 5
    assert (await runtime.container_status(stubborn)).exit_code == 137

    tty = container_config(tmp_path, "sh", "-c", "[ -t 1 ] && echo is-a-tty", tty=True)
    assert [line.rstrip(b"\r") for line in await output_of(runtime, sandbox.id, tty)] == [b"is-a-tty"]


async def test_start_failure_is_reported(runtime: RuncRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.run_pod_sandbox(sandbox_config("fail"))
    container_id = await runtime.create_container(sandbox.id, container_config(tmp_path, "no-such-command"))
    with pytest.raises(Exception, match="no-such-command"):
        await runtime.start_container(container_id)
    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "ContainerCannotRun")


AGENT = """
import asyncio, json, sys, time
from pathlib import Path
from kuberya.runtime.base import ContainerConfig, Mount, SandboxConfig
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.network import PodNetwork
from kuberya.runtime.runc import ImageRootfs, RuncRuntime

args = json.loads(sys.argv[1])

async def resolve(image):
    return ImageRootfs(layers=tuple(map(Path, args["layers"])), config={"Env": ["PATH=/bin"]}, image_id="sha256:test")

async def main():
    root = Path(args["root"])
    network = PodNetwork(state_dir=root / "network", bridge=args["bridge"])
    runtime = RuncRuntime(state_dir=root / "state", network=network, cgroups=CgroupManager.detect(),
                          image_resolver=resolve, id_prefix="kuberya-test-")
    await runtime.start()
    sandbox = await runtime.run_pod_sandbox(SandboxConfig(pod_uid=args["uid"], name="adopt", namespace="default",
                                                          hostname="adopt"))
    config = ContainerConfig(name="app", image="busybox:test", env=(), log_path=root / "logs" / "adopt.log",
                             command=("sh", "-c", "echo up; while [ ! -e /go/flag ]; do sleep 0.05; done; exit 4"),
                             mounts=(Mount(root / "go", "/go"),), image_entrypoint_override=True)
    container_id = await runtime.create_container(sandbox.id, config)
    await runtime.start_container(container_id)
    print(json.dumps({"sandbox": sandbox.id, "container": container_id}), flush=True)
    time.sleep(600)

asyncio.run(main())
"""


async def test_kill_9_of_the_agent_and_readoption(tmp_path: Path, layers: tuple[Path, ...]) -> None:
    bridge = f"kyr{secrets.token_hex(4)}"
    (tmp_path / "go").mkdir()
    args = {"root": str(tmp_path), "bridge": bridge, "layers": [str(p) for p in layers], "uid": secrets.token_hex(4)}
    agent = subprocess.Popen([sys.executable, "-c", AGENT, json.dumps(args)], stdout=subprocess.PIPE, text=True)
    second = make_runtime(tmp_path, layers, bridge)
    try:
        assert agent.stdout is not None
        ids = json.loads(await asyncio.wait_for(asyncio.to_thread(agent.stdout.readline), 30))
        agent.send_signal(signal.SIGKILL)
        agent.wait()

        await second.start()
        assert [s.id for s in await second.list_pod_sandboxes()] == [ids["sandbox"]]
        status = await second.container_status(ids["container"])
        assert status.state is ContainerState.RUNNING and status.pid is not None
        state = await second.runc_state(ids["container"])
        assert state is not None and (state["status"], state["pid"]) == ("running", status.pid)
        code, output = await second.exec_sync(ids["container"], ["echo", "still here"], timeout=10)
        assert (code, output) == (0, b"still here\n")

        events = second.events()
        (tmp_path / "go" / "flag").touch()
        await next_event(events, lambda e: e.container_id == ids["container"] and e.state is ContainerState.EXITED)
        status = await second.container_status(ids["container"])
        assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 4, "Error")
        assert log_records(tmp_path / "logs" / "adopt.log") == [("stdout", b"up")]
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        if agent.stdout is not None:
            agent.stdout.close()
        (tmp_path / "go" / "flag").touch()
        if not second._containers and (tmp_path / "state").exists():
            await second.start()
        await cleanup(second)
        remove_bridge(bridge)


async def test_everything_is_cleaned_up(runtime: RuncRuntime, tmp_path: Path) -> None:
    network = runtime.network
    assert network is not None
    sandbox = await runtime.run_pod_sandbox(sandbox_config("tidy"))
    volume = tmp_path / "volume"
    volume.mkdir()
    config = container_config(tmp_path, "sleep", "600", mounts=(Mount(volume, "/data"),))
    container_id = await started(runtime, sandbox.id, config)
    exited = await started(runtime, sandbox.id, container_config(tmp_path, "true", name="done"))
    await wait_exited(runtime, exited)
    assert len(mounts_under(runtime.state_dir)) == 2
    assert {e["id"] for e in await runtime.runc_list()} == {ID_PREFIX + container_id, ID_PREFIX + exited}
    record = runtime._sandboxes[sandbox.id]
    pod_dirs = [base / record.cgroup_relative for base in _all_v1_bases()]
    assert any(d.is_dir() for d in pod_dirs)

    await runtime.remove_pod_sandbox(sandbox.id)
    assert mounts_under(runtime.state_dir) == []
    assert await runtime.runc_list() == []
    assert not (NETNS_DIR / (NETNS_PREFIX + sandbox.id)).exists()
    links = subprocess.run(["ip", "-o", "link", "show", "master", network.bridge], capture_output=True, text=True)
    assert "veth" not in links.stdout
    assert [d for d in pod_dirs if d.exists()] == []
    assert list((runtime.state_dir / "containers").iterdir()) == []
    assert volume.is_dir()  # a volume is the pod's, not the container's: it survives the container


def kuberya_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, on the test's data directory only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERYA_", "XDG_", "DOCKER_CONFIG"))}
    env["DOCKER_CONFIG"] = str(data_dir / "no-docker-config")
    command = [sys.executable, "-c", "from kuberya.cli.main import main; main()", *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


async def test_removing_a_running_containers_image_keeps_its_layers(tmp_path: Path) -> None:
    """`kuberya rmi` + gc while a container runs from the image: refused, then forced; the container never notices."""
    data = tmp_path / "data"
    service = ImageService(ImageSettings(root=data / "images"))
    image = busybox_image(service.store, "localhost/busybox:lease")
    layer_dirs = [service.store.layer_dir(d) for d in image.diff_ids]
    bridge = f"kyr{secrets.token_hex(4)}"
    runtime = RuncRuntime(
        state_dir=tmp_path / "state",
        network=PodNetwork(state_dir=tmp_path / "network", bridge=bridge),
        cgroups=CgroupManager.detect(),
        image_resolver=image_service_resolver(service),
        id_prefix=ID_PREFIX,
    )
    await runtime.start()
    try:
        sandbox = await runtime.run_pod_sandbox(sandbox_config("leased"))
        config = container_config(tmp_path, "sleep", "600", image="localhost/busybox:lease")
        container_id = await started(runtime, sandbox.id, config)
        assert all(d.is_dir() for d in layer_dirs)

        refused = kuberya_cli("rmi", "localhost/busybox:lease", data_dir=data)
        assert refused.returncode == 1
        assert "is being used by 1 container (container app of pod default/leased)" in refused.stderr
        assert service.store.find("localhost/busybox:lease") is not None
        listing = kuberya_cli("images", data_dir=data).stdout.splitlines()
        assert listing[0].split()[-1] == "CONTAINERS" and listing[1].split()[-1] == "1"

        forced = kuberya_cli("rmi", "--force", "localhost/busybox:lease", data_dir=data)
        assert forced.returncode == 0, forced.stderr
        assert (
            "untagged: localhost/busybox:lease" in forced.stdout and "kept the images of 1 container" in forced.stdout
        )
        assert service.store.find("localhost/busybox:lease") is None
        assert all(d.is_dir() for d in layer_dirs)

        # The overlay's lower dirs are intact: the container runs, and exec reads files from every layer.
        assert (await runtime.container_status(container_id)).state is ContainerState.RUNNING
        code, output = await runtime.exec_sync(container_id, ["cat", "/app/hello.txt", "/etc/passwd"], timeout=10)
        assert (code, output) == (0, b"hello from kuberya\nroot:x:0:0:root:/root:/bin/sh\n")
        state = await runtime.runc_state(container_id)
        assert state is not None and state["status"] == "running"

        await runtime.remove_pod_sandbox(sandbox.id)
        assert service.store.leases() == []
        pruned = kuberya_cli("prune", data_dir=data)
        assert pruned.returncode == 0 and "removed 5 blobs" in pruned.stdout and "3 unpacked layers" in pruned.stdout
        assert not any(d.exists() for d in layer_dirs)
    finally:
        await cleanup(runtime)
        remove_bridge(bridge)
