"""The talk's demo, end to end on the embedded cluster, narrated step by step (``kuberya demo``).

Nine numbered sections, each with what a person would type for the same effect and how long it
took (output: :mod:`kuberya.demo.output`):

1. the cluster — started if needed, with the runtime chosen and why (:mod:`kuberya.demo.cluster`);
2. the images — the offline bases, then ``payment:v1``/``v2`` and ``marvel-collection:v1`` built
   with buildah (:mod:`kuberya.demo.images`); with the process runtime the apps run from source;
3. "쿠버야 payment 앱을 3개 실행해줘" and 4. "쿠버야 marvel-collection 파드 1개 실행해 줘" — through
   ``kuberya ask``'s own pipeline (:class:`kuberya.cli.ask.TargetRun`), shaped by one hook
   (:class:`kuberya.demo.apps.DemoPreparer`: the example manifests' probes, and the command from
   source when images cannot run);
5. pods and services as tables; 6. thirty requests through the payment Service, counted per pod,
   and one purchase on marvel-collection that reaches payment by its Service name
   (:mod:`kuberya.demo.serving`, over :mod:`kuberya.demo.traffic`); 7. scale to 5 and back to 3 by asking;
8. ``set image payment:v2`` and "payment 롤백해줘", each under a bounded load, with the requests,
   failures, p99 and versions seen (:mod:`kuberya.demo.serving`); 9. a summary: what was shown, how
   long, what next.

The command line around it (options, help, language) is :mod:`kuberya.demo.command`.

The apps stay running afterwards (``--keep``, the default) so that the user can explore them with
kubectl; ``--clean-up`` deletes them at the end. Either way the next run first removes what an
earlier demo left (objects carry :data:`kuberya.demo.apps.DEMO_ANNOTATION`); objects of the
same names that a demo did not create are never touched: the demo stops and says so.

Every failure ends the demo with a message and a hint, never a traceback (exit status 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberya.demo.output import Narrator

if TYPE_CHECKING:
    from kuberya.cli.output import AskOutput
    from kuberya.cli.targets import Target
    from kuberya.client import KubeClient
    from kuberya.demo.apps import DemoApp, DemoImages, DemoPreparer
    from kuberya.demo.cluster import Started

NAMESPACE = "default"
WAIT = 120.0
"""Seconds to wait for any one thing to become ready."""


class DemoFailed(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class Demo:
    """The whole demo; :meth:`run` is the command's body and returns the exit status."""

    data_dir: Path
    examples: Path
    narrator: Narrator
    fast: bool
    keep: bool
    merge_kubeconfig: bool
    home: Path
    port: int
    from_source: bool = False
    apps: dict[str, DemoApp] = field(default_factory=dict)
    started: Started | None = None
    images_built: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    load_reports: list[tuple[str, Any]] = field(default_factory=list)
    payment_address: tuple[str, int] = ("127.0.0.1", 0)

    # -- the edge ---------------------------------------------------------------------------------

    def run(self) -> int:
        from kuberya.demo.apps import demo_apps

        n = self.narrator
        began = time.monotonic()
        self.apps = demo_apps(self.examples)
        n.title(
            "쿠버야 데모 — kuberya demo",
            n.say(
                "말로 하는 쿠버네티스: 빌드, 실행, 부하 분산, 스케일, 무중단 배포, 롤백",
                "Kubernetes you can talk to: build, run, load-balance, scale, roll out without downtime, roll back",
            ),
        )
        try:
            self.step_cluster()
            asyncio.run(self.main(began))
        except DemoFailed as e:
            n.error(str(e), e.hint)
            return 1
        except Exception as e:  # the user gets a message, not a traceback
            if os.environ.get("KUBERYA_DEBUG"):
                raise
            n.error(
                f"the demo stopped on an unexpected error: {type(e).__name__}: {e}",
                f"KUBERYA_DEBUG=1 shows the traceback; the cluster's log is {self.data_dir / 'kuberya.log'}",
            )
            return 1
        except KeyboardInterrupt:
            n.error(
                n.say(
                    "중단했어요. 클러스터와 앱은 그대로 있어요.", "interrupted; the cluster and the apps keep running"
                ),
                self._cleanup_hint(),
            )
            return 130
        return 0

    async def main(self, began: float) -> None:
        import aiohttp

        from kuberya.client import ApiClient, ApiError
        from kuberya.demo import serving

        client = ApiClient.from_kubeconfig(self.data_dir / "kubeconfig")
        try:
            await self.remove_previous(client)
            self.narrator.elapsed()  # of step 1, which ends with a cluster clear of an earlier demo
            await self.step_images()
            await self.step_payment(client)
            await self.step_marvel(client)
            await self.step_tables(client)
            await serving.step_requests(self, client)
            await self.step_scale(client)
            await serving.step_rollout(self, client)
            await self.step_summary(client, began)
        except ApiError as e:
            raise DemoFailed(f"the API refused a request: {e}", f"see {self.data_dir / 'kuberya.log'}") from e
        except (OSError, aiohttp.ClientError) as e:
            raise DemoFailed(
                f"lost the cluster: {e}", f"is it still running? `kuberya status --data-dir {self.data_dir}`"
            ) from e
        finally:
            await client.close()

    # -- 1. cluster -------------------------------------------------------------------------------

    def step_cluster(self) -> None:
        from kuberya.demo.cluster import DemoClusterError, choose_runtime, ensure_cluster

        n = self.narrator
        n.section(1, "클러스터 시작", "Start the cluster")
        n.command(f"kuberya up{self._data_dir_flag()}")
        try:
            choice = choose_runtime(fast=self.fast)
            with n.spinner("클러스터를 시작하는 중…", "starting the cluster…"):
                self.started = started = ensure_cluster(self.data_dir, runtime=choice.runtime, port=self.port)
        except DemoClusterError as e:
            raise DemoFailed(str(e), e.hint) from e
        ready = started.ready
        if started.started_here:
            n.success(
                f"kuberya up: {started.seconds:.2f}초, API {ready.url}",
                f"kuberya is up in {started.seconds:.2f}s: API {ready.url}",
            )
        else:
            n.success(
                f"이미 실행 중인 클러스터를 써요: API {ready.url}",
                f"using the cluster already running: API {ready.url}",
            )
        self.from_source = ready.runtime != "runc"
        n.text(f"런타임: {ready.runtime}", f"runtime: {ready.runtime}")
        if started.started_here:
            n.note(choice.reason_ko, choice.reason_en)
        elif ready.runtime_reason:
            n.note(ready.runtime_reason, ready.runtime_reason)
        if self.fast and not self.from_source:
            n.warning(
                "실행 중인 클러스터가 runc라서 --fast여도 이미지를 빌드해요.",
                "the running cluster uses runc, so the images are built even with --fast",
            )
        self._kubeconfig_note()

    def _kubeconfig_note(self) -> None:
        from kuberya.demo.cluster import merge_into_user_kubeconfig

        n = self.narrator
        merged = merge_into_user_kubeconfig(self.data_dir, self.home) if self.merge_kubeconfig else None
        if merged is not None:
            n.note(f"kubeconfig 컨텍스트 kuberya → {merged}", f"kubeconfig context kuberya → {merged}")
            n.command(
                "kubectl config use-context kuberya   # 아래 kubectl 명령은 이 컨텍스트 기준"
                if n.language == "ko"
                else "kubectl config use-context kuberya   # the kubectl lines below use it"
            )
        else:
            n.command(f"export KUBECONFIG={self.data_dir / 'kubeconfig'}")

    def _data_dir_flag(self) -> str:
        return "" if self.merge_kubeconfig else f" --data-dir {self.data_dir}"  # the default needs no flag

    async def remove_previous(self, client: KubeClient) -> None:
        """Delete what an earlier demo left, after checking that a demo made it."""
        from kuberya.client import NotFoundError
        from kuberya.client.resources import DEPLOYMENTS, PODS, SERVICES
        from kuberya.demo.apps import is_demo_object

        n = self.narrator
        found = []
        for ref, name in (
            (DEPLOYMENTS, "payment"),
            (PODS, "marvel-collection"),
            (SERVICES, "payment"),
            (SERVICES, "marvel-collection"),
        ):
            try:
                obj = await client.get(ref, name, namespace=NAMESPACE)
            except NotFoundError:
                continue
            if not is_demo_object(obj):
                kind = ref.resource.rstrip("s")
                raise DemoFailed(
                    f"a {kind} {name} that the demo did not create exists in namespace {NAMESPACE}",
                    f"delete it (`kubectl delete {kind} {name}`) or run the demo on its own cluster: "
                    "`kuberya demo --data-dir /tmp/kuberya-demo`",
                )
            found.append((ref, name))
        if not found:
            return
        n.note("지난 데모가 남긴 앱을 지워요.", "removing the apps an earlier demo left")
        n.command("kubectl delete deployment/payment pod/marvel-collection service/payment service/marvel-collection")
        with n.spinner("지우는 중…", "deleting…"):
            for ref, name in found:
                with contextlib.suppress(NotFoundError):
                    await client.delete(ref, name, namespace=NAMESPACE, propagation_policy="Background")
            await self._wait_pods_gone(client)

    async def _wait_pods_gone(self, client: KubeClient) -> None:
        from kuberya.client.resources import PODS

        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            listing = await client.list(PODS, namespace=NAMESPACE)
            names = [str(p["metadata"]["name"]) for p in listing.get("items") or []]
            if not any(name == "marvel-collection" or name.startswith("payment-") for name in names):
                return
            await asyncio.sleep(0.3)
        raise DemoFailed("the previous demo's pods did not go away", "see `kubectl get pods`")

    # -- 2. images --------------------------------------------------------------------------------

    async def step_images(self) -> None:
        from kuberya.demo.images import BuiltImage, ImagesUnavailable, build_images, ensure_bases

        n = self.narrator
        n.section(2, "이미지 빌드", "Build the images")
        if self.from_source:
            self._explain_from_source()
            n.elapsed()
            return
        script = self.examples.parent / "scripts" / "base-images"
        try:
            with n.spinner("베이스 이미지 확인…", "base images…"):
                bases = await ensure_bases(
                    self.apps,
                    data_dir=self.data_dir,
                    script=script if script.is_file() else None,
                    on_line=n.progress,
                    on_command=n.command,
                )
            n.success(
                f"베이스 이미지: {', '.join(sorted(set(bases.values())))}",
                f"base images: {', '.join(sorted(set(bases.values())))}",
            )

            def report(image: BuiltImage) -> None:
                if image.reused:
                    n.success(
                        f"{image.tag}: 이미 빌드됨 ({image.short_id}, 소스가 그 뒤로 바뀌지 않았어요)",
                        f"{image.tag}: up to date ({image.short_id}; the sources have not changed since)",
                    )
                else:
                    n.success(
                        f"{image.tag} 빌드 ({image.short_id}, {image.seconds:.1f}초)",
                        f"built {image.tag} ({image.short_id}) in {image.seconds:.1f}s",
                    )
                self.images_built.append(image.tag)

            with n.spinner("이미지 빌드 중 (buildah)…", "building with buildah…"):
                await build_images(
                    self.apps, bases, data_dir=self.data_dir, on_start=n.command, on_line=n.progress, on_built=report
                )
        except ImagesUnavailable as e:
            await self._fall_back(str(e), e.hint)
            n.elapsed()
            return
        n.command(f"kuberya images{self._data_dir_flag()}")
        n.elapsed()

    def _explain_from_source(self) -> None:
        n = self.narrator
        n.text(
            "process 런타임은 이미지의 파일 시스템을 쓰지 않아요: 앱을 소스에서 바로 실행해요.",
            "The process runtime does not use an image's filesystem: the apps run from source.",
        )
        for app in self.apps.values():
            program, script = app.command
            n.command(f"{program} {_relative(app.directory / script)}")
        n.note(
            "ask가 만드는 디플로이먼트와 파드에 이 명령(command, workingDir, VERSION)을 넣어요. "
            "이름, 레이블, 포트는 이미지로 실행할 때와 같아요.",
            "the demo adds this command (command, workingDir, VERSION) to what ask creates; "
            "names, labels and ports are the same as with images.",
        )

    async def _fall_back(self, why: str, hint: str) -> None:
        from kuberya.demo.cluster import DemoClusterError, restart

        n = self.narrator
        n.warning(f"이미지를 만들 수 없어요: {why}", f"cannot build the images: {why}")
        n.note(hint, hint)
        if self.started is None or not self.started.started_here:
            raise DemoFailed(
                f"the running cluster uses runc and needs images: {why}",
                f"{hint}; or stop it (`kuberya down{self._data_dir_flag()}`) and run `kuberya demo --fast`",
            )
        n.text(
            "클러스터를 process 런타임으로 다시 시작하고, 앱을 소스에서 실행해요.",
            "Restarting the cluster with the process runtime; the apps run from source.",
        )
        n.command(f"kuberya down{self._data_dir_flag()} && kuberya up --runtime process{self._data_dir_flag()}")
        try:
            self.started = restart(self.data_dir, runtime="process", port=self.started.ready.port)
        except DemoClusterError as e:
            raise DemoFailed(str(e), e.hint) from e
        self.from_source = True
        self._explain_from_source()

    # -- 3, 4. ask ----------------------------------------------------------------------------------

    def _target(self) -> Target:
        from kuberya.cli.targets import TargetError, resolve_targets

        try:
            return resolve_targets(
                [], kubeconfig=self.data_dir / "kubeconfig", env={}, home=self.home, data_dir=self.data_dir
            )[0]
        except TargetError as e:
            raise DemoFailed(str(e)) from e

    def _hooks(self) -> tuple[DemoImages, DemoPreparer]:
        from kuberya.cli.facts import StoreImages
        from kuberya.demo.apps import DemoImages, DemoPreparer

        store = None if self.from_source else StoreImages(self.data_dir / "images")
        return DemoImages(self.apps, store), DemoPreparer(self.apps, from_source=self.from_source)

    def ask_output(self) -> AskOutput:
        from kuberya.cli.output import AskOutput

        n = self.narrator
        return AskOutput(language=n.language, stream=n.stream, errors=n.stream, tty=n.tty)

    async def ask(self, korean: str, english: str) -> None:
        """Say a line of the talk and do it through ``kuberya ask --yes``'s pipeline."""
        from kuberya.cli.ask import AskOptions, TargetRun, understand
        from kuberya.cli.output import describe_request
        from kuberya.nl import NLError

        n = self.narrator
        n.talk(korean, english)
        n.command(f'kuberya ask "{korean}" --yes')
        try:
            request, _ = understand(korean, llm=None)
        except NLError as e:
            raise DemoFailed(f"kuberya ask did not understand {korean!r}: {e.message}") from e
        request = replace(request, language=n.language)
        out = self.ask_output()
        target = self._target()
        out.understanding(describe_request(request, target.namespace))
        images, prepare = self._hooks()
        run = TargetRun(
            target=target,
            request=request,
            options=AskOptions(yes=True, timeout=WAIT),
            out=out,
            data_dir=self.data_dir,
            registry=None,
            interactive=lambda: False,
            images=images,
            prepare=prepare,
        )
        if await run.main() != 0:
            raise DemoFailed(
                n.say(
                    f'"{korean}"을(를) 끝내지 못했어요 (위의 메시지 참고).', f'"{korean}" did not complete (see above)'
                ),
                "kubectl get pods; kubectl describe pods",
            )

    async def step_payment(self, client: KubeClient) -> None:
        n = self.narrator
        n.section(3, "payment 앱 3개 실행", "Run three payment apps")
        n.note(
            "데모는 ask가 만드는 디플로이먼트에 examples/payment/k8s/deployment.yaml의 운영 설정"
            "(readiness/liveness 프로브, preStop, maxUnavailable 0)을 더해요: 무중단 배포의 바탕이에요.",
            "the demo adds examples/payment/k8s/deployment.yaml's production settings to what ask creates "
            "(readiness/liveness probes, preStop, maxUnavailable 0): what makes the rollout lossless.",
        )
        await self.ask("쿠버야 payment 앱을 3개 실행해줘", "Hey Kube, run three of the payment app")
        self.shown.append(n.say("payment 3개 실행 (ask)", "payment ×3 by asking"))
        n.elapsed()

    async def step_marvel(self, client: KubeClient) -> None:
        import shutil

        n = self.narrator
        n.section(4, "marvel-collection 파드 1개 실행", "Run one marvel-collection pod")
        if self.from_source and shutil.which("node") is None:
            n.warning(
                "node가 없어서 marvel-collection은 건너뛰어요 (sudo apt-get install nodejs).",
                "node is not installed: skipping marvel-collection (sudo apt-get install nodejs)",
            )
            self.apps.pop("marvel-collection", None)
            n.elapsed()
            return
        await self.ask("쿠버야 marvel-collection 파드 1개 실행해 줘", "Hey Kube, run one marvel-collection pod")
        self.shown.append(n.say("marvel-collection 파드 (ask)", "a marvel-collection pod by asking"))
        n.elapsed()

    # -- 5. tables --------------------------------------------------------------------------------

    async def step_tables(self, client: KubeClient) -> None:
        from kuberya.cli.output import table_rows
        from kuberya.client.resources import PODS, SERVICES

        n = self.narrator
        n.section(5, "파드와 서비스 보기", "Pods and services")
        for ref, command in ((PODS, "kubectl get pods"), (SERVICES, "kubectl get services")):
            n.command(command)
            listing = await client.list(ref, namespace=NAMESPACE)
            headers, rows = table_rows(ref.resource, list(listing.get("items") or []))
            n.table(headers, rows)
        n.elapsed()

    # -- 7. scale ---------------------------------------------------------------------------------

    async def step_scale(self, client: KubeClient) -> None:
        n = self.narrator
        n.section(7, "스케일: 5개로, 다시 3개로", "Scale to 5, then back to 3")
        await self.ask("payment 5개로 늘려줘", "scale payment to 5")
        await self.ask("payment 3개로 줄여줘", "scale payment back to 3")
        self.shown.append(n.say("5개로 늘렸다가 3개로", "scaled to 5 and back to 3"))
        n.elapsed()

    # -- 9. summary -------------------------------------------------------------------------------

    async def step_summary(self, client: KubeClient, began: float) -> None:
        n = self.narrator
        n.section(9, "정리", "Summary")
        total = time.monotonic() - began
        runtime = (
            "process (소스에서 실행)"
            if self.from_source and n.language == "ko"
            else ("process (from source)" if self.from_source else "runc")
        )
        n.text(f"보여 준 것 (런타임 {runtime}):", f"What was shown (runtime {runtime}):")
        if self.images_built:
            n.text(
                f"  · 이미지 빌드: {', '.join(self.images_built)}", f"  · images built: {', '.join(self.images_built)}"
            )
        for item in self.shown:
            n.text(f"  · {item}", f"  · {item}")
        for what, report in self.load_reports:
            n.text(
                f"  · {what}: 요청 {report.requests}개, 실패 {report.failures}개, p99 {report.p99_ms:.0f}ms",
                f"  · {what}: {report.requests} requests, {report.failures} failed, p99 {report.p99_ms:.0f}ms",
            )
        failures = sum(r.failures for _, r in self.load_reports)
        n.success(
            f"데모 완료: {total:.0f}초, 배포 중 실패한 요청 {failures}개",
            f"demo done in {total:.0f}s; {failures} failed requests during the rollouts",
        )
        context = "--context kuberya " if self.merge_kubeconfig else ""
        n.text("더 해 보기:", "Explore:")
        n.command(f"kubectl {context}get all")
        n.command(f"kubectl {context}logs deploy/payment")
        n.command(f'kuberya ask "payment 로그 보여줘"{self._ask_flags()}')
        n.command(f'kuberya ask "payment 2개 더 늘려줘"{self._ask_flags()}')
        if self.keep:
            n.text("앱은 계속 실행 중이에요. 정리하려면:", "The apps keep running. To clean up:")
            for line in self._cleanup_hint().split("; "):
                n.command(line)
        else:
            await self._clean_up(client)
        n.elapsed()

    def _ask_flags(self) -> str:
        return "" if self.merge_kubeconfig else f" --data-dir {self.data_dir}"

    def _cleanup_hint(self) -> str:
        down = "kuberya down" + ("" if self.merge_kubeconfig else f" --data-dir {self.data_dir}")
        return (
            f"kubectl {'--context kuberya ' if self.merge_kubeconfig else ''}delete deployment/payment "
            f"pod/marvel-collection service/payment service/marvel-collection; {down}"
        )

    async def _clean_up(self, client: KubeClient) -> None:
        from kuberya.client import NotFoundError
        from kuberya.client.resources import DEPLOYMENTS, PODS, SERVICES

        n = self.narrator
        n.command("kubectl delete deployment/payment pod/marvel-collection service/payment service/marvel-collection")
        with n.spinner("데모 앱을 지우는 중…", "removing the demo's apps…"):
            for ref, name in (
                (DEPLOYMENTS, "payment"),
                (PODS, "marvel-collection"),
                (SERVICES, "payment"),
                (SERVICES, "marvel-collection"),
            ):
                with contextlib.suppress(NotFoundError):
                    await client.delete(ref, name, namespace=NAMESPACE, propagation_policy="Background")
            await self._wait_pods_gone(client)
        n.success(
            "데모 앱을 지웠어요. 클러스터는 계속 실행 중이에요.", "the demo's apps are gone; the cluster keeps running"
        )


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
