"""What a StatefulSet's pods and claims must look like, free of I/O (upstream's ``stateful_set_utils.go``).

Every pod of a StatefulSet ``web`` has a stable identity: its ordinal ``n`` (from
``spec.ordinals.start``, default 0) gives it the name ``web-n``, the labels
``statefulset.kubernetes.io/pod-name: web-n`` and ``apps.kubernetes.io/pod-index: "n"``, the
``hostname`` ``web-n`` and the ``subdomain`` ``spec.serviceName`` (so it resolves as
``web-n.<service>.<ns>.svc.cluster.local``), and for each ``volumeClaimTemplates`` entry ``data``
a volume ``data`` bound to the claim ``data-web-n``. Which template a pod runs is its
``controller-revision-hash`` label: the name of a ControllerRevision
(:mod:`kuberya.controllers.history`) whose ``data`` restores that template onto the set.

The upstream function each one follows is named in its docstring.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import re
from typing import Any

from kuberya.controllers.history import POD_REVISION_LABEL
from kuberya.controllers.ownership import meta, owner_reference
from kuberya.controllers.ownership import replicas as replicas  # re-exported: sp.replicas(sts)
from kuberya.controllers.ownership import spec as spec
from kuberya.controllers.ownership import status as status
from kuberya.controllers.pods import is_available, is_ready, phase
from kuberya.meta import gojson
from kuberya.meta.types import Obj

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# -- the set's spec ------------------------------------------------------------------------------


def start_ordinal(sts: Obj) -> int:
    """``getStartOrdinal``: ``spec.ordinals.start``, 0 when unset."""
    return int((spec(sts).get("ordinals") or {}).get("start") or 0)


def end_ordinal(sts: Obj) -> int:
    """``getEndOrdinal``: the last ordinal in range (``start - 1`` for zero replicas)."""
    return start_ordinal(sts) + replicas(sts) - 1


def min_ready_seconds(sts: Obj) -> int:
    return int(spec(sts).get("minReadySeconds") or 0)


def allows_burst(sts: Obj) -> bool:
    """``allowsBurst``: ``Parallel`` creates and deletes without waiting."""
    return spec(sts).get("podManagementPolicy") == "Parallel"


def strategy_type(sts: Obj) -> str:
    return str((spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate")


def rolling_update(sts: Obj) -> dict[str, Any] | None:
    found = (spec(sts).get("updateStrategy") or {}).get("rollingUpdate")
    return found if isinstance(found, dict) else None


def partition(sts: Obj) -> int:
    return int((rolling_update(sts) or {}).get("partition") or 0)


def max_unavailable(sts: Obj) -> int:
    """``getStatefulSetMaxUnavailable``: a count or a percentage of replicas rounded up, at least 1."""
    value = (rolling_update(sts) or {}).get("maxUnavailable")
    if value is None:
        return 1
    if isinstance(value, str) and value.endswith("%"):
        number = math.ceil(int(value[:-1]) * replicas(sts) / 100)
    else:
        number = int(value)
    return max(number, 1)


def retention_policy(sts: Obj) -> tuple[str, str]:
    """``(whenDeleted, whenScaled)`` of ``persistentVolumeClaimRetentionPolicy`` (Retain by default)."""
    policy = spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get("whenDeleted") or "Retain"), str(policy.get("whenScaled") or "Retain")


# -- pods: identity ------------------------------------------------------------------------------


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """``getParentNameAndOrdinal``: ``web-3`` → ``("web", 3)``; ``("", -1)`` for any other name."""
    match = _ORDINAL.match(str(meta(pod).get("name") or ""))
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def ordinal(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def pod_name(sts: Obj, index: int) -> str:
    return f"{meta(sts).get('name')}-{index}"


def claim_name(sts: Obj, template_name: str, index: int) -> str:
    """``getPersistentVolumeClaimName``: ``<template>-<set>-<ordinal>``."""
    return f"{template_name}-{meta(sts).get('name')}-{index}"


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == meta(sts).get("name")


def in_ordinal_range(pod: Obj, sts: Obj) -> bool:
    return start_ordinal(sts) <= ordinal(pod) <= end_ordinal(sts)


def identity_matches(sts: Obj, pod: Obj) -> bool:
    """``identityMatches``: the name, namespace and identity labels of its ordinal."""
    parent, index = parent_and_ordinal(pod)
    labels = meta(pod).get("labels") or {}
    return (
        index >= 0
        and parent == meta(sts).get("name")
        and meta(pod).get("name") == pod_name(sts, index)
        and meta(pod).get("namespace") == meta(sts).get("namespace")
        and labels.get(POD_NAME_LABEL) == meta(pod).get("name")
        and labels.get(POD_INDEX_LABEL) == str(index)
    )


def update_identity(sts: Obj, pod: Obj) -> None:
    """``updateIdentity``: name, namespace and the two identity labels."""
    index = ordinal(pod)
    pod_meta = pod.setdefault("metadata", {})
    pod_meta["name"] = pod_name(sts, index)
    pod_meta["namespace"] = meta(sts).get("namespace")
    labels = pod_meta.get("labels") or {}
    labels[POD_NAME_LABEL] = pod_meta["name"]
    labels[POD_INDEX_LABEL] = str(index)
    pod_meta["labels"] = labels


# -- pods: storage -------------------------------------------------------------------------------


def claim_templates(sts: Obj) -> list[Obj]:
    return [c for c in spec(sts).get("volumeClaimTemplates") or [] if isinstance(c, dict)]


def claims_for(sts: Obj, index: int) -> dict[str, Obj]:
    """``getPersistentVolumeClaims``: template name → the claim the pod of ``index`` uses.

    Each claim is its template renamed ``<template>-<set>-<ordinal>``, in the set's namespace,
    labelled with the set's ``matchLabels`` on top of its own.
    """
    selector_labels = (spec(sts).get("selector") or {}).get("matchLabels") or {}
    claims: dict[str, Obj] = {}
    for template in claim_templates(sts):
        template_name = str((template.get("metadata") or {}).get("name") or "")
        tmeta = template.get("metadata") or {}
        claim_meta: dict[str, Any] = {
            "name": claim_name(sts, template_name, index),
            "namespace": meta(sts).get("namespace"),
            "labels": {**(tmeta.get("labels") or {}), **selector_labels},
        }
        if tmeta.get("annotations"):
            claim_meta["annotations"] = copy.deepcopy(tmeta["annotations"])
        claims[template_name] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": claim_meta,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
    return claims


def storage_matches(sts: Obj, pod: Obj) -> bool:
    """``storageMatches``: a volume per claim template, bound to that ordinal's claim."""
    index = ordinal(pod)
    if index < 0:
        return False
    volumes = {v.get("name"): v for v in spec(pod).get("volumes") or [] if isinstance(v, dict)}
    for template_name, claim in claims_for(sts, index).items():
        volume = volumes.get(template_name)
        source = (volume or {}).get("persistentVolumeClaim") or {}
        if source.get("claimName") != claim["metadata"]["name"]:
            return False
    return True


def update_storage(sts: Obj, pod: Obj) -> None:
    """``updateStorage``: the claims' volumes first, then the pod's other volumes."""
    claims = claims_for(sts, ordinal(pod))
    pod_spec = pod.setdefault("spec", {})
    current = [v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)]
    if not claims and not current:
        return
    volumes = [
        {"name": template_name, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
        for template_name, claim in claims.items()
    ]
    volumes.extend(v for v in current if v.get("name") not in claims)
    pod_spec["volumes"] = volumes


# -- pods: creating them -------------------------------------------------------------------------


def new_pod(sts: Obj, index: int) -> Obj:
    """``newStatefulSetPod``: the template's pod with the identity and storage of ``index``."""
    template = spec(sts).get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "name": pod_name(sts, index),
        "generateName": f"{meta(sts).get('name')}-",
        "namespace": meta(sts).get("namespace"),
        "labels": copy.deepcopy(tmeta.get("labels") or {}),
        "ownerReferences": [owner_reference(sts, api_version="apps/v1", kind="StatefulSet")],
    }
    for key in ("annotations", "finalizers"):
        if tmeta.get(key):
            pod_meta[key] = copy.deepcopy(tmeta[key])
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
    update_identity(sts, pod)
    pod["spec"]["hostname"] = pod_meta["name"]
    if spec(sts).get("serviceName"):
        pod["spec"]["subdomain"] = spec(sts)["serviceName"]
    update_storage(sts, pod)
    return pod


def pod_revision(pod: Obj) -> str:
    return str((meta(pod).get("labels") or {}).get(POD_REVISION_LABEL) or "")


def new_versioned_pod(
    current_set: Obj, update_set: Obj, *, current_revision: str, update_revision: str, index: int
) -> Obj:
    """``newVersionedStatefulSetPod``: below the partition a missing pod keeps the current revision."""
    rolling = rolling_update(current_set)
    if strategy_type(current_set) == "RollingUpdate" and (
        (rolling is None and index < start_ordinal(current_set) + int(status(current_set).get("currentReplicas") or 0))
        or (rolling is not None and index < start_ordinal(current_set) + partition(current_set))
    ):
        pod = new_pod(current_set, index)
        pod["metadata"]["labels"][POD_REVISION_LABEL] = current_revision
        return pod
    pod = new_pod(update_set, index)
    pod["metadata"]["labels"][POD_REVISION_LABEL] = update_revision
    return pod


# -- pods: their state ---------------------------------------------------------------------------


def is_created(pod: Obj) -> bool:
    """A pod the API server stored has a phase; one only built here does not."""
    return bool(phase(pod))


def is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def is_running_and_available(pod: Obj, min_ready: int, now: datetime.datetime) -> bool:
    return phase(pod) == "Running" and is_available(pod, min_ready, now)


def is_unavailable(pod: Obj, min_ready: int, now: datetime.datetime) -> bool:
    """``isUnavailable``: not running, ready and available, or terminating."""
    return not is_running_and_available(pod, min_ready, now) or is_terminating(pod)


# -- revisions -----------------------------------------------------------------------------------


def revision_data(sts: Obj) -> Obj:
    """``getPatch``: the strategic-merge patch that restores the set's template, replaced whole."""
    template = copy.deepcopy(spec(sts).get("template") or {})
    template["$patch"] = "replace"
    # A JSON round trip, as upstream's encoding: what is stored is exactly what gets hashed; keys
    # in order as Go marshals the map, the bytes kubectl compares its patch with (statefulSetMatch).
    data: Obj = gojson.sorted_keys(json.loads(json.dumps({"spec": {"template": template}})))
    return data


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """``ApplyRevision``: a copy of the set running the revision's template."""
    restored = copy.deepcopy(sts)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    restored.setdefault("spec", {})["template"] = template
    return restored
