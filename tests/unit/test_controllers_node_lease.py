"""The node controller reads the node agent's Lease as upstream's node lifecycle controller does."""

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import LEASES, NODES
from kuberya.controllers.node import HostInfo, NodeController

HOST = HostInfo(
    cpus=2, memory_ki=1_000_000, ephemeral_storage_ki=1_000_000, architecture="amd64", kernel_version="6", os_image="x"
)


class Wall:
    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self) -> str:
        return self.text


def make(client: FakeApiClient, wall: Wall) -> NodeController:
    return NodeController(client, node_name="box", host=HOST, kubelet_version="v1", clock=FakeClock(), now=wall)


def lease(renewed: str) -> dict[str, object]:
    return {
        "metadata": {"name": "box", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "box", "leaseDurationSeconds": 40, "renewTime": renewed},
    }


def conditions(client: FakeApiClient) -> dict[str, tuple[str, str, str]]:
    node = client.stored(NODES, "box")
    assert node is not None
    return {c["type"]: (c["status"], c["reason"], c["lastHeartbeatTime"]) for c in node["status"]["conditions"]}


async def test_a_renewed_lease_keeps_the_node_ready() -> None:
    client, wall = FakeApiClient(), Wall("2026-01-01T00:00:00Z")
    client.add(LEASES, lease("2026-01-01T00:00:00.000000Z"))
    controller = make(client, wall)
    await controller.sync("box")
    wall.text = "2026-01-01T00:00:50Z"  # 50 s: still within the grace period
    await controller.sync("box")
    assert conditions(client)["Ready"] == ("True", "KubeletReady", "2026-01-01T00:00:50Z")


async def test_an_expired_lease_makes_every_condition_unknown() -> None:
    client, wall = FakeApiClient(), Wall("2026-01-01T00:00:00Z")
    client.add(LEASES, lease("2026-01-01T00:00:00.000000Z"))
    controller = make(client, wall)
    await controller.sync("box")
    wall.text = "2026-01-01T00:00:51Z"
    await controller.sync("box")
    seen = conditions(client)
    assert set(seen) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    # Unknown, keeping the heartbeat time of the last good status.
    assert set(seen.values()) == {("Unknown", "NodeStatusUnknown", "2026-01-01T00:00:00Z")}
    node = client.stored(NODES, "box")
    assert node is not None
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "Kubelet stopped posting node status."
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:51Z"
    client.add(LEASES, lease("2026-01-01T00:01:00.000000Z"))  # the agent is back
    wall.text = "2026-01-01T00:01:00Z"
    await controller.sync("box")
    assert conditions(client)["Ready"] == ("True", "KubeletReady", "2026-01-01T00:01:00Z")


async def test_an_old_lease_found_at_startup_gets_its_grace_period() -> None:
    client = FakeApiClient()
    client.add(LEASES, lease("2025-12-31T00:00:00.000000Z"))  # the server was down for a day
    await make(client, Wall("2026-01-01T00:00:00Z")).sync("box")
    assert conditions(client)["Ready"][0] == "True"


async def test_no_lease_yet_is_healthy() -> None:
    client = FakeApiClient()
    await make(client, Wall("2026-01-01T00:00:00Z")).sync("box")
    assert conditions(client)["Ready"][0] == "True"
