"""``kuberya demo``: the talk's demo, end to end on the embedded cluster, narrated step by step.

Nine numbered sections, each with what a person would type for the same effect and how long it
took (output: :mod:`kuberya.cli.demo_output`):

1. the cluster — started if needed, with the runtime chosen and why (:mod:`kuberya.cli.demo_cluster`);
2. the images — the offline bases, then ``payment:v1``/``v2`` and ``marvel-collection:v1`` built
   with buildah (:mod:`kuberya.cli.demo_images`); with the process runtime the apps run from source;
3. "쿠버야 payment 앱을 3개 실행해줘" and 4. "쿠버야 marvel-collection 파드 1개 실행해 줘" — through
   ``kuberya ask``'s own pipeline (:class:`kuberya.cli.ask.TargetRun`), shaped by one hook
   (:class:`kuberya.cli.demo_apps.DemoPreparer`: the example manifests' probes, and the command from
   source when images cannot run);
5. pods and services as tables; 6. thirty requests through the payment Service, counted per pod,
   and one purchase on marvel-collection that reaches payment by its Service name
   (:mod:`kuberya.cli.demo_traffic`); 7. scale to 5 and back to 3 by asking;
8. ``set image payment:v2`` and "payment 롤백해줘", each under a bounded load, with the requests,
   failures, p99 and versions seen; 9. a summary: what was shown, how long, what next.

The apps stay running afterwards (``--keep``, the default) so that the user can explore them with
kubectl; ``--clean-up`` deletes them at the end. Either way the next run first removes what an
earlier demo left (objects carry :data:`kuberya.cli.demo_apps.DEMO_ANNOTATION`); objects of the
same names that a demo did not create are never touched: the demo stops and says so.

Every failure ends the demo with a message and a hint, never a traceback (exit status 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kuberya.cli.demo_output import Narrator
from kuberya.cli.options import default_data_dir

if TYPE_CHECKING:
    from kuberya.cli.demo_apps import DemoApp, DemoImages, DemoPreparer
    from kuberya.cli.demo_cluster import Started
    from kuberya.cli.output import AskOutput
    from kuberya.cli.targets import Target
    from kuberya.client import KubeClient

NAMESPACE = "default"
WAIT = 120.0
"""Seconds to wait for any one thing to become ready."""

DEMO_HELP = """\
Run the talk's demo end to end on the local cluster, narrated step by step.

\b
Starts the cluster if needed, builds the two example apps into images (real containers with
runc; --fast runs them from source instead), then, as the talk does:
  쿠버야 payment 앱을 3개 실행해줘            → Deployment ×3 + Service
  쿠버야 marvel-collection 파드 1개 실행해 줘  → one Pod
sends requests through the payment Service (spread over the 3 pods), scales to 5 and back,
rolls out payment:v2 under load with zero failed requests, and rolls back. Every step shows the
kubectl / kuberya commands that do the same. Needs a kuberya checkout's examples/ (--examples).

\b
The apps keep running afterwards (explore: kubectl --context kuberya get all); --clean-up
removes them at the end; `kuberya down` stops the cluster.

\b
Examples:
  kuberya demo                    # the full demo (~1-2 minutes after setup)
  kuberya demo --fast --lang ko   # no image builds, process runtime, Korean narration
"""


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
        from kuberya.cli.demo_apps import demo_apps

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

        client = ApiClient.from_kubeconfig(self.data_dir / "kubeconfig")
        try:
            await self.remove_previous(client)
            self.narrator.elapsed()  # of step 1, which ends with a cluster clear of an earlier demo
            await self.step_images()
            await self.step_payment(client)
            await self.step_marvel(client)
            await self.step_tables(client)
            await self.step_requests(client)
            await self.step_scale(client)
            await self.step_rollout(client)
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
        from kuberya.cli.demo_cluster import DemoClusterError, choose_runtime, ensure_cluster

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
        from kuberya.cli.demo_cluster import merge_into_user_kubeconfig

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
        from kuberya.cli.demo_apps import is_demo_object
        from kuberya.client import NotFoundError
        from kuberya.client.resources import DEPLOYMENTS, PODS, SERVICES

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
        from kuberya.cli.demo_images import BuiltImage, ImagesUnavailable, build_images, ensure_bases

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
        from kuberya.cli.demo_cluster import DemoClusterError, restart

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
        from kuberya.cli.demo_apps import DemoImages, DemoPreparer
        from kuberya.cli.facts import StoreImages

        store = None if self.from_source else StoreImages(self.data_dir / "images")
        return DemoImages(self.apps, store), DemoPreparer(self.apps, from_source=self.from_source)

    def _ask_output(self) -> AskOutput:
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
        out = self._ask_output()
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

    # -- 6. requests ------------------------------------------------------------------------------

    async def _service_address(self, client: KubeClient, name: str) -> tuple[str, int, str]:
        """``(host, port, how)``: the ClusterIP where this machine reaches it, else a NodePort on loopback."""
        from kuberya.cli.demo_traffic import request
        from kuberya.client.resources import SERVICES

        svc = await client.get(SERVICES, name, namespace=NAMESPACE)
        spec = svc.get("spec") or {}
        port = spec["ports"][0]
        cluster_ip = str(spec.get("clusterIP") or "")
        # Only a ClusterIP this host holds (the proxy puts them on a link of ours, as root): without
        # root the address is routed like any other, out of the machine, to whoever answers there.
        if cluster_ip and cluster_ip != "None" and _held_here(cluster_ip):
            try:
                await request(cluster_ip, int(port["port"]), "/", timeout=2.0)
                return cluster_ip, int(port["port"]), "ClusterIP"
            except (OSError, TimeoutError, ValueError):
                pass
        if not port.get("nodePort"):
            self.narrator.note(
                "ClusterIP에 닿지 않아 NodePort로 열어요.", "the ClusterIP is not reachable here: opening a NodePort"
            )
            self.narrator.command(f'kubectl patch service {name} -p \'{{"spec":{{"type":"NodePort"}}}}\'')
            svc = await client.patch(
                SERVICES, name, {"spec": {"type": "NodePort"}}, namespace=NAMESPACE, patch_type="merge"
            )
            port = (svc.get("spec") or {})["ports"][0]
            await asyncio.sleep(0.5)  # the proxy opens the port on its next sync
        return "127.0.0.1", int(port["nodePort"]), "NodePort"

    async def step_requests(self, client: KubeClient) -> None:
        from kuberya.cli.demo_traffic import spread

        n = self.narrator
        n.section(6, "서비스로 요청 보내기: 부하 분산", "Requests through the Service: load balancing")
        host, port, how = await self._service_address(client, "payment")
        self.payment_address = (host, port)
        n.command(f"for i in $(seq 30); do curl -s http://{host}:{port}/ | jq -r .pod; done | sort | uniq -c")
        with n.spinner(f"{how} {host}:{port}로 요청 30개…", f"30 requests to the {how} {host}:{port}…"):
            pods, failed = await spread(host, port, count=30)
        rows = [[pod, str(count), "█" * count] for pod, count in sorted(pods.items())]
        n.table([n.say("파드", "POD"), n.say("응답", "ANSWERED"), ""], rows)
        if len(pods) >= 3 and not failed:
            n.success(f"파드 {len(pods)}개가 나눠서 응답했어요.", f"{len(pods)} pods answered the 30 requests")
        else:
            n.warning(
                f"응답한 파드 {len(pods)}개, 실패 {failed}개", f"{len(pods)} pods answered, {failed} requests failed"
            )
        self.shown.append(n.say(f"요청 30개를 파드 {len(pods)}개가 나눠 응답", f"30 requests over {len(pods)} pods"))
        if "marvel-collection" in self.apps:
            await self._buy(client)
        n.elapsed()

    async def _buy(self, client: KubeClient) -> None:
        from kuberya.cli.demo_traffic import request
        from kuberya.client.resources import PODS

        n = self.narrator
        pod = await client.get(PODS, "marvel-collection", namespace=NAMESPACE)
        ip = str((pod.get("status") or {}).get("podIP") or "")
        if not ip:
            n.warning("marvel-collection 파드에 IP가 없어요.", "the marvel-collection pod has no IP yet")
            return
        n.text(
            "marvel-collection은 payment를 서비스 이름으로 찾아 결제해요:",
            "marvel-collection pays through payment, found by its Service name:",
        )
        n.command(f"curl -s -X POST http://{ip}:3000/characters/1/buy")
        try:
            info = (await request(ip, 3000, "/")).json()
            reply = await request(ip, 3000, "/characters/1/buy", method="POST", body={})
            answer = reply.json()
        except (OSError, TimeoutError, ValueError) as e:
            n.warning(f"marvel-collection에 닿지 않아요: {e}", f"marvel-collection did not answer: {e}")
            return
        url = str((info or {}).get("payment") or (info or {}).get("paymentUrl") or "")
        if reply.status != 200 or not isinstance(answer, dict):
            n.warning(
                f"구매 실패: HTTP {reply.status} {str(answer)[:200]}",
                f"the purchase failed: HTTP {reply.status} {str(answer)[:200]}",
            )
            return
        name = (answer.get("character") or {}).get("name", "?")
        receipt = answer.get("receipt") or {}
        paid_by, receipt_id = receipt.get("pod", "?"), receipt.get("id", "?")
        n.success(
            f"{name} 구매: 영수증 {receipt_id}, payment 파드 {paid_by}가 결제",
            f"bought {name}: receipt {receipt_id} from payment pod {paid_by}",
        )
        if url:
            n.note(f"marvel-collection이 쓴 payment 주소: {url}", f"the payment URL marvel-collection used: {url}")
        self.shown.append(
            n.say("marvel-collection → payment (서비스 디스커버리)", "marvel-collection → payment by Service name")
        )

    # -- 7. scale ---------------------------------------------------------------------------------

    async def step_scale(self, client: KubeClient) -> None:
        n = self.narrator
        n.section(7, "스케일: 5개로, 다시 3개로", "Scale to 5, then back to 3")
        await self.ask("payment 5개로 늘려줘", "scale payment to 5")
        await self.ask("payment 3개로 줄여줘", "scale payment back to 3")
        self.shown.append(n.say("5개로 늘렸다가 3개로", "scaled to 5 and back to 3"))
        n.elapsed()

    # -- 8. rollout -------------------------------------------------------------------------------

    async def step_rollout(self, client: KubeClient) -> None:
        from kuberya.cli.demo_apps import set_image_patch
        from kuberya.cli.demo_traffic import Load
        from kuberya.cli.plan_runner import Touched
        from kuberya.cli.rollout import WaitTimeout, wait_until_ready
        from kuberya.client.resources import DEPLOYMENTS

        n = self.narrator
        n.section(8, "부하 중 무중단 배포 (v2), 그리고 롤백", "Roll out v2 under load, then roll back")
        host, port = self.payment_address
        n.text(
            f"{host}:{port}에 요청을 계속 보내면서 (클라이언트 4개, 최대 60초) 이미지를 바꿔요.",
            f"While 4 clients keep sending requests to {host}:{port} (60 s at most), the image changes.",
        )
        n.command("kubectl set image deployment/payment payment=payment:v2")
        if self.from_source:
            n.command("kubectl set env deployment/payment VERSION=v2   # process runtime: the version is an env var")
        n.command("kubectl rollout status deployment/payment")
        out = self._ask_output()
        async with Load(host, port) as load:
            started = time.monotonic()
            await client.patch(
                DEPLOYMENTS,
                "payment",
                set_image_patch("payment", "payment:v2", from_source=self.from_source),
                namespace=NAMESPACE,
                patch_type="strategic",
            )
            with out.progress("payment v2") as view:
                try:
                    final = await wait_until_ready(
                        client,
                        Touched("deployment", NAMESPACE, "payment"),
                        timeout=WAIT,
                        on_progress=lambda r: view.update(r.ready, r.desired),
                    )
                except WaitTimeout as e:
                    raise DemoFailed(
                        "payment v2 did not roll out in time",
                        "kubectl rollout status deploy/payment; kubectl describe pods -l app=payment",
                    ) from e
            if final.failed:
                raise DemoFailed(f"the rollout failed: {final.failed}", "kubectl describe deploy/payment")
            seconds = time.monotonic() - started
            await asyncio.sleep(1.0)  # a moment more on the new pods only
            report = await load.stop()
        n.success(f"v2 배포 완료 ({seconds:.1f}초)", f"v2 rolled out in {seconds:.1f}s")
        self._report_load("v2", report)

        n.text("이제 말로 롤백해요, 역시 부하 중에:", "Now roll back by asking, under load again:")
        async with Load(host, port) as load:
            await self.ask("payment 롤백해줘", "roll payment back")
            await asyncio.sleep(1.0)
            report = await load.stop()
        self._report_load(n.say("롤백", "rollback"), report)
        n.command("kubectl rollout history deployment/payment")
        n.elapsed()

    def _report_load(self, what: str, report: Any) -> None:
        n = self.narrator
        versions = ", ".join(f"{v} {c}" for v, c in sorted(report.versions.items()))
        n.table(
            [
                n.say("단계", "STEP"),
                n.say("요청", "REQUESTS"),
                n.say("실패", "FAILED"),
                "P99",
                n.say("버전별 응답", "VERSIONS SEEN"),
            ],
            [[what, str(report.requests), str(report.failures), f"{report.p99_ms:.0f}ms", versions]],
        )
        if report.failures == 0:
            n.success(
                f"{what}: 요청 {report.requests}개 중 실패 0개", f"{what}: 0 failed requests out of {report.requests}"
            )
        else:
            reasons = ", ".join(f"{k} ×{v}" for k, v in report.reasons.most_common())
            n.warning(
                f"{what}: 실패 {report.failures}개 ({reasons})",
                f"{what}: {report.failures} failed requests ({reasons})",
            )
        self.load_reports.append((what, report))

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


# -- the command ------------------------------------------------------------------------------------


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def language_from_env(env: dict[str, str] | os._Environ[str]) -> str:
    """Korean when the locale is (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, first set wins), else English."""
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


@click.command("demo", help=DEMO_HELP)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The cluster's data dir [default: $KUBERYA_DATA_DIR, else ~/.local/share/kuberya].",
)
@click.option(
    "--lang",
    type=click.Choice(["ko", "en"]),
    default=None,
    help="Narration language [default: ko when $LANG starts with ko, else en]; the talk's lines are Korean.",
)
@click.option(
    "--fast", is_flag=True, help="Skip the slow parts: no image builds; apps run from source (process runtime)."
)
@click.option(
    "--keep/--clean-up",
    default=True,
    show_default=True,
    help="Leave the demo's apps running at the end (the default), or delete them.",
)
@click.option("--no-color", is_flag=True, help="No colours (also: $NO_COLOR).")
@click.option(
    "--examples",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The examples/ directory with payment and marvel-collection [default: found from here or the package].",
)
def demo_command(
    data_dir: Path | None, lang: str | None, fast: bool, keep: bool, no_color: bool, examples: Path | None
) -> None:
    from kuberya.cli.demo_apps import find_examples

    language = lang or language_from_env(os.environ)
    if no_color:
        os.environ["NO_COLOR"] = "1"  # the ask output's consoles read it too
    narrator = Narrator(language=language, color=not no_color and not os.environ.get("NO_COLOR"))
    default = default_data_dir(os.environ, Path.home())
    root = data_dir.expanduser().absolute() if data_dir else default
    found = examples.absolute() if examples else find_examples(Path.cwd(), Path(__file__).resolve().parent)
    if found is None:
        narrator.error(
            "no examples/ directory with payment and marvel-collection here",
            "run it from a kuberya checkout, or pass --examples DIR",
        )
        sys.exit(1)
    demo = Demo(
        data_dir=root,
        examples=found,
        narrator=narrator,
        fast=fast,
        keep=keep,
        merge_kubeconfig=root == default,
        home=Path.home(),
        port=6443 if root == default else 0,
    )
    sys.exit(demo.run())


def register(group: click.Group) -> None:
    """Add ``demo`` to the ``kuberya`` group."""
    group.add_command(demo_command)


def _held_here(ip: str) -> bool:
    """Whether ``ip`` is an address of this host: a socket can be bound to it."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ip, 0))
        except OSError:
            return False
    return True
