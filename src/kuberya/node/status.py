"""The pod status the agent reports: computed from its :class:`~kuberya.node.state.PodState`.

:func:`pod_status` builds the part of ``status`` the kubelet owns — ``phase``, the conditions
``PodReadyToStartContainers``, ``Initialized``, ``Ready``, ``ContainersReady`` (``PodScheduled``
and any other condition are carried over as they are), container and init-container statuses,
pod and host IPs, ``startTime`` — with upstream's rules: the phase follows ``getPhase``, a
condition's ``lastTransitionTime`` moves only when its status does, and a crash-looping
container is ``waiting: CrashLoopBackOff`` with the exit in ``lastState``. ``qosClass`` is set at
admission and left alone.

The worker writes it as a JSON merge patch of the ``status`` subresource, whole lists included
(merge patches replace lists), and only when :func:`changed` says the result differs from what
was last written.
"""

from __future__ import annotations

from dataclasses import replace

from kuberya.meta.timefmt import rfc3339
from kuberya.meta.types import Obj
from kuberya.node.state import LABEL_IMAGE_ID, ContainerRecord, PodState
from kuberya.runtime.base import ContainerState, ContainerStatus

OWNED_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
_OWNED_FIELDS = (
    "phase",
    "conditions",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "containerStatuses",
    "initContainerStatuses",
)


def terminated_state(rec: ContainerRecord, runtime_name: str) -> Obj | None:
    """``state.terminated`` of the record's current instance, if it has exited."""
    status = rec.status
    if status is None or not rec.exited:
        return None
    out: Obj = {
        "exitCode": status.exit_code if status.exit_code is not None else 137,
        "reason": status.reason or ("Completed" if status.exit_code == 0 else "Error"),
    }
    message = rec.termination_message or status.message
    if message:
        out["message"] = message
    if status.started_at:
        out["startedAt"] = rfc3339(status.started_at)
    if status.finished_at:
        out["finishedAt"] = rfc3339(status.finished_at)
    out["containerID"] = f"{runtime_name}://{status.id}"
    return out


def image_id(rec: ContainerRecord) -> str:
    """What the image was pulled as (``repository@digest``), else what the runtime says."""
    if rec.status is None:
        return ""
    return rec.status.labels.get(LABEL_IMAGE_ID) or rec.status.image_id


def container_status(rec: ContainerRecord, *, runtime_name: str, initialized: bool) -> Obj:
    out: Obj = {
        "name": rec.name,
        "image": str(rec.spec.get("image") or ""),
        "imageID": image_id(rec),
        "ready": rec.running and rec.ready,
        "restartCount": rec.restart_count,
        "started": rec.running and rec.started,
    }
    if rec.container_id is not None:
        out["containerID"] = f"{runtime_name}://{rec.container_id}"
    last = rec.last_terminated
    current_end = terminated_state(rec, runtime_name)
    if rec.running and rec.status is not None:
        state: Obj = {"running": {"startedAt": rfc3339(rec.status.started_at or rec.status.created_at)}}
    elif rec.waiting_reason is not None and not rec.running:
        waiting: Obj = {"reason": rec.waiting_reason}
        if rec.waiting_message:
            waiting["message"] = rec.waiting_message
        state = {"waiting": waiting}
        if current_end is not None:
            last = current_end
    elif current_end is not None:
        state = {"terminated": current_end}
    else:
        reason = "ContainerCreating" if rec.init or initialized else "PodInitializing"
        state = {"waiting": {"reason": reason}}
    out["state"] = state
    out["lastState"] = {"terminated": last} if last is not None else {}
    return out


def phase(state: PodState) -> str:
    """Upstream's ``getPhase``."""
    policy = state.policy
    for rec in state.init:
        if rec.exited and not rec.succeeded and not rec.will_restart(policy):
            return "Failed"
    if not state.initialized():
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for rec in state.app:
        if rec.running:
            running += 1
        elif rec.exited and rec.waiting_reason is None:
            stopped += 1
            succeeded += rec.succeeded
        elif rec.exited or rec.last_terminated is not None:
            stopped += 1  # waiting to restart, with a last termination
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": ctype, "status": "True" if ok else "False"}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def pod_status(state: PodState, *, runtime_name: str, host_ip: str, now: float, previous: Obj | None) -> Obj:
    """The status the kubelet owns, computed now.

    ``previous`` (what was last written) gives the conditions' transition times; conditions of
    other owners (``PodScheduled``, readiness gates) are carried over from the live pod.
    """
    previous = previous or {}
    live = {c.get("type"): c for c in (state.pod.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}
    initialized = state.initialized()
    current_phase = phase(state)
    init_statuses = [container_status(r, runtime_name=runtime_name, initialized=initialized) for r in state.init]
    app_statuses = [container_status(r, runtime_name=runtime_name, initialized=initialized) for r in state.app]
    incomplete = [r.name for r in state.init if not r.succeeded]
    unready = [s["name"] for s in app_statuses if not s["ready"]]
    completed = current_phase in ("Succeeded", "Failed")
    sandbox_ready = state.sandbox is not None and not state.terminated
    ours = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _condition(
            "Initialized",
            initialized,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
    ]
    if completed:
        ours += [_condition("Ready", False, "PodCompleted"), _condition("ContainersReady", False, "PodCompleted")]
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        ours += [
            _condition("Ready", not unready, "ContainersNotReady", message),
            _condition("ContainersReady", not unready, "ContainersNotReady", message),
        ]
    before = {c.get("type"): c for c in previous.get("conditions") or [] if isinstance(c, dict)}
    stamp = rfc3339(now)
    conditions: list[Obj] = []
    for cond in ours:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        cond["lastProbeTime"] = None
        cond["lastTransitionTime"] = old["lastTransitionTime"] if same and old is not None else stamp
        conditions.append(cond)
    others = [c for t, c in live.items() if t not in OWNED_CONDITIONS]
    if "PodScheduled" not in live:
        others.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp})
    status: Obj = {
        "phase": current_phase,
        "conditions": conditions + others,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": state.start_time or stamp,
        "containerStatuses": app_statuses,
    }
    if state.init:
        status["initContainerStatuses"] = init_statuses
    if state.sandbox is not None and state.sandbox.ip:
        status["podIP"] = state.sandbox.ip
        status["podIPs"] = [{"ip": state.sandbox.ip}]
    elif previous.get("podIP"):
        status["podIP"] = previous["podIP"]
        status["podIPs"] = previous.get("podIPs") or [{"ip": previous["podIP"]}]
    return status


def changed(desired: Obj, posted: Obj | None) -> bool:
    """Whether writing ``desired`` would change what the API holds (``posted``)."""
    if posted is None:
        return True
    return any(desired.get(k) != posted.get(k) for k in _OWNED_FIELDS if k in desired or k in posted)


def vanished_status(rec: ContainerRecord, now: float) -> ContainerStatus:
    """The status of an instance the runtime no longer knows (upstream's ContainerStatusUnknown)."""
    base = rec.status
    if base is None:
        base = ContainerStatus(
            id=str(rec.container_id),
            sandbox_id="",
            name=rec.name,
            image="",
            image_id="",
            state=ContainerState.UNKNOWN,
            created_at=now,
        )
    if base.state is ContainerState.EXITED:
        return base
    return replace(
        base,
        state=ContainerState.EXITED,
        exit_code=137,
        reason="ContainerStatusUnknown",
        message="The container could not be located when the pod was terminated",
        finished_at=now,
    )
