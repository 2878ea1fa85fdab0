"""The CronJob controller, sample-controller style: seeded caches, ``sync(key)``, the actions taken.

Wall-clock time is pinned (``World.now``) and the work queue runs on a FakeClock, so a requeue "at
the next activation" is checked by advancing the fake clock, never by waiting.
"""

import datetime
from typing import Any

import pytest

from kuberya.client import FakeClock, ForbiddenError
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import CRONJOBS, JOBS
from kuberya.controllers.cronjob import SCHEDULED_TIMESTAMP_ANNOTATION, CronJobController, job_name
from tests.builders import controller_ref
from tests.fake_api import recorded_events, seed, writes_of_sync

UTC = datetime.UTC
KEY = "default/hello"


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 1) -> datetime.datetime:
    return datetime.datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def cronjob(
    *,
    schedule: str = "*/1 * * * *",
    created: datetime.datetime | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "hello",
            "namespace": "default",
            "uid": "uid-hello",
            "creationTimestamp": stamp(created or at(11, 30)),
        },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": {"app": "hello"}, "annotations": {"note": "x"}},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi"]}],
                            "restartPolicy": "OnFailure",
                        }
                    }
                },
            },
            **spec,
        },
        "status": status or {},
    }


def job(
    name: str,
    *,
    finished: str = "",
    started: datetime.datetime | None = None,
    completed: datetime.datetime | None = None,
    owner_uid: str = "uid-hello",
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if started is not None:
        status["startTime"] = stamp(started)
    if completed is not None:
        status["completionTime"] = stamp(completed)
    if finished:
        status["conditions"] = [{"type": finished, "status": "True"}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "ownerReferences": [controller_ref("batch/v1", "CronJob", "hello", uid=owner_uid)],
        },
        "spec": {},
        "status": status,
    }


def active_ref(name: str) -> dict[str, Any]:
    return {"kind": "Job", "namespace": "default", "name": name, "uid": f"uid-{name}", "apiVersion": "batch/v1"}


class World:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.ctl = CronJobController(self.client, clock=self.clock, now=lambda: self.now)

    def seed(self, cj: dict[str, Any], *jobs: dict[str, Any]) -> None:
        seed(self.client, self.ctl.cronjobs, cj)
        for j in jobs:
            seed(self.client, self.ctl.jobs, j)

    async def sync(self) -> list[Action]:
        return await writes_of_sync(self.client, self.ctl, KEY)

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client)

    def status(self) -> dict[str, Any]:
        stored = self.client.stored(CRONJOBS, "hello", namespace="default")
        assert stored is not None
        return dict(stored.get("status") or {})

    def requeued_after(self, seconds: float) -> bool:
        """Advance the controller's clock; True when the key came back into the queue by then."""
        self.clock.advance(seconds)
        return len(self.ctl.queue) > 0


def creates(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.verb == "create"]


# ---- starting jobs on schedule ----------------------------------------------------------------


async def test_starts_the_job_of_the_activation_just_passed() -> None:
    w = World(at(12, 1, 5))
    w.seed(cronjob())
    actions = await w.sync()
    [create] = creates(actions)
    scheduled = at(12, 1)
    assert create.resource == "jobs.batch"
    body = create.body
    assert body["metadata"]["name"] == f"hello-{int(scheduled.timestamp()) // 60}" == job_name(cronjob(), scheduled)
    assert body["metadata"]["labels"] == {"app": "hello"}
    assert body["metadata"]["annotations"] == {"note": "x", SCHEDULED_TIMESTAMP_ANNOTATION: "2026-06-01T12:01:00Z"}
    assert body["metadata"]["ownerReferences"] == [controller_ref("batch/v1", "CronJob", "hello", block=True)]
    assert body["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    status = w.status()
    assert status["lastScheduleTime"] == "2026-06-01T12:01:00Z"
    assert [(r["name"], r["kind"], r["apiVersion"]) for r in status["active"]] == [
        (body["metadata"]["name"], "Job", "batch/v1")
    ]
    assert ("Normal", "SuccessfulCreate", f"Created job {body['metadata']['name']}") in w.events()
    # Requeued for just after 12:02:00, on the controller's clock.
    assert not w.requeued_after(54.9)
    assert w.requeued_after(0.3)


async def test_nothing_before_the_first_activation_then_a_requeue_for_it() -> None:
    w = World(at(11, 30, 20))
    w.seed(cronjob(created=at(11, 30, 10)))
    assert await w.sync() == []
    assert not w.requeued_after(39.5)
    assert w.requeued_after(0.7)


async def test_the_same_activation_is_not_started_twice() -> None:
    w = World(at(12, 1, 5))
    w.seed(cronjob(status={"lastScheduleTime": stamp(at(12, 1))}))
    assert creates(await w.sync()) == []


async def test_only_the_most_recent_missed_start_is_run() -> None:
    # The controller was down from 10:00 to 12:30: hourly starts at 11:00 and 12:00 were missed.
    w = World(at(12, 30, 10))
    w.seed(cronjob(schedule="0 * * * *", status={"lastScheduleTime": stamp(at(10))}))
    [create] = creates(await w.sync())
    assert create.body["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-06-01T12:00:00Z"
    assert w.status()["lastScheduleTime"] == "2026-06-01T12:00:00Z"
    assert not any(e[1] == "TooManyMissedTimes" for e in w.events())


async def test_a_missed_start_within_the_starting_deadline_still_runs() -> None:
    w = World(at(12, 5))
    w.seed(cronjob(schedule="0 * * * *", created=at(11, 30), startingDeadlineSeconds=600))
    [create] = creates(await w.sync())
    assert create.body["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-06-01T12:00:00Z"


async def test_a_start_missed_by_more_than_the_deadline_is_skipped_until_the_next_one() -> None:
    w = World(at(12, 5))
    w.seed(cronjob(schedule="0 * * * *", created=at(11, 30), startingDeadlineSeconds=60))
    assert creates(await w.sync()) == []
    assert "lastScheduleTime" not in w.status()
    # Next activation is 13:00, 55 minutes away.
    assert not w.requeued_after(55 * 60 - 1)
    assert w.requeued_after(1.2)


async def test_too_many_missed_starts_warn_and_the_latest_still_runs() -> None:
    w = World(at(12, 0, 30))
    w.seed(cronjob(schedule="*/1 * * * *", created=at(9)))  # 180 minutes of missed starts
    [create] = creates(await w.sync())
    assert create.body["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-06-01T12:00:00Z"
    assert (
        "Warning",
        "TooManyMissedTimes",
        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
    ) in w.events()


async def test_a_start_deadline_caps_the_missed_count() -> None:
    w = World(at(12, 0, 30))
    w.seed(cronjob(schedule="*/1 * * * *", created=at(9), startingDeadlineSeconds=300))
    assert len(creates(await w.sync())) == 1
    assert not any(e[1] == "TooManyMissedTimes" for e in w.events())


# ---- concurrency policies -----------------------------------------------------------------------


async def test_allow_starts_a_second_job_beside_a_running_one() -> None:
    w = World(at(12, 2, 5))
    running = job("hello-old", started=at(12, 1))
    w.seed(cronjob(status={"active": [active_ref("hello-old")], "lastScheduleTime": stamp(at(12, 1))}), running)
    assert len(creates(await w.sync())) == 1
    old, new = w.status()["active"]
    assert (old["name"], new["name"]) == ("hello-old", job_name(cronjob(), at(12, 2)))


async def test_forbid_waits_while_a_job_runs() -> None:
    w = World(at(12, 2, 5))
    running = job("hello-old", started=at(12, 1))
    cj = cronjob(
        concurrencyPolicy="Forbid",
        status={"active": [active_ref("hello-old")], "lastScheduleTime": stamp(at(12, 1))},
    )
    w.seed(cj, running)
    assert await w.sync() == []
    assert (
        "Normal",
        "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid",
    ) in w.events()
    assert w.requeued_after(55.2)  # and it looks again at the next activation


async def test_replace_deletes_the_running_job_then_starts_the_new_one() -> None:
    w = World(at(12, 2, 5))
    running = job("hello-old", started=at(12, 1))
    cj = cronjob(
        concurrencyPolicy="Replace",
        status={"active": [active_ref("hello-old")], "lastScheduleTime": stamp(at(12, 1))},
    )
    w.seed(cj, running)
    actions = await w.sync()
    assert [(a.verb, a.name) for a in actions if a.verb == "delete"] == [("delete", "hello-old")]
    assert actions[0].body == {"propagationPolicy": "Background"}
    assert len(creates(actions)) == 1
    assert [r["name"] for r in w.status()["active"]] == [job_name(cj, at(12, 2))]
    assert ("Normal", "SuccessfulDelete", "Deleted job hello-old") in w.events()


async def test_suspend_starts_nothing_and_does_not_requeue() -> None:
    w = World(at(12, 1, 5))
    w.seed(cronjob(suspend=True))
    assert await w.sync() == []
    assert not w.requeued_after(3600)


# ---- status.active, history limits ---------------------------------------------------------


async def test_a_finished_job_leaves_the_active_list_and_a_success_is_recorded() -> None:
    w = World(at(12, 1, 30))
    done = job("hello-1", finished="Complete", started=at(12, 0), completed=at(12, 0, 20))
    w.seed(cronjob(status={"active": [active_ref("hello-1")], "lastScheduleTime": stamp(at(12, 1))}), done)
    await w.sync()
    status = w.status()
    assert status.get("active") == []
    assert status["lastSuccessfulTime"] == "2026-06-01T12:00:20Z"
    assert ("Normal", "SawCompletedJob", "Saw completed job: hello-1, condition: Complete") in w.events()


async def test_an_active_job_that_is_gone_is_forgotten() -> None:
    w = World(at(12, 1, 30))
    w.seed(cronjob(status={"active": [active_ref("hello-gone")], "lastScheduleTime": stamp(at(12, 1))}))
    await w.sync()
    assert w.status().get("active") == []
    assert ("Normal", "MissingJob", "Active job went missing: hello-gone") in w.events()


async def test_an_unfinished_job_it_does_not_know_is_reported() -> None:
    w = World(at(12, 1, 30))
    w.seed(cronjob(status={"lastScheduleTime": stamp(at(12, 1))}), job("hello-stray", started=at(12)))
    await w.sync()
    assert (
        "Warning",
        "UnexpectedJob",
        "Saw a job that the controller did not create or forgot: hello-stray",
    ) in w.events()


async def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    w = World(at(12, 10, 30))
    succeeded = [job(f"hello-ok{i}", finished="Complete", started=at(12, i), completed=at(12, i, 5)) for i in range(5)]
    failed = [job(f"hello-bad{i}", finished="Failed", started=at(11, i)) for i in range(3)]
    w.seed(cronjob(status={"lastScheduleTime": stamp(at(12, 10))}), *succeeded, *failed)
    actions = await w.sync()
    deleted = sorted(a.name or "" for a in actions if a.verb == "delete")
    # keep the 3 newest successes and the newest failure
    assert deleted == ["hello-bad0", "hello-bad1", "hello-ok0", "hello-ok1"]
    assert all(a.body == {"propagationPolicy": "Background"} for a in actions if a.verb == "delete")
    assert w.status()["lastSuccessfulTime"] == "2026-06-01T12:04:05Z"


async def test_a_job_without_a_start_time_is_deleted_last() -> None:
    w = World(at(12, 10, 30))
    jobs = [
        job("hello-a", finished="Failed"),
        job("hello-b", finished="Failed", started=at(12, 5)),
    ]
    w.seed(cronjob(status={"lastScheduleTime": stamp(at(12, 10))}), *jobs)
    deleted = [a.name for a in await w.sync() if a.verb == "delete"]
    assert deleted == ["hello-b"]


# ---- time zones and schedules -------------------------------------------------------------------


async def test_a_time_zone_moves_the_activation_and_the_annotation_carries_its_offset() -> None:
    # 09:00 in Seoul is 00:00 UTC.
    w = World(at(0, 0, 30, day=2))
    w.seed(cronjob(schedule="0 9 * * *", timeZone="Asia/Seoul", created=at(12)))
    [create] = creates(await w.sync())
    assert create.body["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-06-02T09:00:00+09:00"
    assert create.body["metadata"]["name"] == f"hello-{int(at(0, day=2).timestamp()) // 60}"
    assert w.status()["lastScheduleTime"] == "2026-06-02T00:00:00Z"


async def test_without_a_time_zone_the_schedule_is_utc() -> None:
    w = World(at(0, 0, 30, day=2))
    w.seed(cronjob(schedule="0 9 * * *", created=at(12)))
    assert creates(await w.sync()) == []
    assert not w.requeued_after(9 * 3600 - 31)
    assert w.requeued_after(2)


async def test_an_unknown_time_zone_stops_the_cronjob_with_a_warning() -> None:
    w = World(at(12, 1, 5))
    w.seed(cronjob(timeZone="Mars/Olympus_Mons"))
    assert await w.sync() == []
    assert (
        "Warning",
        "UnknownTimeZone",
        'invalid timeZone: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons',
    ) in w.events()


async def test_a_schedule_that_never_fires_is_reported() -> None:
    w = World(at(12, 1, 5))
    w.seed(cronjob(schedule="0 0 31 2 *"))
    assert await w.sync() == []
    assert (
        "Warning",
        "InvalidSchedule",
        "invalid schedule: 0 0 31 2 * : time difference between two schedules is less than 1 second",
    ) in w.events()


async def test_day_of_month_or_day_of_week_fires_on_either() -> None:
    # 2026-06-05 is a Friday: "0 0 13 * 5" fires then (robfig's OR rule), not only on Friday the 13th.
    w = World(at(0, 0, 30, day=5))
    w.seed(cronjob(schedule="0 0 13 * 5", created=at(12, day=4)))
    assert len(creates(await w.sync())) == 1


async def test_a_new_schedule_requeues_for_its_own_next_activation() -> None:
    w = World(at(12, 0, 30))
    old = cronjob(schedule="0 * * * *")
    new = cronjob(schedule="*/5 * * * *")
    new["metadata"]["resourceVersion"] = "99"
    w.ctl._on_cronjob_update(old, new)
    assert len(w.ctl.queue) == 0
    assert not w.requeued_after(4 * 60 + 29)
    assert w.requeued_after(2)


async def test_a_job_already_created_but_not_recorded_is_adopted_into_active() -> None:
    # The last sync created the Job but its status write was lost.
    w = World(at(12, 1, 5))
    cj = cronjob()
    name = job_name(cj, at(12, 1))
    existing = job(name, started=at(12, 1, 1))
    w.client.add(JOBS, existing)  # on the server, not yet in the cache
    w.seed(cj)
    await w.sync()
    assert [r["name"] for r in w.status()["active"]] == [name]
    assert not any(e[1] == "SuccessfulCreate" for e in w.events())


async def test_a_failed_create_is_reported_retried_and_what_changed_before_it_is_written() -> None:
    w = World(at(12, 2, 5))
    done = job("hello-1", finished="Complete", started=at(12, 1), completed=at(12, 1, 9))
    w.seed(cronjob(status={"active": [active_ref("hello-1")], "lastScheduleTime": stamp(at(12, 1))}), done)

    def quota(action: Action) -> Any:
        if action.verb == "create" and action.resource == "jobs.batch":
            msg = 'jobs.batch "x" is forbidden: exceeded quota: count/jobs.batch'
            raise ForbiddenError(403, "Forbidden", msg, {"message": msg})
        return None

    w.client.reactors.append(quota)
    with pytest.raises(ForbiddenError):
        await w.sync()
    assert (
        "Warning",
        "FailedCreate",
        'Error creating job: jobs.batch "x" is forbidden: exceeded quota: count/jobs.batch',
    ) in w.events()
    status = w.status()
    assert status.get("active") == [] and status["lastSuccessfulTime"] == "2026-06-01T12:01:09Z"
    assert status["lastScheduleTime"] == "2026-06-01T12:01:00Z"  # the 12:02 start is still to be made
