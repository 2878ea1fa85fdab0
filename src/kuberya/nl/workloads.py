"""Recognising the workload requests: one-off Jobs, CronJobs, StatefulSets, and node maintenance.

:func:`find_workload` runs on the normalised text before the app intents are resolved. It finds
the words that make a request one of these — a noun (잡/작업/job, 크론잡/cronjob,
스테이트풀셋/statefulset), a manner (순서대로 = "in order"), a schedule (:mod:`~kuberya.nl.schedule`)
or a node verb (drain/비워, cordon, uncordon/다시 스케줄 가능하게) — and *blanks* them, so that the
ordinary slot and name extraction that follows never reads "job" or 매일 as an app, the 3 of "3시"
as a replica count, or "in order" as namespace ``order``.

The combinations that could be misread are refused rather than guessed: a schedule or a job with
any action other than running it ("매일 payment 삭제해줘": a scheduled delete is not something a
CronJob of ``kubectl create cronjob`` does), a job noun with no verb at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kuberya.nl.errors import Ambiguous, NotUnderstood
from kuberya.nl.lexicon import WORD_END, WORD_START, Cue
from kuberya.nl.normalize import Normalized
from kuberya.nl.plan import Intent
from kuberya.nl.schedule import take_schedule

NAME = r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?"
_P = re.compile


@dataclass(frozen=True)
class Workload:
    intent: Intent
    text: str
    """The normalised text with the workload's own words blanked: what is left is slots and names."""
    schedule: str | None = None
    node: str | None = None


def _blank(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    found = False

    def spaces(m: re.Match[str]) -> str:
        nonlocal found
        found = True
        return " " * len(m[0])

    return pattern.sub(spaces, text), found


# --- node maintenance ------------------------------------------------------------------------
# Matched on the space-free text (Korean) or on word boundaries (English); 해제 undoes a cordon.
_KO_UNCORDON = _P(
    r"언코돈|uncordon|(?:코돈|cordon)(?:을|를)?(?:해제|풀어|취소)"
    r"|(?:다시)?스케줄(?:링)?(?:이|을|를)?(?:다시)?(?:가능|허용|재개|풀어|되게|받게|할수있게)"
)
_KO_CORDON = _P(r"코돈|cordon|스케줄(?:링)?(?:이|을|를)?(?:막|금지|중지|중단|안되게|못하게|불가|차단)")
_KO_DRAIN = _P(
    r"드레인|drain|노드(?:를|을)?(?:다)?(?:비워|비우|비게|정리|대피)"
    r"|노드(?:에서|의|에)?(?:있는)?(?:파드|포드)(?:를|을|들)?(?:다|모두|전부)?(?:빼|옮겨|옮기|내보내|대피|쫓아)"
)
_EN_UNCORDON = _P(
    rf"{WORD_START}(?:uncordon|un-cordon|make (?:the |it )?(?:node )?schedulable(?: again)?|allow scheduling"
    rf"|resume scheduling|mark (?:the |it )?(?:node )?(?:as )?schedulable){WORD_END}"
)
_EN_CORDON = _P(
    rf"{WORD_START}(?:cordon|mark (?:the |it )?(?:node )?(?:as )?unschedulable"
    rf"|make (?:the |it )?(?:node )?unschedulable|stop scheduling|disable scheduling|no more scheduling){WORD_END}"
)
_EN_DRAIN = _P(rf"{WORD_START}(?:drain|(?:evacuate|empty) (?:the |this |that )?node){WORD_END}")
_NODE_NOUN = _P(rf"노드|{WORD_START}nodes?{WORD_END}")
# The node's name, read from the text before the vocative is dropped ("kuberya 노드" names the node).
_NODE_NAME = [
    _P(rf"(?<![\w.-])({NAME}) ?노드"),
    _P(rf"노드(?: ?(?:를|을|는|은))? ({NAME})(?![\w.-])"),
    _P(rf"{WORD_START}node ({NAME}){WORD_END}"),
    _P(rf"{WORD_START}({NAME}) node{WORD_END}"),
    _P(rf"{WORD_START}(?:drain|cordon|uncordon|un-cordon|evacuate) (?:the )?({NAME}){WORD_END}"),
]
_NOT_NODE_NAMES = frozenset(
    {"drain", "cordon", "uncordon", "un-cordon", "the", "this", "that", "a", "node", "nodes", "it", "my", "our",
     "only", "please", "now", "again", "schedulable", "unschedulable", "evacuate", "empty", "mark", "make", "hey",
     "kube", "k8s", "and", "then", "on", "of", "for", "all", "every"}
)  # fmt: skip
_NODE_TAKE = _P(rf"(?<![\w.-])(?:{NAME} )?(?:노드|nodes?)(?: ?(?:를|을|는|은|의|에서|에))?(?: {NAME})?(?![\w.-])")
# Cues a node request may contain without meaning something else ("stop scheduling", "다시").
_NODE_COMPATIBLE = frozenset({Cue.STOP, Cue.CHANGE, Cue.RUN, Cue.STATUS, Cue.RESTART})

# --- jobs, cronjobs, statefulsets ------------------------------------------------------------
_CRONJOB_NOUN = _P(
    rf"크론 ?잡|크론 ?작업|정기 ?작업|예약 ?작업|스케줄(?: ?(?:로|으로|에|을|를|대로))?|{WORD_START}(?:cron ?jobs?|cron"
    rf"|on a schedule|schedule(?:d)?|scheduled job){WORD_END}"
)
_JOB_NOUN = _P(
    rf"(?<![가-힣])(?:일회성 ?)?(?:잡|작업|배치 ?잡|배치 ?작업|배치)(?:을|를|이|가|은|는|도|으로|로|하나)?(?![가-힣])"
    rf"|{WORD_START}(?:one-off |one-time |one time |batch )?jobs?{WORD_END}"
    rf"|{WORD_START}(?:once|one-off|one time){WORD_END}"
)
_STATEFUL = _P(
    rf"스테이트 ?풀 ?셋(?:을|를|으로|로|이|은)?|스테이트풀(?:하게|로)?|순서대로|차례대로|차례로|순차적으로|순서 ?있게"
    rf"|{WORD_START}(?:stateful ?sets?|statefulsets?|sts|stateful|in order|ordered"
    rf"|(?:one|1) after (?:another|the other)|in sequence|sequentially){WORD_END}"
)
STATEFUL_WORDS = _STATEFUL
"""What makes a request a StatefulSet; storage requests (:mod:`~kuberya.nl.storage`) look for it too."""
# Verbs that start one of these, beyond the RUN cue: "schedule backup", "예약해줘", "make a cronjob".
_START_VERB = _P(rf"예약|등록|걸어|{WORD_START}(?:make|schedule|set up|setup){WORD_END}")
_RUN_COMPATIBLE = frozenset({Cue.RUN, Cue.CHANGE, Cue.STATUS})


def _node_intent(norm: Normalized) -> Intent | None:
    compact, spaced = norm.compact, norm.text
    if _KO_UNCORDON.search(compact) and (_NODE_NOUN.search(spaced) or "cordon" in compact or "코돈" in compact):
        return Intent.UNCORDON
    if _EN_UNCORDON.search(spaced):
        return Intent.UNCORDON
    if (_KO_CORDON.search(compact) and (_NODE_NOUN.search(spaced) or re.search("코돈|cordon", compact))) or (
        _EN_CORDON.search(spaced)
    ):
        return Intent.CORDON
    if _KO_DRAIN.search(compact) or _EN_DRAIN.search(spaced):
        return Intent.DRAIN
    return None


def _node_name(raw: str) -> str | None:
    lowered = raw.lower()
    for pattern in _NODE_NAME:
        for m in pattern.finditer(lowered):
            if m[1] not in _NOT_NODE_NAMES:
                return m[1]
    return None


def find_workload(norm: Normalized, raw: str, cues: set[Cue]) -> Workload | None:
    """The workload request this text is, if it is one; raises on the combinations refused."""
    lang = norm.language
    others = cues - _NODE_COMPATIBLE - {Cue.SCALE}
    if (intent := _node_intent(norm)) is not None:
        if others - {Cue.LOGS}:
            names = ", ".join(sorted({intent.value, *(c.name.lower() for c in others)}))
            raise Ambiguous(_say(lang, f"한 번에 한 가지만 할 수 있어요 ({names}).",
                                 f"That asks for several things at once ({names}); one at a time."))  # fmt: skip
        text = norm.text
        for pattern in (_EN_UNCORDON, _EN_CORDON, _EN_DRAIN, _NODE_TAKE):
            text, _ = _blank(text, pattern)
        return Workload(intent, text, node=_node_name(raw))

    text, stateful = _blank(norm.text, _STATEFUL)
    text, cron_noun = _blank(text, _CRONJOB_NOUN)
    text, job_noun = _blank(text, _JOB_NOUN)
    starts = Cue.RUN in cues or _START_VERB.search(norm.text) is not None
    scanned = take_schedule(text, lang)
    schedule = scanned.cron
    if not (stateful or cron_noun or job_noun or schedule):
        return None
    what = "statefulset" if stateful else "cronjob" if cron_noun or schedule else "job"
    blocking = cues - _RUN_COMPATIBLE - ({Cue.EXPOSE} if stateful else set())
    if blocking or not starts:
        raise NotUnderstood(
            _say(lang, f"{_KO_WHAT[what]}: 새로 실행하는 것만 할 수 있어요. 다른 일은 kubectl로 하세요.",
                 f"For a {what} I can only start one; do anything else with kubectl."),
            [_EXAMPLE[what][0 if lang == "ko" else 1]],
        )  # fmt: skip
    if stateful:
        if schedule or cron_noun:
            raise Ambiguous(_say(lang, "스테이트풀셋은 일정으로 실행할 수 없어요.",
                                 "A statefulset does not run on a schedule; a cronjob does."))  # fmt: skip
        return Workload(Intent.RUN_STATEFULSET, scanned.text)
    if what == "cronjob":
        if schedule is None:
            raise NotUnderstood(
                _say(lang, "언제 실행할지 알려 주세요 (예: 매일 새벽 3시).",
                     "When should it run? Say a schedule (every day at 3am, every 5 minutes)."),
                [_EXAMPLE["cronjob"][0 if lang == "ko" else 1]],
            )  # fmt: skip
        return Workload(Intent.RUN_CRONJOB, scanned.text, schedule=schedule)
    return Workload(Intent.RUN_JOB, scanned.text)


_KO_WHAT = {"statefulset": "스테이트풀셋", "cronjob": "크론잡", "job": "잡"}
_EXAMPLE = {
    "job": ("backup 작업 한 번 돌려줘", "run the backup job"),
    "cronjob": ("매일 새벽 3시에 backup 돌려줘", "every day at 3am run backup"),
    "statefulset": ("redis 3개를 순서대로 띄워줘", "run 3 redis in order"),
}


def _say(lang: str, ko: str, en: str) -> str:
    return ko if lang == "ko" else en
