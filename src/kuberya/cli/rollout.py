"""Waiting for what a plan started to become ready, as ``kubectl rollout status`` does.

A Deployment is done when the controller has seen the latest spec (``observedGeneration >=
generation``) and every replica is updated, ready and the only one left (``updatedReplicas ==
readyReplicas == replicas == spec.replicas``); it has failed when its ``Progressing`` condition says
``ProgressDeadlineExceeded``. A Pod is done when its ``Ready`` condition is true (or it ran to
``Succeeded``), failed when it is ``Failed``. The predicates are pure (:func:`deployment_readiness`,
:func:`pod_readiness`); :func:`wait_until_ready` feeds them from a get and then a watch of that one
object, re-getting when a watch ends, and reports every change (and a heartbeat, so plain output
shows it is still waiting) to ``on_progress``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kuberya.cli.plan_runner import Touched

if TYPE_CHECKING:
    from kuberya.client import KubeClient

RETRY_PAUSE = 0.5
"""Seconds between re-getting after a watch failed, so a broken watch cannot spin."""


@dataclass(frozen=True)
class Readiness:
    ready: int
    desired: int
    done: bool
    failed: str | None = None
    """Why it will not become ready (the deployment's progress deadline, a failed pod)."""


class WaitTimeout(Exception):
    def __init__(self, last: Readiness | None) -> None:
        super().__init__("timed out")
        self.last = last


def deployment_readiness(obj: dict[str, Any]) -> Readiness:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    ready_total = int(status.get("readyReplicas", 0))
    total = int(status.get("replicas", 0))
    observed = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
    # During a rollout old pods are ready too: count only what is both updated and ready.
    # Scaling down, the surplus is still ready for a moment: never show more than asked for.
    ready = min(updated, ready_total, desired) if observed else 0
    done = observed and updated == ready_total == total == desired
    failed = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            failed = str(condition.get("message") or "progress deadline exceeded")
    return Readiness(ready=ready, desired=desired, done=done, failed=None if done else failed)


def pod_readiness(obj: dict[str, Any]) -> Readiness:
    status = obj.get("status") or {}
    phase = status.get("phase")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    if phase == "Failed":
        return Readiness(0, 1, False, failed=str(status.get("message") or status.get("reason") or "pod failed"))
    return Readiness(int(ready or phase == "Succeeded"), 1, ready or phase == "Succeeded")


async def wait_until_ready(
    client: KubeClient,
    item: Touched,
    *,
    timeout: float,
    on_progress: Callable[[Readiness], None],
    heartbeat: float = 5.0,
) -> Readiness:
    """Return the final :class:`Readiness` (done or failed); raise :class:`WaitTimeout` after ``timeout``."""
    from kuberya.client.resources import DEPLOYMENTS, PODS

    ref, judge = (DEPLOYMENTS, deployment_readiness) if item.kind == "deployment" else (PODS, pod_readiness)
    last: list[Readiness] = []

    def seen(obj: dict[str, Any]) -> Readiness | None:
        readiness = judge(obj)
        if not last or readiness != last[-1]:
            last.append(readiness)
            on_progress(readiness)
        return readiness if readiness.done or readiness.failed else None

    async def follow() -> Readiness:
        import aiohttp

        from kuberya.client import ApiError, NotFoundError

        while True:
            try:
                obj = await client.get(ref, item.name, namespace=item.namespace)
            except NotFoundError:
                return Readiness(0, last[-1].desired if last else 0, False, failed="deleted while waiting")
            if (final := seen(obj)) is not None:
                return final
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
            try:
                async for event in client.watch(
                    ref, namespace=item.namespace, resource_version=rv,
                    field_selector=f"metadata.name={item.name}", timeout_seconds=max(1, int(timeout)),
                ):  # fmt: skip
                    if event.type == "DELETED":
                        return Readiness(0, last[-1].desired if last else 0, False, failed="deleted while waiting")
                    if event.type in ("ADDED", "MODIFIED") and (final := seen(event.object)) is not None:
                        return final
            except (ApiError, aiohttp.ClientError, OSError):
                # An expired or broken watch: start over from a fresh get, a moment later.
                await asyncio.sleep(RETRY_PAUSE)

    async def tick() -> None:
        while True:
            await asyncio.sleep(heartbeat)
            if last:
                on_progress(last[-1])

    ticker = asyncio.create_task(tick(), name=f"kuberya-ask-heartbeat-{item.name}")
    try:
        async with asyncio.timeout(timeout):
            return await follow()
    except TimeoutError:
        raise WaitTimeout(last[-1] if last else None) from None
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
