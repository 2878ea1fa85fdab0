"""``build_plan(request, facts) -> Plan``: from what was asked to the API operations that do it.

The plan mirrors what ``kubectl`` does for the same command, so that the ``kubectl`` line shown
beside each step is not a paraphrase but the exact equivalent: ``create deployment`` labels with
``app=NAME`` and names the container after the image, ``run`` labels with ``run=NAME``, ``expose``
selects the same labels, ``rollout restart`` stamps ``kubectl.kubernetes.io/restartedAt``.

Cluster facts come in as a :class:`~kuberya.nl.facts.ClusterFacts` (no I/O here). They decide:

* "run the X app": a Deployment X exists → scale it (and change its image if one was named);
  else an image X in the local store; else ``REGISTRY/X:latest`` with a default registry; else
  ``X:latest`` with a warning that says how to build it. A port the image exposes (or the one
  the user said) gets a Service.
* a namespace that does not exist is created first, with a note;
* relative scaling ("2개 더") becomes an absolute ``scale`` guarded by the current count
  (``--current-replicas``), so two people scaling at once cannot both win.

Requests that make no sense for the cluster as it is (scaling an app that isn't there) raise
:class:`~kuberya.nl.errors.CannotPlan` with a suggestion, before anything is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from kuberya.meta.timefmt import format_time
from kuberya.nl.errors import CannotPlan
from kuberya.nl.facts import ClusterFacts, DeploymentFacts, ImageFacts
from kuberya.nl.plan import (
    ACCESS_INTENTS,
    DNS_LABEL,
    STORAGE_INTENTS,
    STORAGE_KINDS,
    Intent,
    JSONDict,
    Operation,
    Plan,
    Request,
    Step,
    Verb,
)

DEFAULT_CPU_PERCENT = 80
"""kubectl autoscale's default target when none is given."""
DEFAULT_MAX_REPLICAS = 10


def build_plan(request: Request, facts: ClusterFacts, *, now: datetime | None = None) -> Plan:
    """Plan the request against the given facts; ``now`` stamps restarts (default: the clock)."""
    builder = _Builder(request, facts, now or datetime.now(UTC))
    if request.intent in ACCESS_INTENTS:
        # Access questions and grants (RBAC) live in their own module, which builds on this one.
        from kuberya.nl.build_access import plan_access

        plan_access(builder)
    elif request.intent in STORAGE_INTENTS or request.kind in STORAGE_KINDS:
        # Claims and volumes (and their lists) live in their own module, which builds on this one.
        from kuberya.nl.build_storage import plan_storage

        plan_storage(builder)
    elif request.intent in _PLANNERS:
        _PLANNERS[request.intent](builder)
    else:
        # Jobs, CronJobs, StatefulSets and nodes live in their own module, which builds on this one.
        from kuberya.nl.build_workloads import WORKLOAD_PLANNERS

        WORKLOAD_PLANNERS[request.intent](builder)
    return Plan(
        request=request, steps=tuple(builder.steps), warnings=tuple(builder.warnings), notes=tuple(builder.notes)
    )


@dataclass
class _Builder:
    request: Request
    facts: ClusterFacts
    now: datetime
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return self.request.namespace or self.facts.default_namespace

    @property
    def app(self) -> str:
        assert self.request.app is not None, "validate_request guarantees an app for this intent"
        return self.request.app

    def say(self, ko: str, en: str) -> str:
        # Descriptions put particles on Korean nouns, never on a Latin name ("디플로이먼트 payment
        # 생성"), because 을/를 after a Latin word depends on how it is read aloud.
        return ko if self.request.language == "ko" else en

    def kubectl(self, *args: str) -> str:
        parts = ["kubectl"]
        if self.request.context:
            parts += ["--context", self.request.context]
        parts += args
        if self.request.namespace:
            parts += ["-n", self.request.namespace]
        return " ".join(parts)

    def add(self, description: str, kubectl: str, operation: Operation) -> None:
        self.steps.append(Step(description, kubectl, operation))

    def op(
        self,
        verb: Verb,
        api_version: str,
        resource: str,
        name: str | None = None,
        *,
        body: JSONDict | None = None,
        patch: JSONDict | None = None,
        patch_type: str | None = None,
        params: JSONDict | None = None,
        ignore_not_found: bool = False,
    ) -> Operation:
        """An operation in the request's namespace."""
        return Operation(
            verb,
            api_version,
            resource,
            namespace=self.ns,
            name=name,
            body=body,
            patch=patch,
            patch_type=patch_type,
            params=params or {},
            ignore_not_found=ignore_not_found,
        )

    def deployment(self) -> DeploymentFacts | None:
        return self.facts.deployment(self.ns, self.app)

    def existing_deployment(self) -> DeploymentFacts:
        found = self.deployment()
        if found is None:
            raise CannotPlan(
                self.say(f"{self.ns} 네임스페이스에 디플로이먼트 {self.app} 없어요.",
                         f"There is no deployment {self.app} in namespace {self.ns}."),
                [self.say(f"{self.app} 앱을 실행해줘", f"run the {self.app} app")],
            )  # fmt: skip
        return found

    def ensure_namespace(self) -> None:
        ns = self.request.namespace
        if ns is None or self.facts.namespace_exists(ns):
            return
        self.notes.append(
            self.say(f"네임스페이스 {ns} 없어서 새로 만들어요.", f"Namespace {ns} does not exist; creating it.")
        )
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        self.add(
            self.say(f"네임스페이스 {ns} 생성", f"create namespace {ns}"),
            " ".join(["kubectl", *(["--context", self.request.context] if self.request.context else []),
                      "create", "namespace", ns]),
            Operation(Verb.CREATE, "v1", "namespaces", name=ns, body=body),
        )  # fmt: skip


# --- running ---------------------------------------------------------------------------------


def _resolve_image(b: _Builder) -> tuple[str, ImageFacts | None]:
    """The image for a new app or pod, by the rules of "run the X app"."""
    if b.request.image:
        return b.request.image, b.facts.local_image(b.request.image)
    local = b.facts.local_image(b.app)
    if local is not None:
        return local.reference, local
    registry = b.facts.default_registry
    if registry:
        ref = f"{registry.rstrip('/')}/{b.app}:latest"
        b.notes.append(b.say(f"로컬에 {b.app} 이미지가 없어 {ref} 사용", f"no local image {b.app}; using {ref}"))
        return ref, None
    ref = f"{b.app}:latest"
    b.warnings.append(
        b.say(f"여기에 {ref} 이미지가 없어요. `kuberya build ./{b.app} -t {ref}`로 먼저 빌드하세요.",
              f"no image {ref} here; build it with `kuberya build ./{b.app} -t {ref}`")
    )  # fmt: skip
    return ref, None


def _container_name(image: str, fallback: str) -> str:
    """Kubectl names the container after the image's last path element, without tag or digest."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return name if DNS_LABEL.match(name) else fallback


def _ports(b: _Builder, local: ImageFacts | None) -> list[int]:
    if b.request.port:
        return [b.request.port]
    return list(local.exposed_ports[:1]) if local else []


def _plan_run_app(b: _Builder) -> None:
    existing = b.deployment()
    if existing is not None:
        _plan_run_existing(b, existing)
        return
    b.ensure_namespace()
    image, local = _resolve_image(b)
    replicas = b.request.replicas if b.request.replicas is not None else 1
    ports = _ports(b, local)
    labels = {"app": b.app}
    container: JSONDict = {"name": _container_name(image, b.app), "image": image}
    if ports:
        container["ports"] = [{"containerPort": p} for p in ports]
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": b.app, "namespace": b.ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    port_flag = [f"--port={ports[0]}"] if ports else []
    b.add(
        b.say(f"디플로이먼트 {b.app} 생성 (이미지 {image}, 레플리카 {replicas}개)",
              f"create deployment {b.app} ({image}, {replicas} {'replica' if replicas == 1 else 'replicas'})"),
        b.kubectl("create", "deployment", b.app, f"--image={image}", f"--replicas={replicas}", *port_flag),
        b.op(Verb.CREATE, "apps/v1", "deployments", b.app, body=body),
    )  # fmt: skip
    if ports:
        _add_service(b, ports[0], selector=labels, target="deployment")


def _plan_run_existing(b: _Builder, existing: DeploymentFacts) -> None:
    b.notes.append(b.say(f"디플로이먼트 {b.app} 이미 있어요: 새로 만들지 않고 맞춰요.",
                         f"Deployment {b.app} already exists: adjusting it instead of creating it."))  # fmt: skip
    if b.request.image and b.request.image not in existing.images:
        _add_set_image(b, existing, b.request.image)
    replicas = b.request.replicas
    if replicas is not None and replicas != existing.replicas:
        _add_scale(b, replicas, current=None)
    if not b.steps:
        b.notes.append(b.say(f"이미 레플리카 {existing.replicas}개로 실행 중이에요.",
                             f"It is already running with {existing.replicas} replicas."))  # fmt: skip
        _plan_status(b)


def _plan_run_pod(b: _Builder) -> None:
    b.ensure_namespace()
    image, local = _resolve_image(b)
    ports = _ports(b, local)
    labels = {"run": b.app}
    container: JSONDict = {"name": b.app, "image": image}
    if ports:
        container["ports"] = [{"containerPort": p} for p in ports]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": b.app, "namespace": b.ns, "labels": labels},
        "spec": {"containers": [container]},
    }
    b.add(
        b.say(f"파드 {b.app} 1개 실행 (이미지 {image})", f"run one pod {b.app} ({image})"),
        b.kubectl("run", b.app, f"--image={image}", *([f"--port={ports[0]}"] if ports else [])),
        b.op(Verb.CREATE, "v1", "pods", b.app, body=body),
    )


def _add_service(b: _Builder, port: int, *, selector: dict[str, str], target: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": b.app, "namespace": b.ns, "labels": {"app": b.app}},
        "spec": {"selector": selector, "ports": [{"port": port, "targetPort": port, "protocol": "TCP"}]},
    }
    b.add(
        b.say(f"서비스 {b.app} 생성 (포트 {port})", f"create service {b.app} on port {port}"),
        b.kubectl("expose", target, b.app, f"--port={port}"),
        b.op(Verb.CREATE, "v1", "services", b.app, body=body),
    )


# --- changing what runs ----------------------------------------------------------------------


def _add_scale(b: _Builder, replicas: int, *, current: int | None) -> None:
    params: JSONDict = {"replicas": replicas}
    guard = []
    if current is not None:
        params["current_replicas"] = current
        guard = [f"--current-replicas={current}"]
    b.add(
        b.say(f"디플로이먼트 {b.app} 레플리카 {replicas}개로 조정", f"scale deployment {b.app} to {replicas}"),
        b.kubectl("scale", "deployment", b.app, *guard, f"--replicas={replicas}"),
        b.op(Verb.SCALE, "apps/v1", "deployments", b.app, params=params),
    )


def _plan_scale(b: _Builder) -> None:
    b.existing_deployment()
    assert b.request.replicas is not None
    _add_scale(b, b.request.replicas, current=None)


def _plan_scale_by(b: _Builder) -> None:
    current = b.existing_deployment().replicas
    assert b.request.delta is not None
    target = max(0, current + b.request.delta)
    if current + b.request.delta < 0:
        b.notes.append(b.say(f"지금 {current}개뿐이라 0개로 줄여요.", f"Only {current} running: scaling to 0."))
    b.notes.append(b.say(f"레플리카 {current}개 → {target}개", f"{current} → {target} replicas"))
    _add_scale(b, target, current=current)


def _plan_stop(b: _Builder) -> None:
    if b.request.all:
        b.add(
            b.say(f"{b.ns} 네임스페이스의 모든 디플로이먼트 0개로 조정", f"scale every deployment in {b.ns} to zero"),
            b.kubectl("scale", "deployment", "--all", "--replicas=0"),
            b.op(Verb.SCALE, "apps/v1", "deployments", None, params={"replicas": 0}),
        )
        return
    b.existing_deployment()
    _add_scale(b, 0, current=None)
    b.notes.append(b.say(f"다시 켜려면: {b.app} 1개로 늘려줘", f"to start it again: scale {b.app} to 1"))


def _plan_delete(b: _Builder) -> None:
    if b.request.all:
        # Only what `create deployment`/`expose` (app=…) and `run` (run=…) made: a bare
        # `--all` would also take the API's own `kubernetes` Service in `default`.
        # "delete all pods" is every pod (controllers replace theirs); otherwise what apps are made of.
        if b.request.kind == "pods":
            b.add(
                b.say(f"{b.ns} 네임스페이스의 파드 모두 삭제", f"delete every pod in {b.ns}"),
                b.kubectl("delete", "pods", "--all"),
                b.op(Verb.DELETE, "v1", "pods", None),
            )
            return
        for resource, version, label, ko, en in (
            ("deployments", "apps/v1", "app", "디플로이먼트", "deployments"),
            ("services", "v1", "app", "서비스", "services"),
            ("pods", "v1", "run", "파드", "pods"),
        ):
            if b.request.kind not in (None, "all", resource):
                continue
            b.add(
                b.say(
                    f"{b.ns} 네임스페이스의 {ko} 모두 삭제 ({label} 레이블)",
                    f"delete all {en} labelled {label} in {b.ns}",
                ),
                b.kubectl("delete", resource, "-l", label),
                b.op(Verb.DELETE, version, resource, None, params={"labelSelector": label}),
            )
        return
    if b.request.kind == "pods" or b.deployment() is None:
        if b.request.kind != "pods":
            b.warnings.append(b.say(f"디플로이먼트 {b.app} 없어요: 같은 이름의 파드를 지워요.",
                                    f"no deployment {b.app}: deleting a pod of that name, if any"))  # fmt: skip
        b.add(
            b.say(f"파드 {b.app} 삭제", f"delete pod {b.app}"),
            b.kubectl("delete", "pod", b.app, "--ignore-not-found"),
            b.op(Verb.DELETE, "v1", "pods", b.app, ignore_not_found=True),
        )
    else:
        b.add(
            b.say(f"디플로이먼트 {b.app} 삭제", f"delete deployment {b.app}"),
            b.kubectl("delete", "deployment", b.app),
            b.op(Verb.DELETE, "apps/v1", "deployments", b.app),
        )
    b.add(
        b.say(f"서비스 {b.app} 삭제 (있으면)", f"delete service {b.app}, if there is one"),
        b.kubectl("delete", "service", b.app, "--ignore-not-found"),
        b.op(Verb.DELETE, "v1", "services", b.app, ignore_not_found=True),
    )


def _add_set_image(b: _Builder, existing: DeploymentFacts, image: str) -> None:
    containers = existing.containers or (b.app,)
    container = b.app if b.app in containers else containers[0]
    if len(containers) > 1:
        b.notes.append(
            b.say(f"컨테이너가 여럿이라 {container}만 바꿔요.", f"Several containers: changing {container}.")
        )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    b.add(
        b.say(f"디플로이먼트 {b.app} 이미지 {image}로 변경 (롤링 업데이트)", f"roll out {image} to deployment {b.app}"),
        b.kubectl("set", "image", f"deployment/{b.app}", f"{container}={image}"),
        b.op(Verb.PATCH, "apps/v1", "deployments", b.app, patch=patch, patch_type="strategic"),
    )


def _plan_set_image(b: _Builder) -> None:
    assert b.request.image is not None
    _add_set_image(b, b.existing_deployment(), b.request.image)


def _plan_rollback(b: _Builder) -> None:
    b.existing_deployment()
    revision = b.request.revision
    ko_to, en_to = (
        (f"리비전 {revision}", f"revision {revision}") if revision else ("이전 버전", "the previous revision")
    )
    b.add(
        b.say(f"디플로이먼트 {b.app} {ko_to}(으)로 롤백", f"roll deployment {b.app} back to {en_to}"),
        b.kubectl("rollout", "undo", f"deployment/{b.app}", *([f"--to-revision={revision}"] if revision else [])),
        b.op(Verb.ROLLBACK, "apps/v1", "deployments", b.app, params={"revision": revision} if revision else {}),
    )  # fmt: skip


def _plan_restart(b: _Builder) -> None:
    b.existing_deployment()
    stamp = format_time(b.now)
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    b.add(
        b.say(
            f"디플로이먼트 {b.app} 재시작 (파드를 하나씩 교체)",
            f"restart deployment {b.app} (pods replaced one by one)",
        ),
        b.kubectl("rollout", "restart", f"deployment/{b.app}"),
        b.op(Verb.PATCH, "apps/v1", "deployments", b.app, patch=patch, patch_type="strategic"),
    )


def _plan_expose(b: _Builder) -> None:
    existing = b.deployment()
    port = b.request.port or (existing.container_ports[0] if existing and existing.container_ports else None)
    if port is None:
        raise CannotPlan(
            b.say("어느 포트로 노출할지 알려 주세요.", "Which port? The app declares none."),
            [b.say(f"{b.app} 8080 포트로 노출해줘", f"expose {b.app} on port 8080")],
        )
    if existing is None:
        b.warnings.append(b.say(f"디플로이먼트 {b.app} 없어요: 파드 {b.app}를 노출해요.",
                                f"no deployment {b.app}: exposing the pod {b.app}"))  # fmt: skip
        _add_service(b, port, selector={"run": b.app}, target="pod")
    else:
        _add_service(b, port, selector={"app": b.app}, target="deployment")


def _plan_autoscale(b: _Builder) -> None:
    if b.deployment() is None:
        b.warnings.append(b.say(f"디플로이먼트 {b.app} 아직 없어요.", f"deployment {b.app} does not exist (yet)"))
    r = b.request
    low = r.min_replicas or 1
    high = r.max_replicas if r.max_replicas is not None else max(DEFAULT_MAX_REPLICAS, low)
    cpu = r.cpu_percent or DEFAULT_CPU_PERCENT
    if r.max_replicas is None or r.cpu_percent is None:
        b.notes.append(b.say(f"기본값 사용: 최소 {low}, 최대 {high}, CPU {cpu}%",
                             f"defaults used: min {low}, max {high}, CPU {cpu}%"))  # fmt: skip
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": b.app, "namespace": b.ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": b.app},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}},
                }
            ],
        },
    }
    b.add(
        b.say(f"디플로이먼트 {b.app} 오토스케일 (최소 {low}, 최대 {high}, CPU {cpu}%)",
              f"autoscale deployment {b.app} between {low} and {high} at {cpu}% CPU"),
        b.kubectl("autoscale", "deployment", b.app, f"--min={low}", f"--max={high}", f"--cpu-percent={cpu}"),
        b.op(Verb.CREATE, "autoscaling/v2", "horizontalpodautoscalers", b.app, body=body),
    )  # fmt: skip


# --- reading ---------------------------------------------------------------------------------


def _plan_status(b: _Builder) -> None:
    if b.deployment() is None:
        b.warnings.append(b.say(f"디플로이먼트 {b.app} 없어요: 파드 {b.app}를 찾아봐요.",
                                f"no deployment {b.app}: looking for a pod of that name"))  # fmt: skip
        b.add(b.say(f"파드 {b.app} 조회", f"get pod {b.app}"), b.kubectl("get", "pod", b.app),
              b.op(Verb.GET, "v1", "pods", b.app))  # fmt: skip
        return
    b.add(
        b.say(f"디플로이먼트 {b.app} 조회", f"get deployment {b.app}"),
        b.kubectl("get", "deployment", b.app),
        b.op(Verb.GET, "apps/v1", "deployments", b.app),
    )
    b.add(
        b.say(f"{b.app} 파드 목록", f"list the pods of {b.app}"),
        b.kubectl("get", "pods", "-l", f"app={b.app}"),
        b.op(Verb.LIST, "v1", "pods", params={"labelSelector": f"app={b.app}"}),
    )


_KIND_API = {
    "deployments": ("apps/v1", "디플로이먼트"),
    "pods": ("v1", "파드"),
    "services": ("v1", "서비스"),
}


def _plan_list(b: _Builder) -> None:
    kinds = list(_KIND_API) if b.request.kind in (None, "all") else [b.request.kind or "pods"]
    for kind in kinds:
        version, ko = _KIND_API[kind]
        b.add(
            b.say(f"{ko} 목록", f"list {kind}"),
            b.kubectl("get", kind),
            b.op(Verb.LIST, version, kind),
        )


def _plan_logs(b: _Builder) -> None:
    r = b.request
    resource, noun = ("deployments", "deployment") if b.deployment() is not None else ("pods", "pod")
    params: JSONDict = {"follow": r.follow}
    flags = []
    if r.tail is not None:
        params["tailLines"] = r.tail
        flags.append(f"--tail={r.tail}")
    if r.follow:
        flags.append("-f")
    b.add(
        b.say(
            f"{b.app} 로그{' 실시간' if r.follow else ''} 보기",
            f"{'follow' if r.follow else 'show'} the logs of {b.app}",
        ),
        b.kubectl("logs", f"{noun}/{b.app}", *flags),
        b.op(Verb.LOGS, "apps/v1" if resource == "deployments" else "v1", resource, b.app, params=params),
    )


_PLANNERS = {
    Intent.RUN_APP: _plan_run_app,
    Intent.RUN_POD: _plan_run_pod,
    Intent.SCALE: _plan_scale,
    Intent.SCALE_BY: _plan_scale_by,
    Intent.STOP: _plan_stop,
    Intent.DELETE: _plan_delete,
    Intent.STATUS: _plan_status,
    Intent.LIST: _plan_list,
    Intent.LOGS: _plan_logs,
    Intent.SET_IMAGE: _plan_set_image,
    Intent.ROLLBACK: _plan_rollback,
    Intent.RESTART: _plan_restart,
    Intent.EXPOSE: _plan_expose,
    Intent.AUTOSCALE: _plan_autoscale,
}
