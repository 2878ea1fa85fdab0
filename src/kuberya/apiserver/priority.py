"""Pod priority: the built-in PriorityClasses and the ``Priority`` admission plugin.

As upstream:

* at startup the API server creates the two built-in classes when missing
  (``pkg/registry/scheduling/rest/storage_scheduling.go``): ``system-node-critical``
  (2000001000) and ``system-cluster-critical`` (2000000000), neither a global default;
* a new pod gets ``spec.priority`` and ``spec.preemptionPolicy`` from its ``priorityClassName``,
  or, without one, from the global-default class (the lowest-valued if several claim it; its
  name is written into the pod), or 0 and ``PreemptLowerPriority`` when there is none
  (``plugin/pkg/admission/priority``). A class that does not exist is a 403 ``no PriorityClass
  with name x was found``; a ``priority`` or ``preemptionPolicy`` the client set that differs
  from the computed one is a 403 too;
* an update keeps the priority the pod was created with when the body leaves it out;
* a new PriorityClass may not be a second global default: ``PriorityClass x is already marked as
  default. Only one default can exist`` (checked on create; an update is not checked here).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.admission import Admission

DEFAULT_PRIORITY = 0
"""Upstream's ``DefaultPriorityWhenNoDefaultClassExists``."""
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"
SYSTEM_CLASSES: tuple[JSONObject, ...] = (
    {
        "name": "system-node-critical",
        "value": 2_000_001_000,
        "description": "Used for system critical pods that must not be moved from their current node.",
    },
    {
        "name": "system-cluster-critical",
        "value": 2_000_000_000,
        "description": (
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."
        ),
    },
)


def _priority_classes() -> ResourceType:
    rt = kinds.lookup("scheduling.k8s.io", "v1", "priorityclasses")
    assert rt is not None
    return rt


async def ensure_system_classes(store: ObjectStore, admission: Admission) -> None:
    """Create the built-in classes that are missing (a deleted one comes back at the next start)."""
    rt = _priority_classes()
    for system in SYSTEM_CLASSES:
        if await store.get_or_none(rt, None, system["name"]) is not None:
            continue
        pc: JSONObject = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": system["name"]},
            "value": system["value"],
            "description": system["description"],
        }
        await admission.prepare_create(rt, pc)
        with contextlib.suppress(errors.StatusError):  # created meanwhile
            await store.create(rt, pc)


async def _default_class(store: ObjectStore) -> JSONObject | None:
    page = await store.list(_priority_classes(), selection=ObjectFilter())
    defaults = [pc for pc in page.items if pc.get("globalDefault")]
    return min(defaults, key=lambda pc: int(pc.get("value") or 0)) if defaults else None


def _forbidden(rt: ResourceType, obj: JSONObject, why: str) -> errors.StatusError:
    """``admission.NewForbidden``: ``pods "x" is forbidden: <why>``."""
    name = str((obj.get("metadata") or {}).get("name") or "")
    return errors.forbidden(
        f'{rt.group_resource} "{name}" is forbidden: {why}',
        details={"name": name, "kind": rt.resource, **({"group": rt.group} if rt.group else {})},
    )


async def admit(store: ObjectStore, rt: ResourceType, obj: JSONObject) -> None:
    """Run the Priority plugin on a new object of ``rt`` (pods and PriorityClasses; others pass)."""
    if (rt.group, rt.resource) == ("", "pods"):
        await _admit_pod(store, rt, obj)
    elif (rt.group, rt.resource) == ("scheduling.k8s.io", "priorityclasses") and obj.get("globalDefault"):
        existing = await _default_class(store)
        if existing is not None:
            name = existing["metadata"]["name"]
            raise _forbidden(rt, obj, f"PriorityClass {name} is already marked as default. Only one default can exist")


async def _admit_pod(store: ObjectStore, rt: ResourceType, pod: JSONObject) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return  # validation says what is wrong
    class_name = spec.get("priorityClassName") or ""
    policy: str | None
    if not class_name:
        default = await _default_class(store)
        if default is None:
            priority, policy = DEFAULT_PRIORITY, DEFAULT_PREEMPTION_POLICY
        else:
            spec["priorityClassName"] = default["metadata"]["name"]
            priority, policy = int(default.get("value") or 0), str(default.get("preemptionPolicy") or "") or None
    else:
        pc = await store.get_or_none(_priority_classes(), None, str(class_name))
        if pc is None:
            raise _forbidden(rt, pod, f"no PriorityClass with name {class_name} was found")
        priority, policy = int(pc.get("value") or 0), str(pc.get("preemptionPolicy") or "") or None
    given = spec.get("priority")
    if given is not None and given != priority:
        raise _forbidden(
            rt,
            pod,
            f"the integer value of priority ({given}) must not be provided in pod spec; priority admission "
            f"controller computed {priority} from the given PriorityClass name",
        )
    spec["priority"] = priority
    if policy is not None:
        given_policy = spec.get("preemptionPolicy")
        if given_policy is not None and given_policy != policy:
            raise _forbidden(
                rt,
                pod,
                f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod spec; priority "
                f"admission controller computed {policy} from the given PriorityClass name",
            )
        spec["preemptionPolicy"] = policy


def keep_on_update(rt: ResourceType, new: JSONObject, old: JSONObject) -> None:
    """A pod's priority and preemption policy are set once; a body that leaves them out keeps them."""
    if (rt.group, rt.resource) != ("", "pods"):
        return
    new_spec, old_spec = new.get("spec"), old.get("spec") or {}
    if not isinstance(new_spec, dict):
        return
    for field in ("priority", "preemptionPolicy"):
        if new_spec.get(field) is None and old_spec.get(field) is not None:
            new_spec[field] = old_spec[field]
