"""Carrying out a :class:`kuberya.nl.Plan` through the API client, one step at a time, stopping at the first error.

Each abstract :class:`~kuberya.nl.Operation` becomes the calls ``kubectl`` would make for the
command shown beside it:

* ``create`` — 409 AlreadyExists is an error with a hint (scale or delete instead), except for a
  namespace, which the plan only creates because it looked missing: another client winning that
  race leaves the user where they wanted to be;
* ``patch`` — merge, strategic-merge or JSON patch, as the plan says;
* ``scale`` — a merge patch of the ``/scale`` subresource; ``current_replicas`` is kubectl's
  ``--current-replicas``: the scale is read, compared, and patched pinned to the resourceVersion
  read, so two relative scales ("2개 더") racing cannot both win (a 409 caused by a mere status write
  is retried after re-reading and re-checking the count); with no name, every Deployment;
* ``delete`` — background propagation (kubectl's default cascade); with no name, every object the
  label selector matches; ``ignore_not_found`` turns 404 into success;
* ``get``/``list`` — the objects, for the caller to print as a table;
* ``logs`` — for a Deployment, one of its pods (ready and newest first, as ``kubectl logs deploy/x``
  picks one); ``follow`` streams until the pod's log ends or ^C;
* ``drain`` — ``kubectl drain`` (:mod:`kuberya.cli.drain`): the node's pods but DaemonSet and
  mirror pods are evicted through the Eviction API, retried while a PodDisruptionBudget refuses,
  and waited for until they are gone;
* ``rollback`` — ``kubectl rollout undo``: :func:`rollback_template` picks the ReplicaSet of the
  asked (or previous) revision among those the Deployment owns and its template is written back
  with a JSON patch guarded by the Deployment's ``generation`` (a spec change in between fails it).

The runner records which Deployments and Pods it started or changed (:attr:`PlanRunner.touched`),
so that the caller can wait for them to become ready. Any API error stops the plan: later steps
usually depend on earlier ones (the Service on its Deployment, everything on the namespace).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kuberya.cli.drain import Drainer, DrainError
from kuberya.nl import Operation, Plan, Step, Verb

if TYPE_CHECKING:
    from kuberya.client import ApiError, KubeClient, ResourceRef

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"

CONFLICT_RETRIES = 5
"""Re-reads of a guarded scale whose resourceVersion moved under it (status updates) before giving up."""

LogFollower = Callable[[str, Sequence[tuple[str, str]]], AsyncIterator[str]]
"""``(path, query) -> text chunks``: a streaming GET of a pod's log (``follow=true``)."""


class StepFailed(Exception):
    """A step could not be carried out; nothing after it ran."""

    def __init__(self, step: Step, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.hint = hint
        self.status = status
        """The API's HTTP status when the server refused (404, 409, 422…)."""


class RollbackError(Exception):
    """No ReplicaSet to roll back to; the message lists the revisions there are."""


@dataclass(frozen=True)
class Touched:
    kind: Literal["deployment", "pod"]
    namespace: str
    name: str


@dataclass
class StepOutcome:
    step: Step
    message: str
    """What happened, in the request's language ("created", "3 → 5")."""
    resource: str | None = None
    """For ``get``/``list``: which table to print."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    logs: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.step.description, "kubectl": self.step.kubectl,
                               "result": self.message}  # fmt: skip
        if self.resource is not None:
            out["items"] = self.objects
        if self.logs is not None:
            out["logs"] = self.logs
        return out


def resource_ref(api_version: str, resource: str) -> ResourceRef:
    """The client's :class:`ResourceRef` for a plan's ``(apiVersion, resource)``."""
    from kuberya.client.resources import BUILTIN, ResourceRef

    for ref in BUILTIN:
        if ref.api_version == api_version and ref.resource == resource:
            return ref
    group, _, version = api_version.rpartition("/")
    kind = resource[:-1].capitalize() if resource.endswith("s") else resource.capitalize()
    return ResourceRef(group, version, resource, resource not in ("namespaces", "nodes"), kind)


# -- rollback, pure ---------------------------------------------------------------------------


def revision_of(obj: dict[str, Any]) -> int | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def owned_by(deployment: dict[str, Any], replicasets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ReplicaSets whose controller is this Deployment (by uid, so a namesake's history is not used)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    return [
        rs
        for rs in replicasets
        if any(
            ref.get("controller") and ref.get("kind") == "Deployment" and ref.get("uid") == uid
            for ref in (rs.get("metadata") or {}).get("ownerReferences") or []
        )
    ]


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def rollback_template(
    deployment: dict[str, Any], replicasets: Sequence[dict[str, Any]], *, revision: int | None
) -> tuple[int, dict[str, Any] | None]:
    """``(revision, template)`` to roll back to, as ``kubectl rollout undo [--to-revision]`` chooses.

    Without ``revision``, the previous one: the highest revision below the current (the highest
    overall). The template is the ReplicaSet's minus its ``pod-template-hash`` label; it is ``None``
    when the Deployment already runs that template (kubectl: "skipped rollback").
    """
    history = {rev: rs for rs in owned_by(deployment, replicasets) if (rev := revision_of(rs)) is not None}
    if not history:
        raise RollbackError("no rollout history: the deployment owns no ReplicaSet with a revision")
    current = revision_of(deployment) or max(history)
    if revision is None:
        older = [rev for rev in history if rev < current]
        if not older:
            raise RollbackError(f"no revision before the current one ({current}); nothing to roll back to")
        revision = max(older)
    elif revision not in history:
        known = ", ".join(str(r) for r in sorted(history))
        raise RollbackError(f"no revision {revision} in the deployment's history; there are: {known}")
    template = _without_hash((history[revision].get("spec") or {}).get("template") or {})
    current_template = _without_hash((deployment.get("spec") or {}).get("template") or {})
    return revision, (None if template == current_template else template)


def pick_log_pod(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The pod whose log to show: running and ready first, then the newest, as kubectl prefers."""

    def rank(pod: dict[str, Any]) -> tuple[int, int, str]:
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        running = status.get("phase") == "Running"
        deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        return (int(ready and not deleting), int(running), str((pod.get("metadata") or {}).get("creationTimestamp")))

    return max(pods, key=rank) if pods else None


# -- the runner -------------------------------------------------------------------------------


class PlanRunner:
    def __init__(
        self,
        client: KubeClient,
        *,
        language: str,
        on_outcome: Callable[[StepOutcome], None] = lambda _: None,
        on_log: Callable[[str], None] = lambda _: None,
        follow_logs: LogFollower | None = None,
        prepare: Callable[[Operation], Operation] | None = None,
        drain_timeout: float = 120.0,
    ) -> None:
        self.client = client
        self.drain_timeout = drain_timeout
        """Seconds a drain may take, evictions refused by a PodDisruptionBudget included."""
        self.prepare = prepare
        """Adjusts each operation just before it runs (``kuberya demo`` adds the run-from-source
        command and the example's probes); the plan as shown is unchanged."""
        self.language = language
        self.on_outcome = on_outcome
        self.on_log = on_log
        """Where streamed log text goes as it arrives (``follow``)."""
        self.follow_logs = follow_logs
        self.touched: list[Touched] = []
        self.outcomes: list[StepOutcome] = []

    def say(self, ko: str, en: str) -> str:
        return ko if self.language == "ko" else en

    async def run(self, plan: Plan) -> list[StepOutcome]:
        from kuberya.client import ApiError

        for step in plan.steps:
            try:
                outcome = await self._execute(step)
            except ApiError as e:
                raise self._failure(step, e) from e
            except RollbackError as e:
                raise StepFailed(step, str(e)) from e
            except DrainError as e:
                raise StepFailed(step, e.message, hint=e.hint) from e
            self.outcomes.append(outcome)
            self.on_outcome(outcome)
        return self.outcomes

    async def _execute(self, step: Step) -> StepOutcome:
        op = step.operation if self.prepare is None else self.prepare(step.operation)
        handler = {
            Verb.CREATE: self._create,
            Verb.GET: self._get,
            Verb.LIST: self._list,
            Verb.PATCH: self._patch,
            Verb.DELETE: self._delete,
            Verb.SCALE: self._scale,
            Verb.LOGS: self._logs,
            Verb.ROLLBACK: self._rollback,
            Verb.DRAIN: self._drain,
        }[op.verb]
        return await handler(step, op)

    def _touch(self, op: Operation, name: str) -> None:
        kind: Literal["deployment", "pod"] | None = {"deployments": "deployment", "pods": "pod"}.get(op.resource)  # type: ignore[assignment]
        if kind is not None and op.namespace is not None:
            touched = Touched(kind, op.namespace, name)
            if touched not in self.touched:
                self.touched.append(touched)

    async def _create(self, step: Step, op: Operation) -> StepOutcome:
        from kuberya.client import AlreadyExistsError

        ref = resource_ref(op.api_version, op.resource)
        try:
            created = await self.client.create(ref, op.body or {}, namespace=op.namespace)
        except AlreadyExistsError:
            if op.resource != "namespaces":
                raise
            return StepOutcome(step, self.say("이미 있음", "already exists"))
        allowed = (created.get("status") or {}).get("allowed") if op.resource.endswith("accessreviews") else None
        if isinstance(allowed, bool):  # an access review: its answer is the outcome, as kubectl auth can-i's
            return StepOutcome(step, "yes" if allowed else "no")
        if op.name is not None:
            self._touch(op, op.name)
        return StepOutcome(step, self.say("생성됨", "created"))

    async def _get(self, step: Step, op: Operation) -> StepOutcome:
        assert op.name is not None, "the planner names what it gets"
        obj = await self.client.get(resource_ref(op.api_version, op.resource), op.name, namespace=op.namespace)
        return StepOutcome(step, "", resource=op.resource, objects=[obj])

    async def _list(self, step: Step, op: Operation) -> StepOutcome:
        items = await self._items(op)
        return StepOutcome(step, self.say(f"{len(items)}개", f"{len(items)} found"), resource=op.resource,
                           objects=items)  # fmt: skip

    async def _items(self, op: Operation) -> list[dict[str, Any]]:
        listing = await self.client.list(
            resource_ref(op.api_version, op.resource),
            namespace=op.namespace,
            label_selector=op.params.get("labelSelector"),
        )
        return [i for i in listing.get("items") or [] if isinstance(i, dict)]

    async def _patch(self, step: Step, op: Operation) -> StepOutcome:
        assert op.name is not None, "the planner names what it patches"
        await self.client.patch(
            resource_ref(op.api_version, op.resource),
            op.name,
            op.patch or {},
            namespace=op.namespace,
            patch_type=_patch_type(op.patch_type),
        )
        self._touch(op, op.name)
        return StepOutcome(step, self.say("변경됨", "patched"))

    async def _scale(self, step: Step, op: Operation) -> StepOutcome:
        ref = resource_ref(op.api_version, op.resource)
        replicas = int(op.params["replicas"])
        names = [op.name] if op.name is not None else [_name(o) for o in await self._items(op)]
        before: list[int] = []
        for name in names:
            before.append(await self._scale_one(step, op, ref, name, replicas))
            self._touch(op, name)
        if op.name is None:
            return StepOutcome(step, self.say(f"{len(names)}개 조정", f"{len(names)} scaled"))
        return StepOutcome(step, f"{before[0]} → {replicas}")

    async def _scale_one(self, step: Step, op: Operation, ref: ResourceRef, name: str, replicas: int) -> int:
        """Scale one object; return the replicas it had. With ``current_replicas``, compare-and-swap."""
        from kuberya.client import ConflictError

        current = op.params.get("current_replicas")
        for attempt in range(CONFLICT_RETRIES):
            scale = await self.client.get(ref, name, namespace=op.namespace, subresource="scale")
            found = int((scale.get("spec") or {}).get("replicas", 0))
            patch: dict[str, Any] = {"spec": {"replicas": replicas}}
            if current is not None:
                if found != int(current):
                    raise StepFailed(
                        step,
                        self.say(f"{name}의 레플리카가 그사이 {current}개에서 {found}개로 바뀌었어요.",
                                 f"expected {name} to have {current} replicas, found {found}: someone scaled it"),
                        hint=self.say("다시 요청하세요.", "ask again to plan from the new count"),
                    )  # fmt: skip
                # Pinned to what was read: a scale in between makes this a 409, not a lost update.
                patch["metadata"] = {"resourceVersion": (scale.get("metadata") or {}).get("resourceVersion")}
            try:
                await self.client.patch(ref, name, patch, namespace=op.namespace, patch_type="merge",
                                        subresource="scale")  # fmt: skip
                return found
            except ConflictError:
                # The controller writing status also moves the resourceVersion: re-read and re-check
                # the count, which is what the guard is about.
                if attempt == CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _delete(self, step: Step, op: Operation) -> StepOutcome:
        from kuberya.client import NotFoundError

        ref = resource_ref(op.api_version, op.resource)
        names = [op.name] if op.name is not None else [_name(o) for o in await self._items(op)]
        deleted = 0
        for name in names:
            try:
                await self.client.delete(ref, name, namespace=op.namespace, propagation_policy="Background")
                deleted += 1
            except NotFoundError:
                # Listed-then-gone (another client deleted it) is the outcome asked for, too.
                if op.name is not None and not op.ignore_not_found:
                    raise
        if op.name is not None:
            return StepOutcome(step, self.say("삭제됨", "deleted") if deleted else self.say("없음", "not found"))
        return StepOutcome(step, self.say(f"{deleted}개 삭제", f"{deleted} deleted"))

    async def _logs(self, step: Step, op: Operation) -> StepOutcome:
        from kuberya.client.resources import DEPLOYMENTS, PODS

        assert op.name is not None and op.namespace is not None, "the planner names whose logs"
        pod_name = op.name
        if op.resource == "deployments":
            deployment = await self.client.get(DEPLOYMENTS, op.name, namespace=op.namespace)
            labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            listing = await self.client.list(PODS, namespace=op.namespace, label_selector=selector or None)
            pod = pick_log_pod(listing.get("items") or [])
            if pod is None:
                raise StepFailed(step, self.say(f"{op.name}의 파드가 아직 없어요.", f"{op.name} has no pods yet"))
            pod_name = _name(pod)
        query: list[tuple[str, str]] = []
        if op.params.get("tailLines") is not None:
            query.append(("tailLines", str(op.params["tailLines"])))
        path = PODS.path(pod_name, namespace=op.namespace, subresource="log")
        if op.params.get("follow") and self.follow_logs is not None:
            async for chunk in self.follow_logs(path, [*query, ("follow", "true")]):
                self.on_log(chunk)
            return StepOutcome(step, self.say(f"파드 {pod_name} 로그 끝", f"end of the log of pod {pod_name}"))
        text = await self.client.raw("GET", path, params=query)
        text = text if isinstance(text, str) else str(text)
        self.on_log(text)
        return StepOutcome(step, self.say(f"파드 {pod_name}", f"pod {pod_name}"), logs=text)

    async def _rollback(self, step: Step, op: Operation) -> StepOutcome:
        from kuberya.client.resources import DEPLOYMENTS, REPLICASETS

        assert op.name is not None
        deployment = await self.client.get(DEPLOYMENTS, op.name, namespace=op.namespace)
        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        listing = await self.client.list(REPLICASETS, namespace=op.namespace, label_selector=selector or None)
        revision, template = rollback_template(
            deployment, listing.get("items") or [], revision=op.params.get("revision")
        )
        if template is None:
            return StepOutcome(step, self.say(f"이미 리비전 {revision}의 템플릿이에요 (건너뜀)",
                                              f"skipped: already at the template of revision {revision}"))  # fmt: skip
        # Guarded by the generation, which only a spec change moves (status writes move the
        # resourceVersion all the time): a `set image` racing this undo fails it instead of being lost.
        generation = (deployment.get("metadata") or {}).get("generation")
        patch = [
            {"op": "test", "path": "/metadata/generation", "value": generation},
            {"op": "replace", "path": "/spec/template", "value": template},
        ]
        await self.client.patch(DEPLOYMENTS, op.name, patch, namespace=op.namespace, patch_type="json")
        self._touch(op, op.name)
        return StepOutcome(step, self.say(f"리비전 {revision}(으)로", f"to revision {revision}"))

    async def _drain(self, step: Step, op: Operation) -> StepOutcome:
        assert op.name is not None, "the planner names the node"
        drainer = Drainer(
            self.client,
            op.name,
            language=self.language,
            ignore_daemonsets=bool(op.params.get("ignoreDaemonSets")),
            delete_emptydir_data=bool(op.params.get("deleteEmptyDirData")),
            timeout=self.drain_timeout,
        )
        result = await drainer.run()
        return StepOutcome(step, result.summary(self.language))

    def _failure(self, step: Step, error: ApiError) -> StepFailed:
        from kuberya.client import AlreadyExistsError, ForbiddenError, InvalidError, UnauthorizedError

        message = error.message or str(error)
        hint = None
        name = step.operation.name or ""
        if isinstance(error, AlreadyExistsError) and step.operation.resource == "deployments":
            hint = self.say(f'이미 있어요: "{name} 3개로 늘려줘"로 조정하거나 "{name} 삭제해줘"로 지우세요.',
                            f'it exists: "scale {name} to 3" adjusts it, "delete {name}" removes it')  # fmt: skip
        elif isinstance(error, AlreadyExistsError):
            what = f"{step.operation.resource} {name}"
            hint = self.say(f"kubectl delete {what} 후 다시 하세요.",
                            f"delete it first (kubectl delete {what}) and ask again")  # fmt: skip
        elif isinstance(error, InvalidError) and error.causes:
            message += "".join(f"\n  - {c.get('field', '')}: {c.get('message', '')}" for c in error.causes)
        elif isinstance(error, UnauthorizedError | ForbiddenError):
            hint = self.say("이 컨텍스트의 자격 증명과 권한을 확인하세요 (--context).",
                            "check the credentials and permissions of this context (--context)")  # fmt: skip
        return StepFailed(step, message, hint=hint, status=error.status)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _patch_type(value: str | None) -> Literal["merge", "strategic", "json"]:
    if value == "merge":
        return "merge"
    if value == "json":
        return "json"
    return "strategic"
