"""Which runtime handler a pod asks for (its RuntimeClass), and whether this node has it.

The node serves the handlers of :attr:`RuntimeHandlers.handlers` (``runc`` and ``process`` side by
side where this machine runs both; :class:`~kuberya.runtime.handlers.HandlerRuntime` routes to
them): a pod without ``runtimeClassName`` runs with the default handler (the server's
``--runtime``), a pod whose RuntimeClass names a handler the node has runs with that one. Any
other handler is not run with the wrong runtime: as upstream's kubelet on a CRI without that
handler, the sandbox is not created, the pod stays Pending (``ContainerCreating``) and a Warning
``FailedCreatePodSandBox`` event says why (with the reason this machine cannot run it, e.g.
``runc needs root``), once; it is retried every :data:`RETRY_SECONDS` (the class may be created
or fixed meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kuberya.meta.types import Obj
from kuberya.node.events import EventRecorder
from kuberya.node.state import PodState

RETRY_SECONDS = 10.0
UNSYNCED_RETRY_SECONDS = 1.0
REASON = "FailedCreatePodSandBox"
IMAGE_RUNTIMES = frozenset({"runc"})
"""Runtimes that run containers from their images: the agent pulls for their pods."""


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class RuntimeHandlers:
    """The handlers this node has and a lookup of RuntimeClasses by name (the agent's informer)."""

    handlers: frozenset[str]
    lookup: Callable[[str], Obj | None]
    synced: Callable[[], bool] = _always
    """Whether ``lookup`` has seen every class yet (before that, a missing class may just be unseen)."""
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Handlers this node knows but cannot run here → why (``runc needs root`` …)."""

    def sandbox_handler(self, pod: Obj) -> str:
        """The handler to create ``pod``'s sandbox with: its class's, or "" (the default) without one."""
        name = (pod.get("spec") or {}).get("runtimeClassName")
        runtime_class = self.lookup(str(name)) if name else None
        return str(runtime_class.get("handler") or "") if runtime_class is not None else ""

    def problem(self, pod: Obj) -> str | None:
        """Why this node cannot create ``pod``'s sandbox; None when it can; "" while unsure (not synced)."""
        name = (pod.get("spec") or {}).get("runtimeClassName")
        if not name:
            return None
        if not self.synced():
            return ""
        runtime_class = self.lookup(str(name))
        if runtime_class is None:
            return f'failed to get sandbox runtime: runtimeclass.node.k8s.io "{name}" not found'
        handler = str(runtime_class.get("handler") or "")
        if handler not in self.handlers:
            reason = self.unavailable.get(handler)
            because = f" ({reason})" if reason else ""
            return f'failed to get sandbox runtime: no runtime for "{handler}" is configured{because}'
        return None

    def blocked(self, state: PodState, recorder: EventRecorder) -> float | None:
        """None when the pod's sandbox may be created; else the seconds until it is tried again.

        A new reason is told once, as a Warning event on the pod.
        """
        problem = self.problem(state.pod)
        if problem is None:
            state.sandbox_error = None
            return None
        if not problem:
            return UNSYNCED_RETRY_SECONDS
        if state.sandbox_error != problem:
            recorder.record(state.pod, "Warning", REASON, f"Failed to create pod sandbox: {problem}")
            state.sandbox_error = problem
        return RETRY_SECONDS
