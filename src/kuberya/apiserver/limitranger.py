"""LimitRange admission: default container resources, then hold pods and claims to the ranges.

Upstream's LimitRanger plugin (``plugin/pkg/admission/limitranger``), in its two phases:

* **mutate** (pods, on create): a container without a request or limit a ``Container`` range
  defaults gets the range's ``defaultRequest`` / ``default``, and the pod is annotated
  ``kubernetes.io/limit-ranger: LimitRanger plugin set: cpu request for container web``.
  The QoS class is recomputed, since it depends on what was just filled in.
* **validate** (pods on create, claims on create): ``min``, ``max`` and ``maxLimitRequestRatio``
  of ``Container`` ranges per container, of ``Pod`` ranges on the pod's totals, and ``min``/``max``
  of ``PersistentVolumeClaim`` ranges on a claim's storage request. A violation is a 403 with
  upstream's words: ``pods "web" is forbidden: maximum cpu usage per Container is 500m, but
  limit is 1``.

Pod updates are not checked (containers' resources cannot change), as upstream; claim updates
are not checked yet either (upstream checks a resized claim).
"""

from __future__ import annotations

from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.quota import forbidden
from kuberya.meta import quota as q
from kuberya.resources import defaults, kinds
from kuberya.resources.kinds.limitrange import default_limit_range_item
from kuberya.resources.types import JSONObject, ResourceType

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
MAX_MILLI_VALUE = (2**63 - 1) // 1000
"""Above this upstream compares whole units, not milli-units (``resource.MaxMilliValue``)."""


def _limited(rt: ResourceType) -> bool:
    return (rt.group, rt.resource) in (("", "pods"), ("", "persistentvolumeclaims"))


def _milli(value: q.Amount) -> int:
    """``MilliValue()``: rounded up to a whole milli-unit, as upstream compares."""
    scaled = value.value * 1000
    return -((-scaled.numerator) // scaled.denominator)


def _comparable(*amounts: q.Amount | None) -> list[int]:
    """``requestLimitEnforcedValues``: milli-units when none overflows, whole units otherwise."""
    whole = [-((-a.value.numerator) // a.value.denominator) if a is not None else 0 for a in amounts]
    if all(w <= MAX_MILLI_VALUE for w in whole):
        return [_milli(a) if a is not None else 0 for a in amounts]
    return whole


def min_constraint(kind: str, name: str, enforced: q.Amount, requests: q.Usage, limits: q.Usage) -> str:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, floor = _comparable(req, lim, enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req < floor:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req}"
    if lim is not None and observed_lim < floor:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim}"
    return ""


def max_constraint(kind: str, name: str, enforced: q.Amount, requests: q.Usage, limits: q.Usage) -> str:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, ceiling = _comparable(req, lim, enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_lim > ceiling:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim}"
    if req is not None and observed_req > ceiling:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return ""


def max_request_constraint(kind: str, name: str, enforced: q.Amount, requests: q.Usage) -> str:
    """A claim's ``max``: only its request counts (claims have no limits)."""
    req = requests.get(name)
    observed_req, _, ceiling = _comparable(req, None, enforced)
    if req is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req > ceiling:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return ""


def ratio_constraint(kind: str, name: str, enforced: q.Amount, requests: q.Usage, limits: q.Usage) -> str:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, _ = _comparable(req, lim, enforced)
    if req is None or observed_req == 0:
        return (
            f"{name} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
        )
    if lim is None or observed_lim == 0:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
    ratio = observed_lim / observed_req
    if ratio > float(enforced.value):
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {ratio:f}"
    return ""


def _check(kind: str, item: JSONObject, requests: q.Usage, limits: q.Usage) -> list[str]:
    problems = [min_constraint(kind, n, v, requests, limits) for n, v in q.parse_list(item.get("min")).items()]
    problems += [max_constraint(kind, n, v, requests, limits) for n, v in q.parse_list(item.get("max")).items()]
    ratios = q.parse_list(item.get("maxLimitRequestRatio"))
    problems += [ratio_constraint(kind, n, v, requests, limits) for n, v in ratios.items()]
    return [p for p in problems if p]


def _resources(container: JSONObject, which: str) -> q.Usage:
    return q.parse_list((container.get("resources") or {}).get(which))


def pod_problems(item: JSONObject, pod: JSONObject) -> list[str]:
    """``PodValidateLimitFunc`` for one range item."""
    spec = pod.get("spec") or {}
    kind = item.get("type")
    if kind == "Container":
        return [
            problem
            for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
            for problem in _check(kind, item, _resources(container, "requests"), _resources(container, "limits"))
        ]
    if kind == "Pod":
        requests = q.pod_totals(spec, "requests", overhead=False)
        limits = q.pod_totals(spec, "limits", overhead=False)
        return _check(kind, item, requests, limits)
    return []


def claim_problems(item: JSONObject, pvc: JSONObject) -> list[str]:
    """``PersistentVolumeClaimValidateLimitFunc`` for one range item."""
    if item.get("type") != "PersistentVolumeClaim":
        return []
    requests = q.parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    kind = "PersistentVolumeClaim"
    problems = [min_constraint(kind, n, v, requests, {}) for n, v in q.parse_list(item.get("min")).items()]
    problems += [max_request_constraint(kind, n, v, requests) for n, v in q.parse_list(item.get("max")).items()]
    return [p for p in problems if p]


def _set_defaults(container: JSONObject, defaults_: dict[str, dict[str, object]], what: str) -> list[str]:
    """``mergeContainerResources``: fill in what the container lacks; describe what was set."""
    resources = container.setdefault("resources", {})
    notes: list[str] = []
    for which, word in (("limits", "limit"), ("requests", "request")):
        wanted = defaults_[which]
        if not wanted:
            continue
        current = resources.setdefault(which, {})
        added = sorted(name for name in wanted if name not in current)
        for name in added:
            current[name] = wanted[name]
        if not current:
            resources.pop(which)
        if added:
            notes.append(f"{', '.join(added)} {word} for {what} {container.get('name', '')}")
    # upstream lists the requests it set before the limits
    return sorted(notes, key=lambda note: " limit for " in note)


def mutate_pod(ranges: list[JSONObject], pod: JSONObject) -> None:
    """``PodMutateLimitFunc`` for every range of the namespace, then the QoS class again."""
    spec = pod.get("spec") or {}
    changed = False
    for limit_range in ranges:
        wanted: dict[str, dict[str, object]] = {"requests": {}, "limits": {}}
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type") == "Container":
                item = default_limit_range_item(dict(item))
                wanted["requests"].update(item.get("defaultRequest") or {})
                wanted["limits"].update(item.get("default") or {})
        notes: list[str] = []
        for key, what in (("containers", "container"), ("initContainers", "init container")):
            for container in spec.get(key) or []:
                notes += _set_defaults(container, wanted, what)
        if notes:
            annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
            changed = True
    if changed:
        pod.setdefault("status", {})["qosClass"] = defaults.qos_class(spec)


class LimitRanger:
    """Applies and enforces the LimitRanges of a namespace."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def mutate(self, rt: ResourceType, obj: JSONObject) -> list[JSONObject]:
        """Default a new pod's resources; return the namespace's ranges for :meth:`validate`."""
        if not _limited(rt):
            return []
        lr_type = kinds.lookup("", "v1", "limitranges")
        assert lr_type is not None
        namespace = (obj.get("metadata") or {}).get("namespace")
        ranges = (await self.store.list(lr_type, selection=ObjectFilter(namespace=namespace))).items
        if ranges and rt.resource == "pods":
            mutate_pod(ranges, obj)
        return ranges

    def validate(self, rt: ResourceType, obj: JSONObject, ranges: list[JSONObject]) -> None:
        """Refuse (403) an object outside a range, with every problem found."""
        problems: list[str] = []
        for limit_range in ranges:
            for item in (limit_range.get("spec") or {}).get("limits") or []:
                problems += pod_problems(item, obj) if rt.resource == "pods" else claim_problems(item, obj)
            if problems:
                break  # upstream stops at the first LimitRange that refuses
        if problems:
            message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            name = str((obj.get("metadata") or {}).get("name") or "")
            raise forbidden(rt, name, message)
