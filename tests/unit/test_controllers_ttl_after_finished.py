"""The TTL-after-finished controller: seed a finished Job, call ``sync``, look at what it deleted."""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import JOBS
from kuberya.controllers.ttl_after_finished import TTLAfterFinishedController, time_left

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def finished_job(*, ttl: int | None, finished_ago: float | None, name: str = "pi") -> dict[str, Any]:
    spec: dict[str, Any] = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    status: dict[str, Any] = {}
    if finished_ago is not None:
        when = (NOW - datetime.timedelta(seconds=finished_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        status["conditions"] = [{"type": "Complete", "status": "True", "lastTransitionTime": when}]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}, "spec": spec, "status": status}


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.ttl = TTLAfterFinishedController(self.client, clock=self.clock, now=lambda: NOW)

    def seed(self, job: dict[str, Any]) -> None:
        self.ttl.jobs.replace([self.client.add(JOBS, job)])


async def test_an_expired_job_is_deleted_in_the_foreground_with_a_uid_precondition() -> None:
    w = World()
    w.seed(finished_job(ttl=10, finished_ago=11))
    await w.ttl.sync("default/pi")
    deletes = [a for a in w.client.mutations() if a.verb == "delete"]
    assert [(a.resource, a.name, a.body) for a in deletes] == [
        ("jobs.batch", "pi", {"propagationPolicy": "Foreground", "preconditions": {"uid": "uid-pi"}})
    ]
    # It read the live Job before deciding.
    assert [a.verb for a in w.client.actions][:1] == ["get"]


async def test_a_job_not_yet_expired_is_looked_at_again_when_it_expires() -> None:
    w = World()
    w.seed(finished_job(ttl=60, finished_ago=20))
    assert await w.ttl.queue.get() == "default/pi"  # the informer's add
    w.ttl.queue.done("default/pi")
    await w.ttl.sync("default/pi")
    assert w.client.mutations() == []
    assert len(w.ttl.queue) == 0  # not now...
    w.clock.advance(40)
    assert "default/pi" in [await w.ttl.queue.get()]  # ...but after the 40 s left


async def test_unfinished_or_ttl_less_jobs_are_kept() -> None:
    w = World()
    w.seed(finished_job(ttl=0, finished_ago=None))
    w.seed(finished_job(ttl=None, finished_ago=1000, name="keep"))
    await w.ttl.sync("default/pi")
    await w.ttl.sync("default/keep")
    assert w.client.mutations() == []


async def test_a_ttl_removed_meanwhile_keeps_the_job() -> None:
    w = World()
    w.seed(finished_job(ttl=0, finished_ago=5))
    live = w.client.stored(JOBS, "pi", namespace="default")
    assert live is not None
    live["spec"].pop("ttlSecondsAfterFinished")
    w.client.add(JOBS, live)  # the cache still has the TTL
    await w.ttl.sync("default/pi")
    assert w.client.mutations() == []


def test_time_left() -> None:
    assert time_left(finished_job(ttl=100, finished_ago=30), NOW) == 70
    assert time_left(finished_job(ttl=100, finished_ago=None), NOW) is None
