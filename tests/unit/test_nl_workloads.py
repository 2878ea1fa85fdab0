"""kuberya.nl for the workloads: schedules in words, and the plans for Jobs, CronJobs, StatefulSets and nodes."""

from __future__ import annotations

import json

import pytest

from kuberya.nl import (
    CannotPlan,
    ImageFacts,
    Intent,
    NotUnderstood,
    Plan,
    Request,
    StaticFacts,
    Verb,
    build_plan,
    facts_needed,
    parse,
    validate_request,
)
from kuberya.nl.llm import request_from_answer, system_prompt
from kuberya.nl.normalize import normalize
from kuberya.nl.schedule import describe, take_schedule, validate_cron

BUSYBOX = ImageFacts("busybox:1.36")
REDIS = ImageFacts("redis:7", exposed_ports=(6379,))
FACTS = StaticFacts(images={"busybox": BUSYBOX, "redis": REDIS}, nodes=("kuberya",))


def plan(text: str, facts: StaticFacts = FACTS) -> Plan:
    return build_plan(parse(text), facts)


# --- schedules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("매일 새벽 3시에", "0 3 * * *"),
        ("매일 밤 12시", "0 0 * * *"),
        ("매일 밤 1시", "0 1 * * *"),
        ("매일 오후 12시", "0 12 * * *"),
        ("매일 저녁 여섯시 반", "30 18 * * *"),
        ("매주 화요일 목요일 오후 2시", "0 14 * * 2,4"),
        ("매주 금요일", "0 0 * * 5"),
        ("매달 15일 오전 10시", "0 10 15 * *"),
        ("15분마다", "*/15 * * * *"),
        ("1시간마다", "0 * * * *"),
        ("every 15 minutes", "*/15 * * * *"),
        ("every minute", "* * * * *"),
        ("daily at 12:15", "15 12 * * *"),
        ("every day at 12am", "0 0 * * *"),
        ("every day at 12pm", "0 12 * * *"),
        ("every tuesday and thursday at 2pm", "0 14 * * 2,4"),
        ("every sunday", "0 0 * * 0"),
        ("weekly", "0 0 * * 0"),
        ("monthly", "0 0 1 * *"),
        ("@daily", "@daily"),
        ("*/5 * * * *", "*/5 * * * *"),
    ],
)
def test_schedule_words_become_cron(text: str, cron: str) -> None:
    norm = normalize(text)
    scanned = take_schedule(norm.text, norm.language)
    assert scanned.cron == cron
    assert not scanned.text.strip() or scanned.text.strip() in ("and",)  # every schedule word was taken


def test_text_without_schedule_words_has_no_schedule() -> None:
    for text in ("payment 3개로 늘려줘", "autoscale payment at 50% cpu", "run 3 payment apps", "3 시간 뒤에"):
        norm = normalize(text)
        assert take_schedule(norm.text, norm.language).cron is None, text


@pytest.mark.parametrize(
    ("cron", "ko", "en"),
    [
        ("0 3 * * *", "매일 03:00", "every day at 03:00"),
        ("*/5 * * * *", "5분마다", "every 5 minutes"),
        ("0 * * * *", "매시간 정각", "every hour, on the hour"),
        ("0 */2 * * *", "2시간마다", "every 2 hours"),
        ("30 9 * * 1-5", "평일 09:30", "weekdays at 09:30"),
        ("0 22 * * 0,6", "주말 22:00", "weekends at 22:00"),
        ("0 9 * * 1", "매주 월요일 09:00", "every Monday at 09:00"),
        ("0 0 1 * *", "매달 1일 00:00", "on day 1 of every month at 00:00"),
        ("@hourly", "매시간 정각", "every hour, on the hour"),
        ("0 0 13 * 5", "cron 0 0 13 * 5", "cron 0 0 13 * 5"),
    ],
)
def test_schedules_are_said_in_words(cron: str, ko: str, en: str) -> None:
    assert describe(cron, "ko") == ko
    assert describe(cron, "en") == en


def test_cron_is_validated_as_upstream_does() -> None:
    assert validate_cron("0 3 * * *") == "0 3 * * *"
    for bad in ("0 3 * *", "61 * * * *", "0 0 * * 7", "every day"):
        with pytest.raises(NotUnderstood):
            validate_cron(bad)


# --- requests ----------------------------------------------------------------------------------


def test_validate_request_for_the_new_intents() -> None:
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.RUN_CRONJOB, app="backup"))  # no schedule
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.RUN_APP, app="backup", schedule="0 3 * * *"))
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.DRAIN, app="payment"))
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.RUN_APP, app="x", command=("echo",)))
    with pytest.raises(NotUnderstood):
        validate_request(Request(Intent.CORDON, node="Bad_Node"))
    assert validate_request(Request(Intent.DRAIN)).node is None


def test_llm_answers_for_the_new_intents_are_validated() -> None:
    prompt = system_prompt()
    for intent in ("run_job", "run_cronjob", "run_statefulset", "drain", "cordon", "uncordon"):
        assert intent in prompt
    got = request_from_answer(
        json.dumps({"intent": "run_cronjob", "app": "backup", "schedule": "0 3 * * *", "command": ["sh", "-c", "x"]}),
        language="ko",
    )
    assert (got.schedule, got.command) == ("0 3 * * *", ("sh", "-c", "x"))
    for bad in (
        {"intent": "run_cronjob", "app": "backup", "schedule": "at three"},
        {"intent": "run_job", "app": "backup", "command": "rm -rf /"},
        {"intent": "drain", "node": "kuberya", "app": "payment"},
    ):
        with pytest.raises(Exception, match="refused"):
            request_from_answer(json.dumps(bad), language="en")


def test_a_request_with_a_command_round_trips_through_json() -> None:
    request = parse("run the backup job -- sh -c 'echo hi'")
    assert Request.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_facts_needed_for_the_new_intents() -> None:
    assert facts_needed(parse("노드 비워줘")).nodes
    assert not facts_needed(parse("run the backup job")).nodes
    needed = facts_needed(parse("run 3 redis in order"))
    assert needed.images == ("redis",) and needed.deployment is None


# --- plans -------------------------------------------------------------------------------------


def test_run_job_is_kubectl_create_job() -> None:
    p = plan("run a job called backup with image busybox -- sh -c 'echo hi; exit 0'")
    assert p.kubectl == ["kubectl create job backup --image=busybox -- sh -c 'echo hi; exit 0'"]
    op = p.steps[0].operation
    assert (op.verb, op.api_version, op.resource, op.namespace) == (Verb.CREATE, "batch/v1", "jobs", "default")
    assert op.body is not None
    assert op.body["spec"]["template"]["spec"] == {
        "containers": [{"name": "backup", "image": "busybox", "command": ["sh", "-c", "echo hi; exit 0"]}],
        "restartPolicy": "Never",
    }
    assert not p.destructive and not p.warnings


def test_run_job_without_a_local_image_resolves_as_run_app_does() -> None:
    p = plan("migrate 잡 실행해줘")
    assert p.kubectl == ["kubectl create job migrate --image=migrate:latest"]
    assert "kuberya build ./migrate" in p.warnings[0]
    assert p.steps[0].description.startswith("잡 migrate 생성")
    with_registry = build_plan(parse("run the migrate job"), StaticFacts(default_registry="registry.local:5000"))
    assert with_registry.kubectl == ["kubectl create job migrate --image=registry.local:5000/migrate:latest"]


def test_run_job_in_a_missing_namespace_creates_it_first() -> None:
    p = plan("shop 네임스페이스에 backup 잡 실행해줘")
    assert p.kubectl == ["kubectl create namespace shop", "kubectl create job backup --image=backup:latest -n shop"]


def test_cronjob_plan_shows_the_schedule_as_cron_and_in_words() -> None:
    p = plan("매일 새벽 3시에 busybox 돌려줘")
    assert p.kubectl == ["kubectl create cronjob busybox --image=busybox:1.36 --schedule='0 3 * * *'"]
    assert "매일 03:00" in p.steps[0].description
    body = p.steps[0].operation.body
    assert body is not None and body["kind"] == "CronJob"
    assert body["spec"]["schedule"] == "0 3 * * *"
    assert body["spec"]["jobTemplate"]["metadata"] == {"name": "busybox"}
    assert body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    english = plan("every 5 minutes run cleanup with image busybox:1.36 -- echo tick")
    assert english.kubectl == [
        "kubectl create cronjob cleanup --image=busybox:1.36 --schedule='*/5 * * * *' -- echo tick"
    ]
    assert "every 5 minutes" in english.steps[0].description
    assert not english.destructive


def test_statefulset_plan_makes_a_headless_service_then_the_statefulset() -> None:
    p = plan("redis 3개를 순서대로 띄워줘")
    assert p.kubectl == [
        "kubectl create service clusterip redis --clusterip=None --tcp=6379:6379",
        "kubectl create -f -",
    ]
    service, statefulset = (s.operation for s in p.steps)
    assert service.body is not None and statefulset.body is not None
    assert service.body["spec"]["clusterIP"] == "None"
    assert service.body["spec"]["selector"] == {"app": "redis"}
    assert service.body["spec"]["ports"][0]["port"] == 6379
    spec = statefulset.body["spec"]
    assert (statefulset.resource, statefulset.api_version) == ("statefulsets", "apps/v1")
    assert (spec["replicas"], spec["serviceName"], spec["podManagementPolicy"]) == (3, "redis", "OrderedReady")
    assert spec["selector"] == {"matchLabels": {"app": "redis"}}
    assert spec["template"]["spec"]["containers"] == [
        {"name": "redis", "image": "redis:7", "ports": [{"containerPort": 6379}]}
    ]
    assert "redis-0, redis-1, redis-2" in p.steps[1].description
    assert not p.destructive


def test_statefulset_without_a_known_port_has_a_portless_headless_service() -> None:
    p = plan("postgres 스테이트풀셋 1개 실행해줘")
    assert p.kubectl[0] == "kubectl create service clusterip postgres --clusterip=None"
    body = p.steps[0].operation.body
    assert body is not None and "ports" not in body["spec"]
    said = plan("run 2 kafka in order on port 9092")
    assert said.kubectl[0].endswith("--tcp=9092:9092")


def test_cordon_and_uncordon_patch_the_only_node() -> None:
    cordon = plan("노드 cordon 해줘")
    assert cordon.kubectl == ["kubectl cordon kuberya"]
    op = cordon.steps[0].operation
    assert (op.verb, op.resource, op.namespace, op.name) == (Verb.PATCH, "nodes", None, "kuberya")
    assert (op.patch, op.patch_type) == ({"spec": {"unschedulable": True}}, "strategic")
    assert not cordon.destructive
    uncordon = plan("노드 다시 스케줄 가능하게 해줘")
    assert uncordon.kubectl == ["kubectl uncordon kuberya"]
    assert uncordon.steps[0].operation.patch == {"spec": {"unschedulable": None}}


def test_drain_cordons_then_evicts_and_is_confirmed() -> None:
    p = plan("노드 비워줘")
    assert p.kubectl == ["kubectl cordon kuberya", "kubectl drain kuberya --ignore-daemonsets --delete-emptydir-data"]
    drain = p.steps[1].operation
    assert (drain.verb, drain.resource, drain.name, drain.namespace) == (Verb.DRAIN, "nodes", "kuberya", None)
    assert drain.params == {"ignoreDaemonSets": True, "deleteEmptyDirData": True}
    assert p.destructive
    assert plan("drain kuberya").to_dict()["destructive"] is True


def test_node_requests_name_a_node_the_cluster_has() -> None:
    two = StaticFacts(nodes=("a", "b"))
    with pytest.raises(CannotPlan, match="Which node"):
        plan("drain the node", two)
    assert plan("drain node b", two).kubectl[0] == "kubectl cordon b"
    with pytest.raises(CannotPlan, match="no node worker-9"):
        plan("cordon worker-9")
    with pytest.raises(CannotPlan):
        plan("cordon the node", StaticFacts())  # nodes could not be listed, and none was named
    assert plan("cordon worker-9", StaticFacts()).kubectl == ["kubectl cordon worker-9"]


def test_context_is_kept_on_node_commands() -> None:
    p = build_plan(parse("--context gke 노드 cordon 해줘"), StaticFacts(nodes=("n1",)))
    assert p.kubectl == ["kubectl --context gke cordon n1"]
