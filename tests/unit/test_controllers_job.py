"""The Job controller in the sample-controller style: seed caches, call ``sync``, look at the actions.

A :class:`World` plays the other parts of the cluster by hand: the informers are refreshed from
the fake client's objects after each sync (as their watches would), and :meth:`World.finish`
plays the node agent, ending a pod with an exit code.
"""

from __future__ import annotations

import datetime
from typing import Any

from kuberya.client import FakeClock
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import JOBS, PODS
from kuberya.controllers import job_policy as policy
from kuberya.controllers.job import ORPHAN_PREFIX, JobController
from kuberya.controllers.job_pods import generate_name
from kuberya.resources.kinds import job as job_kind
from tests.builders import controller_ref
from tests.fake_api import recorded_events

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_job(name: str = "pi", **spec: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 0"]}],
                }
            },
            **spec,
        },
    }
    job_kind.prepare_create(job)
    job_kind.default_job(job)
    return job


class World:
    def __init__(self) -> None:
        self.client = FakeApiClient()
        self.clock = FakeClock()
        self.now = NOW
        self.jc = JobController(self.client, clock=self.clock, now=lambda: self.now)
        self.seen: list[Action] = []

    def seed(self, job: dict[str, Any]) -> dict[str, Any]:
        stored = self.client.add(JOBS, job)
        self.refresh()
        return stored

    def refresh(self) -> None:
        """Let the informers catch up with the fake's objects, as their watches would."""
        for informer, ref in ((self.jc.jobs, JOBS), (self.jc.pods, PODS)):
            items = [o for (res, _, _), o in self.client._objects.items() if res == ref.group_resource]
            informer.replace([{**o} for o in items])

    async def sync(self, key: str = "default/pi") -> list[Action]:
        self.seen.extend(self.client.actions)
        self.client.clear()
        await self.jc.sync(key)
        self.refresh()
        return [a for a in self.client.mutations() if a.resource != "events"]

    def pods(self) -> list[dict[str, Any]]:
        return [o for (res, _, _), o in sorted(self.client._objects.items()) if res == "pods"]

    def job(self, name: str = "pi") -> dict[str, Any]:
        stored = self.client.stored(JOBS, name, namespace="default")
        assert stored is not None
        return stored

    def finish(self, pod: dict[str, Any], exit_code: int, *, conditions: list[Any] | None = None) -> None:
        """Play the node agent: the pod's container exits with ``exit_code``."""
        pod = self.client.stored(PODS, pod["metadata"]["name"], namespace="default") or pod
        pod["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": conditions or [],
            "containerStatuses": [
                {
                    "name": "main",
                    "state": {"terminated": {"exitCode": exit_code, "finishedAt": stamp(self.now)}},
                    "restartCount": 0,
                }
            ],
        }
        self.client.add(PODS, pod)
        self.refresh()

    def events(self) -> list[tuple[str, str, str]]:
        return recorded_events(self.client, earlier=self.seen)


def conditions(job: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c.get("reason", "")) for c in job["status"].get("conditions") or []]


async def test_creates_its_pod_with_the_tracking_finalizer_and_owner() -> None:
    w = World()
    w.seed(make_job())
    actions = await w.sync()
    creates = [a for a in actions if a.verb == "create"]
    assert len(creates) == 1
    meta = creates[0].body["metadata"]
    assert meta["generateName"] == "pi-"
    assert meta["finalizers"] == [policy.TRACKING_FINALIZER]
    assert meta["ownerReferences"] == [controller_ref("batch/v1", "Job", "pi", block=True)]
    assert meta["labels"] == {
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "uid-pi",
        "batch.kubernetes.io/controller-uid": "uid-pi",
    }
    status = w.job()["status"]
    assert status["active"] == 1 and status["startTime"] == stamp(NOW)
    assert w.events()[0][:2] == ("Normal", "SuccessfulCreate")


async def test_a_succeeded_pod_is_counted_once_then_the_job_completes() -> None:
    w = World()
    w.seed(make_job())
    await w.sync()
    (pod,) = w.pods()
    w.now += datetime.timedelta(seconds=5)
    w.finish(pod, 0)
    actions = await w.sync()
    # The uid goes to uncountedTerminatedPods first, then the finalizer, then the counter.
    kinds = [(a.verb, a.resource, a.subresource) for a in actions]
    assert kinds == [("update", "jobs.batch", "status"), ("patch", "pods", None), ("update", "jobs.batch", "status")]
    assert actions[0].body["status"]["uncountedTerminatedPods"] == {"succeeded": [pod["metadata"]["uid"]]}
    job = w.job()
    assert job["status"]["succeeded"] == 1
    assert job["status"]["uncountedTerminatedPods"] == {}
    assert conditions(job) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    assert job["status"]["completionTime"] == stamp(w.now)
    assert w.pods()[0]["metadata"].get("finalizers") is None
    assert ("Normal", "Completed", "Job completed") in w.events()
    # A finished Job is left alone.
    assert await w.sync() == []


async def test_parallelism_and_completions() -> None:
    w = World()
    w.seed(make_job(parallelism=3, completions=5))
    await w.sync()
    assert len(w.pods()) == 3
    for pod in w.pods():
        w.finish(pod, 0)
    await w.sync()
    job = w.job()
    assert job["status"]["succeeded"] == 3
    # Only 2 completions remain: 2 new pods, not 3.
    active = [p for p in w.pods() if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    assert len(active) == 2
    assert job["status"]["active"] == 2


async def test_backoff_limit_exceeded_after_exponential_backoff() -> None:
    w = World()
    w.seed(make_job(backoffLimit=1))
    await w.sync()
    w.finish(w.pods()[0], 1)
    actions = await w.sync()
    # The failure is counted; the replacement waits for the back-off (10 s).
    assert [a.verb for a in actions if a.resource == "pods"] == ["patch"]
    assert w.job()["status"]["failed"] == 1
    w.now += datetime.timedelta(seconds=10)
    actions = await w.sync()
    assert [a.verb for a in actions if a.resource == "pods"] == ["create"]
    second = next(p for p in w.pods() if p.get("status", {}).get("phase") != "Failed")
    w.finish(second, 1)
    await w.sync()
    job = w.job()
    assert job["status"]["failed"] == 2
    assert conditions(job) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert job["status"]["conditions"][1]["message"] == "Job has reached the specified backoff limit"
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in w.events()


def test_backoff_doubles_up_to_six_minutes() -> None:
    assert [policy.backoff_delay(n) for n in range(6)] == [0, 10, 20, 40, 80, 160]
    assert policy.backoff_delay(7) == 360
    assert policy.backoff_delay(30) == 360


async def test_pod_failure_policy_fail_job_on_exit_code() -> None:
    w = World()
    rules = [{"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}]
    w.seed(make_job(backoffLimit=6, podFailurePolicy={"rules": rules}))
    await w.sync()
    (pod,) = w.pods()
    w.finish(pod, 42)
    await w.sync()
    job = w.job()
    assert conditions(job)[-1] == ("Failed", "True", "PodFailurePolicy")
    assert job["status"]["conditions"][-1]["message"] == (
        f"Container main for pod default/{pod['metadata']['name']} failed with exit code 42 "
        "matching FailJob rule at index 0"
    )


async def test_pod_failure_policy_ignore_on_disruption_does_not_count() -> None:
    w = World()
    rules = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    w.seed(make_job(backoffLimit=0, podFailurePolicy={"rules": rules}))
    await w.sync()
    (disrupted,) = w.pods()
    w.finish(disrupted, 137, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    await w.sync()
    job = w.job()
    assert "failed" not in job["status"]
    assert not policy.is_finished(job)
    released = w.client.stored(PODS, disrupted["metadata"]["name"], namespace="default")
    assert released is not None and released["metadata"].get("finalizers") is None  # released all the same
    # Not counted, so no back-off either: its replacement is there at once.
    assert len(w.pods()) == 2 and job["status"]["active"] == 1


async def test_indexed_job_pods_carry_their_index() -> None:
    w = World()
    w.seed(make_job(completionMode="Indexed", completions=3, parallelism=3))
    await w.sync()
    pods = sorted(w.pods(), key=lambda p: p["metadata"]["annotations"][policy.COMPLETION_INDEX])
    assert [p["metadata"]["annotations"][policy.COMPLETION_INDEX] for p in pods] == ["0", "1", "2"]
    assert [p["metadata"]["labels"][policy.COMPLETION_INDEX] for p in pods] == ["0", "1", "2"]
    assert [p["spec"]["hostname"] for p in pods] == ["pi-0", "pi-1", "pi-2"]
    assert pods[0]["metadata"]["generateName"] == "pi-0-"
    assert pods[0]["spec"]["containers"][0]["env"] == [
        {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {
                "fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']",
                }
            },
        }
    ]
    w.finish(pods[0], 0)
    w.finish(pods[2], 0)
    await w.sync()
    assert w.job()["status"]["completedIndexes"] == "0,2"
    w.finish(pods[1], 0)
    await w.sync()
    job = w.job()
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    assert conditions(job)[-1] == ("Complete", "True", "CompletionsReached")


async def test_indexed_failed_index_is_retried_with_the_same_index() -> None:
    w = World()
    w.seed(make_job(completionMode="Indexed", completions=2, parallelism=2))
    await w.sync()
    pod0 = next(p for p in w.pods() if p["metadata"]["annotations"][policy.COMPLETION_INDEX] == "0")
    w.finish(pod0, 1)
    await w.sync()
    w.now += datetime.timedelta(seconds=11)
    await w.sync()
    fresh = [p for p in w.pods() if p.get("status", {}).get("phase") is None]
    indexes = sorted(p["metadata"]["annotations"][policy.COMPLETION_INDEX] for p in fresh)
    assert indexes == ["0", "1"]


async def test_backoff_limit_per_index_fails_the_index_then_the_job() -> None:
    w = World()
    w.seed(make_job(completionMode="Indexed", completions=2, parallelism=2, backoffLimitPerIndex=0, maxFailedIndexes=1))
    assert w.job()["spec"]["backoffLimit"] == 2**31 - 1
    await w.sync()
    pods = {p["metadata"]["annotations"][policy.COMPLETION_INDEX]: p for p in w.pods()}
    w.finish(pods["0"], 3)
    w.finish(pods["1"], 0)
    await w.sync()
    job = w.job()
    assert job["status"]["failedIndexes"] == "0"
    assert job["status"]["completedIndexes"] == "1"
    assert conditions(job)[-1] == ("Failed", "True", "FailedIndexes")


async def test_success_policy() -> None:
    w = World()
    w.seed(
        make_job(
            completionMode="Indexed",
            completions=3,
            parallelism=3,
            successPolicy={"rules": [{"succeededIndexes": "0"}]},
        )
    )
    await w.sync()
    pod0 = next(p for p in w.pods() if p["metadata"]["annotations"][policy.COMPLETION_INDEX] == "0")
    w.finish(pod0, 0)
    actions = await w.sync()
    # The others are deleted; Complete waits until they are gone.
    assert sorted(a.verb for a in actions if a.resource == "pods") == ["delete", "delete", "patch"]
    assert conditions(w.job()) == [("SuccessCriteriaMet", "True", "SuccessPolicy")]
    for pod in w.pods():  # the node agent stops them; the controller releases them
        if pod["metadata"].get("deletionTimestamp"):
            w.finish(pod, 137)
    await w.sync()
    await w.sync()
    job = w.job()
    assert conditions(job)[-1] == ("Complete", "True", "SuccessPolicy")
    assert job["status"]["conditions"][-1]["message"] == "Matched rules at index 0"


async def test_active_deadline_exceeded() -> None:
    w = World()
    w.seed(make_job(activeDeadlineSeconds=30))
    await w.sync()
    w.now += datetime.timedelta(seconds=31)
    actions = await w.sync()
    assert [a.verb for a in actions if a.resource == "pods"] == ["delete"]
    job = w.job()
    assert conditions(job) == [("FailureTarget", "True", "DeadlineExceeded")]
    assert job["status"]["terminating"] == 1
    await w.sync()  # the deleted pod counts as failed; its finalizer goes
    job = w.job()
    assert job["status"]["failed"] == 1
    assert conditions(job) == [("FailureTarget", "True", "DeadlineExceeded")]  # still terminating
    assert w.pods() == []
    await w.sync()  # nothing terminating any more: now it has failed
    job = w.job()
    assert conditions(job)[-1] == ("Failed", "True", "DeadlineExceeded")
    assert job["status"]["failed"] == 1
    assert w.pods() == []


async def test_suspend_deletes_pods_and_resume_restarts_them() -> None:
    w = World()
    stored = w.seed(make_job())
    await w.sync()
    stored = w.job()
    stored["spec"]["suspend"] = True
    w.client.add(JOBS, stored)
    w.refresh()
    await w.sync()
    await w.sync()
    job = w.job()
    assert conditions(job) == [("Suspended", "True", "JobSuspended")]
    assert "active" not in job["status"]
    assert ("Normal", "Suspended", "Job suspended") in w.events()
    job["spec"]["suspend"] = False
    w.now += datetime.timedelta(seconds=60)
    w.client.add(JOBS, job)
    w.refresh()
    await w.sync()
    job = w.job()
    assert conditions(job) == [("Suspended", "False", "JobResumed")]
    assert job["status"]["startTime"] == stamp(w.now)
    assert job["status"]["active"] == 1


async def test_a_job_created_suspended_starts_nothing() -> None:
    w = World()
    w.seed(make_job(suspend=True))
    actions = await w.sync()
    assert [a for a in actions if a.resource == "pods"] == []
    assert "startTime" not in w.job()["status"]


async def test_orphan_pod_loses_its_finalizer() -> None:
    w = World()
    w.seed(make_job())
    await w.sync()
    (pod,) = w.pods()
    del w.client._objects[("jobs.batch", "default", "pi")]
    w.refresh()
    w.client.clear()
    await w.jc.sync(ORPHAN_PREFIX + "default/" + pod["metadata"]["name"])
    patches = [a for a in w.client.mutations() if a.resource == "pods"]
    assert [a.body for a in patches] == [{"metadata": {"finalizers": None}}]


async def test_no_second_round_of_creates_before_the_first_is_observed() -> None:
    w = World()
    w.seed(make_job(parallelism=2, completions=4))
    w.client.clear()
    await w.jc.sync("default/pi")
    # The job's status is current, but the pod cache does not show the new pods yet.
    w.jc.jobs.replace([w.job()])
    await w.jc.sync("default/pi")
    assert len([a for a in w.client.mutations() if a.verb == "create" and a.resource == "pods"]) == 2


async def test_a_status_write_from_a_stale_cache_is_retried_not_raised() -> None:
    w = World()
    w.seed(make_job())
    w.client.add(JOBS, w.job())  # the server's Job moves on; the cache still shows the older one
    w.client.clear()
    await w.jc.sync("default/pi")  # a conflict must not escape to the worker as an error
    status_writes = [a for a in w.client.actions if a.resource == "jobs.batch" and a.subresource == "status"]
    assert len(status_writes) == 1, "one attempt"
    assert "startTime" not in (w.job().get("status") or {}), "refused: its resourceVersion is stale"
    w.clock.advance(1.0)  # the rate limiter's first delays are milliseconds
    assert len(w.jc.queue) == 1, "the Job comes back for another sync"


def test_generate_name_with_index_is_cut_to_58() -> None:
    assert generate_name("x" * 60, 12) == "x" * 54 + "-12-"
    assert generate_name("pi", None) == "pi-"


async def test_a_job_managed_by_another_controller_is_left_alone() -> None:
    w = World()
    w.seed(make_job(managedBy="kueue.x-k8s.io/multikueue"))
    assert await w.sync() == []
    w2 = World()
    w2.seed(make_job(managedBy="kubernetes.io/job-controller"))
    assert [a.verb for a in await w2.sync() if a.resource == "pods"] == ["create"]
