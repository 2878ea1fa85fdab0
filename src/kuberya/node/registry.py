"""Which runtime container backs each pod container, for the streaming side (logs, exec).

The node agent owns one :class:`ContainerRegistry` and keeps it current: every time it creates,
starts, adopts or removes a container it records it here under ``(namespace, pod, container)``,
remembering the current instance and the previous (last terminated) one, so ``kubectl logs
--previous`` finds the earlier log file. Readers only call :meth:`ContainerRegistry.lookup`;
everything else is the agent's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kuberya.runtime.base import ContainerRuntime


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """One runtime container instance of a pod's container."""

    container_id: str
    log_path: Path
    """The CRI-format log file the runtime writes this instance's output to."""
    runtime: ContainerRuntime
    running: bool


@dataclass(slots=True)
class _Entry:
    pod_uid: str
    current: ContainerRef | None = None
    previous: ContainerRef | None = None


class ContainerRegistry:
    """``(namespace, pod, container)`` → the current and previous container instance."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    def lookup(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> ContainerRef | None:
        """The container instance, or the previous one (``kubectl logs --previous``); None if unknown."""
        entry = self._entries.get((namespace, pod, container))
        if entry is None:
            return None
        return entry.previous if previous else entry.current

    # -- the agent's side ------------------------------------------------------------------

    def record(self, namespace: str, pod: str, container: str, ref: ContainerRef, *, pod_uid: str) -> None:
        """A new instance (created or adopted): the old current one, if different, becomes previous."""
        entry = self._entry(namespace, pod, container, pod_uid)
        if entry.current is not None and entry.current.container_id != ref.container_id:
            entry.previous = replace(entry.current, running=False)
        entry.current = ref

    def record_previous(self, namespace: str, pod: str, container: str, ref: ContainerRef, *, pod_uid: str) -> None:
        """Remember an earlier, terminated instance (found on re-adoption)."""
        entry = self._entry(namespace, pod, container, pod_uid)
        entry.previous = replace(ref, running=False)

    def set_running(self, namespace: str, pod: str, container: str, container_id: str, running: bool) -> None:
        """The instance started or exited."""
        entry = self._entries.get((namespace, pod, container))
        if entry is not None and entry.current is not None and entry.current.container_id == container_id:
            entry.current = replace(entry.current, running=running)

    def forget_pod(self, namespace: str, pod: str, *, pod_uid: str) -> None:
        """The pod (that uid: a namesake created since is kept) is gone: drop all its containers."""
        for key, entry in list(self._entries.items()):
            if key[0] == namespace and key[1] == pod and entry.pod_uid == pod_uid:
                del self._entries[key]

    def _entry(self, namespace: str, pod: str, container: str, pod_uid: str) -> _Entry:
        key = (namespace, pod, container)
        entry = self._entries.get(key)
        if entry is None or entry.pod_uid != pod_uid:  # a new pod of the same name starts afresh
            entry = self._entries[key] = _Entry(pod_uid)
        return entry
