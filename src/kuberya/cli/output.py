"""What ``kuberya ask`` shows: its understanding, the plan with its kubectl lines, tables, progress.

Two renderings of the same content: rich (colours, tables, a progress bar) when the stream is a
terminal, plain aligned text otherwise, so that scripts and CI logs get no escape codes. rich is
imported only for a terminal. Everything speaks the request's language: Korean requests get
Korean output ("payment 3개 준비 완료 (2.1초)"), English ones English.

Tables follow ``kubectl get``'s default columns for the kinds ``ask`` lists (pods, deployments,
services; claims, PersistentVolumes and StorageClasses in :mod:`kuberya.cli.storage_tables`),
computed from the objects so that they look the same against any cluster.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from typing import Any, TextIO

from kuberya.cli.storage_tables import TABLES
from kuberya.nl import Intent, NLError, Plan, Request

_HANGUL = re.compile("[가-힣]")


def language_of(text: str) -> str:
    return "ko" if _HANGUL.search(text) else "en"


def say(language: str, ko: str, en: str) -> str:
    return ko if language == "ko" else en


_KO_KINDS = {
    "pods": "파드",
    "deployments": "디플로이먼트",
    "services": "서비스",
    "all": "전체",
    "persistentvolumeclaims": "클레임(PVC)",
    "persistentvolumes": "퍼시스턴트볼륨(PV)",
    "volumes": "볼륨(PVC와 PV)",
    "storageclasses": "스토리지클래스",
}


def describe_request(request: Request, namespace: str) -> str:
    """One line saying how the request was read: "→ run app payment ×3 in default"."""
    r, ko = request, request.language == "ko"
    app = r.app or ""
    n = r.replicas
    ko_text: dict[Intent, str] = {
        Intent.RUN_APP: f"{app} 앱 {n if n is not None else 1}개 실행" + (f" (이미지 {r.image})" if r.image else ""),
        Intent.RUN_POD: f"파드 {app} 1개 실행" + (f" (이미지 {r.image})" if r.image else ""),
        Intent.SCALE: f"{app} {n}개로 조정",
        Intent.SCALE_BY: f"{app} {abs(r.delta or 0)}개 {'늘리기' if (r.delta or 0) > 0 else '줄이기'}",
        Intent.STOP: "모든 앱 중지" if r.all else f"{app} 중지 (0개로)",
        Intent.DELETE: "모두 삭제" if r.all else f"{app} 삭제",
        Intent.STATUS: f"{app} 상태 보기",
        Intent.LIST: f"{_KO_KINDS.get(r.kind or 'all', r.kind)} 목록 보기",
        Intent.LOGS: f"{app} 로그 보기" + (" (실시간)" if r.follow else ""),
        Intent.SET_IMAGE: f"{app} 이미지를 {r.image}(으)로 변경",
        Intent.ROLLBACK: f"{app} 롤백" + (f" (리비전 {r.revision})" if r.revision else ""),
        Intent.RESTART: f"{app} 재시작",
        Intent.EXPOSE: f"{app} 노출" + (f" (포트 {r.port})" if r.port else ""),
        Intent.AUTOSCALE: f"{app} 오토스케일",
    }
    en_text: dict[Intent, str] = {
        Intent.RUN_APP: f"run app {app} ×{n if n is not None else 1}" + (f" ({r.image})" if r.image else ""),
        Intent.RUN_POD: f"run one pod {app}" + (f" ({r.image})" if r.image else ""),
        Intent.SCALE: f"scale {app} to {n}",
        Intent.SCALE_BY: f"scale {app} by {r.delta:+d}" if r.delta is not None else f"scale {app}",
        Intent.STOP: "stop every app" if r.all else f"stop {app} (scale to 0)",
        Intent.DELETE: "delete everything" if r.all else f"delete {app}",
        Intent.STATUS: f"show the status of {app}",
        Intent.LIST: f"list {r.kind or 'all'}",
        Intent.LOGS: f"{'follow' if r.follow else 'show'} the logs of {app}",
        Intent.SET_IMAGE: f"change the image of {app} to {r.image}",
        Intent.ROLLBACK: f"roll {app} back" + (f" to revision {r.revision}" if r.revision else ""),
        Intent.RESTART: f"restart {app}",
        Intent.EXPOSE: f"expose {app}" + (f" on port {r.port}" if r.port else ""),
        Intent.AUTOSCALE: f"autoscale {app}",
    }
    text = ko_text[r.intent] if ko else en_text[r.intent]
    where = f" (네임스페이스 {namespace})" if ko else f" in {namespace}"
    return f"→ {text}{where}"


# -- tables -----------------------------------------------------------------------------------


def _age(timestamp: Any, now: dt.datetime) -> str:
    try:
        created = dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 3:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _pod_status(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    reason = str(status.get("reason") or status.get("phase") or "Pending")
    for c in status.get("containerStatuses") or []:
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def table_rows(resource: str, objects: list[dict[str, Any]], *, now: dt.datetime | None = None) -> tuple[
    list[str], list[list[str]]]:  # fmt: skip
    """``(headers, rows)`` with kubectl's default columns for ``resource``."""
    now = now or dt.datetime.now(dt.UTC)
    rows: list[list[str]] = []
    if resource == "pods":
        headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        for o in objects:
            statuses = (o.get("status") or {}).get("containerStatuses") or []
            total = len((o.get("spec") or {}).get("containers") or []) or len(statuses)
            ready = sum(1 for c in statuses if c.get("ready"))
            restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
            rows.append([_meta(o, "name"), f"{ready}/{total}", _pod_status(o), str(restarts),
                         _age(_meta(o, "creationTimestamp"), now)])  # fmt: skip
    elif resource == "deployments":
        headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        for o in objects:
            status = o.get("status") or {}
            rows.append([
                _meta(o, "name"), f"{status.get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}",
                str(status.get("updatedReplicas", 0)), str(status.get("availableReplicas", 0)),
                _age(_meta(o, "creationTimestamp"), now),
            ])  # fmt: skip
    elif resource == "services":
        headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        for o in objects:
            spec = o.get("spec") or {}
            ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            external = ",".join(str(i.get("ip") or i.get("hostname")) for i in ingress) or (
                "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
            )
            ports = ",".join(
                f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                for p in spec.get("ports") or []
            )
            rows.append([_meta(o, "name"), str(spec.get("type", "ClusterIP")), str(spec.get("clusterIP") or "<none>"),
                         external, ports or "<none>", _age(_meta(o, "creationTimestamp"), now)])  # fmt: skip
    elif resource in TABLES:
        headers, row = TABLES[resource]
        clock: dt.datetime = now
        rows = [row(o, lambda obj: _age(_meta(obj, "creationTimestamp"), clock)) for o in objects]
    else:
        headers = ["NAME", "AGE"]
        rows = [[_meta(o, "name"), _age(_meta(o, "creationTimestamp"), now)] for o in objects]
    return headers, rows


def _meta(obj: dict[str, Any], key: str) -> str:
    return str((obj.get("metadata") or {}).get(key) or "")


def plain_table(headers: list[str], rows: list[list[str]]) -> str:
    """Kubectl's layout: left-aligned columns, three spaces apart."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    ]
    return "\n".join(lines)


# -- the console ------------------------------------------------------------------------------


class AskOutput:
    """Everything ``ask`` prints, in the request's language, rich on a terminal and plain elsewhere.

    Refusals and errors (with their suggestions) go to ``errors`` (stderr), the rest to ``stream``,
    as kubectl does, so that a script reading stdout never mistakes an error for a result.
    """

    def __init__(
        self, *, language: str, stream: TextIO | None = None, errors: TextIO | None = None, tty: bool | None = None
    ) -> None:
        self.language = language
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.errors_tty = self.errors.isatty() if tty is None else tty
        self._console: Any = None
        self._error_console: Any = None

    def say(self, ko: str, en: str) -> str:
        return say(self.language, ko, en)

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console  # only a terminal pays for importing rich

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def line(self, rich_text: str, plain: str, *, error: bool = False) -> None:
        if error and self.errors_tty:
            if self._error_console is None:
                from rich.console import Console

                self._error_console = Console(file=self.errors, highlight=False, soft_wrap=True)
            self._error_console.print(rich_text)
        elif not error and self.tty:
            self.console.print(rich_text)
        else:
            print(plain, file=self.errors if error else self.stream, flush=True)

    def understanding(self, text: str, *, via_llm: bool = False) -> None:
        extra = self.say(" (LLM으로 해석)", " (read by the LLM)") if via_llm else ""
        self.line(f"[bold cyan]{_escape(text)}[/]{_escape(extra)}", f"{text}{extra}")

    def heading(self, text: str) -> None:
        self.line(f"[bold]── {_escape(text)} ──[/]", f"── {text} ──")

    def plan(self, plan: Plan) -> None:
        self.line(f"[bold]{self.say('계획', 'plan')}:[/]", f"{self.say('계획', 'plan')}:")
        for i, step in enumerate(plan.steps, 1):
            self.line(f"  {i}. {_escape(step.description)}", f"  {i}. {step.description}")
            self.line(f"     [green]$ {_escape(step.kubectl)}[/]", f"     $ {step.kubectl}")
        for warning in plan.warnings:
            self.warning(warning)
        for note in plan.notes:
            self.note(note)

    def warning(self, text: str) -> None:
        self.line(f"[bold yellow]![/] {_escape(text)}", f"! {text}")

    def note(self, text: str) -> None:
        self.line(f"[dim]· {_escape(text)}[/]", f"· {text}")

    def success(self, text: str) -> None:
        self.line(f"[bold green]✓[/] {_escape(text)}", f"✓ {text}")

    def error(self, text: str) -> None:
        self.line(f"[bold red]✗[/] {_escape(text)}", f"✗ {text}", error=True)

    def refusal(self, error: NLError) -> None:
        """Why the request was not done, and what the operator does understand."""
        self.error(error.message)
        self.suggestions(error.suggestions, lead_in=error.message.rstrip().endswith(":"))

    def suggestions(self, items: list[str], *, lead_in: bool = False) -> None:
        """Requests to try; ``lead_in``: the message before already says so ("Try, for example:")."""
        if not items:
            return
        header = self.say("이렇게 말해 보세요", "try")
        if not lead_in:
            self.line(f"[bold]{header}:[/]", f"{header}:", error=True)
        for item in items:
            self.line(f'  [cyan]kuberya ask "{_escape(item)}"[/]', f'  kuberya ask "{item}"', error=True)

    def table(self, resource: str, objects: list[dict[str, Any]]) -> None:
        if not objects:
            self.line(f"[dim]{self.say('없음', 'No resources found.')}[/]", self.say("없음", "No resources found."))
            return
        headers, rows = table_rows(resource, objects)
        if not self.tty:
            print(plain_table(headers, rows), file=self.stream, flush=True)
            return
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*(_escape(cell) for cell in row))
        self.console.print(table)

    def text(self, chunk: str) -> None:
        """Raw text (logs), passed through untouched."""
        self.stream.write(chunk)
        self.stream.flush()

    def progress(self, name: str, *, heartbeat: float = 5.0) -> ProgressView:
        return ProgressView(self, name, heartbeat=heartbeat)


class ProgressView:
    """A bar "payment 2/3 ready" on a terminal; a plain line per change (and a heartbeat) elsewhere."""

    def __init__(self, out: AskOutput, name: str, *, heartbeat: float) -> None:
        self.out = out
        self.name = name
        self.heartbeat = heartbeat
        self._progress: Any = None
        self._task: Any = None
        self._last: tuple[int, int] | None = None
        self._printed_at = 0.0

    def __enter__(self) -> ProgressView:
        if self.out.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.out.console, transient=True)  # fmt: skip
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, ready: int, desired: int) -> None:
        label = self.out.say(f"{self.name} {ready}/{desired} 준비됨", f"{self.name} {ready}/{desired} ready")
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task(self.name, total=max(desired, 1))
            self._progress.update(self._task, completed=ready, total=max(desired, 1), description=label)
            return
        now = time.monotonic()
        if (ready, desired) != self._last or now - self._printed_at >= self.heartbeat:
            print(f"  {label}", file=self.out.stream, flush=True)
            self._last, self._printed_at = (ready, desired), now


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
