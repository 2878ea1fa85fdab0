"""The ``pods/eviction`` subresource: delete a pod unless that breaks its PodDisruptionBudget.

As upstream's ``EvictionREST`` (``pkg/registry/core/pod/storage/eviction.go``):

* the body is a policy/v1 (or v1beta1) ``Eviction`` naming the pod, with optional
  ``deleteOptions`` that the pod's deletion then uses;
* a pod that is Pending, finished or already terminating has disrupted nothing more: it is
  deleted at once, without looking at budgets;
* otherwise the one budget in the namespace whose selector matches the pod (none: just delete;
  several: a 500, upstream does not support that; an empty selector matches every pod, a
  missing one none) must allow a disruption: its status must be
  current (``observedGeneration``) and ``disruptionsAllowed`` above 0, or the answer is 429
  TooManyRequests with the ``DisruptionBudget`` cause, which ``kubectl drain`` retries every 5 s.
  An allowed eviction decrements ``disruptionsAllowed`` and records the pod in
  ``status.disruptedPods`` (so the disruption controller does not count it healthy meanwhile),
  in one compare-and-swap, then deletes the pod;
* a pod that is not Ready takes no budget when the budget is met anyway
  (``IfHealthyBudget``, the default) or when ``unhealthyPodEvictionPolicy`` is ``AlwaysAllow``;
  it is then deleted on the condition that it is unchanged (a ``resourceVersion`` precondition),
  so a pod that became Ready meanwhile is not taken for free.

The pod is deleted as upstream's ``addConditionAndDeletePod`` does: first the
``DisruptionTarget`` condition (reason ``EvictionByEvictionAPI``) through ``/status``, checking the
options' ``uid``/``resourceVersion`` preconditions, then the deletion with those options. Success is
``201`` with a ``Success`` Status, as upstream's create handler answers.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from kuberya.apiserver import deletion, errors
from kuberya.apiserver.objectstore import ObjectFilter
from kuberya.apiserver.request import (
    PROTOBUF_CONTENT_TYPE,
    ResourcePath,
    dry_run,
    json_response,
    media_type,
    read_body,
)
from kuberya.apiserver.writes import DELETE_OPTIONS_DEFINITION, decode_definition_or_refuse
from kuberya.meta.conditions import update_disruption_allowed_condition
from kuberya.meta.labels import SelectorError, selector_from_spec
from kuberya.meta.timefmt import format_time
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.handlers import ResourceHandlers

EVICTION_API_VERSIONS = ("policy/v1", "policy/v1beta1")
"""Upstream's ``AcceptsGroupVersion``: both bodies are read alike."""
MAX_DISRUPTED_POD_SIZE = 2000
"""Evictions approved but not yet seen by the disruption controller, beyond which none are."""
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
MANAGER = "kube-apiserver"
EVICTION_REASON = "EvictionByEvictionAPI"
EVICTION_MESSAGE = "Eviction API: evicting"
EVICTION_ATTEMPTS = 20
"""Upstream's ``EvictionsRetry`` steps for a pod that keeps changing under the eviction."""


def _pdb_type() -> ResourceType:
    rt = kinds.lookup("policy", "v1", "poddisruptionbudgets")
    assert rt is not None
    return rt


def too_many_requests(cause: str, *, retry_after: int = 0) -> errors.StatusError:
    """Upstream's ``NewTooManyRequests`` plus the ``DisruptionBudget`` cause.

    ``Retry-After`` is only sent for a positive delay: client-go retries on its own when it sees
    one, and the budget case (0) is for the caller (``kubectl drain``) to retry.
    """
    details: JSONObject = {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE, "message": cause}]}
    headers = {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return errors.StatusError(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
        details=details,
        headers=headers,
    )


def _still_processing(pdb_name: str) -> errors.StatusError:
    return too_many_requests(
        f"The disruption budget {pdb_name} is still being processed by the server.", retry_after=10
    )


async def _read_eviction(request: web.Request) -> JSONObject:
    if media_type(request) == PROTOBUF_CONTENT_TYPE:
        body: Any = _decode_protobuf(await request.read())
    else:
        body = await read_body(request)
    if not isinstance(body, dict):
        raise errors.bad_request("the Eviction body must be an object")
    # A body without them is the endpoint's kind, as upstream's decoder defaults (the Python client
    # sends neither).
    body.setdefault("apiVersion", "policy/v1")
    body.setdefault("kind", "Eviction")
    if body.get("kind") != "Eviction" or body.get("apiVersion") not in EVICTION_API_VERSIONS:
        raise errors.bad_request(
            f"the eviction subresource takes a policy/v1 Eviction, not {body.get('apiVersion')} {body.get('kind')}"
        )
    options = body.get("deleteOptions")
    if options is not None:
        if not isinstance(options, dict):
            raise errors.bad_request("deleteOptions must be an object")
        decode_definition_or_refuse(DELETE_OPTIONS_DEFINITION, options, what="DeleteOptions")
    return body


def _decode_protobuf(raw: bytes) -> JSONObject:
    """An Eviction sent as protobuf (client-go ≥ 1.32 typed clients, so ``kubectl drain``).

    Eviction is no stored kind, so the codec's kind table does not name it; its message is in
    the generated policy/v1 tables all the same.
    """
    from google.protobuf.message import DecodeError

    from kuberya.resources.protobuf._codec import _UNKNOWN, MAGIC, _codec

    if not raw.startswith(MAGIC):
        raise errors.bad_request("the request body is not Kubernetes protobuf: it does not start with k8s\\0")
    registry, converter = _codec()
    try:
        envelope = registry.classes[_UNKNOWN].FromString(raw[len(MAGIC) :])
        api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
        message = f"k8s.io.api.{api_version.replace('/', '.')}.{kind}"
        if kind != "Eviction" or message not in registry.classes:
            raise errors.bad_request(
                f"the eviction subresource takes a policy/v1 Eviction, not {api_version} {kind} as protobuf; send JSON"
            )
        fields = converter.to_json(registry.classes[message].FromString(envelope.raw), message)
    except (DecodeError, ValueError) as e:
        raise errors.bad_request(f"malformed protobuf Eviction: {e}") from e
    return {"apiVersion": api_version, "kind": kind, **fields}


def _dry_run_request(request: web.Request, options: JSONObject) -> web.Request:
    """Upstream's ``propagateDryRun``: the query's dryRun and the body's must agree."""
    query = request.query.getall("dryRun", [])
    body = options.get("dryRun") or []
    if query and body and list(query) != list(body):
        raise errors.bad_request(f"Non-matching dry-run options in request and content: {list(query)} and {list(body)}")
    if body and not query:
        return cast(web.Request, _WithDryRun(request, [str(v) for v in body]))
    return request


class _WithDryRun:
    """The request as if its query said ``dryRun``: what the deletion reads to skip the writes.

    aiohttp cannot clone a request whose body was read, and the body is where ``kubectl drain
    --dry-run=server`` puts it.
    """

    def __init__(self, request: web.Request, values: list[str]) -> None:
        self._request = request
        query = MultiDict(request.query)
        for value in values:
            query.add("dryRun", value)
        self.query = MultiDictProxy(query)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


def is_ready(pod: JSONObject) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _phase(pod: JSONObject) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _can_ignore_pdb(pod: JSONObject) -> bool:
    """Upstream's ``canIgnorePDB``: a pod that is not running, or already going, disrupts nothing more."""
    return _phase(pod) in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _pending(pod: JSONObject) -> bool:
    return _phase(pod) == "Pending" and not pod["metadata"].get("deletionTimestamp")


def _pinned(options: JSONObject, pod: JSONObject) -> JSONObject:
    """The options with a ``resourceVersion`` precondition on ``pod``, unless the client set one."""
    if (options.get("preconditions") or {}).get("resourceVersion"):
        return options
    out = copy.deepcopy(options)
    out.setdefault("preconditions", {})["resourceVersion"] = pod["metadata"]["resourceVersion"]
    return out


async def matching_budgets(h: ResourceHandlers, pod: JSONObject) -> list[JSONObject]:
    """The pod's namespace's PDBs whose selector matches it (none: nothing, empty: everything, invalid: none)."""
    namespace = pod["metadata"].get("namespace")
    page = await h.store.list(_pdb_type(), selection=ObjectFilter(namespace=namespace))
    labels = pod["metadata"].get("labels") or {}
    found = []
    for pdb in page.items:
        try:
            selector = selector_from_spec((pdb.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if selector.matches(labels):
            found.append(pdb)
    return found


async def evict(h: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    assert path.name is not None
    if request.method != "POST":
        raise errors.method_not_allowed(f"{request.method} is not supported on pods/eviction")
    eviction = await _read_eviction(request)
    if (eviction.get("metadata") or {}).get("name") != path.name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options: JSONObject = dict(eviction.get("deleteOptions") or {})
    request = _dry_run_request(request, options)
    client_pinned = bool((options.get("preconditions") or {}).get("resourceVersion"))
    pod_rt = kinds.storage_type(path.rt)
    for _attempt in range(EVICTION_ATTEMPTS):
        pod = await h.store.get(pod_rt, path.namespace, path.name)
        if not _can_ignore_pdb(pod):
            break
        try:
            # A Pending pod is pinned: one that starts running meanwhile must face its budget.
            return await _delete(h, request, pod_rt, pod, _pinned(options, pod) if _pending(pod) else options)
        except errors.StatusError as e:
            if e.code != 409 or client_pinned:
                raise
    else:
        raise errors.conflict("", "pods", path.name)
    budgets = await matching_budgets(h, pod)
    if len(budgets) > 1:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": (
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
            ),
            "code": 500,
        }
        return json_response(status, status=500)
    if budgets and _unhealthy_may_go(pod, budgets[0]):
        try:
            return await _delete(h, request, pod_rt, pod, _pinned(options, pod))
        except errors.StatusError as e:
            if e.code == 409 and not client_pinned:
                # It changed (became Ready?): the client retries the whole eviction.
                raise _still_processing(budgets[0]["metadata"]["name"]) from e
            raise
    if budgets:
        await _check_and_decrement(h, request, pod, budgets[0])
    return await _delete(h, request, pod_rt, pod, options)


def _unhealthy_may_go(pod: JSONObject, pdb: JSONObject) -> bool:
    """A pod that is not Ready costs no budget when its budget allows it (see the module docstring)."""
    if is_ready(pod):
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


async def _check_and_decrement(h: ResourceHandlers, request: web.Request, pod: JSONObject, pdb: JSONObject) -> None:
    """Take one disruption from the budget, or refuse, in one compare-and-swap of its status."""
    pdb_rt = _pdb_type()
    pod_name = pod["metadata"]["name"]

    async def take(current: JSONObject) -> JSONObject:
        name = current["metadata"]["name"]
        status = current.get("status") or {}
        if int(status.get("observedGeneration") or 0) < int(current["metadata"].get("generation") or 0):
            raise _still_processing(name)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise errors.forbidden(
                f'poddisruptionbudget.policy "{name}" is forbidden: pdb disruptions allowed is negative'
            )
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
            raise errors.forbidden(
                f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map too big - too many '
                "evictions not confirmed by PDB controller"
            )
        if allowed == 0:
            raise too_many_requests(
                f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} healthy pods "
                f"and has {int(status.get('currentHealthy') or 0)} currently"
            )
        new = copy.deepcopy(current)
        new_status = new.setdefault("status", {})
        new_status["disruptionsAllowed"] = allowed - 1
        now = datetime.now(UTC)
        if allowed - 1 == 0:
            update_disruption_allowed_condition(new, now=now)
        disrupted = dict(new_status.get("disruptedPods") or {})
        disrupted[pod_name] = format_time(now)
        new_status["disruptedPods"] = disrupted
        return h.finish_update(current, new, rt=pdb_rt, manager=MANAGER, subresource="status")

    path = ResourcePath(pdb_rt, pdb["metadata"].get("namespace"), pdb["metadata"]["name"], "status")
    await h.write(request, pdb_rt, path, take)


async def _delete(
    h: ResourceHandlers, request: web.Request, pod_rt: ResourceType, pod: JSONObject, options: JSONObject
) -> web.Response:
    """Upstream's ``addConditionAndDeletePod``: mark the pod ``DisruptionTarget``, then delete it."""
    meta = pod["metadata"]
    if not dry_run(request):
        options = await _mark_disruption_target(h, request, pod_rt, meta, options)
    await deletion.delete_object(h, request, pod_rt, meta.get("namespace"), meta["name"], options)
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, status=201
    )


async def _mark_disruption_target(
    h: ResourceHandlers, request: web.Request, pod_rt: ResourceType, meta: JSONObject, options: JSONObject
) -> JSONObject:
    """Add the condition through ``/status``, checking the options' preconditions on the way.

    Returns the options to delete with: a ``resourceVersion`` precondition moves on to the
    version this very write made.
    """
    name = str(meta["name"])
    pre = options.get("preconditions") or {}

    async def mark(current: JSONObject) -> JSONObject:
        live = current["metadata"]
        if pre.get("uid") and pre["uid"] != live.get("uid"):
            raise errors.conflict(
                "",
                "Pod",
                name,
                f"the UID in the precondition ({pre['uid']}) does not match the UID in record ({live.get('uid')}). "
                "The object might have been deleted and then recreated",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != live.get("resourceVersion"):
            raise errors.conflict(
                "",
                "Pod",
                name,
                f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not match the "
                f"ResourceVersion in record ({live.get('resourceVersion')}). The object might have been modified",
            )
        new = copy.deepcopy(current)
        update_pod_condition(
            new.setdefault("status", {}),
            {"type": "DisruptionTarget", "status": "True", "reason": EVICTION_REASON, "message": EVICTION_MESSAGE},
        )
        return h.finish_update(current, new, rt=pod_rt, manager=MANAGER, subresource="status")

    path = ResourcePath(pod_rt, meta.get("namespace"), name, "status")
    _old, new = await h.write(request, pod_rt, path, mark)
    if not pre.get("resourceVersion"):
        return options
    bumped = copy.deepcopy(options)
    bumped["preconditions"]["resourceVersion"] = new["metadata"]["resourceVersion"]
    return bumped


def update_pod_condition(status: JSONObject, condition: JSONObject) -> None:
    """``podutil.UpdatePodCondition``: replaced whole; the transition time moves only with the status."""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    index = next((i for i, c in enumerate(conditions) if c.get("type") == condition["type"]), None)
    new = {**condition, "lastProbeTime": None, "lastTransitionTime": format_time(datetime.now(UTC))}
    if index is None:
        conditions.append(new)
    else:
        if conditions[index].get("status") == condition["status"]:
            new["lastTransitionTime"] = conditions[index].get("lastTransitionTime")
        conditions[index] = new
    status["conditions"] = conditions
