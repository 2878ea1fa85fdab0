"""``kuberya ask`` for the workloads: the drain's filters and evictions, and the command end to end on a fake client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kuberya.cli import ask as ask_module
from kuberya.cli.ask import _describe
from kuberya.cli.drain import Drainer, DrainError
from kuberya.cli.main import cli
from kuberya.client.errors import NotFoundError, TooManyRequestsError
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DAEMONSETS, NAMESPACES, NODES, PODS
from kuberya.nl import parse
from tests.unit.test_cli_ask import kubeconfig

NODE = "kuberya"


def pod(name: str, *, namespace: str = "default", node: str = NODE, owner: str | None = "ReplicaSet",
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": f"{name}-owner",
                                    "uid": "o", "controller": True}]  # fmt: skip
    meta.update(extra.pop("metadata", {}))
    return {"metadata": meta, "spec": {"nodeName": node, **extra.pop("spec", {})}, "status": {"phase": "Running"},
            **extra}  # fmt: skip


class Evictions:
    """A reactor: answers Evictions (refusing the first ``refuse`` with 429) and 404s the evicted pods."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.evicted: list[str] = []
        self.bodies: list[Any] = []

    def __call__(self, action: Action) -> Any:
        if action.verb == "raw" and action.resource.endswith("/eviction"):
            if self.refuse:
                self.refuse -= 1
                raise TooManyRequestsError(429, "TooManyRequests", "Cannot evict pod as it would violate the "
                                           "pod's disruption budget.", {})  # fmt: skip
            self.evicted.append(action.resource.split("/")[-2])
            self.bodies.append(action.body)
            return {"kind": "Status", "status": "Success"}
        if action.verb == "get" and action.resource == "pods" and action.name in self.evicted:
            raise NotFoundError(404, "NotFound", f'pods "{action.name}" not found', {})
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def drainer(fake: FakeApiClient, clock: Clock, *, timeout: float = 60, emptydir: bool = True) -> Drainer:
    return Drainer(fake, NODE, language="en", ignore_daemonsets=True, delete_emptydir_data=emptydir,
                   timeout=timeout, sleep=clock.sleep, clock=clock)  # fmt: skip


def seeded(*pods: dict[str, Any], reactor: Evictions) -> FakeApiClient:
    fake = FakeApiClient()
    fake.add(DAEMONSETS, {"metadata": {"name": "agent-owner", "namespace": "kube-system"}})
    for p in pods:
        fake.add(PODS, p)
    fake.reactors.append(reactor)
    return fake


async def test_drain_evicts_all_but_daemonset_and_mirror_pods() -> None:
    evictions = Evictions()
    fake = seeded(
        pod("web-1"),
        pod("agent", namespace="kube-system", owner="DaemonSet"),
        pod("static", owner=None, metadata={"annotations": {"kubernetes.io/config.mirror": "x"}}),
        pod("elsewhere", node="other"),
        pod("done", owner=None, status={"phase": "Succeeded"}),
        reactor=evictions,
    )
    result = await drainer(fake, Clock()).run()
    assert sorted(evictions.evicted) == ["done", "web-1"]
    assert sorted(result.evicted) == ["default/done", "default/web-1"]
    assert result.warnings == {"ignoring DaemonSet-managed Pods": ["kube-system/agent"]}
    assert evictions.bodies[0]["apiVersion"] == "policy/v1" and evictions.bodies[0]["kind"] == "Eviction"
    assert "ignoring DaemonSet-managed Pods: kube-system/agent" in result.summary("en")


async def test_drain_retries_while_a_disruption_budget_refuses() -> None:
    evictions, clock = Evictions(refuse=2), Clock()
    fake = seeded(pod("web-1"), reactor=evictions)
    result = await drainer(fake, clock).run()
    assert clock.sleeps == [5.0, 5.0]  # kubectl's retry pause
    assert result.evicted == ["default/web-1"]


async def test_drain_gives_up_when_the_budget_never_allows_it() -> None:
    evictions, clock = Evictions(refuse=1000), Clock()
    fake = seeded(pod("web-1"), reactor=evictions)
    with pytest.raises(DrainError, match="could not evict default/web-1 within 12s") as e:
        await drainer(fake, clock, timeout=12).run()
    assert e.value.hint and "PodDisruptionBudget" in e.value.hint
    assert evictions.evicted == []


async def test_drain_refuses_unmanaged_and_local_storage_pods_before_evicting_anything() -> None:
    evictions = Evictions()
    scratch = pod("scratch", spec={"volumes": [{"name": "tmp", "emptyDir": {}}]})
    fake = seeded(pod("web-1"), pod("bare", owner=None), scratch, reactor=evictions)
    with pytest.raises(DrainError) as e:
        await drainer(fake, Clock(), emptydir=False).run()
    assert "cannot delete Pods that declare no controller (use --force to override): default/bare" in e.value.message
    assert "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/scratch" in (
        e.value.message
    )
    assert evictions.evicted == []


async def test_drain_of_an_orphaned_daemonset_pod_is_refused() -> None:
    fake = seeded(pod("ghost", owner="ReplicaSet"), reactor=Evictions())
    fake.add(PODS, pod("lost", owner="DaemonSet"))  # its DaemonSet lost-owner does not exist
    with pytest.raises(DrainError, match="lost-owner"):
        await drainer(fake, Clock()).run()


async def test_drain_waits_until_the_pods_are_gone() -> None:
    class Slow(Evictions):
        gets = 0

        def __call__(self, action: Action) -> Any:
            if action.verb == "get" and action.resource == "pods" and action.name in self.evicted:
                Slow.gets += 1
                if Slow.gets < 3:
                    return None  # still terminating
            return super().__call__(action)

    clock = Clock()
    fake = seeded(pod("web-1"), reactor=Slow())
    await drainer(fake, clock).run()
    assert clock.sleeps == [1.0, 1.0]


# -- the command, on a fake cluster -----------------------------------------------------------


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = kubeconfig(tmp / "kube" / "config", "kuberya", current="kuberya")
        self.fake = FakeApiClient()
        self.fake.add(NAMESPACES, {"metadata": {"name": "default"}})
        self.fake.add(NODES, {"metadata": {"name": NODE}, "spec": {}})
        self.evictions = Evictions()
        self.fake.reactors.append(self.evictions)

    def run(self, *args: str) -> Any:
        env = {"KUBECONFIG": str(self.config), "HOME": str(self.tmp / "home"), "KUBERYA_DATA_DIR": str(self.tmp / "d"),
               "KUBERYA_LLM_BASE_URL": "", "KUBERYA_REGISTRY": ""}  # fmt: skip
        return CliRunner().invoke(cli, ["ask", *args], env=env, catch_exceptions=False)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    w = World(tmp_path)
    monkeypatch.setattr(ask_module, "make_client", lambda target: w.fake)
    monkeypatch.setattr(ask_module, "stdin_is_tty", lambda: False)
    return w


def test_cordon_patches_the_only_node(world: World) -> None:
    result = world.run("노드 cordon 해줘")
    assert result.exit_code == 0, result.output
    assert "→ 노드 스케줄 금지 (cordon)" in result.output
    assert "kubectl cordon kuberya" in result.output
    node = world.fake.stored(NODES, NODE)
    assert node is not None and node["spec"].get("unschedulable") is True
    result = world.run("uncordon the node")
    assert result.exit_code == 0, result.output
    node = world.fake.stored(NODES, NODE)
    assert node is not None and not node["spec"].get("unschedulable")


def test_drain_needs_confirmation(world: World) -> None:
    world.fake.add(PODS, pod("web-1"))
    result = world.run("노드 비워줘")
    assert result.exit_code == 2, result.output
    assert world.fake.mutations() == [] and world.evictions.evicted == []


def test_drain_with_yes_cordons_and_evicts(world: World) -> None:
    world.fake.add(PODS, pod("web-1"))
    result = world.run("--yes", "drain the node")
    assert result.exit_code == 0, result.output
    assert "kubectl drain kuberya --ignore-daemonsets --delete-emptydir-data" in result.output
    assert "1 pod(s) evicted (default/web-1)" in result.output
    node = world.fake.stored(NODES, NODE)
    assert node is not None and node["spec"]["unschedulable"] is True
    assert world.evictions.evicted == ["web-1"]


def test_drain_of_an_unknown_node_is_refused_before_anything(world: World) -> None:
    result = world.run("--yes", "drain node worker-9")
    assert result.exit_code == 1
    assert "no node worker-9" in result.output
    assert world.fake.mutations() == []


def job_status(condition: str, message: str = "") -> Any:
    def reactor(action: Action) -> Any:
        if action.verb == "get" and action.resource == "jobs.batch":
            return {"metadata": {"name": action.name},
                    "status": {"conditions": [{"type": condition, "status": "True", "message": message}]}}  # fmt: skip
        return None

    return reactor


def test_a_job_is_waited_for_until_it_fails(world: World) -> None:
    world.fake.reactors.append(job_status("Failed", "Job has reached the specified backoff limit"))
    result = world.run("migrate 잡 실행해줘 -- false")
    assert result.exit_code == 1
    assert "잡 migrate 실패: Job has reached the specified backoff limit" in result.output


def test_job_and_cronjob_are_created(world: World) -> None:
    world.fake.reactors.append(job_status("Complete"))
    result = world.run("--yes", "run the backup job -- sh -c 'echo hi'")
    assert result.exit_code == 0, result.output
    assert "job backup complete" in result.output
    created = [a for a in world.fake.mutations() if a.verb == "create"]
    assert [a.resource for a in created] == ["jobs.batch"]
    assert created[0].body["spec"]["template"]["spec"]["containers"][0]["command"] == ["sh", "-c", "echo hi"]
    result = world.run("-o", "json", "매일 새벽 3시에 backup 돌려줘")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output[result.output.index("{") :])
    assert document["request"]["schedule"] == "0 3 * * *"
    assert document["steps"][0]["operation"]["body"]["spec"]["schedule"] == "0 3 * * *"


def test_statefulset_creates_the_headless_service_first(world: World) -> None:
    result = world.run("--yes", "run 3 redis in order")
    assert result.exit_code == 0, result.output
    assert [a.resource for a in world.fake.mutations()] == ["services", "statefulsets.apps"]


def test_understanding_lines_for_the_new_requests() -> None:
    assert _describe(parse("매일 새벽 3시에 backup 돌려줘"), "default") == (
        "→ 크론잡 backup: 매일 03:00 실행 (네임스페이스 default)"
    )
    assert _describe(parse("run the migrate job"), "shop") == "→ run job migrate once in shop"
    assert _describe(parse("run 3 redis in order"), "default") == "→ run statefulset redis ×3 in order in default"
    assert _describe(parse("drain kuberya"), "default") == "→ drain kuberya"
    assert _describe(parse("노드 비워줘"), "default") == "→ 노드 비우기 (drain)"
    assert _describe(parse("payment 3개로 늘려줘"), "default") == "→ payment 3개로 조정 (네임스페이스 default)"
