"""``kuberya ask TEXT``: a Korean or English request → a plan of API operations → done, with progress.

The command is a pipeline whose every stage can stop it with nothing changed:

1. **understand** — :func:`kuberya.nl.parse` (deterministic); when it refuses and an LLM endpoint is
   configured (``KUBERYA_LLM_BASE_URL``, ``KUBERYA_LLM_MODEL``, optional ``KUBERYA_LLM_API_KEY``),
   :func:`kuberya.nl.llm_parse`, whose answer is validated exactly like the parser's;
2. **target** — which clusters (:mod:`kuberya.cli.targets`): ``--context`` (a comma list runs the
   plan on each in turn), the context the request names ("gke-prod에서"), else the current one;
3. **facts → plan** — :mod:`kuberya.cli.facts` looks up what the planner needs, then
   :func:`kuberya.nl.build_plan`; the plan is shown with each step's ``kubectl`` equivalent, so
   ``ask`` teaches the commands it runs; ``--dry-run`` and ``-o json`` (without ``--yes``) stop here;
4. **confirm** — plans that delete (or stop everything) are confirmed on a terminal; ``--yes`` skips
   that; without a terminal and without ``--yes`` they are refused (exit status 2);
5. **run** — :class:`kuberya.cli.plan_runner.PlanRunner`, stopping at the first API error;
6. **wait** — :func:`kuberya.cli.rollout.wait_until_ready` for the Deployments and Pods that were
   started or changed, with a progress bar, then a one-line summary ("payment 3개 준비 완료 (2.1초)").

Exit status: 0 done; 1 not understood, impossible, refused by the API, failed or timed out; 2 a
destructive plan refused for want of confirmation. With ``-o json`` stdout holds only JSON and
the human-readable lines go to stderr.

This module is imported by the ``kuberya`` entry point to register the command, so everything
beyond click is imported inside the command (``kuberya up`` is on the clock).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from kuberya.cli.options import GlobalOptions, default_data_dir

if TYPE_CHECKING:
    from kuberya.cli.facts import ImageLookup
    from kuberya.cli.output import AskOutput
    from kuberya.cli.targets import Target
    from kuberya.client import KubeClient
    from kuberya.nl import LLMSettings, Operation, Plan, Request

EXIT_FAILED = 1
EXIT_REFUSED = 2
"""A destructive plan without confirmation (no terminal to ask on, and no ``--yes``)."""

WAIT_INTENTS = ("run_app", "run_pod", "scale", "scale_by", "stop", "set_image", "rollback", "restart")
"""Requests whose result is worth waiting for: something starts, stops or rolls."""

ASK_HELP = """\
Do what a Korean or English sentence asks, showing the kubectl equivalent of every step.

\b
Examples:
  kuberya ask "쿠버야 payment 앱을 3개 실행해줘"      # Deployment ×3 (+ Service if the image exposes a port)
  kuberya ask "쿠버야 marvel-collection 파드 1개 실행해 줘"
  kuberya ask "payment 5개로 늘려줘"                 # waits until 5 are ready
  kuberya ask "roll back payment" --dry-run          # show the plan only
  kuberya ask "delete payment" --yes                 # destructive plans need a yes
  kuberya --context aks,gke ask "payment 3개로 늘려줘"  # on each cluster in turn

\b
Workloads and the node:
  kuberya ask "backup 작업 한 번 돌려줘 -- sh -c 'echo hi'"   # Job (the command after --)
  kuberya ask "매일 새벽 3시에 backup 돌려줘"          # CronJob, schedule 0 3 * * *
  kuberya ask "run 3 redis in order"                 # StatefulSet + headless Service
  kuberya ask "노드 비워줘"                          # drain (confirmed); also cordon, uncordon

\b
Storage (claims of the default StorageClass):
  kuberya ask "redis를 데이터 1Gi로 띄워줘"           # StatefulSet, a 1Gi claim per replica
  kuberya ask "give postgres a 5Gi volume"           # the same in English
  kuberya ask "cache 볼륨 1Gi 만들어줘"              # one PersistentVolumeClaim; "늘려줘" grows it
  kuberya ask "볼륨 보여줘"                          # claims and PVs, as kubectl get pvc / pv
  kuberya ask "show my volumes"                      # also "list storage classes"

\b
Also: stop, restart, logs (실시간/-f), set image, expose a port, autoscale (CPU %, min, max),
status and lists of pods/apps/services, "in namespace X" (created if missing), "on context X".
An optional LLM reads what the rules cannot: set KUBERYA_LLM_BASE_URL (an OpenAI-compatible
API root), KUBERYA_LLM_MODEL and, if needed, KUBERYA_LLM_API_KEY. Unknown apps are run from the
local image store, else from $KUBERYA_REGISTRY (or `registry:` in ~/.config/kuberya/config.yaml).
"""


class AskError(click.ClickException):
    """A refusal for the user: the message says why, and what to type instead."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Duration(click.ParamType):  # type: ignore[type-arg]
    """``120s``, ``2m``, ``1m30s`` or plain seconds."""

    name = "duration"
    _PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        parts = self._PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration (e.g. 120s, 2m, 1m30s)", param, ctx)
        scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        return sum(float(n) * scale[u] for n, u in parts)


@dataclass(frozen=True)
class AskOptions:
    yes: bool = False
    dry_run: bool = False
    json: bool = False
    wait: bool = True
    timeout: float = 120.0


Confirmation = Literal["go", "ask", "refuse"]


def confirmation(*, destructive: bool, yes: bool, interactive: bool) -> Confirmation:
    """What to do before running a plan: destructive plans need ``--yes`` or a person at a terminal."""
    if not destructive or yes:
        return "go"
    return "ask" if interactive else "refuse"


def llm_settings(env: Mapping[str, str]) -> LLMSettings | None:
    """The LLM fallback's endpoint, or None (the default: off)."""
    base_url = env.get("KUBERYA_LLM_BASE_URL", "").strip()
    model = env.get("KUBERYA_LLM_MODEL", "").strip()
    if not base_url or not model:
        return None
    from kuberya.nl import LLMSettings

    return LLMSettings(base_url=base_url, api_key=env.get("KUBERYA_LLM_API_KEY") or None, model=model)


def default_registry(env: Mapping[str, str], home: Path) -> str | None:
    """``$KUBERYA_REGISTRY``, else ``registry:`` in ``$XDG_CONFIG_HOME/kuberya/config.yaml``."""
    if env.get("KUBERYA_REGISTRY", "").strip():
        return env["KUBERYA_REGISTRY"].strip()
    xdg = env.get("XDG_CONFIG_HOME")
    path = (Path(xdg) if xdg else home / ".config") / "kuberya" / "config.yaml"
    try:
        text = path.read_text()
    except OSError:
        return None
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise AskError(f"{path} is not valid YAML ({e}); fix it or set KUBERYA_REGISTRY") from e
    value = doc.get("registry") if isinstance(doc, dict) else None
    return str(value).strip() or None if value else None


def understand(text: str, *, llm: LLMSettings | None) -> tuple[Request, bool]:
    """The request, and whether the LLM read it; raises :class:`kuberya.nl.NLError` on refusal."""
    from kuberya.nl import NotUnderstood, llm_parse, parse

    try:
        return parse(text), False
    except NotUnderstood as refused:
        if llm is None:
            raise
        try:
            return llm_parse(text, llm), True
        except NotUnderstood:
            raise refused from None  # the rules' refusal carries better suggestions


def stdin_is_tty() -> bool:
    """Whether a person can be asked (tests replace this)."""
    return sys.stdin.isatty()


def make_client(target: Target) -> KubeClient:
    """The API client for a target; tests replace this with a fake."""
    from kuberya.client import ApiClient

    return ApiClient.from_kubeconfig(target.kubeconfig, context=target.context)


# -- the command ------------------------------------------------------------------------------


@click.command("ask", help=ASK_HELP)
@click.argument("text", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Run destructive plans (delete, stop everything) without asking.")
@click.option("--dry-run", is_flag=True, help="Show the plan and its kubectl equivalent; change nothing.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: print the plan (with --yes: run it and print the results) as JSON.")  # fmt: skip
@click.option("--no-wait", is_flag=True, help="Do not wait for the app to become ready.")
@click.option("--timeout", type=Duration(), default="120s", show_default=True,
              help="How long to wait for readiness (120s, 2m…).")  # fmt: skip
@click.option("--context", "contexts", multiple=True, metavar="NAME[,NAME…]",
              help="kubeconfig context(s); several run the plan on each in turn.")  # fmt: skip
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use only this kubeconfig file.")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The local cluster's data dir: its kubeconfig is the fallback, its images are used.")  # fmt: skip
@click.pass_context
def ask_command(
    ctx: click.Context,
    text: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    output: str,
    no_wait: bool,
    timeout: float,
    contexts: tuple[str, ...],
    kubeconfig: Path | None,
    data_dir: Path | None,
) -> None:
    from kuberya.cli.output import AskOutput, language_of

    sentence = " ".join(text).strip()
    options = AskOptions(yes=yes, dry_run=dry_run, json=output == "json", wait=not no_wait, timeout=timeout)
    language = language_of(sentence)
    # With -o json, stdout is for the JSON document alone.
    out = AskOutput(language=language, stream=sys.stderr if options.json else sys.stdout, errors=sys.stderr)
    shared = ctx.find_object(GlobalOptions) or GlobalOptions()
    root = data_dir.expanduser().absolute() if data_dir else default_data_dir(os.environ, Path.home())
    code = run_ask(
        sentence,
        options=options,
        out=out,
        contexts=[*contexts, *([shared.context] if shared.context and not contexts else [])],
        kubeconfig=kubeconfig or shared.kubeconfig,
        data_dir=root,
        env=os.environ,
        home=Path.home(),
    )
    sys.exit(code)


def run_ask(
    sentence: str,
    *,
    options: AskOptions,
    out: AskOutput,
    contexts: list[str],
    kubeconfig: Path | None,
    data_dir: Path,
    env: Mapping[str, str],
    home: Path,
) -> int:
    """The whole pipeline; returns the exit status (the command's body, callable from tests)."""
    import asyncio

    from kuberya.cli.targets import TargetError, resolve_targets, split_contexts
    from kuberya.nl import NLError

    try:
        request, via_llm = understand(sentence, llm=llm_settings(env))
    except NLError as e:
        out.refusal(e)
        return EXIT_FAILED

    names = split_contexts(contexts)
    if request.context is not None:
        if names and request.context not in names:
            listed = ", ".join(names)
            out.error(out.say(f"요청은 컨텍스트 {request.context}를 말하지만 --context는 {listed}이에요.",
                              f"the request names context {request.context!r}, --context says {listed}"))  # fmt: skip
            return EXIT_FAILED
        names = [request.context]
    try:
        targets = resolve_targets(names, kubeconfig=kubeconfig, env=env, home=home, data_dir=data_dir)
    except TargetError as e:
        out.error(str(e))
        return EXIT_FAILED

    out.understanding(_describe(request, request.namespace or targets[0].namespace), via_llm=via_llm)
    registry = default_registry(env, home)
    documents: list[dict[str, Any]] = []
    code = 0
    for target in targets:
        if len(targets) > 1:
            out.heading(f"context {target.context}")
        run = TargetRun(target=target, request=request, options=options, out=out, data_dir=data_dir,
                        registry=registry)  # fmt: skip
        try:
            code = asyncio.run(run.main())
        except KeyboardInterrupt:
            # ^C while following logs or waiting: what was done stays done; say nothing more.
            return 130
        if run.document is not None:
            documents.append(run.document)
        if code != 0:
            break
    if options.json and documents:
        import json

        doc: Any = documents[0] if len(targets) == 1 else documents
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    return code


@dataclass
class TargetRun:
    """Plan, confirm, run and wait on one cluster."""

    target: Target
    request: Request
    options: AskOptions
    out: AskOutput
    data_dir: Path
    registry: str | None
    interactive: Callable[[], bool] = field(default=lambda: stdin_is_tty())
    images: ImageLookup | None = None
    """Overrides where app names are looked up as images (default: the local store, if local)."""
    prepare: Callable[[Operation], Operation] | None = None
    """Passed to :class:`~kuberya.cli.plan_runner.PlanRunner`: adjusts operations before they run."""
    document: dict[str, Any] | None = None
    """The JSON answer for ``-o json``."""

    async def main(self) -> int:
        from kuberya.client.kubeconfig import KubeconfigError

        try:
            client = make_client(self.target)
        except (KubeconfigError, OSError, ValueError) as e:
            self.out.error(f"context {self.target.context}: {e}")
            return EXIT_FAILED
        try:
            return await self._with_client(client)
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                await close()

    async def _with_client(self, client: KubeClient) -> int:
        from kuberya.cli.facts import NoImages, StoreImages, gather_facts
        from kuberya.nl import NLError, build_plan, facts_needed

        out, options = self.out, self.options
        # The kubectl lines name the context only when the user did: they must be what one would type.
        request = replace(self.request, context=self.target.context if self.target.named else None)
        store: ImageLookup = StoreImages(self.data_dir / "images") if self.target.local else NoImages()
        images = self.images or store
        try:
            facts = await gather_facts(
                client, request, default_namespace=self.target.namespace, default_registry=self.registry,
                images=images,
            )  # fmt: skip
            if facts_needed(request).nodes:
                facts = replace(facts, nodes=await _node_names(client))
            plan = build_plan(request, facts)
        except NLError as e:
            out.refusal(e)
            return EXIT_FAILED
        except Exception as e:
            return self._unreachable(e)

        if options.dry_run or (options.json and not options.yes):
            if options.json:
                self.document = plan.to_dict()
            else:
                out.plan(plan)
            return 0
        out.plan(plan)
        decision = confirmation(destructive=plan.destructive, yes=options.yes, interactive=self.interactive())
        if decision == "refuse":
            out.error(out.say("지우는 작업이라 확인이 필요해요: 터미널에서 실행하거나 --yes를 붙이세요.",
                              "this plan deletes things: run it in a terminal to confirm, or pass --yes"))  # fmt: skip
            return EXIT_REFUSED
        if decision == "ask" and not click.confirm(out.say("진행할까요?", "Go ahead?"), default=False, err=True):
            out.note(out.say("취소했어요. 바뀐 것은 없어요.", "Cancelled; nothing was changed."))
            return EXIT_REFUSED
        return await self._execute(client, plan)

    async def _execute(self, client: KubeClient, plan: Plan) -> int:
        from kuberya.cli.logstream import KubeconfigLogFollower
        from kuberya.cli.plan_runner import PlanRunner, StepFailed, StepOutcome

        out, options = self.out, self.options

        def shown(outcome: StepOutcome) -> None:
            if options.json:
                return
            if outcome.resource is not None:
                if len(plan.steps) > 1:  # several tables: say which is which
                    out.note(outcome.step.description)
                out.table(outcome.resource, outcome.objects)
            elif outcome.logs is None:
                out.success(f"{outcome.step.description} — {outcome.message}")

        runner = PlanRunner(
            client, language=plan.request.language, on_outcome=shown,
            on_log=(lambda _: None) if options.json else out.text,
            follow_logs=KubeconfigLogFollower(self.target.kubeconfig, self.target.context), prepare=self.prepare,
            drain_timeout=options.timeout,
        )  # fmt: skip
        document: dict[str, Any] = {"context": self.target.context, "plan": plan.to_dict(), "results": []}
        self.document = document if options.json else None
        try:
            await runner.run(plan)
        except StepFailed as e:
            out.error(f"{e.step.description}: {e.message}")
            if e.hint:
                out.note(e.hint)
            done = len(runner.outcomes)
            if done:
                out.note(out.say(f"앞의 {done}단계는 완료됐어요.", f"the {done} step(s) before it were done"))
            document["results"] = [o.to_dict() for o in runner.outcomes]
            document["error"] = {"step": e.step.description, "message": e.message, "status": e.status}
            return EXIT_FAILED
        except Exception as e:
            return self._unreachable(e)
        document["results"] = [o.to_dict() for o in runner.outcomes]
        if options.wait and plan.request.intent.value == "run_job":
            job = plan.steps[-1].operation
            return await self._wait_job(client, str(job.namespace), str(job.name), document)
        if not options.wait or plan.request.intent.value not in WAIT_INTENTS:
            return 0
        return await self._wait(client, runner.touched, document)

    async def _wait_job(self, client: KubeClient, namespace: str, name: str, document: dict[str, Any]) -> int:
        """Until the Job is Complete or Failed, as ``kubectl wait --for=condition=complete`` would."""
        import asyncio

        from kuberya.client.resources import JOBS

        out, started = self.out, time.monotonic()
        while True:
            job = await client.get(JOBS, name, namespace=namespace)
            true = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                    if c.get("status") == "True"}  # fmt: skip
            seconds = time.monotonic() - started
            if "Complete" in true:
                document["ready"] = [{"kind": "job", "name": name, "done": True, "seconds": round(seconds, 2)}]
                out.success(out.say(f"잡 {name} 완료 ({seconds:.1f}초)", f"job {name} complete ({seconds:.1f}s)"))
                return 0
            if "Failed" in true:
                why = true["Failed"].get("message") or true["Failed"].get("reason") or ""
                document["ready"] = [{"kind": "job", "name": name, "done": False, "failed": why}]
                out.error(out.say(f"잡 {name} 실패: {why} (kubectl logs job/{name})",
                                  f"job {name} failed: {why} (see kubectl logs job/{name})"))  # fmt: skip
                return EXIT_FAILED
            if seconds > self.options.timeout:
                document["ready"] = [{"kind": "job", "name": name, "done": False, "timedOut": True}]
                limit, check = f"{self.options.timeout:.0f}", f"kubectl get job {name} -n {namespace}"
                out.error(out.say(f"{limit}초 안에 잡 {name}이 끝나지 않았어요. `{check}`로 확인하세요.",
                                  f"job {name} not complete after {limit}s; see `{check}`"))  # fmt: skip
                return EXIT_FAILED
            await asyncio.sleep(0.5)

    def _unreachable(self, error: Exception) -> int:
        """Report a cluster that cannot be reached; anything else is a bug and propagates."""
        if (message := _connection_problem(error, self.target)) is None:
            raise error
        self.out.error(message)
        return EXIT_FAILED

    async def _wait(self, client: KubeClient, touched: list[Any], document: dict[str, Any]) -> int:
        from kuberya.cli.rollout import WaitTimeout, wait_until_ready

        out = self.out
        readiness: list[dict[str, Any]] = []
        document["ready"] = readiness
        for item in touched:
            started = time.monotonic()
            label = item.name if item.kind == "deployment" else out.say(f"파드 {item.name}", f"pod {item.name}")
            with out.progress(label) as view:
                try:
                    final = await wait_until_ready(client, item, timeout=self.options.timeout,
                                                   on_progress=lambda r: view.update(r.ready, r.desired))  # fmt: skip
                except WaitTimeout as e:
                    final = None
                    last = e.last
            seconds = time.monotonic() - started
            if final is None:
                state = f"{last.ready}/{last.desired}" if last else "?"
                readiness.append({"kind": item.kind, "name": item.name, "done": False, "timedOut": True})
                selector = f"app={item.name}" if item.kind == "deployment" else ""
                check = f"kubectl get pods -n {item.namespace}" + (f" -l {selector}" if selector else f" {item.name}")
                limit = f"{self.options.timeout:.0f}"
                out.error(out.say(f"{limit}초 안에 준비되지 않았어요: {label} {state}. `{check}`로 확인하세요.",
                                  f"not ready after {limit}s: {label} {state}; see `{check}`"))  # fmt: skip
                return EXIT_FAILED
            readiness.append({"kind": item.kind, "name": item.name, "ready": final.ready, "desired": final.desired,
                              "done": final.done, "seconds": round(seconds, 2)})  # fmt: skip
            if final.failed:
                out.error(f"{label}: {final.failed}")
                return EXIT_FAILED
            out.success(_summary(out, item.kind, item.name, final.desired, seconds))
        return 0


async def _node_names(client: KubeClient) -> tuple[str, ...]:
    """The cluster's nodes, for a drain/cordon that names none; none if the user may not list them."""
    from kuberya.client import ForbiddenError
    from kuberya.client.resources import NODES

    try:
        listing = await client.list(NODES)
    except ForbiddenError:
        return ()
    return tuple(sorted(str((n.get("metadata") or {}).get("name")) for n in listing.get("items") or []))


def _describe(request: Request, namespace: str) -> str:
    """The "→ …" line: :func:`kuberya.cli.output.describe_request`, and the workload requests here."""
    from kuberya.cli.output import describe_request
    from kuberya.nl import Intent
    from kuberya.nl.schedule import describe

    r, ko = request, request.language == "ko"
    node = r.node or ("노드" if ko else "the node")
    image = (f" (이미지 {r.image})" if ko else f" ({r.image})") if r.image else ""
    volume = (f", 볼륨 {r.storage}씩", f", {r.storage} volume each") if r.storage else ("", "")
    texts: dict[Intent, tuple[str, str]] = {
        Intent.RUN_JOB: (f"잡 {r.app} 한 번 실행{image}", f"run job {r.app} once{image}"),
        Intent.RUN_CRONJOB: (f"크론잡 {r.app}: {describe(r.schedule or '', 'ko')} 실행{image}",
                             f"run cronjob {r.app} {describe(r.schedule or '', 'en')}{image}"),
        Intent.RUN_STATEFULSET: (f"스테이트풀셋 {r.app} {r.replicas or 1}개 순서대로 실행{image}{volume[0]}",
                                 f"run statefulset {r.app} ×{r.replicas or 1} in order{image}{volume[1]}"),
        Intent.CREATE_CLAIM: (f"클레임 {r.app} {r.storage} 만들기", f"create claim {r.app} of {r.storage}"),
        Intent.RESIZE_CLAIM: (f"클레임 {r.app} {r.storage}로 늘리기", f"grow claim {r.app} to {r.storage}"),
        Intent.DRAIN: (f"{node} 비우기 (drain)", f"drain {node}"),
        Intent.CORDON: (f"{node} 스케줄 금지 (cordon)", f"cordon {node}"),
        Intent.UNCORDON: (f"{node} 스케줄 다시 허용 (uncordon)", f"uncordon {node}"),
        Intent.CAN_I: (f"{r.subject}의 권한 확인: {r.verb} {r.resource}", f"can {r.subject} {r.verb} {r.resource}?"),
        Intent.GRANT: (f"{r.subject}에게 {r.role} 권한 주기", f"give {r.subject} {r.role} access"),
    }  # fmt: skip
    if r.intent not in texts:
        return describe_request(request, namespace)
    text = texts[r.intent][0 if ko else 1]
    if r.node is not None or r.intent in (Intent.DRAIN, Intent.CORDON, Intent.UNCORDON):
        return f"→ {text}"  # a node has no namespace
    return f"→ {text}" + (f" (네임스페이스 {namespace})" if ko else f" in {namespace}")


def _summary(out: AskOutput, kind: str, name: str, desired: int, seconds: float) -> str:
    if kind == "pod":
        return out.say(f"파드 {name} 준비 완료 ({seconds:.1f}초)", f"pod {name} ready ({seconds:.1f}s)")
    if desired == 0:
        return out.say(f"{name} 0개로 중지 완료 ({seconds:.1f}초)", f"{name} scaled to zero ({seconds:.1f}s)")
    return out.say(
        f"{name} {desired}개 준비 완료 ({seconds:.1f}초)", f"{name}: {desired}/{desired} ready ({seconds:.1f}s)"
    )


def _connection_problem(error: Exception, target: Target) -> str | None:
    """A message for "the cluster is not there" errors, or None for anything else (a bug: re-raise)."""
    import aiohttp

    from kuberya.client import ApiError

    if isinstance(error, ApiError):
        return f"{target.server} (context {target.context}): {error}"
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        hint = " Is it running? `kuberya up` starts the local cluster." if target.local else ""
        return f"cannot reach the cluster of context {target.context} at {target.server}: {error}.{hint}"
    return None


def register(group: click.Group) -> None:
    """Add ``ask`` to the ``kuberya`` group."""
    group.add_command(ask_command)
