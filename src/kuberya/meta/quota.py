"""What an object costs a ResourceQuota: upstream's quota evaluators (``pkg/quota/v1/evaluator/core``).

The API server's quota admission charges a write with these functions and the quota controller
sums them over a namespace for ``status.used``, so both agree by construction. Each function is
pure: an object (raw JSON) in, a usage list out.

* **pods** cost ``count/pods`` always and, until they reach a terminal phase (or outlive their
  deletion grace period), ``pods`` plus their compute requests and limits (``cpu``/``requests.cpu``,
  ``limits.cpu``, the same for memory and ephemeral storage); a pod's requests are its containers'
  sum or its largest init container's, whichever is more, plus its overhead. A quota with scopes
  (Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass, CrossNamespacePodAffinity)
  counts only the pods that match every scope.
* **services** cost ``services``, ``count/services``, ``services.loadbalancers`` and
  ``services.nodeports`` (one per port of a NodePort or LoadBalancer Service).
* **persistentvolumeclaims** cost ``persistentvolumeclaims``, ``requests.storage`` and their
  storage class's ``<class>.storageclass.storage.k8s.io/…`` variants.
* **everything else** costs one ``count/<resource>.<group>`` (``count/deployments.apps``), and
  configmaps, secrets, replicationcontrollers and resourcequotas their legacy names too.

Only pods have scopes: a quota with scopes never matches another resource, as upstream's
``MatchesNoScopeFunc`` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from kuberya.meta.labels import DOES_NOT_EXIST, EXISTS, IN, NOT_IN, SelectorError, make_requirement
from kuberya.meta.quantity import format_quantity, is_binary_quantity, parse_quantity
from kuberya.meta.timefmt import parse_time
from kuberya.meta.types import Obj


@dataclass(frozen=True, slots=True)
class Amount:
    """A quantity that remembers its format (decimal or binary SI), as ``resource.Quantity`` does."""

    value: Fraction
    binary: bool = False

    def __add__(self, other: Amount) -> Amount:
        # upstream's Quantity.Add keeps the receiver's format, unless the receiver is zero
        return Amount(self.value + other.value, other.binary if self.value == 0 else self.binary)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.value - other.value, self.binary)

    def __str__(self) -> str:
        return format_quantity(self.value, binary=self.binary)


Usage = dict[str, Amount]
"""Resource name → amount: upstream's ``corev1.ResourceList``."""

ONE = Amount(Fraction(1))
ZERO = Amount(Fraction(0))


def amount(value: object) -> Amount:
    """A quantity from the API (``"500m"``, ``"1Gi"``, ``2``); raises ValueError if it is none."""
    return Amount(parse_quantity(value), is_binary_quantity(value))


def add(a: Mapping[str, Amount], b: Mapping[str, Amount]) -> Usage:
    out = dict(a)
    for name, value in b.items():
        out[name] = out[name] + value if name in out else value
    return out


def subtract_non_negative(a: Mapping[str, Amount], b: Mapping[str, Amount]) -> Usage:
    """``quota.SubtractWithNonNegativeResult``: what ``a`` adds over ``b``, never below zero."""
    out: Usage = {}
    for name, value in a.items():
        diff = value - b[name] if name in b else value
        out[name] = diff if diff.value > 0 else Amount(Fraction(0), value.binary)
    return out


def remove_zeros(usage: Mapping[str, Amount]) -> Usage:
    return {name: value for name, value in usage.items() if value.value != 0}


def pretty(usage: Mapping[str, Amount]) -> str:
    """``prettyPrint``: ``pods=1,requests.cpu=500m``, sorted by name."""
    return ",".join(f"{name}={usage[name]}" for name in sorted(usage))


def parse_list(resources: Mapping[str, Any] | None) -> Usage:
    """A ResourceList from the API (``spec.hard``); quantities that do not parse are skipped."""
    out: Usage = {}
    for name, value in (resources or {}).items():
        try:
            out[str(name)] = amount(value)
        except ValueError:
            continue
    return out


def render_list(usage: Mapping[str, Amount]) -> dict[str, str]:
    return {name: str(usage[name]) for name in sorted(usage)}


# -- resource names ------------------------------------------------------------------------------


def object_count_name(group: str, resource: str) -> str:
    """``count/deployments.apps``; a core resource has no group suffix (``count/pods``)."""
    return f"count/{resource}.{group}" if group else f"count/{resource}"


LEGACY_COUNT_NAMES = {
    "configmaps": "configmaps",
    "secrets": "secrets",
    "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
}
"""Core resources whose object count also has a bare name (``configmaps: 10``)."""

POD_RESOURCES = (
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
)
SERVICE_RESOURCES = ("count/services", "services", "services.loadbalancers", "services.nodeports")
PVC_RESOURCES = ("count/persistentvolumeclaims", "persistentvolumeclaims", "requests.storage")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"

REQUIRED_EXPLICITLY = frozenset(("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"))
"""Upstream's ``validationSet``: a quota on these makes every container name them ("a mistake",
upstream says, kept for compatibility)."""

IGNORED = frozenset((("", "events"), ("", "bindings"), ("", "componentstatuses"), ("events.k8s.io", "events")))
"""Resources quota never charges: virtual or too chatty (upstream's ignored resources)."""


def matching_resources(group: str, resource: str, names: Iterable[str]) -> list[str]:
    """The quota resource names among ``names`` that objects of ``group``/``resource`` consume."""
    names = list(names)
    if (group, resource) == ("", "pods"):
        known = set(POD_RESOURCES)
        return [n for n in names if n in known or n.startswith(("hugepages-", "requests.hugepages-"))]
    if (group, resource) == ("", "services"):
        return [n for n in names if n in SERVICE_RESOURCES]
    if (group, resource) == ("", "persistentvolumeclaims"):
        return [
            n
            for n in names
            if n in PVC_RESOURCES
            or (STORAGE_CLASS_SUFFIX in n and n.endswith(("/requests.storage", "/persistentvolumeclaims")))
        ]
    wanted = {object_count_name(group, resource)}
    if not group and resource in LEGACY_COUNT_NAMES:
        wanted.add(LEGACY_COUNT_NAMES[resource])
    return [n for n in names if n in wanted]


def charged_on_update(group: str, resource: str) -> bool:
    """Whether an update can change what an object costs (upstream's evaluators' ``Handles``)."""
    return (group, resource) in (("", "services"), ("", "persistentvolumeclaims"))


# -- usage ---------------------------------------------------------------------------------------


def usage(group: str, resource: str, obj: Obj, *, now: datetime) -> Usage:
    """What ``obj`` (an object of ``group``/``resource``) consumes of every quota resource."""
    if (group, resource) == ("", "pods"):
        return pod_usage(obj, now=now)
    if (group, resource) == ("", "services"):
        return service_usage(obj)
    if (group, resource) == ("", "persistentvolumeclaims"):
        return pvc_usage(obj)
    out: Usage = {object_count_name(group, resource): ONE}
    if not group and resource in LEGACY_COUNT_NAMES:
        out[LEGACY_COUNT_NAMES[resource]] = ONE
    return out


def _resource_list(container: Obj, which: str) -> Usage:
    resources = container.get("resources") or {}
    return parse_list(resources.get(which) if isinstance(resources, dict) else None)


def _maximum(a: Usage, b: Usage) -> Usage:
    out = dict(a)
    for name, value in b.items():
        if name not in out or value.value > out[name].value:
            out[name] = value
    return out


def pod_totals(spec: Obj, which: str, *, overhead: bool = True) -> Usage:
    """``PodRequests``/``PodLimits`` (``which``: ``requests`` or ``limits``) of a pod spec.

    The containers plus the sidecars, or the largest init container with the sidecars started
    before it, whichever is more; plus the overhead unless ``overhead`` is False (LimitRanger's).
    """
    total: Usage = {}
    for container in spec.get("containers") or []:
        total = add(total, _resource_list(container, which))
    init_max: Usage = {}
    sidecars: Usage = {}
    for container in spec.get("initContainers") or []:
        own = _resource_list(container, which)
        if container.get("restartPolicy") == "Always":
            sidecars = add(sidecars, own)
            init_max = _maximum(init_max, sidecars)
        else:
            init_max = _maximum(init_max, add(own, sidecars))
    total = _maximum(add(total, sidecars), init_max)
    return add(total, parse_list(spec.get("overhead"))) if overhead else total


def pod_is_charged(pod: Obj, *, now: datetime) -> bool:
    """``QuotaV1Pod``: not terminal, and not past its deletion grace period (a lost node's pod)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleted, grace = meta.get("deletionTimestamp"), meta.get("deletionGracePeriodSeconds")
    when = parse_time(deleted) if deleted else None
    return not (when is not None and isinstance(grace, int) and now > when + timedelta(seconds=grace))


def _compute_usage(requests: Usage, limits: Usage) -> Usage:
    """``podComputeUsageHelper``: one pod, and its requests and limits under quota's names."""
    out: Usage = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = requests[name]
            out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = value
            out[f"requests.{name}"] = value
        elif "/" in name and not name.startswith("kubernetes.io/"):  # an extended resource
            out[f"requests.{name}"] = value
    return out


def pod_usage(pod: Obj, *, now: datetime) -> Usage:
    out: Usage = {"count/pods": ONE}
    if not pod_is_charged(pod, now=now):
        return out
    spec = pod.get("spec") or {}
    return add(out, _compute_usage(pod_totals(spec, "requests"), pod_totals(spec, "limits")))


def service_usage(svc: Obj) -> Usage:
    spec = svc.get("spec") or {}
    ports = spec.get("ports") or []
    out: Usage = {"services": ONE, "count/services": ONE}
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "NodePort":
        out["services.nodeports"] = Amount(Fraction(len(ports)))
    elif svc_type == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is False:
            out["services.nodeports"] = Amount(Fraction(sum(1 for p in ports if p.get("nodePort"))))
        else:
            out["services.nodeports"] = Amount(Fraction(len(ports)))
        out["services.loadbalancers"] = ONE
    return out


def pvc_storage_class(pvc: Obj) -> str:
    """``GetPersistentVolumeClaimClass``: the beta annotation wins over ``spec.storageClassName``."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return str(annotations["volume.beta.kubernetes.io/storage-class"])
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


def pvc_usage(pvc: Obj) -> Usage:
    out: Usage = {"count/persistentvolumeclaims": ONE, "persistentvolumeclaims": ONE}
    storage_class = pvc_storage_class(pvc)
    if storage_class:
        out[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    requests = parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    allocated = parse_list((pvc.get("status") or {}).get("allocatedResources"))
    storage = requests.get("storage")
    if "storage" in allocated and (storage is None or allocated["storage"].value > storage.value):
        storage = allocated["storage"]
    if storage is not None:
        out["requests.storage"] = storage
        if storage_class:
            out[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return out


# -- scopes --------------------------------------------------------------------------------------


def scope_selectors(quota: Obj) -> list[Obj]:
    """``getScopeSelectorsFromQuota``: ``spec.scopes`` as Exists requirements, then the selector's."""
    spec = quota.get("spec") or {}
    selectors: list[Obj] = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
    selectors.extend((spec.get("scopeSelector") or {}).get("matchExpressions") or [])
    return selectors


def _best_effort(pod: Obj) -> bool:
    qos = (pod.get("status") or {}).get("qosClass")
    if qos:
        return bool(qos == "BestEffort")
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for which in ("requests", "limits"):
            listed = _resource_list(container, which)
            if any(listed[n].value != 0 for n in ("cpu", "memory") if n in listed):
                return False
    return True


def _cross_namespace_affinity(pod: Obj) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [
            w.get("podAffinityTerm") or {} for w in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


_SCOPE_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def pod_matches_scope(selector: Obj, pod: Obj) -> bool:
    """``podMatchesScopeFunc``: whether ``pod`` is in one scope requirement of a quota."""
    spec = pod.get("spec") or {}
    scope = selector.get("scopeName")
    if scope == "Terminating":
        deadline = spec.get("activeDeadlineSeconds")
        return isinstance(deadline, int) and deadline >= 0
    if scope == "NotTerminating":
        deadline = spec.get("activeDeadlineSeconds")
        return not (isinstance(deadline, int) and deadline >= 0)
    if scope == "BestEffort":
        return _best_effort(pod)
    if scope == "NotBestEffort":
        return not _best_effort(pod)
    if scope == "CrossNamespacePodAffinity":
        return _cross_namespace_affinity(pod)
    if scope == "PriorityClass":
        priority_class = str(spec.get("priorityClassName") or "")
        operator = selector.get("operator", "")
        if operator == "Exists":
            return bool(priority_class)
        if operator not in _SCOPE_OPERATORS:
            return False
        try:
            requirement = make_requirement(
                "PriorityClass", _SCOPE_OPERATORS[operator], tuple(selector.get("values") or ())
            )
        except SelectorError:
            return False
        return requirement.matches({"PriorityClass": priority_class} if priority_class else {})
    return False


def quota_matches(quota: Obj, group: str, resource: str, obj: Obj) -> bool:
    """``generic.Matches``: the quota limits something ``obj`` consumes, and ``obj`` is in its scopes."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    if not matching_resources(group, resource, hard):
        return False
    selectors = scope_selectors(quota)
    if not selectors:
        return True
    if (group, resource) != ("", "pods"):
        return False
    return all(pod_matches_scope(s, obj) for s in selectors)


# -- constraints ---------------------------------------------------------------------------------


def missing_requirements(required: Iterable[str], pod: Obj) -> str:
    """The pod evaluator's ``Constraints``: ``must specify limits.cpu for: a,b``, or ``""``.

    A quota on cpu or memory makes every container (init containers too) name that resource.
    """
    wanted = set(required) & REQUIRED_EXPLICITLY
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        has = set(_compute_usage(_resource_list(container, "requests"), _resource_list(container, "limits")))
        for name in wanted - has:
            missing.setdefault(name, set()).add(str(container.get("name", "")))
    if not missing:
        return ""
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))
