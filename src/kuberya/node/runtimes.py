"""Which runtime handler a pod asks for (its RuntimeClass), and whether this node has it.

The node agent runs one runtime, and its name is the one handler this node has (``runc`` or
``process``): a pod without ``runtimeClassName`` runs there, as does a pod whose RuntimeClass's
``handler`` is that name. Any other handler is not run with the wrong runtime: as upstream's
kubelet on a CRI without that handler, the sandbox is not created, the pod stays Pending
(``ContainerCreating``) and a Warning ``FailedCreatePodSandBox`` event says why, once; it is
retried every :data:`RETRY_SECONDS` (the class may be created or fixed meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kuberya.meta.types import Obj
from kuberya.node.events import EventRecorder
from kuberya.node.state import PodState

RETRY_SECONDS = 10.0
UNSYNCED_RETRY_SECONDS = 1.0
REASON = "FailedCreatePodSandBox"


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class RuntimeHandlers:
    """The handlers this node has and a lookup of RuntimeClasses by name (the agent's informer)."""

    handlers: frozenset[str]
    lookup: Callable[[str], Obj | None]
    synced: Callable[[], bool] = _always
    """Whether ``lookup`` has seen every class yet (before that, a missing class may just be unseen)."""

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
            return f'failed to get sandbox runtime: no runtime for "{handler}" is configured'
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
