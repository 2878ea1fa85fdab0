"""Steps 6 and 8 of the demo: the apps serving requests, then a rollout and a rollback under load.

6. thirty requests through the payment Service, counted per pod (the ClusterIP where this host
   holds it, else a NodePort opened on loopback), and one purchase on marvel-collection that
   reaches payment by its Service name;
8. ``set image payment:v2`` and then "payment 롤백해줘", each while :class:`~kuberya.demo.traffic.Load`
   keeps four clients sending requests; the requests, failures, p99 and versions seen are shown
   and kept for the summary.

Each step is a function of the :class:`~kuberya.demo.story.Demo` whose state it reads and adds to;
the HTTP clients themselves are :mod:`kuberya.demo.traffic`'s.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from kuberya.demo.story import NAMESPACE, WAIT, DemoFailed

if TYPE_CHECKING:
    from kuberya.client import KubeClient
    from kuberya.demo.story import Demo


async def _service_address(demo: Demo, client: KubeClient, name: str) -> tuple[str, int, str]:
    """``(host, port, how)``: the ClusterIP where this machine reaches it, else a NodePort on loopback."""
    from kuberya.client.resources import SERVICES
    from kuberya.demo.traffic import request

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
        demo.narrator.note(
            "ClusterIP에 닿지 않아 NodePort로 열어요.", "the ClusterIP is not reachable here: opening a NodePort"
        )
        demo.narrator.command(f'kubectl patch service {name} -p \'{{"spec":{{"type":"NodePort"}}}}\'')
        svc = await client.patch(
            SERVICES, name, {"spec": {"type": "NodePort"}}, namespace=NAMESPACE, patch_type="merge"
        )
        port = (svc.get("spec") or {})["ports"][0]
        await asyncio.sleep(0.5)  # the proxy opens the port on its next sync
    return "127.0.0.1", int(port["nodePort"]), "NodePort"


async def step_requests(demo: Demo, client: KubeClient) -> None:
    from kuberya.demo.traffic import spread

    n = demo.narrator
    n.section(6, "서비스로 요청 보내기: 부하 분산", "Requests through the Service: load balancing")
    host, port, how = await _service_address(demo, client, "payment")
    demo.payment_address = (host, port)
    n.command(f"for i in $(seq 30); do curl -s http://{host}:{port}/ | jq -r .pod; done | sort | uniq -c")
    with n.spinner(f"{how} {host}:{port}로 요청 30개…", f"30 requests to the {how} {host}:{port}…"):
        pods, failed = await spread(host, port, count=30)
    rows = [[pod, str(count), "█" * count] for pod, count in sorted(pods.items())]
    n.table([n.say("파드", "POD"), n.say("응답", "ANSWERED"), ""], rows)
    if len(pods) >= 3 and not failed:
        n.success(f"파드 {len(pods)}개가 나눠서 응답했어요.", f"{len(pods)} pods answered the 30 requests")
    else:
        n.warning(f"응답한 파드 {len(pods)}개, 실패 {failed}개", f"{len(pods)} pods answered, {failed} requests failed")
    demo.shown.append(n.say(f"요청 30개를 파드 {len(pods)}개가 나눠 응답", f"30 requests over {len(pods)} pods"))
    if "marvel-collection" in demo.apps:
        await _buy(demo, client)
    n.elapsed()


async def _buy(demo: Demo, client: KubeClient) -> None:
    from kuberya.client.resources import PODS
    from kuberya.demo.traffic import request

    n = demo.narrator
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
    demo.shown.append(
        n.say("marvel-collection → payment (서비스 디스커버리)", "marvel-collection → payment by Service name")
    )


async def step_rollout(demo: Demo, client: KubeClient) -> None:
    from kuberya.cli.plan_runner import Touched
    from kuberya.cli.rollout import WaitTimeout, wait_until_ready
    from kuberya.client.resources import DEPLOYMENTS
    from kuberya.demo.apps import set_image_patch
    from kuberya.demo.traffic import Load

    n = demo.narrator
    n.section(8, "부하 중 무중단 배포 (v2), 그리고 롤백", "Roll out v2 under load, then roll back")
    host, port = demo.payment_address
    n.text(
        f"{host}:{port}에 요청을 계속 보내면서 (클라이언트 4개, 최대 60초) 이미지를 바꿔요.",
        f"While 4 clients keep sending requests to {host}:{port} (60 s at most), the image changes.",
    )
    n.command("kubectl set image deployment/payment payment=payment:v2")
    if demo.from_source:
        n.command("kubectl set env deployment/payment VERSION=v2   # process runtime: the version is an env var")
    n.command("kubectl rollout status deployment/payment")
    out = demo.ask_output()
    async with Load(host, port) as load:
        started = time.monotonic()
        await client.patch(
            DEPLOYMENTS,
            "payment",
            set_image_patch("payment", "payment:v2", from_source=demo.from_source),
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
    _report_load(demo, "v2", report)

    n.text("이제 말로 롤백해요, 역시 부하 중에:", "Now roll back by asking, under load again:")
    async with Load(host, port) as load:
        await demo.ask("payment 롤백해줘", "roll payment back")
        await asyncio.sleep(1.0)
        report = await load.stop()
    _report_load(demo, n.say("롤백", "rollback"), report)
    n.command("kubectl rollout history deployment/payment")
    n.elapsed()


def _report_load(demo: Demo, what: str, report: Any) -> None:
    n = demo.narrator
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
    demo.load_reports.append((what, report))


def _held_here(ip: str) -> bool:
    """Whether ``ip`` is an address of this host: a socket can be bound to it."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ip, 0))
        except OSError:
            return False
    return True
