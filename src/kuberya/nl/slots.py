"""Slot extraction: the context, namespace, image, port, numbers… of a normalised request.

A :class:`Scanner` holds the normalised text and *takes* what each pattern finds: the matched
span is blanked (replaced by spaces of the same length), so one word is never read twice — the
8080 of "port 8080" cannot come back as a replica count, the ``shop`` of "shop 네임스페이스"
cannot come back as the app. Whatever is left at the end are the candidate app names.

Numbers left after the typed slots (port, CPU %, revision, lines…) are classified by the words
around them, because in Korean the particle decides the meaning: ``3개로`` (to three) is a
target, ``3개 더`` / ``3개만큼`` (three more) a change, ``3개`` a plain count whose meaning
depends on the verb (실행 → replicas, 늘려 → +3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kuberya.nl.errors import Ambiguous
from kuberya.nl.lexicon import STOPWORDS, WORD_END, WORD_START

NAME = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
_IMAGE = r"[a-z0-9][a-z0-9._-]*(?::\d+)?(?:/[a-z0-9._-]+)*(?::[a-z0-9_][a-z0-9_.-]*)?(?:@sha256:[a-f0-9]{64})?"


@dataclass(frozen=True)
class Number:
    value: int
    role: str
    """``target`` (3개로, to 3), ``delta`` (3개 더, by 3, +3), ``count`` (3개, 3 replicas) or ``bare``."""
    negative: bool = False


class Scanner:
    def __init__(self, text: str) -> None:
        self.text = text

    def take(
        self,
        pattern: re.Pattern[str],
        *,
        accept: Callable[[re.Match[str]], bool] | None = None,
        group_only: bool = False,
    ) -> re.Match[str] | None:
        """First match that ``accept`` accepts, blanked out of the text (only its group with ``group_only``)."""
        for m in pattern.finditer(self.text):
            if accept is not None and not accept(m):
                continue
            group = next((i for i, g in enumerate(m.groups(), 1) if g is not None), 0) if group_only else 0
            start, end = m.span(group)
            self.text = self.text[:start] + " " * (end - start) + self.text[end:]
            return m
        return None

    def take_name(self, patterns: list[re.Pattern[str]]) -> str | None:
        for pattern in patterns:
            m = self.take(pattern, accept=lambda m: m[1] not in STOPWORDS and not m[1].isdigit())
            if m:
                return m[1]
        return None


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- context and namespace -------------------------------------------------------------------
_CONTEXT_FLAG = _p(rf"--context[= ]({NAME})")
_CONTEXT_BEFORE = _p(rf"{WORD_START}({NAME}) (?:cluster|context|클러스터|컨텍스트)(?![a-z])")
_CONTEXT_AFTER = _p(rf"(?:cluster|context|클러스터|컨텍스트)(?: 를| 는| 은)?(?: =|=|:)? ?({NAME}){WORD_END}")
# English "on gke-prod": a context (a cluster is something you run *on*), unless it is a port.
_CONTEXT_ON = _p(rf"{WORD_START}(?:on|against) (?:the )?({NAME}){WORD_END}(?! port| 포트)")

_NAMESPACE_FLAG = _p(rf"(?<![\w-])(?:--namespace|-n)[= ]({NAME})")
_NAMESPACE_BEFORE = _p(rf"{WORD_START}({NAME}) (?:namespace|네임스페이스|ns)(?![a-z])")
_NAMESPACE_AFTER = _p(rf"(?:namespace|네임스페이스|{WORD_START}ns)(?: 를| 는| 은)?(?: =|=|:)? ?({NAME}){WORD_END}")
# English "in shop": a namespace (objects live *in* one).
_NAMESPACE_IN = _p(rf"{WORD_START}in (?:the )?({NAME}){WORD_END}")


def take_context(scan: Scanner, language: str) -> str | None:
    return scan.take_name([_CONTEXT_FLAG, _CONTEXT_BEFORE, _CONTEXT_AFTER])


def take_namespace(scan: Scanner, language: str) -> str | None:
    # Korean puts the name first ("shop 네임스페이스에"), English mostly after ("in namespace shop").
    order = [_NAMESPACE_BEFORE, _NAMESPACE_AFTER] if language == "ko" else [_NAMESPACE_AFTER, _NAMESPACE_BEFORE]
    return scan.take_name([_NAMESPACE_FLAG, *order])


def take_english_locations(scan: Scanner) -> tuple[str | None, str | None]:
    """The bare prepositions: "on X" is a context, "in X" a namespace."""
    return scan.take_name([_CONTEXT_ON]), scan.take_name([_NAMESPACE_IN])


# --- images ----------------------------------------------------------------------------------
_IMAGE_FLAG = _p(rf"--image[= ]({_IMAGE})")
# A reference is recognisable by itself when it has a tag, a registry path or a digest.
_IMAGE_REF = _p(rf"{WORD_START}({_IMAGE}){WORD_END}")
# "image of payment to nginx": only the image is taken, the owner stays a candidate app.
_IMAGE_AFTER_KEYWORD = _p(rf"{WORD_START}image(?: (?:of|for) (?:the )?{NAME})?(?: to| =|=|:)? ({NAME}){WORD_END}")
_IMAGE_WITH = _p(rf"{WORD_START}(?:with|using|use|from) (?:the )?({NAME}) image{WORD_END}")
# "nginx 이미지로" (with the nginx image) and "이미지를 nginx로" (the image to nginx).
_IMAGE_KO = _p(rf"{WORD_START}({NAME}) 이미지(?:로|으로)|이미지(?:를|을|는|은)? ?({NAME}) (?:로|으로)")
_TAG = _p(
    rf"{WORD_START}(v\d+(?:\.\d+)*(?:-[a-z0-9.]+)?){WORD_END}"
    rf"|(?:{WORD_START}tag|태그)(?: =|=|:)? ?([a-z0-9_][a-z0-9_.-]*)"
)


def take_image(scan: Scanner) -> tuple[str | None, str | None]:
    """(image reference, bare tag such as ``v2``)."""
    refs: list[str] = []
    m = scan.take(_IMAGE_FLAG)
    if m:
        refs.append(m[1])
    while m := scan.take(_IMAGE_REF, accept=lambda m: any(c in m[1] for c in ":/@") and not m[1].startswith("--")):
        refs.append(m[1])
    if len(set(refs)) > 1:
        raise Ambiguous(f"more than one image named: {', '.join(dict.fromkeys(refs))}", [])
    if not refs:
        for pattern in (_IMAGE_AFTER_KEYWORD, _IMAGE_WITH, _IMAGE_KO):
            m = scan.take(pattern, accept=lambda m: (m[1] or m[2]) not in STOPWORDS, group_only=True)
            if m:
                refs.append(m[1] or m[2])
                break
    tag_match = scan.take(_TAG)
    tag = (tag_match[1] or tag_match[2]) if tag_match else None
    return (refs[0] if refs else None), tag


# --- ports, CPU, autoscaling bounds, revisions, log lines ------------------------------------
_PORT = _p(
    rf"(?:--port[= ]|{WORD_START}port (?:number |no )?|포트 ?(?:번호)? ?(?:를|을|는|은)? ?)"
    rf"(?:=|:)? ?(\d{{1,5}})(?: ?번)?"
    rf"|(\d{{1,5}}) ?(?:번 ?)?(?:port{WORD_END}|포트)|(?<![\w:]):(\d{{2,5}}){WORD_END}"
)
_PERCENT = _p(r"(\d{1,4}) ?(?:%|퍼센트|프로|percent)(?: cpu| 씨피유| 시피유)?|--cpu-percent[= ](\d{1,4})")
_CPU_WORD = _p(
    rf"{WORD_START}(?:cpu|씨피유|시피유)(?: ?사용률| ?사용량| usage| utilization| target)?"
    r"(?: ?(?:이|가|을|를|은|는|at|of))?"
)
_MIN = _p(
    r"(?:--min[= ]|(?:min(?:imum)?|최소)(?: of| replicas?| 개수)?(?: ?(?:=|:|은|는))? ?)(\d+)(?: ?(?:개|대|replicas?))?"
)
_MAX = _p(
    r"(?:--max[= ]|(?:max(?:imum)?|최대)(?: of| replicas?| 개수)?(?: ?(?:=|:|은|는))? ?)(\d+)(?: ?(?:개|대|replicas?))?"
)
# Looser ways to say only the ceiling, tried last: "autoscale payment to 10", "10 max", "10개까지".
_MAX_LOOSE = _p(rf"{WORD_START}(?:up to|to) (\d+)|(\d+) ?(?:max(?:imum)?(?![a-z])|(?:개|대)? ?까지)")
_RANGE = _p(
    r"(?:between |from )?(\d+) ?(?:개|대|replicas?|pods?)? ?(?:and|to|-|~|에서|부터) ?(\d+) ?(?:개|대|replicas?|pods?)?"
    r"(?: ?(?:까지|사이|사이로|사이에서|replicas?))?"
)
_REVISION = _p(
    r"(?:--to-revision[= ]|(?:revision|rev|리비전|리비젼|버전|version)(?: number| no| ?#| ?=| ?:)? ?)(\d+)(?: ?번)?"
    r"|(\d+) ?(?:번째|번)? ?(?:리비전|리비젼|버전|revision)"
)
_TAIL = _p(
    rf"(?:--tail[= ]|{WORD_START}(?:last|tail|마지막|최근|끝)(?: of)? ?)(\d+)(?: ?(?:lines?|줄|개))?"
    rf"|(\d+) ?(?:lines?|줄){WORD_END}"
)
_FOLLOW = _p(
    rf"{WORD_START}(?:-f|--follow|follow|following|stream|streaming|live|tail)(?! ?\d){WORD_END}"
    r"|실시간|계속|따라가|팔로우|스트리밍"
)


def _group_int(m: re.Match[str] | None) -> int | None:
    if m is None:
        return None
    return int(next(g for g in m.groups() if g is not None))


def take_port(scan: Scanner) -> int | None:
    return _group_int(scan.take(_PORT))


def take_cpu_percent(scan: Scanner) -> int | None:
    value = _group_int(scan.take(_PERCENT))
    scan.take(_CPU_WORD)
    return value


def take_bounds(scan: Scanner) -> tuple[int | None, int | None]:
    low, high = _group_int(scan.take(_MIN)), _group_int(scan.take(_MAX))
    if low is None and high is None:
        m = scan.take(_RANGE)
        if m:
            low, high = int(m[1]), int(m[2])
    if high is None:
        high = _group_int(scan.take(_MAX_LOOSE))
    return low, high


def take_revision(scan: Scanner) -> int | None:
    return _group_int(scan.take(_REVISION))


def take_tail_follow(scan: Scanner) -> tuple[int | None, bool]:
    tail = _group_int(scan.take(_TAIL))
    return tail, scan.take(_FOLLOW) is not None


# --- replica counts --------------------------------------------------------------------------
_SPACES = _p(r"\s+")
_NUMBER = _p(r"(?<![\w.:/@])([+-]?)(\d+)(?![\w.:/@%])")
_COUNTER = r"(?:개|대|레플리카|복제본|인스턴스|파드|replicas?|copies|instances|pods?|containers?)"
_TARGET_AFTER = _p(rf"^ ?{_COUNTER}? ?(?:로|으로|까지)")
_TARGET_BEFORE = _p(rf"(?:{WORD_START}to|=|:) ?$")
_DELTA_AFTER = _p(rf"^ ?{_COUNTER}? ?(?:더|만큼|씩|more|fewer|less|extra|additional)")
_DELTA_BEFORE = _p(rf"{WORD_START}by ?$")
_COUNT_AFTER = _p(rf"^ ?(?:{_COUNTER}|times|apps?){WORD_END}")
_COUNT_BEFORE = _p(r"(?:replicas?|레플리카|복제본|인스턴스)(?: 를| 을| 는| 은| 수|수| 개수)? ?$")


def take_numbers(scan: Scanner) -> list[Number]:
    numbers = []
    while m := scan.take(_NUMBER):
        # Blanked slots leave runs of spaces: collapse them so " ?" in the patterns still fits.
        before = _SPACES.sub(" ", scan.text[max(0, m.start() - 24) : m.start()]).rstrip()
        after = _SPACES.sub(" ", scan.text[m.end() : m.end() + 24])
        if m[1] or _DELTA_BEFORE.search(before) or _DELTA_AFTER.match(after):
            role = "delta"
        elif _TARGET_AFTER.match(after) or _TARGET_BEFORE.search(before):
            role = "target"
        elif _COUNT_AFTER.match(after) or _COUNT_BEFORE.search(before):
            role = "count"
        else:
            role = "bare"
        numbers.append(Number(int(m[2]), role, negative=m[1] == "-"))
    return numbers


def choose_number(numbers: list[Number], roles: tuple[str, ...]) -> Number | None:
    """The one number of the first role present; two different ones of that role are ambiguous."""
    for role in roles:
        values = {(n.value, n.negative) for n in numbers if n.role == role}
        if len(values) > 1:
            raise Ambiguous(f"more than one number: {', '.join(str(v) for v, _ in sorted(values))}", [])
        if values:
            return next(n for n in numbers if n.role == role)
    return None
