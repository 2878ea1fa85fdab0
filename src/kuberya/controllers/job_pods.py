"""The Job controller's writes to pods: create from the template, delete, remove the tracking finalizer.

Upstream's ``podControl`` calls as the Job controller makes them (``job_controller.go``
``manageJob``, ``deleteJobPods``, ``removeTrackingFinalizerFromPods``): a created pod is the
template plus the ``batch.kubernetes.io/job-tracking`` finalizer and a controller reference to the
Job (so the garbage collector deletes it with the Job); an Indexed Job's pod also gets its
completion index as annotation and label, the hostname ``<job>-<index>``, the generate-name
``<job>-<index>-`` and the ``JOB_COMPLETION_INDEX`` env var read from that label by the downward
API. Creations go in slow-start batches (1, 2, 4…), as the ReplicaSet controller's, and raise
the creation expectations first; deletions raise the deletion expectations.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

from kuberya.client import ApiError, KubeClient, NotFoundError, object_key
from kuberya.client.resources import JOBS, PODS
from kuberya.controllers import job_policy as policy
from kuberya.controllers.events import EventRecorder
from kuberya.controllers.expectations import Expectations
from kuberya.controllers.ownership import meta, owner_reference
from kuberya.controllers.replicaset import slow_start_batch
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

MAX_GENERATED_NAME_LENGTH = 58
"""apiserver ``names.MaxGeneratedNameLength``: a generateName prefix is cut to this."""
COMPONENT = "job-controller"


def generate_name(job_name: str, index: int | None) -> str:
    """``<job>-`` or, for an index, upstream's ``podGenerateNameWithIndex``: ``<job>-<index>-``."""
    if index is None:
        return f"{job_name}-"
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = job_name[: MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def _add_index_env(container: dict[str, Any]) -> None:
    env = container.setdefault("env", [])
    if any(e.get("name") == policy.COMPLETION_INDEX_ENV for e in env):
        return
    env.append(
        {
            "name": policy.COMPLETION_INDEX_ENV,
            "valueFrom": {
                "fieldRef": {"apiVersion": "v1", "fieldPath": f"metadata.labels['{policy.COMPLETION_INDEX}']"}
            },
        }
    )


def pod_from_template(job: Obj, index: int | None, *, failures: int | None = None) -> Obj:
    """The pod the Job creates (for ``index``, if Indexed)."""
    template = copy.deepcopy(policy.spec_of(job).get("template") or {})
    tmeta, spec = template.get("metadata") or {}, template.get("spec") or {}
    pod_meta: dict[str, Any] = {
        "generateName": generate_name(str(meta(job).get("name")), index),
        "namespace": meta(job).get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_reference(job, api_version="batch/v1", kind="Job")],
        "finalizers": [*(f for f in tmeta.get("finalizers") or [] if f != policy.TRACKING_FINALIZER)],
    }
    pod_meta["finalizers"].append(policy.TRACKING_FINALIZER)
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if index is not None:
        for key in ("initContainers", "containers"):
            for container in spec.get(key) or []:
                _add_index_env(container)
        pod_meta.setdefault("annotations", {})[policy.COMPLETION_INDEX] = str(index)
        pod_meta["labels"][policy.COMPLETION_INDEX] = str(index)
        spec["hostname"] = f"{meta(job).get('name')}-{index}"
        if failures is not None:
            pod_meta["annotations"][policy.INDEX_FAILURE_COUNT] = str(failures)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


class JobPodControl:
    """Creates, deletes and unfinalizes a Job's pods; records the events upstream records."""

    def __init__(self, client: KubeClient, *, events: EventRecorder, expectations: Expectations) -> None:
        self.client = client
        self.events = events
        self.expectations = expectations

    async def create_pods(self, key: str, job: Obj, indexes: list[int | None], pods: list[Obj]) -> list[Obj]:
        """Create one pod per entry of ``indexes`` (None: not Indexed); return those created."""
        namespace = str(meta(job).get("namespace"))
        bodies = [pod_from_template(job, index, failures=self._index_failures(job, index, pods)) for index in indexes]
        self.expectations.expect_creations(key, len(bodies))
        created: list[Obj] = []
        queue = list(bodies)

        async def create() -> None:
            body = queue.pop(0)
            try:
                pod = await self.client.create(PODS, body, namespace=namespace, field_manager=COMPONENT)
            except ApiError as exc:
                self.expectations.creation_observed(key)
                await self.events.record(
                    job, type="Warning", reason="FailedCreate", message=f"Error creating: {exc.message}"
                )
                raise
            created.append(pod)
            await self.events.record(
                job, type="Normal", reason="SuccessfulCreate", message=f"Created pod: {meta(pod).get('name')}"
            )

        logger.info("job %s: too few pods running, creating %d", key, len(bodies))
        try:
            await slow_start_batch(len(bodies), create)
        except Exception as exc:
            # Pods never attempted will never be observed either.
            for _ in queue:
                self.expectations.creation_observed(key)
            error = getattr(exc, "error", exc)
            if isinstance(error, ApiError):
                raise error from exc
            raise
        return created

    @staticmethod
    def _index_failures(job: Obj, index: int | None, pods: list[Obj]) -> int | None:
        """The failure count a new pod of ``index`` carries with ``backoffLimitPerIndex``."""
        if index is None or policy.spec_of(job).get("backoffLimitPerIndex") is None:
            return None
        failed = [
            p for p in pods if policy.valid_index(p, job) == index and p.get("status", {}).get("phase") == "Failed"
        ]
        if not failed:
            return 0
        return max(policy.index_failure_count(p) for p in failed) + 1

    async def delete_pods(self, key: str, job: Obj, pods: list[Obj], *, reason: str) -> int:
        """Delete ``pods`` (their finalizer stays: they are counted once terminated); return how many went."""
        self.expectations.expect_deletions(key, {object_key(p) for p in pods})
        logger.info("job %s: deleting %d pods (%s)", key, len(pods), reason)
        deleted = 0
        for pod in pods:
            name = str(meta(pod).get("name"))
            try:
                await self.client.delete(PODS, name, namespace=meta(pod).get("namespace"))
            except NotFoundError:
                self.expectations.deletion_observed(key, object_key(pod))
                continue
            except ApiError as exc:
                self.expectations.deletion_observed(key, object_key(pod))
                await self.events.record(
                    job, type="Warning", reason="FailedDelete", message=f"Error deleting: {exc.message}"
                )
                raise
            deleted += 1
            await self.events.record(job, type="Normal", reason="SuccessfulDelete", message=f"Deleted pod: {name}")
        return deleted

    async def remove_finalizers(self, pods: list[Obj], removed: set[str]) -> list[Obj]:
        """Drop the tracking finalizer from ``pods``; add their uids to ``removed``; return those done."""

        async def remove(pod: Obj) -> None:
            rest = [f for f in meta(pod).get("finalizers") or [] if f != policy.TRACKING_FINALIZER]
            with contextlib.suppress(NotFoundError):  # gone: nothing holds it any more
                await self.client.patch(
                    PODS,
                    str(meta(pod).get("name")),
                    {"metadata": {"finalizers": rest or None}},
                    namespace=meta(pod).get("namespace"),
                    patch_type="merge",
                )
            removed.add(str(meta(pod).get("uid")))

        # In parallel, as upstream's removeTrackingFinalizerFromPods; the first error is raised
        # after all were tried (the uids done are in ``removed`` already).
        results = await asyncio.gather(*(remove(p) for p in pods if policy.has_finalizer(p)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [p for p in pods if not policy.has_finalizer(p) or str(meta(p).get("uid")) in removed]


__all__ = ["JOBS", "JobPodControl", "generate_name", "pod_from_template"]
