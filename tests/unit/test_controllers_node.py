import asyncio
from pathlib import Path

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import NODES
from kuberya.controllers.node import HostInfo, NodeController, read_host_info

HOST = HostInfo(
    cpus=8,
    memory_ki=16_000_000,
    ephemeral_storage_ki=100_000_000,
    architecture="amd64",
    kernel_version="6.1.0",
    os_image="Debian GNU/Linux 12 (bookworm)",
)


class Ticker:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"2026-01-01T00:00:{self.n:02d}Z"


def make(client: FakeApiClient, clock: FakeClock | None = None) -> NodeController:
    return NodeController(
        client,
        node_name="box",
        host=HOST,
        kubelet_version="v1.37.0-kuberya",
        clock=clock or FakeClock(),
        now=Ticker(),
    )


async def test_registers_the_node_then_posts_status() -> None:
    client = FakeApiClient()
    clock = FakeClock()
    controller = make(client, clock)
    await controller.sync("box")
    create, status = client.mutations()
    assert (create.verb, create.name) == ("create", "box")
    assert create.body["metadata"]["labels"] == {
        "kubernetes.io/hostname": "box",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": "",
    }
    assert (status.verb, status.subresource, status.options["patch_type"]) == ("patch", "status", "merge")
    node = client.stored(NODES, "box")
    assert node is not None
    st = node["status"]
    assert st["capacity"] == {
        "cpu": "8",
        "memory": "16000000Ki",
        "pods": "110",
        "ephemeral-storage": "100000000Ki",
    }
    assert st["allocatable"] == st["capacity"]
    assert st["addresses"] == [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": "box"},
    ]
    info = st["nodeInfo"]
    assert (info["kubeletVersion"], info["containerRuntimeVersion"]) == ("v1.37.0-kuberya", "kuberya://0.1.0")
    assert (info["osImage"], info["kernelVersion"], info["architecture"], info["operatingSystem"]) == (
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0",
        "amd64",
        "linux",
    )
    conditions = {c["type"]: c for c in st["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "KubeletReady"
    assert conditions["Ready"]["message"] == "kubelet is posting ready status"
    assert {conditions[t]["status"] for t in ("MemoryPressure", "DiskPressure", "PIDPressure")} == {"False"}
    assert clock.pending == 1, "next heartbeat scheduled"


async def test_heartbeat_moves_heartbeat_time_but_not_transition_time() -> None:
    client = FakeApiClient()
    controller = make(client)
    await controller.sync("box")
    first = client.stored(NODES, "box")
    client.clear()
    await controller.sync("box")
    assert [(a.verb, a.subresource) for a in client.mutations()] == [("patch", "status")]
    second = client.stored(NODES, "box")
    assert first is not None and second is not None
    before = {c["type"]: c for c in first["status"]["conditions"]}
    after = {c["type"]: c for c in second["status"]["conditions"]}
    assert after["Ready"]["lastHeartbeatTime"] > before["Ready"]["lastHeartbeatTime"]
    assert after["Ready"]["lastTransitionTime"] == before["Ready"]["lastTransitionTime"]


async def test_missing_labels_are_restored() -> None:
    client = FakeApiClient()
    client.add(NODES, {"metadata": {"name": "box", "labels": {"kubernetes.io/hostname": "box", "team": "a"}}})
    await make(client).sync("box")
    labels_patch, _status = client.mutations()
    assert labels_patch.subresource is None
    assert "kubernetes.io/hostname" not in labels_patch.body["metadata"]["labels"]
    node = client.stored(NODES, "box")
    assert node is not None
    assert node["metadata"]["labels"]["team"] == "a"
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""


async def test_run_heartbeats_on_the_clock_and_asks_the_server_version() -> None:
    client = FakeApiClient()
    clock = FakeClock()
    controller = NodeController(client, node_name="box", host=HOST, heartbeat_seconds=10, clock=clock)
    task = asyncio.create_task(controller.run())

    async def status_posts() -> int:
        for _ in range(20):
            await asyncio.sleep(0)
        return len([a for a in client.actions if a.subresource == "status"])

    assert await status_posts() == 1
    node = client.stored(NODES, "box")
    assert node is not None and node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.0-fake"
    clock.advance(9.9)
    assert await status_posts() == 1
    clock.advance(0.1)
    assert await status_posts() == 2
    clock.advance(10)
    assert await status_posts() == 3
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_read_host_info(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal:       32768000 kB\nMemFree:  1 kB\n")
    (tmp_path / "os-release").write_text('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    info = read_host_info(data_dir=tmp_path, proc=tmp_path, etc=tmp_path)
    assert info.memory_ki == 32768000
    assert info.os_image == "Debian GNU/Linux 12 (bookworm)"
    assert info.cpus >= 1
    assert info.ephemeral_storage_ki > 0
    assert info.architecture in ("amd64", "arm64") or info.architecture
