"""The words the parser knows: intent cues in Korean and English, nouns, fillers.

Korean cues are verb *stems* and noun phrases matched in the space-free text, so that every
ending (해줘, 해 줘, 해주세요, 해, 해라, 하자, 할래, 시켜줘…) and every spacing matches the same
cue: ``실행`` covers 실행해줘/실행시켜/실행하자, ``늘려``/``늘리`` cover 늘려줘/늘리자/늘려주세요.
Conjugated stems are listed in both of their surface forms (멈춰/멈추, 지워/지우) because Korean
verbs change shape before -어 endings. English cues are whole words or phrases, matched on word
boundaries so that an app called ``restart-worker`` is not a restart.

Tables are ordered by priority: a cue found earlier *masks* its text before later tables look,
which is how 재시작 (restart) is not read as 시작 (start), 되돌려 (roll back) not as 돌려 (run),
오토스케일 not as 스케일, and "get rid of" not as "get".
"""

from __future__ import annotations

import enum
import re

from kuberya.nl.plan import Intent


class Cue(enum.Enum):
    """What a cue says; CHANGE ("바꿔", "set") becomes SET_IMAGE or SCALE by what it changes to."""

    AUTOSCALE = Intent.AUTOSCALE
    ROLLBACK = Intent.ROLLBACK
    RESTART = Intent.RESTART
    EXPOSE = Intent.EXPOSE
    LOGS = Intent.LOGS
    DELETE = Intent.DELETE
    STOP = Intent.STOP
    SCALE = Intent.SCALE
    CHANGE = "change"
    RUN = Intent.RUN_APP
    STATUS = Intent.STATUS


KOREAN_CUES: list[tuple[Cue, str]] = [
    (
        Cue.AUTOSCALE,
        r"오토스케일링?|오토스케일러|오토스켈|자동확장|자동스케일링?|자동으로(?:늘|줄|조절|스케일|확장|조정)|자동조절|에이치피에이",
    ),
    # 이전/예전 버전 = "the previous version": a rollback even when the verb is 돌려 or 바꿔.
    (Cue.ROLLBACK, r"롤백|되돌려|되돌리|되돌아|원복|원상복구|(?:이전|예전|옛|직전)(?:버전|리비전|상태)|언두"),
    # 다시 + a run verb is a restart; 재실행 must not fall through to 실행.
    (
        Cue.RESTART,
        r"재시작|다시시작|재기동|재실행|다시실행|리스타트|재부팅|다시띄워|다시켜|재가동|껐다(?:가)?켜|재배포|다시배포|재구동",
    ),
    (Cue.EXPOSE, r"노출|공개|열어|오픈|외부에서접속|접속가능|서비스(?:를|로)?(?:만들|생성|열)"),
    (Cue.LOGS, r"로그"),
    (Cue.DELETE, r"삭제|지워|지우|없애|없에|제거|날려|치워|죽여"),
    (Cue.STOP, r"멈춰|멈추|멈춤|중지|정지|중단|꺼|끄|스톱|스탑|셧다운|재워"),
    # 내려 ("bring down") is a decrease with a number and a stop without one (see parse).
    (Cue.SCALE, r"늘려|늘리|늘여|줄여|줄이|스케일|확장|축소|증가|감소|추가|빼|증설|감축|내려|조정|조절"),
    (Cue.CHANGE, r"바꿔|바꾸|변경|교체|갈아|수정|맞춰|맞추|설정|세팅|업데이트|업뎃|업그레이드"),
    # 띄우 (launch, lit. "float") and 돌리 (turn, spin) are how Korean developers say "run".
    # 시켜 is the causative auxiliary (정지시켜 = "make it stop"), not 켜 ("turn on").
    (
        Cue.RUN,
        r"실행|띄워|띄우|띄어|돌려|돌리|배포|(?<!시)켜|시작|만들어|만들|생성|구동|기동|디플로이(?!먼트)|올려|올리",
    ),
    (
        Cue.STATUS,
        r"보여|알려|확인|상태|조회|목록|리스트|봐|어때|어떻게|뭐있|뭐가|살아있|떠있|돌아가|있어|있니|체크|현황|보자|볼래|궁금|몇개",
    ),
]

ENGLISH_CUES: list[tuple[Cue, str]] = [
    (
        Cue.AUTOSCALE,
        r"autoscale|autoscaling|autoscaler|auto-scale|auto-scaling|auto scale|auto scaling|hpa"
        r"|scale automatically|automatically scale|scale it automatically",
    ),
    (
        Cue.ROLLBACK,
        r"roll back|roll \S+ back|rollback|roll-back|rollout undo|undo|revert|go back|previous version"
        r"|previous revision|downgrade",
    ),
    (Cue.RESTART, r"restart|reboot|bounce|redeploy|re-deploy|rollout restart|recycle|reload"),
    (Cue.EXPOSE, r"expose|publish|open port|open up|open|make it reachable|make it public|make it accessible"),
    (Cue.LOGS, r"logs|log"),
    (Cue.DELETE, r"delete|remove|destroy|kill|tear down|teardown|get rid of|drop|rm|uninstall|undeploy|nuke|erase"),
    (Cue.STOP, r"stop|halt|pause|shut down|shutdown|suspend|turn off|switch off|power off"),
    (Cue.SCALE, r"scale up|scale down|scale|resize|increase|decrease|reduce|add|grow|shrink|bump|more|fewer|raise"),
    (Cue.CHANGE, r"set|change|update|upgrade|switch|make|use"),
    (Cue.RUN, r"run|start|launch|deploy|spin up|create|boot|bring up|fire up|start up|put up"),
    (
        Cue.STATUS,
        r"show|list|get|status|describe|display|check|view|see|ls|what's running|whats running"
        r"|what is running|how is|how are|health|state|running|look at|inspect|tell me about|what is up with",
    ),
]

WORD_START = r"(?<![\w.:/@-])"
WORD_END = r"(?![\w.:/@-])"

KOREAN_CUE_PATTERNS = [(cue, re.compile(p)) for cue, p in KOREAN_CUES]
ENGLISH_CUE_PATTERNS = [(cue, re.compile(rf"{WORD_START}(?:{p}){WORD_END}")) for cue, p in ENGLISH_CUES]

INCREASE = re.compile(
    rf"늘려|늘리|늘여|증가|추가|증설|확장|더|{WORD_START}(?:up|increase|add|grow|bump|more|raise|extra){WORD_END}"
)
DECREASE = re.compile(
    rf"줄여|줄이|감소|축소|빼|감축|내려|{WORD_START}(?:down|decrease|reduce|shrink|remove|fewer|less|lower){WORD_END}"
)

POD_NOUN = re.compile(rf"파드|포드|{WORD_START}pods?{WORD_END}")
KIND_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("pods", re.compile(rf"파드|포드|{WORD_START}(?:pods?|po){WORD_END}")),
    (
        "deployments",
        re.compile(
            rf"앱|애플리케이션|어플|디플로이먼트|{WORD_START}(?:apps?|applications?|deployments?|deploy){WORD_END}"
        ),
    ),
    ("services", re.compile(rf"서비스|{WORD_START}(?:services?|svc){WORD_END}")),
]
EVERYTHING = re.compile(
    r"전부|모두|전체|몽땅|싹|모든|(?:^|\s)다(?:\s|$)|뭐가돌아|뭐돌아"
    rf"|{WORD_START}(?:all|everything|every|what is running|whats running){WORD_END}"
)

# A listing with no kind named ("상태 보여줘", "what's running") — unlike a bare "어때?".
LISTING = re.compile(
    r"목록|리스트|상태|현황|돌아가|떠있|떠 있|뭐가 있|뭐 있"
    rf"|{WORD_START}(?:list|ls|status|running|overview|state){WORD_END}"
)

# Words that sit next to an app's name and mark it as one ("payment 앱을", "the payment app").
NAME_NOUNS = frozenset(
    {"앱", "앱을", "앱이", "앱은", "앱의", "앱도", "파드", "파드를", "파드의", "서비스", "서비스를", "디플로이먼트",
     "디플로이먼트를", "애플리케이션", "애플리케이션을", "컨테이너", "app", "apps", "application", "pod", "pods",
     "deployment", "deploy", "service", "svc", "container", "라는", "이라는"}
)  # fmt: skip
# Korean particles that follow a name: the subject/object/topic markers make it the app.
NAME_PARTICLES = ("을", "를", "이", "가", "은", "는", "의", "도", "만")
LOCATIVE_PARTICLES = frozenset({"에서", "에", "에서는", "에선", "에다", "에다가", "에서도"})
STRONG_NAME_MARKERS = frozenset({"as", "called", "named", "name"})

STOPWORDS = frozenset(
    [
        "a", "an", "the", "this", "that", "these", "those", "it", "its", "them", "they", "their", "my", "our",
        "your", "me", "us", "i", "we", "you", "he", "she", "to", "of", "for", "from", "by", "on", "in", "at",
        "into", "onto", "with", "without", "and", "or", "but", "so", "then", "also", "just", "now", "please",
        "pls", "plz", "can", "could", "would", "will", "should", "shall", "may", "might", "must", "do", "does",
        "did", "done", "is", "are", "was", "were", "be", "been", "being", "am", "have", "has", "had", "let",
        "lets", "let's", "i'd", "i'm", "want", "wanna", "need", "like", "hey", "hi", "ok", "okay", "yo",
        "thanks", "thank", "app", "apps", "application", "applications", "pod", "pods", "deployment",
        "deployments", "deploy", "service", "services", "svc", "container", "containers", "replica", "replicas",
        "copy", "copies", "instance", "instances", "image", "images", "port", "ports", "cpu", "memory",
        "percent", "min", "max", "minimum", "maximum", "between", "namespace", "namespaces", "ns", "context",
        "cluster", "clusters", "revision", "version", "previous", "last", "lines", "line", "tail", "follow",
        "stream", "live", "all", "everything", "every", "each", "what", "what's", "whats", "how", "how's", "is",
        "running", "status", "state", "health", "doing", "going", "up", "down", "more", "less", "fewer",
        "extra", "additional", "times", "new", "old", "current", "latest", "one", "some", "any", "there",
        "here", "time", "again", "back", "out", "off", "scale", "scaled", "scaling", "autoscale", "autoscaling",
        "autoscaler", "hpa", "run", "start", "launch", "spin", "create", "boot", "bring", "fire", "put", "stop",
        "halt", "pause", "delete", "remove", "destroy", "kill", "drop", "rm", "nuke", "erase", "teardown",
        "tear", "get", "rid", "show", "list", "describe", "display", "check", "view", "see", "ls", "look",
        "inspect", "tell", "about", "logs", "log", "set", "change", "update", "upgrade", "switch", "make",
        "use", "restart", "reboot", "bounce", "redeploy", "recycle", "reload", "roll", "rollback", "rollout",
        "undo", "revert", "expose", "publish", "open", "reachable", "public", "accessible", "increase",
        "decrease", "reduce", "add", "grow", "shrink", "bump", "raise", "lower", "shut", "shutdown", "suspend",
        "turn", "uninstall", "undeploy", "downgrade", "target", "utilization", "usage", "average", "k8s",
        "kubectl", "kube", "automatically", "auto", "go", "pls", "sure", "quickly", "now", "named", "called",
        "as", "name", "number", "no", "using"
    ]
)  # fmt: skip
