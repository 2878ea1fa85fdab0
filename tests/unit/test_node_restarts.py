"""Restart policies and CrashLoopBackOff timing, on the fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberya.client.resources import PODS
from kuberya.meta.timefmt import go_duration
from kuberya.node.logs import prune_container_logs, rotate_if_large
from tests.unit.test_node_support import pod, running


def test_go_duration() -> None:
    assert [go_duration(s) for s in (10, 20, 40, 80, 160, 300, 0.1, 3725)] == [
        "10s",
        "20s",
        "40s",
        "1m20s",
        "2m40s",
        "5m0s",
        "100ms",
        "1h2m5s",
    ]


async def test_crash_loop_backoff_doubles_to_the_cap(tmp_path: Path) -> None:
    async with running(tmp_path, backoff_base=10, backoff_cap=40) as h:
        h.add_pod(pod())
        await h.settle()
        uid = h.get_pod()["metadata"]["uid"]
        h.runtime.exit_container(h.running_id(), 1)
        await h.settle()
        cs = h.container()
        assert cs["restartCount"] == 1 and "running" in cs["state"]  # the first restart is immediate
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        for expected_delay in (10, 20, 40, 40):
            restarts = h.container()["restartCount"]
            h.runtime.exit_container(h.running_id(), 2)
            await h.settle()
            cs = h.container()
            assert cs["state"]["waiting"] == {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {expected_delay}s restarting failed container=app pod=web_default({uid})",
            }
            assert cs["lastState"]["terminated"]["exitCode"] == 2
            assert cs["restartCount"] == restarts and cs["ready"] is False
            assert h.status()["phase"] == "Running"
            assert h.condition("Ready")["status"] == "False"
            await h.advance(expected_delay - 1)
            assert h.container()["restartCount"] == restarts, f"restarted before {expected_delay}s"
            await h.advance(1)
            assert h.container()["restartCount"] == restarts + 1
            assert "running" in h.container()["state"]
        assert (
            "Warning",
            "BackOff",
            f"Back-off restarting failed container app in pod web_default({uid})",
        ) in h.events()


async def test_backoff_resets_after_running_long_enough(tmp_path: Path) -> None:
    async with running(tmp_path, backoff_base=10, backoff_cap=40) as h:
        h.add_pod(pod())
        await h.settle()
        h.runtime.exit_container(h.running_id(), 1)
        await h.settle()
        h.runtime.exit_container(h.running_id(), 1)
        await h.settle()
        assert h.container()["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        await h.advance(10)
        assert "running" in h.container()["state"]
        await h.advance(80, step=20)  # twice the cap
        h.runtime.exit_container(h.running_id(), 1)
        await h.settle()
        assert "running" in h.container()["state"]  # immediate again


@pytest.mark.parametrize(
    ("policy", "code", "restarted", "phase"),
    [
        ("Always", 0, True, "Running"),
        ("Always", 1, True, "Running"),
        ("OnFailure", 0, False, "Succeeded"),
        ("OnFailure", 1, True, "Running"),
        ("Never", 0, False, "Succeeded"),
        ("Never", 1, False, "Failed"),
    ],
)
async def test_restart_policies(tmp_path: Path, policy: str, code: int, restarted: bool, phase: str) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod(restartPolicy=policy))
        await h.settle()
        h.runtime.exit_container(h.running_id(), code)
        await h.settle()
        assert h.status()["phase"] == phase
        assert h.container()["restartCount"] == (1 if restarted else 0)
        if not restarted:
            terminated = h.container()["state"]["terminated"]
            assert terminated["exitCode"] == code
            assert terminated["reason"] == ("Completed" if code == 0 else "Error")
            assert terminated["startedAt"] and terminated["finishedAt"]


async def test_oom_killed_reason_is_reported(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod(restartPolicy="Never"))
        await h.settle()
        h.runtime.exit_container(h.running_id(), 137, "OOMKilled")
        await h.settle()
        assert h.container()["state"]["terminated"]["reason"] == "OOMKilled"


async def test_two_containers_one_done_keeps_running(tmp_path: Path) -> None:
    containers = [
        {"name": "a", "image": "x", "command": ["a"]},
        {"name": "b", "image": "x", "command": ["b"]},
    ]
    async with running(tmp_path) as h:
        h.add_pod(pod(restartPolicy="Never", containers=containers))
        await h.settle()
        h.runtime.exit_container(h.running_id("a"), 0)
        await h.settle()
        assert h.status()["phase"] == "Running"
        assert h.condition("Ready")["message"] == "containers with unready status: [a]"
        h.runtime.exit_container(h.running_id("b"), 1)
        await h.settle()
        assert h.status()["phase"] == "Failed"


async def test_previous_logs_are_kept_and_older_ones_pruned(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod())
        await h.settle()
        for n in range(3):
            cid = h.running_id()
            h.runtime.write_log(cid, f"run {n}")
            h.runtime.exit_container(cid, 0)
            await h.settle()
            await h.advance(10 * 2**n)
        uid = h.get_pod()["metadata"]["uid"]
        directory = tmp_path / "pods" / f"default_web_{uid}" / "app"
        assert sorted(p.name for p in directory.iterdir()) == ["2.log"]  # 3.log is created by the shim
        previous = h.agent.registry.lookup("default", "web", "app", previous=True)
        assert previous is not None and previous.log_path == directory / "2.log" and not previous.running
        current = h.agent.registry.lookup("default", "web", "app")
        assert current is not None and current.log_path == directory / "3.log" and current.running


async def test_image_change_restarts_the_container(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod())
        await h.settle()
        first = h.running_id()
        body = h.get_pod()
        body["spec"]["containers"][0]["image"] = "python:3.12"
        h.client.add(PODS, body)
        await h.settle()
        cs = h.container()
        assert cs["image"] == "python:3.12" and cs["restartCount"] == 1 and h.running_id() != first
        assert ("Normal", "Killing", "Container app definition changed, will be restarted") in h.events()


def test_log_rotation_and_pruning(tmp_path: Path) -> None:
    log = tmp_path / "3.log"
    log.write_bytes(b"x" * 100)
    assert not rotate_if_large(log, max_bytes=100)
    log.write_bytes(b"y" * 101)
    assert rotate_if_large(log, max_bytes=100)
    assert log.read_bytes() == b"" and (tmp_path / "3.log.1").read_bytes() == b"y" * 101
    for n in (0, 1, 2):
        (tmp_path / f"{n}.log").write_text("old")
    prune_container_logs(tmp_path, {3, 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2.log", "3.log", "3.log.1"]
