"""``kuberya ask``: rendering, confirmation, JSON, kubeconfig/context resolution, the runner, rollback.

The command is driven through click's CliRunner with :class:`FakeApiClient` in place of the API
client (``kuberya.cli.ask.make_client`` is replaced), so every test checks what a user sees and
which API calls were — or were not — made.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kuberya.cli import ask as ask_module
from kuberya.cli.ask import AskOptions, Duration, confirmation, default_registry, llm_settings, understand
from kuberya.cli.facts import StoreImages, deployment_facts, gather_facts
from kuberya.cli.main import cli
from kuberya.cli.output import AskOutput, describe_request, language_of, plain_table, table_rows
from kuberya.cli.plan_runner import PlanRunner, RollbackError, StepFailed, Touched, pick_log_pod, rollback_template
from kuberya.cli.rollout import WaitTimeout, deployment_readiness, pod_readiness, wait_until_ready
from kuberya.cli.targets import Target, TargetError, resolve_targets, split_contexts
from kuberya.client.errors import AlreadyExistsError
from kuberya.client.fake import Action, FakeApiClient
from kuberya.client.resources import DEPLOYMENTS, NAMESPACES, PODS, REPLICASETS, SERVICES
from kuberya.nl import LLMSettings, NotUnderstood, Request, StaticFacts, build_plan, parse

# -- fixtures ---------------------------------------------------------------------------------


def kubeconfig(path: Path, *contexts: str, current: str | None = None, server: str = "https://127.0.0.1:6443") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": c, "cluster": {"server": f"{server}/{c}" if c != "kuberya" else server}} for c in contexts
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def container(name: str, image: str) -> dict[str, Any]:
    return {"name": name, "image": image, "ports": [{"containerPort": 8080}]}


def deployment(
    name: str = "payment", *, replicas: int = 3, ready: int | None = None, uid: str = "uid-1"
) -> dict[str, Any]:
    ready = replicas if ready is None else ready
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": 1,
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [container(name, f"{name}:v3")]}},
        },
        "status": {"observedGeneration": 1, "replicas": ready, "updatedReplicas": ready, "readyReplicas": ready},
    }  # fmt: skip


class World:
    """A CliRunner, a kubeconfig with contexts, and one fake cluster per context."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.user_config = kubeconfig(tmp / "kube" / "config", "kuberya", "gke", current="kuberya")
        self.clusters: dict[str, FakeApiClient] = {}
        self.tty = False

    def fake(self, context: str = "kuberya") -> FakeApiClient:
        if context not in self.clusters:
            fake = FakeApiClient()
            fake.add(NAMESPACES, {"metadata": {"name": "default"}})
            self.clusters[context] = fake
        return self.clusters[context]

    def run(self, *args: str, input: str | None = None) -> Any:
        env = {"KUBECONFIG": str(self.user_config), "HOME": str(self.tmp / "home"),
               "KUBERYA_DATA_DIR": str(self.data_dir), "KUBERYA_LLM_BASE_URL": "", "KUBERYA_REGISTRY": ""}  # fmt: skip
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    w = World(tmp_path)
    monkeypatch.setattr(ask_module, "make_client", lambda target: w.fake(target.context))
    monkeypatch.setattr(ask_module, "stdin_is_tty", lambda: w.tty)
    return w


def mutations(fake: FakeApiClient) -> list[Action]:
    return fake.mutations()


# -- understanding and rendering --------------------------------------------------------------


def test_language_follows_the_request() -> None:
    assert language_of("쿠버야 payment 앱을 3개 실행해줘") == "ko"
    assert language_of("run 3 payment apps") == "en"


def test_understanding_line_in_the_users_language() -> None:
    assert (
        describe_request(parse("쿠버야 payment 앱을 3개 실행해줘"), "default")
        == "→ payment 앱 3개 실행 (네임스페이스 default)"
    )
    assert describe_request(parse("run 3 payment apps"), "default") == "→ run app payment ×3 in default"
    assert describe_request(parse("scale payment by -1"), "shop").endswith("by -1 in shop")


def test_plan_rendering_plain_shows_each_step_and_its_kubectl() -> None:
    plan = build_plan(parse("쿠버야 payment 앱을 3개 실행해줘"), StaticFacts())
    stream = io.StringIO()
    AskOutput(language="ko", stream=stream, tty=False).plan(plan)
    text = stream.getvalue()
    assert "계획:" in text
    assert "  1. 디플로이먼트 payment 생성" in text
    assert "     $ kubectl create deployment payment --image=payment:latest --replicas=3" in text
    assert "! 여기에 payment:latest 이미지가 없어요" in text  # the warning says how to build it
    assert "\x1b[" not in text  # no escape codes off a terminal


def test_plan_rendering_rich_on_a_terminal() -> None:
    plan = build_plan(
        parse("scale payment to 5"), StaticFacts(deployments={("default", "payment"): deployment_facts(deployment())})
    )
    stream = io.StringIO()
    out = AskOutput(language="en", stream=stream, tty=True)
    out.plan(plan)
    assert "$ kubectl scale deployment payment --replicas=5" in stream.getvalue()


def test_tables_follow_kubectls_columns() -> None:
    pod = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "a"}]},
           "status": {"phase": "Running",
                      "containerStatuses": [{"ready": True, "restartCount": 2, "state": {"running": {}}}]}}  # fmt: skip
    import datetime as dt

    headers, rows = table_rows("pods", [pod], now=dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC))
    assert headers == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows == [["p", "1/1", "Running", "2", "5m"]]
    assert plain_table(headers, rows).splitlines()[0] == "NAME   READY   STATUS    RESTARTS   AGE"


# -- confirmation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destructive", "yes", "interactive", "expected"),
    [
        (False, False, False, "go"),
        (True, True, False, "go"),
        (True, False, True, "ask"),
        (True, False, False, "refuse"),
    ],
)
def test_confirmation(destructive: bool, yes: bool, interactive: bool, expected: str) -> None:
    assert confirmation(destructive=destructive, yes=yes, interactive=interactive) == expected


def test_delete_without_tty_or_yes_is_refused_with_status_2(world: World) -> None:
    world.fake().add(DEPLOYMENTS, deployment())
    result = world.run("ask", "delete payment")
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert mutations(world.fake()) == []


def test_delete_with_yes_deletes(world: World) -> None:
    world.fake().add(DEPLOYMENTS, deployment())
    result = world.run("ask", "--yes", "delete payment")
    assert result.exit_code == 0, result.output
    deleted = [(a.resource, a.name) for a in mutations(world.fake())]
    assert deleted == [("deployments.apps", "payment"), ("services", "payment")]
    assert world.fake().stored(DEPLOYMENTS, "payment", namespace="default") is None


def test_delete_on_a_terminal_asks_and_no_means_no(world: World) -> None:
    world.fake().add(DEPLOYMENTS, deployment())
    world.tty = True
    result = world.run("ask", "payment 삭제해줘", input="n\n")
    assert result.exit_code == 2
    assert "진행할까요?" in result.output
    assert mutations(world.fake()) == []
    result = world.run("ask", "payment 삭제해줘", input="y\n")
    assert result.exit_code == 0, result.output
    assert world.fake().stored(DEPLOYMENTS, "payment", namespace="default") is None


def test_stop_everything_needs_confirmation(world: World) -> None:
    world.fake().add(DEPLOYMENTS, deployment())
    assert world.run("ask", "stop everything").exit_code == 2
    assert mutations(world.fake()) == []


# -- running ----------------------------------------------------------------------------------


def test_run_app_creates_a_deployment_in_korean(world: World) -> None:
    result = world.run("ask", "--no-wait", "쿠버야 payment 앱을 3개 실행해줘")
    assert result.exit_code == 0, result.output
    assert "→ payment 앱 3개 실행 (네임스페이스 default)" in result.output
    assert "$ kubectl create deployment payment" in result.output
    created = world.fake().stored(DEPLOYMENTS, "payment", namespace="default")
    assert created is not None and created["spec"]["replicas"] == 3


def test_scale_waits_for_ready_and_summarises_in_korean(world: World) -> None:
    # Status already says 5 ready: the fake's scale patch makes spec agree, and the wait ends at once.
    obj = deployment(replicas=3, ready=5)
    world.fake().add(DEPLOYMENTS, obj)
    result = world.run("ask", "payment 5개로 늘려줘")
    assert result.exit_code == 0, result.output
    assert "3 → 5" in result.output
    assert "payment 5개 준비 완료" in result.output
    scale = [a for a in mutations(world.fake()) if a.subresource == "scale"]
    assert scale and scale[0].body == {"spec": {"replicas": 5}} and scale[0].options["patch_type"] == "merge"


def test_relative_scale_is_guarded_by_the_current_count(world: World) -> None:
    world.fake().add(DEPLOYMENTS, deployment(replicas=3))
    result = world.run("ask", "--no-wait", "payment 2개 더 늘려줘")
    assert result.exit_code == 0, result.output
    (patch,) = mutations(world.fake())
    assert patch.body["spec"] == {"replicas": 5}
    assert patch.body["metadata"]["resourceVersion"]  # pinned to what was read


def test_dry_run_changes_nothing(world: World) -> None:
    result = world.run("ask", "--dry-run", "쿠버야 payment 앱을 3개 실행해줘")
    assert result.exit_code == 0
    assert "kubectl create deployment payment" in result.output
    assert mutations(world.fake()) == []


def test_json_prints_the_plan_and_runs_nothing(world: World) -> None:
    result = world.run("ask", "-o", "json", "delete payment")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["destructive"] is True
    assert doc["steps"][0]["kubectl"].startswith("kubectl delete")
    assert mutations(world.fake()) == []


def test_json_with_yes_runs_and_reports(world: World) -> None:
    result = world.run("ask", "-o", "json", "--yes", "--no-wait", "run 2 payment apps")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["context"] == "kuberya"
    assert doc["results"][0]["result"] == "created"


def test_nonsense_exits_non_zero_with_suggestions(world: World) -> None:
    result = world.run("ask", "what is the weather like")
    assert result.exit_code == 1
    assert 'kuberya ask "' in result.output
    assert world.fake().actions == []


def test_cannot_plan_says_what_to_do(world: World) -> None:
    result = world.run("ask", "scale payment to 5")
    assert result.exit_code == 1
    assert "no deployment payment" in result.output
    assert "run the payment app" in result.output


def test_api_error_stops_the_plan(world: World) -> None:
    fake = world.fake()

    def refuse(action: Action) -> Any:
        if action.verb == "create" and action.resource == "deployments.apps":
            raise AlreadyExistsError(409, "AlreadyExists", 'deployments.apps "payment" already exists', {})
        return None

    fake.reactors.append(refuse)
    result = world.run("ask", "--no-wait", "run one payment app on port 8080")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert [a.resource for a in mutations(fake)] == ["deployments.apps"]  # the Service was not attempted


def test_list_prints_a_table(world: World) -> None:
    world.fake().add(PODS, {"metadata": {"name": "payment-1", "namespace": "default"}, "spec": {"containers": [{}]},
                            "status": {"phase": "Running"}})  # fmt: skip
    result = world.run("ask", "파드 목록 보여줘")
    assert result.exit_code == 0
    assert "NAME" in result.output and "payment-1" in result.output


# -- contexts ---------------------------------------------------------------------------------


def test_group_context_option_selects_the_cluster(world: World) -> None:
    world.fake("gke").add(DEPLOYMENTS, deployment(replicas=3, ready=5))
    result = world.run("--context", "gke", "ask", "payment 5개로 늘려줘")
    assert result.exit_code == 0, result.output
    assert "kubectl --context gke scale deployment payment --replicas=5" in result.output
    assert mutations(world.fake("gke")) and mutations(world.fake("kuberya")) == []


def test_comma_separated_contexts_run_on_each(world: World) -> None:
    for name in ("kuberya", "gke"):
        world.fake(name).add(DEPLOYMENTS, deployment(replicas=3, ready=5))
    result = world.run("ask", "--context", "kuberya,gke", "payment 5개로 늘려줘")
    assert result.exit_code == 0, result.output
    assert "── context kuberya ──" in result.output and "── context gke ──" in result.output
    assert all(mutations(world.fake(n)) for n in ("kuberya", "gke"))


def test_unknown_context_is_an_error(world: World) -> None:
    result = world.run("ask", "--context", "aks", "payment 5개로 늘려줘")
    assert result.exit_code == 1
    assert "no kubeconfig context named 'aks'" in result.output


def test_split_contexts() -> None:
    assert split_contexts(["aks,gke", "gke", None]) == ["aks", "gke"]


def test_targets_current_context_of_the_user_kubeconfig(tmp_path: Path) -> None:
    user = kubeconfig(tmp_path / "config", "a", "b", current="b")
    (target,) = resolve_targets(
        [], kubeconfig=None, env={"KUBECONFIG": str(user)}, home=tmp_path, data_dir=tmp_path / "d"
    )
    assert (target.context, target.kubeconfig, target.named, target.local) == ("b", user, False, False)


def test_targets_fall_back_to_the_local_cluster(tmp_path: Path) -> None:
    local = kubeconfig(tmp_path / "d" / "kubeconfig", "kuberya", current="kuberya")
    env = {"KUBECONFIG": str(tmp_path / "missing")}
    (target,) = resolve_targets([], kubeconfig=None, env=env, home=tmp_path, data_dir=tmp_path / "d")
    assert (target.context, target.kubeconfig, target.local) == ("kuberya", local, True)
    # A named context that only the local kubeconfig has.
    user = kubeconfig(tmp_path / "config", "gke", current="gke")
    (named,) = resolve_targets(["kuberya"], kubeconfig=None, env={"KUBECONFIG": str(user)}, home=tmp_path,
                               data_dir=tmp_path / "d")  # fmt: skip
    assert named.kubeconfig == local and named.named


def test_targets_explicit_kubeconfig_has_no_fallback(tmp_path: Path) -> None:
    kubeconfig(tmp_path / "d" / "kubeconfig", "kuberya", current="kuberya")
    only = kubeconfig(tmp_path / "only", "x")
    with pytest.raises(TargetError, match="no current context"):
        resolve_targets([], kubeconfig=only, env={}, home=tmp_path, data_dir=tmp_path / "d")
    with pytest.raises(TargetError, match="known contexts: x"):
        resolve_targets(["kuberya"], kubeconfig=only, env={}, home=tmp_path, data_dir=tmp_path / "d")


def test_targets_nothing_anywhere(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="kuberya up"):
        resolve_targets([], kubeconfig=None, env={}, home=tmp_path, data_dir=tmp_path / "d")


def test_targets_local_flag_compares_servers(tmp_path: Path) -> None:
    kubeconfig(tmp_path / "d" / "kubeconfig", "kuberya", current="kuberya")
    user = kubeconfig(tmp_path / "config", "kuberya", "gke", current="kuberya")
    targets = resolve_targets(["kuberya", "gke"], kubeconfig=None, env={"KUBECONFIG": str(user)}, home=tmp_path,
                              data_dir=tmp_path / "d")  # fmt: skip
    assert [t.local for t in targets] == [True, False]
    assert all(t.kubeconfig == user for t in targets)


# -- settings ---------------------------------------------------------------------------------


def test_duration() -> None:
    d = Duration()
    assert [d.convert(v, None, None) for v in ("120s", "2m", "1m30s", "45", "500ms")] == [120, 120, 90, 45, 0.5]


def test_llm_settings_off_by_default() -> None:
    assert llm_settings({}) is None
    assert llm_settings({"KUBERYA_LLM_BASE_URL": "http://x/v1"}) is None  # no model: still off
    settings = llm_settings({"KUBERYA_LLM_BASE_URL": "http://x/v1", "KUBERYA_LLM_MODEL": "m"})
    assert settings is not None and settings.api_key is None


def test_llm_fallback_reads_what_the_parser_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    import kuberya.nl

    wanted = Request(intent=parse("scale payment to 5").intent, app="payment", replicas=5)
    monkeypatch.setattr(kuberya.nl, "llm_parse", lambda text, settings: wanted)
    settings = LLMSettings("http://x/v1", None, "m")
    request, via_llm = understand("quintuple the payment service", llm=settings)
    assert request == wanted and via_llm
    assert understand("scale payment to 5", llm=settings) == (parse("scale payment to 5"), False)  # rules first

    def refuse(text: str, settings: LLMSettings) -> Request:
        raise NotUnderstood("the LLM fallback did not read that as a cluster request either")

    monkeypatch.setattr(kuberya.nl, "llm_parse", refuse)
    with pytest.raises(NotUnderstood) as info:
        understand("what is the weather like", llm=settings)
    assert info.value.suggestions  # the parser's refusal, with its suggestions


def test_default_registry(tmp_path: Path) -> None:
    assert default_registry({"KUBERYA_REGISTRY": "ghcr.io/me"}, tmp_path) == "ghcr.io/me"
    assert default_registry({}, tmp_path) is None
    (tmp_path / ".config" / "kuberya").mkdir(parents=True)
    (tmp_path / ".config" / "kuberya" / "config.yaml").write_text("registry: registry.example.com/team\n")
    assert default_registry({}, tmp_path) == "registry.example.com/team"


# -- facts ------------------------------------------------------------------------------------


async def test_gather_facts_looks_up_only_what_is_needed() -> None:
    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment())
    facts = await gather_facts(fake, parse("roll back payment in shop"), default_namespace="default",
                               default_registry=None, images=StoreImages(Path("/nonexistent")))  # fmt: skip
    assert facts.namespace_exists("shop") is False
    assert [(a.verb, a.resource) for a in fake.actions] == [("get", "namespaces")]  # no namespace, no deployment
    facts = await gather_facts(fake, parse("payment 5개로 늘려줘"), default_namespace="default",
                               default_registry=None, images=StoreImages(Path("/nonexistent")))  # fmt: skip
    found = facts.deployment("default", "payment")
    assert found is not None and found.replicas == 3 and found.container_ports == (8080,)


def test_store_images_finds_the_newest_tag_and_its_ports(tmp_path: Path) -> None:
    from kuberya.images.compose import compose_image, tar_of
    from kuberya.images.store import ImageStore

    store = ImageStore(tmp_path / "images")
    compose_image(store, [tar_of({"a": "1"})], names=("docker.io/library/payment:v1",),
                  config={"ExposedPorts": {"8080/tcp": {}, "53/udp": {}}})  # fmt: skip
    lookup = StoreImages(tmp_path / "images")
    found = lookup.local_image("payment")
    assert found is not None and found.reference == "payment:v1" and found.exposed_ports == (8080,)
    assert lookup.local_image("payment:v9") is None
    assert lookup.local_image("orders") is None
    plan = build_plan(parse("run 3 payment apps"), StaticFacts(images={"payment": found}))
    assert [s.operation.resource for s in plan.steps] == ["deployments", "services"]


# -- the runner -------------------------------------------------------------------------------


def _plan(text: str, fake_deployment: dict[str, Any] | None = None) -> Any:
    facts = StaticFacts(deployments={("default", "payment"): deployment_facts(fake_deployment or deployment())})
    return build_plan(parse(text), facts)


async def test_runner_current_replicas_mismatch_refuses() -> None:
    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment(replicas=4))
    plan = _plan("payment 2개 더 늘려줘", deployment(replicas=3))  # planned against 3, the cluster has 4
    with pytest.raises(StepFailed, match="found 4"):
        await PlanRunner(fake, language="en").run(plan)
    assert fake.mutations() == []


async def test_runner_guarded_scale_retries_a_status_conflict() -> None:
    from kuberya.client.errors import ConflictError

    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment(replicas=3))
    conflicts = iter([True, False])

    def status_write_in_between(action: Action) -> Any:
        if action.verb == "patch" and next(conflicts):
            raise ConflictError(409, "Conflict", "the object has been modified", {})
        return None

    fake.reactors.append(status_write_in_between)
    await PlanRunner(fake, language="en").run(_plan("payment 2개 더 늘려줘", deployment(replicas=3)))
    assert [a.verb for a in fake.actions] == ["get", "patch", "get", "patch"]
    stored = fake.stored(DEPLOYMENTS, "payment", namespace="default")
    assert stored is not None and stored["spec"]["replicas"] == 5


async def test_runner_delete_by_label_selector() -> None:
    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment("a"))
    fake.add(
        DEPLOYMENTS, {**deployment("b"), "metadata": {"name": "b", "namespace": "default", "labels": {"app": "b"}}}
    )
    fake.add(SERVICES, {"metadata": {"name": "kubernetes", "namespace": "default"}})
    plan = build_plan(parse("delete everything"), StaticFacts())
    outcomes = await PlanRunner(fake, language="en").run(plan)
    assert [(a.resource, a.name) for a in fake.mutations()] == [("deployments.apps", "b")]
    assert fake.stored(SERVICES, "kubernetes", namespace="default") is not None
    assert outcomes[0].message == "1 deleted"


async def test_runner_namespace_already_exists_is_fine() -> None:
    fake = FakeApiClient()
    fake.add(NAMESPACES, {"metadata": {"name": "shop"}})
    plan = build_plan(parse("run 2 payment apps in shop"), StaticFacts())
    await PlanRunner(fake, language="en").run(plan)
    assert fake.stored(DEPLOYMENTS, "payment", namespace="shop") is not None


async def test_runner_rollback_patches_the_template_back() -> None:
    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment())
    for rev in (1, 2, 3):
        fake.add(REPLICASETS, replicaset(rev))
    patches: list[Any] = []

    def record(action: Action) -> Any:
        if action.verb == "patch":
            patches.append(action)
            return {"metadata": {"name": "payment"}}
        return None

    fake.reactors.append(record)
    runner = PlanRunner(fake, language="en")
    outcomes = await runner.run(_plan("roll back payment"))
    (patch,) = patches
    assert patch.options["patch_type"] == "json"
    test_op, replace_op = patch.body
    assert test_op == {"op": "test", "path": "/metadata/generation", "value": 1}
    assert replace_op["path"] == "/spec/template"
    assert replace_op["value"]["spec"]["containers"][0]["image"] == "payment:v2"
    assert "pod-template-hash" not in replace_op["value"]["metadata"]["labels"]
    assert outcomes[0].message == "to revision 2"
    assert runner.touched == [Touched("deployment", "default", "payment")]


def replicaset(revision: int, *, owner: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"payment-{revision}", "namespace": "default", "labels": {"app": "payment"},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": "payment", "uid": owner, "controller": True}],
        },
        "spec": {"template": {
            "metadata": {"labels": {"app": "payment", "pod-template-hash": f"h{revision}"}},
            "spec": {"containers": [container("payment", f"payment:v{revision}")]},
        }},
    }  # fmt: skip


def test_rollback_selection() -> None:
    d = deployment()  # at revision 3, template payment:v3
    sets = [replicaset(1), replicaset(2), replicaset(3), replicaset(9, owner="someone-else")]
    revision, template = rollback_template(d, sets, revision=None)
    assert revision == 2 and template is not None
    assert template["spec"]["containers"][0]["image"] == "payment:v2"
    assert rollback_template(d, sets, revision=1)[0] == 1
    assert rollback_template(d, sets, revision=3) == (3, None)  # already there: skipped
    with pytest.raises(RollbackError, match="there are: 1, 2, 3"):
        rollback_template(d, sets, revision=9)  # another deployment's history is not ours
    with pytest.raises(RollbackError, match="no revision before"):
        rollback_template(d, [replicaset(3)], revision=None)
    with pytest.raises(RollbackError, match="no rollout history"):
        rollback_template(d, [], revision=None)


def test_log_pod_prefers_ready_then_newest() -> None:
    def pod(name: str, *, ready: bool, created: str) -> dict[str, Any]:
        conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
        return {"metadata": {"name": name, "creationTimestamp": created},
                "status": {"phase": "Running", "conditions": conditions}}  # fmt: skip

    pods = [
        pod("old", ready=True, created="2026-01-01T00:00:00Z"),
        pod("new", ready=False, created="2026-01-02T00:00:00Z"),
        pod("mid", ready=True, created="2026-01-01T12:00:00Z"),
    ]
    chosen = pick_log_pod(pods)
    assert chosen is not None and chosen["metadata"]["name"] == "mid"
    assert pick_log_pod([]) is None


# -- waiting ----------------------------------------------------------------------------------


def test_deployment_readiness() -> None:
    assert deployment_readiness(deployment(replicas=3, ready=3)).done
    rolling = deployment(replicas=3, ready=2)
    r = deployment_readiness(rolling)
    assert (r.ready, r.desired, r.done) == (2, 3, False)
    stale = deployment(replicas=3)
    stale["metadata"]["generation"] = 2  # the controller has not seen the new spec yet
    assert not deployment_readiness(stale).done
    shrinking = deployment(replicas=0, ready=1)
    assert deployment_readiness(shrinking).ready == 0  # never more than asked for
    stuck = deployment(replicas=3, ready=1)
    stuck["status"]["conditions"] = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "slow"}]
    assert deployment_readiness(stuck).failed == "slow"


def test_pod_readiness() -> None:
    assert pod_readiness({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}).done
    assert not pod_readiness({"status": {"phase": "Pending"}}).done
    assert pod_readiness({"status": {"phase": "Failed", "reason": "Evicted"}}).failed == "Evicted"


async def test_wait_follows_the_watch_until_ready() -> None:
    fake = FakeApiClient(watch_events=True)
    fake.add(DEPLOYMENTS, deployment(replicas=3, ready=1))
    seen: list[tuple[int, int]] = []
    task = asyncio.create_task(wait_until_ready(fake, Touched("deployment", "default", "payment"), timeout=5,
                                                on_progress=lambda r: seen.append((r.ready, r.desired))))  # fmt: skip
    await asyncio.sleep(0.05)
    fake.add(DEPLOYMENTS, deployment(replicas=3, ready=2))
    fake.add(DEPLOYMENTS, deployment(replicas=3, ready=3))
    final = await task
    assert final.done and seen == [(1, 3), (2, 3), (3, 3)]


async def test_wait_times_out() -> None:
    fake = FakeApiClient()
    fake.add(PODS, {"metadata": {"name": "p", "namespace": "default"}, "status": {"phase": "Pending"}})
    with pytest.raises(WaitTimeout) as info:
        await wait_until_ready(fake, Touched("pod", "default", "p"), timeout=0.1, on_progress=lambda r: None)
    assert info.value.last is not None and info.value.last.ready == 0


def test_ask_options_defaults() -> None:
    assert AskOptions() == AskOptions(yes=False, dry_run=False, json=False, wait=True, timeout=120.0)


def test_target_is_a_value() -> None:
    t = Target(Path("k"), "c", "https://x", "default", local=False, named=True)
    assert t.context == "c"
