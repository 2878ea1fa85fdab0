"""The ``RuntimeClass`` admission plugin: a pod's ``runtimeClassName`` must name a class.

As upstream (``plugin/pkg/admission/runtimeclass``), on a new pod that names a class:

* the class must exist, else 403 ``pod rejected: RuntimeClass "x" not found``;
* the class's ``overhead.podFixed`` becomes the pod's ``spec.overhead``; a pod that already has
  another overhead is refused (``pod rejected: Pod's Overhead doesn't match RuntimeClass's
  defined Overhead``), and a pod with an overhead but no class too;
* the class's ``scheduling.nodeSelector`` is merged into the pod's (a key both set differently is
  refused) and its ``scheduling.tolerations`` are added, so the scheduler places the pod where
  the handler is.

Which handler runs the pod is the node agent's business (:mod:`kuberya.node.runtimes`).
"""

from __future__ import annotations

import copy

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType


def _runtime_classes() -> ResourceType:
    rt = kinds.lookup("node.k8s.io", "v1", "runtimeclasses")
    assert rt is not None
    return rt


def _forbidden(rt: ResourceType, pod: JSONObject, why: str) -> errors.StatusError:
    name = str((pod.get("metadata") or {}).get("name") or "")
    return errors.forbidden(
        f'{rt.group_resource} "{name}" is forbidden: {why}', details={"name": name, "kind": rt.resource}
    )


async def admit(store: ObjectStore, rt: ResourceType, obj: JSONObject) -> None:
    """Run the plugin on a new object of ``rt`` (pods only; others pass)."""
    if (rt.group, rt.resource) != ("", "pods"):
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return  # validation says what is wrong
    class_name = spec.get("runtimeClassName")
    if not class_name:
        if spec.get("overhead"):
            raise _forbidden(
                rt, obj, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
            )
        return
    runtime_class = await store.get_or_none(_runtime_classes(), None, str(class_name))
    if runtime_class is None:
        raise _forbidden(rt, obj, f'pod rejected: RuntimeClass "{class_name}" not found')
    _set_overhead(rt, obj, spec, runtime_class)
    _set_scheduling(rt, obj, spec, runtime_class)


def _set_overhead(rt: ResourceType, pod: JSONObject, spec: JSONObject, runtime_class: JSONObject) -> None:
    fixed = (runtime_class.get("overhead") or {}).get("podFixed")
    if not fixed:
        if spec.get("overhead"):
            raise _forbidden(
                rt, pod, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
            )
        return
    if spec.get("overhead") and spec["overhead"] != fixed:
        raise _forbidden(rt, pod, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
    spec["overhead"] = copy.deepcopy(fixed)


def _set_scheduling(rt: ResourceType, pod: JSONObject, spec: JSONObject, runtime_class: JSONObject) -> None:
    scheduling = runtime_class.get("scheduling") or {}
    wanted = scheduling.get("nodeSelector") or {}
    if wanted:
        selector = dict(spec.get("nodeSelector") or {})
        for key, value in wanted.items():
            if key in selector and selector[key] != value:
                raise _forbidden(
                    rt,
                    pod,
                    f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; "
                    f"pod.spec.nodeSelector[{key}] = {selector[key]}",
                )
            selector[key] = value
        spec["nodeSelector"] = selector
    tolerations = list(spec.get("tolerations") or [])
    for toleration in scheduling.get("tolerations") or []:
        if toleration not in tolerations:
            tolerations.append(copy.deepcopy(toleration))
    if tolerations:
        spec["tolerations"] = tolerations
