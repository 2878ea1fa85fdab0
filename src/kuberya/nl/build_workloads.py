"""Plans for the workload requests: a Job, a CronJob, a StatefulSet, and drain/cordon/uncordon of a node.

As in :mod:`~kuberya.nl.build`, each body is what the ``kubectl`` line shown beside it sends:

* ``kubectl create job NAME --image=I [-- CMD]``: one container named after the job,
  ``restartPolicy: Never``; ``create cronjob`` the same inside ``jobTemplate`` (named after the
  CronJob), with ``restartPolicy: OnFailure`` and the ``schedule``, which the plan also says in words;
* a StatefulSet has no ``kubectl create`` generator: its headless Service is what
  ``kubectl create service clusterip NAME --clusterip=None [--tcp=P:P]`` makes (``app=NAME``), and
  the StatefulSet (``serviceName`` = that Service, ``podManagementPolicy: OrderedReady`` — "in
  order", one pod Ready before the next starts) is shown as ``kubectl create -f -``;
* ``kubectl cordon``/``uncordon`` patch ``spec.unschedulable``; ``kubectl drain`` cordons, then
  evicts every pod on the node but DaemonSet and mirror pods through the Eviction API, so that
  PodDisruptionBudgets are honoured (:attr:`~kuberya.nl.plan.Verb.DRAIN`). A drain is destructive:
  it is confirmed like a delete.

Images are resolved as "run the X app" resolves them (local store, default registry, else
``X:latest`` with a warning), and the node defaults to the cluster's only node.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from kuberya.nl.build import _Builder, _container_name, _ports, _resolve_image
from kuberya.nl.errors import CannotPlan
from kuberya.nl.plan import Intent, JSONDict, Operation, Verb
from kuberya.nl.schedule import describe

DRAIN_FLAGS = ("--ignore-daemonsets", "--delete-emptydir-data")
"""What ``ask`` drains with: DaemonSet pods stay (their controller would recreate them at once),
pods with emptyDir volumes go (the volume is scratch space by definition)."""


def _container(b: _Builder, image: str, *, name: str) -> JSONDict:
    container: JSONDict = {"name": name, "image": image}
    if b.request.command:
        container["command"] = list(b.request.command)
    return container


def _with_command(b: _Builder, args: list[str]) -> list[str]:
    if not b.request.command:
        return args
    return [*args, "--", *(shlex.quote(word) for word in b.request.command)]


def _plan_run_job(b: _Builder) -> None:
    b.ensure_namespace()
    image, _ = _resolve_image(b)
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": b.app, "namespace": b.ns},
        "spec": {"template": {"spec": {"containers": [_container(b, image, name=b.app)], "restartPolicy": "Never"}}},
    }
    b.add(
        b.say(f"잡 {b.app} 생성: 한 번 실행하고 끝나요 (이미지 {image})",
              f"create job {b.app}: runs once to completion ({image})"),
        b.kubectl(*_with_command(b, ["create", "job", b.app, f"--image={image}"])),
        b.op(Verb.CREATE, "batch/v1", "jobs", b.app, body=body),
    )  # fmt: skip
    b.notes.append(b.say(f"끝났는지 보려면: kubectl wait --for=condition=complete job/{b.app}",
                         f"to see it finish: kubectl wait --for=condition=complete job/{b.app}"))  # fmt: skip


def _plan_run_cronjob(b: _Builder) -> None:
    schedule = b.request.schedule
    assert schedule is not None, "validate_request guarantees a schedule"
    b.ensure_namespace()
    image, _ = _resolve_image(b)
    pod_spec = {"containers": [_container(b, image, name=b.app)], "restartPolicy": "OnFailure"}
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": b.app, "namespace": b.ns},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"metadata": {"name": b.app}, "spec": {"template": {"spec": pod_spec}}},
        },
    }
    words = describe(schedule, b.request.language)
    b.add(
        b.say(f"크론잡 {b.app} 생성: {words} 실행 ({schedule}, 이미지 {image})",
              f"create cronjob {b.app}: runs {words} ({schedule}, {image})"),
        b.kubectl(*_with_command(b, ["create", "cronjob", b.app, f"--image={image}",
                                     f"--schedule={shlex.quote(schedule)}"])),
        b.op(Verb.CREATE, "batch/v1", "cronjobs", b.app, body=body),
    )  # fmt: skip
    # No spec.timeZone: the time is the cluster's (its controller manager's zone), not the user's.
    b.notes.append(b.say("시간은 클러스터 컨트롤러 매니저의 시간대 기준이에요 (kuberya는 UTC).",
                         "Times are in the cluster controller manager's time zone (UTC on kuberya)."))  # fmt: skip


def _plan_run_statefulset(b: _Builder) -> None:
    b.ensure_namespace()
    image, local = _resolve_image(b)
    replicas = b.request.replicas if b.request.replicas is not None else 1
    ports = _ports(b, local)
    labels = {"app": b.app}
    service_spec: JSONDict = {"clusterIP": "None", "selector": labels}
    tcp: list[str] = []
    if ports:
        service_spec["ports"] = [{"name": f"{ports[0]}-{ports[0]}", "port": ports[0], "targetPort": ports[0],
                                  "protocol": "TCP"}]  # fmt: skip
        tcp = [f"--tcp={ports[0]}:{ports[0]}"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": b.app, "namespace": b.ns, "labels": labels},
        "spec": service_spec,
    }
    b.add(
        b.say(f"헤드리스 서비스 {b.app} 생성 (파드마다 고정 DNS 이름)",
              f"create headless service {b.app} (a stable DNS name per pod)"),
        b.kubectl("create", "service", "clusterip", b.app, "--clusterip=None", *tcp),
        b.op(Verb.CREATE, "v1", "services", b.app, body=service),
    )  # fmt: skip
    container: JSONDict = {"name": _container_name(image, b.app), "image": image}
    if ports:
        container["ports"] = [{"containerPort": p} for p in ports]
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": b.app, "namespace": b.ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": b.app,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    names = ", ".join(f"{b.app}-{i}" for i in range(min(replicas, 3))) + (", …" if replicas > 3 else "")
    ko_volume = en_volume = ""
    if b.request.storage is not None:
        # Each replica its own claim, data-NAME-N, kept across pod deletion (build_storage).
        from kuberya.nl.build_storage import add_claim_template

        path = add_claim_template(b, body, container, image)
        ko_volume = f"; 파드마다 볼륨 {b.request.storage} → {path}"
        en_volume = f"; a {b.request.storage} volume per pod at {path}"
    b.add(
        b.say(f"스테이트풀셋 {b.app} 생성 (레플리카 {replicas}개를 순서대로: {names}; 이미지 {image}{ko_volume})",
              f"create statefulset {b.app} ({replicas} in order: {names}; {image}{en_volume})"),
        b.kubectl("create", "-f", "-"),
        b.op(Verb.CREATE, "apps/v1", "statefulsets", b.app, body=body),
    )  # fmt: skip
    if b.request.storage is not None:
        from kuberya.nl.build_storage import manifest_note

        manifest_note(b, body)
        return
    b.notes.append(b.say("kubectl에는 create statefulset이 없어요: 매니페스트는 --dry-run -o json으로 볼 수 있어요.",
                         "kubectl has no `create statefulset`: see the manifest with --dry-run -o json."))  # fmt: skip


# --- nodes -----------------------------------------------------------------------------------


def _node(b: _Builder) -> str:
    """The node named, or the only one; refuse a name the cluster does not have."""
    nodes = tuple(b.facts.nodes)
    named = b.request.node
    listed = ", ".join(nodes) or b.say("없음", "none")
    if named is not None:
        if nodes and named not in nodes:
            raise CannotPlan(
                b.say(f"노드 {named} 없어요. 노드: {listed}", f"There is no node {named}; the nodes are: {listed}."),
                [b.say(f"{n} 노드 cordon 해줘", f"cordon {n}") for n in nodes[:2]],
            )
        return named
    if len(nodes) == 1:
        return nodes[0]
    raise CannotPlan(
        b.say(f"어느 노드인지 알려 주세요. 노드: {listed}", f"Which node? The nodes are: {listed}."),
        [b.say(f"{n} 노드 cordon 해줘", f"cordon {n}") for n in nodes[:2]],
    )


def _node_op(verb: Verb, name: str, *, patch: JSONDict | None = None, params: JSONDict | None = None) -> Operation:
    return Operation(verb, "v1", "nodes", name=name, patch=patch, patch_type="strategic" if patch else None,
                     params=params or {})  # fmt: skip


def _add_cordon(b: _Builder, node: str, *, unschedulable: bool) -> None:
    # kubectl computes a two-way strategic merge patch: false is the default and is dropped (null).
    patch: JSONDict = {"spec": {"unschedulable": True if unschedulable else None}}
    verb = "cordon" if unschedulable else "uncordon"
    if unschedulable:
        description = b.say(f"노드 {node}에 새 파드 스케줄 금지 (cordon)", f"cordon node {node}: no new pods go there")
    else:
        description = b.say(f"노드 {node}에 다시 파드 스케줄 허용 (uncordon)", f"uncordon node {node}: pods go there")
    b.add(
        description,
        b.kubectl(verb, node),
        _node_op(Verb.PATCH, node, patch=patch),
    )


def _plan_cordon(b: _Builder) -> None:
    node = _node(b)
    _add_cordon(b, node, unschedulable=True)
    b.notes.append(b.say(f"되돌리려면: {node} 노드 다시 스케줄 가능하게 해줘", f"to undo: uncordon {node}"))


def _plan_uncordon(b: _Builder) -> None:
    _add_cordon(b, _node(b), unschedulable=False)


def _plan_drain(b: _Builder) -> None:
    node = _node(b)
    _add_cordon(b, node, unschedulable=True)
    b.add(
        b.say(f"노드 {node}의 파드 축출 (데몬셋 파드 제외, PodDisruptionBudget 준수)",
              f"evict the pods of node {node} (DaemonSet pods excepted, PodDisruptionBudgets honoured)"),
        b.kubectl("drain", node, *DRAIN_FLAGS),
        _node_op(Verb.DRAIN, node, params={"ignoreDaemonSets": True, "deleteEmptyDirData": True}),
    )  # fmt: skip
    b.notes.append(b.say(f"끝나고 다시 쓰려면: {node} 노드 다시 스케줄 가능하게 해줘",
                         f"to use the node again afterwards: uncordon {node}"))  # fmt: skip


WORKLOAD_PLANNERS: dict[Intent, Callable[[_Builder], None]] = {
    Intent.RUN_JOB: _plan_run_job,
    Intent.RUN_CRONJOB: _plan_run_cronjob,
    Intent.RUN_STATEFULSET: _plan_run_statefulset,
    Intent.DRAIN: _plan_drain,
    Intent.CORDON: _plan_cordon,
    Intent.UNCORDON: _plan_uncordon,
}
