"""core/v1 Pod: the unit of work, and the one kind whose deletion is graceful.

A pod bound to a node is not removed by DELETE: it gets a ``deletionTimestamp`` and a grace
period, the node agent stops its containers, then deletes it again with grace 0 (upstream's pod
strategy ``CheckGracefulDelete``).
"""

from __future__ import annotations

from kuberya.resources import defaults, printers_core, validation
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, at_path, status_of
from kuberya.resources.patchmeta import POD_SPEC, POD_STATUS, at
from kuberya.resources.pod_warnings import pod_warnings
from kuberya.resources.selectors import field_value
from kuberya.resources.types import JSONObject, ResourceType, SubresourceType


def _pod_ip(obj: JSONObject) -> str:
    status = obj.get("status")
    status = status if isinstance(status, dict) else {}
    ips = status.get("podIPs") or []
    return field_value(ips[0].get("ip", "") if ips and isinstance(ips[0], dict) else status.get("podIP"))


def _host_network(obj: JSONObject) -> str:
    spec = obj.get("spec")
    return field_value(bool(spec.get("hostNetwork")) if isinstance(spec, dict) else False)


def grace_period(obj: JSONObject, options: JSONObject) -> int | None:
    """The graceful-deletion period, or None when the pod goes at once.

    As upstream: only a pod that is bound to a node and still running is deleted gracefully
    (the node agent stops its containers, then deletes it with grace 0).
    """
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    requested = options.get("gracePeriodSeconds")
    if requested is not None and (not isinstance(requested, int) or requested < 0):
        # A ValueError is the API server's 400 BadRequest.
        raise ValueError("gracePeriodSeconds must be a non-negative integer")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return None
    if requested == 0:
        return None if not obj["metadata"].get("deletionTimestamp") else 0
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    return int(grace)


def holds_deletion(obj: JSONObject) -> bool:
    """A bound pod deleted with a grace period stays until its node agent deletes it again."""
    return obj["metadata"].get("deletionGracePeriodSeconds") != 0 and bool((obj.get("spec") or {}).get("nodeName"))


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="pods",
            kind="Pod",
            singular="pod",
            namespaced=True,
            short_names=("po",),
            categories=("all",),
            subresources=(
                status_of("Pod"),
                SubresourceType(name="log", kind="Pod", verbs=("get",)),
                SubresourceType(name="exec", kind="PodExecOptions", verbs=("create", "get")),
                SubresourceType(name="attach", kind="PodAttachOptions", verbs=("create", "get")),
                SubresourceType(name="portforward", kind="PodPortForwardOptions", verbs=("create", "get")),
                # Served by kuberya.apiserver.eviction; its body is a policy/v1 Eviction.
                SubresourceType(name="eviction", kind="Eviction", group="policy", version="v1", verbs=("create",)),
            ),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=defaults.default_pod,
    validate=validation.validate_pod,
    warnings=pod_warnings,
    columns=tuple(printers_core.POD_COLUMNS),
    printer=printers_core.print_pod,
    fields={
        "spec.nodeName": at_path("spec", "nodeName"),
        "spec.restartPolicy": at_path("spec", "restartPolicy"),
        "spec.schedulerName": at_path("spec", "schedulerName"),
        "spec.serviceAccountName": at_path("spec", "serviceAccountName"),
        "spec.hostNetwork": _host_network,
        "status.phase": at_path("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": at_path("status", "nominatedNodeName"),
    },
    patch_meta={**at("spec", POD_SPEC), **at("status", POD_STATUS)},
    grace_period=grace_period,
    holds_deletion=holds_deletion,
)
