"""``kubectl drain``'s eviction half, for ``kuberya ask "노드 비워줘"`` (the plan cordons the node first).

As kubectl's ``drain.Helper`` (``staging/src/k8s.io/kubectl/pkg/drain``): the pods bound to the
node (``spec.nodeName``, every namespace) go through the same filters, in the same order and with
the same messages —

1. DaemonSet pods: their controller would put them straight back, so with ``--ignore-daemonsets``
   they are left ("ignoring DaemonSet-managed Pods"), without it the drain is refused; a finished
   one is removed; one whose DaemonSet is gone is an error (kubectl needs ``--force`` for it);
2. mirror pods (``kubernetes.io/config.mirror``): the node's own, skipped;
3. pods with an ``emptyDir`` volume: their data goes with them, so only with
   ``--delete-emptydir-data``;
4. pods no controller owns: nothing would recreate them, so they are refused (kubectl's
   ``--force``, which ``ask`` never passes) — unless they have finished.

Any refusal stops the drain before a single eviction (the node stays cordoned, as with kubectl).
Then every pod is evicted with a policy/v1 ``Eviction``: a 429 is a PodDisruptionBudget saying
"not now", retried every 5 seconds as kubectl does, until the timeout; a 404 is a pod already gone.
Finally the drain waits until each evicted pod is deleted (gone, or replaced under a new uid).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kuberya.client import KubeClient

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
EVICTION_RETRY_SECONDS = 5.0
"""kubectl's pause before retrying an eviction a PodDisruptionBudget refused."""

Obj = dict[str, Any]


class DrainError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class DrainResult:
    evicted: list[str] = field(default_factory=list)
    """``namespace/name`` of every pod evicted and gone."""
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """kubectl's warning → the pods it is about."""

    def summary(self, language: str) -> str:
        ko = language == "ko"
        text = f"파드 {len(self.evicted)}개 축출" if ko else f"{len(self.evicted)} pod(s) evicted"
        if self.evicted:
            text += f" ({', '.join(self.evicted)})"
        for message, pods in self.warnings.items():
            text += f"; {message}: {', '.join(pods)}"
        return text


def _meta(pod: Obj) -> Obj:
    return pod.get("metadata") or {}


def _key(pod: Obj) -> str:
    return f"{_meta(pod).get('namespace', '')}/{_meta(pod).get('name', '')}"


def _controller(pod: Obj) -> Obj | None:
    return next((r for r in _meta(pod).get("ownerReferences") or [] if r.get("controller")), None)


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _has_local_storage(pod: Obj) -> bool:
    return any("emptyDir" in (v or {}) for v in (pod.get("spec") or {}).get("volumes") or [])


class Drainer:
    def __init__(
        self,
        client: KubeClient,
        node: str,
        *,
        language: str,
        ignore_daemonsets: bool,
        delete_emptydir_data: bool,
        timeout: float,
        retry: float = EVICTION_RETRY_SECONDS,
        poll: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.node = node
        self.language = language
        self.ignore_daemonsets = ignore_daemonsets
        self.delete_emptydir_data = delete_emptydir_data
        self.timeout = timeout
        self.retry = retry
        self.poll = poll
        self.sleep = sleep
        self.clock = clock

    def say(self, ko: str, en: str) -> str:
        return ko if self.language == "ko" else en

    async def run(self) -> DrainResult:
        from kuberya.client.resources import PODS

        listing = await self.client.list(PODS, field_selector=f"spec.nodeName={self.node}")
        pods = [p for p in listing.get("items") or [] if isinstance(p, dict)]
        result = DrainResult()
        errors: dict[str, list[str]] = {}
        to_evict: list[Obj] = []
        for pod in pods:
            delete, reason, message = await self._filter(pod)
            if reason == "error":
                errors.setdefault(message, []).append(_key(pod))
            elif reason == "warning":
                result.warnings.setdefault(message, []).append(_key(pod))
            if delete:
                to_evict.append(pod)
        if errors:
            lines = [
                f"{m if m.lower().startswith('cannot delete') else 'cannot delete ' + m}: {', '.join(p)}"
                for m, p in errors.items()
            ]
            raise DrainError(
                "; ".join(lines),
                hint=self.say("노드는 cordon된 채예요. 그 파드를 직접 지우거나 kubectl drain --force를 쓰세요.",
                              "the node stays cordoned; delete those pods yourself, or use kubectl drain --force"),
            )  # fmt: skip
        deadline = self.clock() + self.timeout
        await self._evict_all(to_evict, deadline)
        await self._wait_gone(to_evict, deadline)
        result.evicted = [_key(p) for p in to_evict]
        return result

    async def _filter(self, pod: Obj) -> tuple[bool, str, str]:
        """``(delete, okay|skip|warning|error, message)``: kubectl's filters, first refusal wins."""
        from kuberya.client import NotFoundError
        from kuberya.client.resources import DAEMONSETS

        controller = _controller(pod)
        if controller is not None and controller.get("kind") == "DaemonSet" and not _finished(pod):
            try:
                await self.client.get(DAEMONSETS, str(controller.get("name")), namespace=_meta(pod).get("namespace"))
            except NotFoundError as e:
                return False, "error", e.message or str(e)
            if not self.ignore_daemonsets:
                return False, "error", DAEMONSET_FATAL
            return False, "warning", DAEMONSET_WARNING
        if MIRROR_POD_ANNOTATION in (_meta(pod).get("annotations") or {}):
            return False, "skip", ""
        status = (True, "okay", "")
        if _has_local_storage(pod) and not _finished(pod):
            if not self.delete_emptydir_data:
                return False, "error", LOCAL_STORAGE_FATAL
            status = (True, "warning", LOCAL_STORAGE_WARNING)
        if controller is None and not _finished(pod):
            return False, "error", UNMANAGED_FATAL
        return status

    async def _evict_all(self, pods: list[Obj], deadline: float) -> None:
        from kuberya.client import NotFoundError, TooManyRequestsError
        from kuberya.client.resources import PODS

        pending = list(pods)
        while pending:
            refused: list[tuple[Obj, str]] = []
            for pod in pending:
                name, namespace = str(_meta(pod).get("name")), str(_meta(pod).get("namespace"))
                body = {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": name, "namespace": namespace}}  # fmt: skip
                try:
                    await self.client.raw("POST", PODS.path(name, namespace=namespace, subresource="eviction"),
                                          body=body)  # fmt: skip
                except NotFoundError:
                    continue  # already gone: what a drain wants
                except TooManyRequestsError as e:
                    refused.append((pod, e.message or str(e)))
            if not refused:
                return
            if self.clock() + self.retry > deadline:
                pod, why = refused[0]
                raise DrainError(
                    self.say(f"{self.timeout:.0f}초 안에 축출하지 못했어요: {_key(pod)}: {why}",
                             f"could not evict {_key(pod)} within {self.timeout:.0f}s: {why}"),
                    hint=self.say("PodDisruptionBudget이 허용하지 않아요: 레플리카를 늘리거나 PDB를 확인하세요.",
                                  "a PodDisruptionBudget does not allow it: add replicas or check the PDB"),
                )  # fmt: skip
            await self.sleep(self.retry)
            pending = [pod for pod, _ in refused]

    async def _wait_gone(self, pods: list[Obj], deadline: float) -> None:
        from kuberya.client import NotFoundError
        from kuberya.client.resources import PODS

        for pod in pods:
            name, namespace, uid = _meta(pod).get("name"), _meta(pod).get("namespace"), _meta(pod).get("uid")
            while True:
                try:
                    current = await self.client.get(PODS, str(name), namespace=str(namespace))
                except NotFoundError:
                    break
                if uid is not None and _meta(current).get("uid") != uid:
                    break  # a namesake (a StatefulSet's pod comes back under the same name)
                if self.clock() + self.poll > deadline:
                    raise DrainError(self.say(f"{self.timeout:.0f}초 안에 {_key(pod)}가 지워지지 않았어요.",
                                              f"{_key(pod)} was not deleted within {self.timeout:.0f}s"))  # fmt: skip
                await self.sleep(self.poll)
