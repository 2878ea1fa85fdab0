"""``parse(text) -> Request``: a deterministic, rule-based reader of Korean and English requests.

The pipeline, each stage in its own module:

1. :mod:`~kuberya.nl.normalize` — one canonical text (NFC, ASCII digits, numerals as digits, no
   vocative, Hangul and Latin separated so particles stand alone).
2. Cues (:mod:`~kuberya.nl.lexicon`) — which actions the text mentions. Korean cues are matched on
   the space-free text (so spacing never matters), English ones on word boundaries.
   Workload requests (:mod:`~kuberya.nl.workloads`: a job, a schedule, "in order", a node verb)
   are recognised here and their own words blanked; they then take only the slots below.
3. Slots (:mod:`~kuberya.nl.slots`) — context, namespace, image, port, CPU, bounds, revision,
   lines and replica numbers are *taken* out of the text, most specific first.
4. Names — what is left that looks like a Kubernetes name is a candidate app. App names are
   Latin script (Kubernetes names must be), so Hangul is never a name; a candidate next to a noun
   (앱, 파드, app) or a Korean case particle (를, 의…) outranks a stray word.
5. Resolution — cues are combined into one intent by fixed rules (a rollback said with 돌려 is
   a rollback; "run and expose on 8080" is one run with a port); two unrelated actions, or two
   apps for one action, are :class:`~kuberya.nl.errors.Ambiguous`; nothing is guessed.

Everything is precompiled regular expressions over a short string: a parse takes well under a
millisecond, and the same text always gives the same request.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace

from kuberya.nl.access import find_access
from kuberya.nl.errors import Ambiguous, NotUnderstood
from kuberya.nl.lexicon import (
    DECREASE,
    ENGLISH_CUE_PATTERNS,
    EVERYTHING,
    INCREASE,
    KIND_WORDS,
    KOREAN_CUE_PATTERNS,
    LISTING,
    LOCATIVE_PARTICLES,
    NAME_NOUNS,
    NAME_PARTICLES,
    POD_NOUN,
    STOPWORDS,
    STRONG_NAME_MARKERS,
    Cue,
)
from kuberya.nl.normalize import Normalized, normalize
from kuberya.nl.plan import DNS_SUBDOMAIN, NODE_INTENTS, Intent, Request, validate_request
from kuberya.nl.slots import (
    Number,
    Scanner,
    choose_number,
    take_bounds,
    take_context,
    take_cpu_percent,
    take_english_locations,
    take_image,
    take_namespace,
    take_numbers,
    take_port,
    take_revision,
    take_tail_follow,
)
from kuberya.nl.storage import Storage, find_storage
from kuberya.nl.workloads import Workload, find_workload

EXAMPLES = {
    "ko": [
        "payment 앱을 3개 실행해줘",
        "marvel-collection 파드 1개 실행해 줘",
        "payment 5개로 늘려줘",
        "파드 목록 보여줘",
        "payment 로그 보여줘",
        "payment 이미지를 payment:v2로 바꿔줘",
        "payment 롤백해줘",
        "payment 삭제해줘",
    ],
    "en": [
        "run 3 payment apps",
        "run one marvel-collection pod",
        "scale payment to 5",
        "show me the pods",
        "logs of payment",
        "update payment image to payment:v2",
        "roll back payment",
        "delete the payment app",
    ],
}

_SIGNED = re.compile(r"(?:^|\s)[+-]\d")
_NAME_TOKEN = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_MUTATING = {Cue.AUTOSCALE, Cue.ROLLBACK, Cue.RESTART, Cue.EXPOSE, Cue.DELETE, Cue.STOP, Cue.SCALE, Cue.CHANGE, Cue.RUN}


# kubectl's own convention: what follows a lone "--" is the container's command, taken verbatim.
_COMMAND = re.compile(r"(?:^|\s)--(?:\s+|$)")


def parse(text: str) -> Request:
    """Read one request; raise :class:`NotUnderstood` or :class:`Ambiguous` rather than guess."""
    text, command = _split_command(text)
    norm = normalize(text)
    lang = norm.language
    if not norm.text:
        raise NotUnderstood(_say(lang, "요청이 비어 있어요.", "The request is empty."), EXAMPLES[lang])
    access = find_access(norm)  # "can the ci account delete pods?", "alice한테 … 보기 권한 줘"
    if access is not None and command is None:
        return access
    cues, only_lower = _find_cues(norm)
    storage = find_storage(norm, cues)
    if storage is not None:
        return _storage_request(norm, storage, text, cues, command)
    workload = find_workload(norm, text, cues)
    if workload is not None:
        return _workload_request(norm, workload, command)
    if command is not None:
        raise NotUnderstood(
            _say(lang, "-- 뒤의 명령은 잡과 크론잡에만 쓸 수 있어요.", "A command after -- is only for a (cron)job."),
            [_say(lang, "backup 잡 실행해줘 -- sh -c 'echo hi'", "run the backup job -- sh -c 'echo hi'")],
        )
    scan = Scanner(norm.text)
    context = take_context(scan, lang)
    namespace = take_namespace(scan, lang)
    image, tag = take_image(scan)
    port = take_port(scan)
    cpu_percent = take_cpu_percent(scan)
    low, high = take_bounds(scan) if Cue.AUTOSCALE in cues else (None, None)
    revision = take_revision(scan) if Cue.ROLLBACK in cues else None
    tail, follow = take_tail_follow(scan) if Cue.LOGS in cues else (None, False)
    if lang == "en":
        on_context, in_namespace = take_english_locations(scan)
        context, namespace = context or on_context, namespace or in_namespace
    numbers = take_numbers(scan)

    pod_one = bool(POD_NOUN.search(norm.text)) and [n.value for n in numbers] == [1]
    intent = _resolve(
        cues, has_image=image is not None or tag is not None, has_numbers=bool(numbers) and not pod_one, lang=lang
    )
    if intent is None and (_SIGNED.search(norm.text) or any(n.role == "target" for n in numbers)):
        intent = Cue.SCALE  # "payment +2", "payment 11개로": the number says what to do
    kind_named = any(pattern.search(norm.text) for _, pattern in KIND_WORDS)
    if intent is None and not kind_named:
        raise _not_understood(lang)
    # "gke에서 파드 보여줘": with a kind named, a lone "X에서" is where to look, not what.
    lone_place = intent is Cue.STATUS and kind_named
    app, located = _choose_app(
        scan.text, lang, keep_locative=context is None, lone_place=lone_place, intent=_cue_intent(intent)
    )
    context = context or located
    if app is None and image is not None and intent in (Cue.RUN, Cue.CHANGE):
        app = _app_from_image(image)
    tag_only = tag is not None and image is None
    if tag_only and app is not None:
        image = f"{app}:{tag}"  # "payment를 v2로": the app's own repository, a new tag
    if image is not None:
        image = norm.cased.get(image, image)

    base = Request(intent=Intent.STATUS, app=app, namespace=namespace, context=context, language=lang)
    request = _complete(
        intent,
        base,
        norm=norm,
        numbers=numbers,
        image=image,
        tag_only=tag_only,
        port=port,
        only_lower=only_lower,
        autoscale=(cpu_percent, low, high),
        logs=(tail, follow),
        revision=revision,
    )
    if request.app is None and not request.all and request.intent is not Intent.LIST:
        raise NotUnderstood(
            _say(lang, "어느 앱인지 알려 주세요.", "Which app? Name it, for example:"),
            _suggest(request.intent, lang, None),
        )
    try:
        return validate_request(request)
    except NotUnderstood as e:
        raise NotUnderstood(e.message, _suggest(request.intent, lang, app)) from None


def _split_command(text: str) -> tuple[str, tuple[str, ...] | None]:
    m = _COMMAND.search(text)
    if m is None:
        return text, None
    try:
        words = shlex.split(text[m.end() :])
    except ValueError as e:
        raise NotUnderstood(f"cannot read the command after --: {e}") from None
    if not words:
        raise NotUnderstood("nothing after --: say the command to run, e.g. -- sh -c 'echo hi'")
    return text[: m.start()], tuple(words)


def _workload_request(norm: Normalized, workload: Workload, command: tuple[str, ...] | None) -> Request:
    """Fill a job, cronjob, statefulset or node request from the text left after its own words."""
    lang, intent = norm.language, workload.intent
    if intent in NODE_INTENTS:
        context = take_context(Scanner(norm.text), lang)
        # "--context gke 노드 …": the name before 노드 was the context's, not the node's.
        node = workload.node if workload.node != context else None
        base = Request(intent, node=node, context=context, command=command, language=lang)
        return _validated(base, lang, None)
    scan = Scanner(workload.text)
    context = take_context(scan, lang)
    namespace = take_namespace(scan, lang)
    image, tag = take_image(scan)
    port = take_port(scan)
    if lang == "en":
        on_context, in_namespace = take_english_locations(scan)
        context, namespace = context or on_context, namespace or in_namespace
    numbers = take_numbers(scan)
    app, located = _choose_app(scan.text, lang, keep_locative=context is None, lone_place=False, intent=intent)
    context = context or located
    if app is None and image is not None:
        app = _app_from_image(image)
    if tag is not None and image is None and app is not None:
        image = f"{app}:{tag}"
    if image is not None:
        image = norm.cased.get(image, image)
    replicas = None
    if intent is Intent.RUN_STATEFULSET:
        count = choose_number(numbers, ("target", "count", "bare"))
        replicas = count.value if count else None
    elif numbers or port is not None:
        # A Job runs one pod to completion; parallel or indexed jobs are not said this way.
        raise NotUnderstood(
            _say(lang, "잡은 파드 하나로 한 번 실행돼요: 개수나 포트는 쓸 수 없어요.",
                 "A job runs one pod to completion; it takes no count or port."),
            _suggest(intent, lang, app),
        )  # fmt: skip
    if app is None:
        raise NotUnderstood(_say(lang, "이름을 알려 주세요.", "Name it, for example:"), _suggest(intent, lang, None))
    request = Request(intent, app=app, replicas=replicas, image=image, port=port, namespace=namespace,
                      context=context, schedule=workload.schedule, command=command, language=lang)  # fmt: skip
    return _validated(request, lang, app)


def _storage_request(
    norm: Normalized, storage: Storage, raw: str, cues: set[Cue], command: tuple[str, ...] | None
) -> Request:
    """Fill a storage request (a sized StatefulSet, a claim to create, grow, delete or show)."""
    lang, intent = norm.language, storage.intent
    if command is not None:
        raise NotUnderstood(_say(lang, "-- 뒤의 명령은 잡과 크론잡에만 쓸 수 있어요.",
                                 "A command after -- is only for a (cron)job."))  # fmt: skip
    if intent is Intent.RUN_STATEFULSET:
        # The StatefulSet words (순서대로, statefulset) are blanked as for any StatefulSet.
        inner = replace(norm, text=storage.text, compact=storage.text.replace(" ", ""))
        workload = find_workload(inner, raw, cues) or Workload(Intent.RUN_STATEFULSET, storage.text)
        if workload.intent is not Intent.RUN_STATEFULSET:
            raise NotUnderstood(
                _say(lang, "볼륨은 스테이트풀셋으로 실행하는 앱에만 붙일 수 있어요.",
                     "Only an app run as a statefulset gets volumes of its own here."),
                _suggest(Intent.RUN_STATEFULSET, lang, None),
            )  # fmt: skip
        request = _workload_request(inner, workload, None)
        return _validated(replace(request, storage=storage.size), lang, request.app)
    scan = Scanner(storage.text)
    context = take_context(scan, lang)
    namespace = take_namespace(scan, lang)
    if lang == "en":
        on_context, in_namespace = take_english_locations(scan)
        context, namespace = context or on_context, namespace or in_namespace
    if any(token.isdigit() for token in scan.text.split()):  # "2개 만들어줘": not one claim
        raise NotUnderstood(
            _say(lang, "클레임은 하나씩, 이름과 크기로 말해 주세요.", "One claim at a time, by its name and size."),
            _suggest(intent, lang, None),
        )
    app, located = _choose_app(scan.text, lang, keep_locative=context is None, lone_place=False, intent=intent)
    context = context or located
    kind = storage.kind
    if intent is Intent.LIST and app is not None:
        intent = Intent.STATUS  # "cache 볼륨 보여줘": that one claim
        kind = kind if kind in ("persistentvolumes", "storageclasses") else "persistentvolumeclaims"
    if intent is not Intent.LIST and EVERYTHING.search(norm.text) and app is None:
        raise NotUnderstood(_say(lang, "볼륨은 이름을 하나씩 말해 주세요: 모두 지우면 데이터가 모두 사라져요.",
                                 "Name the claim: deleting every claim deletes every volume's data."),
                            _suggest(intent, lang, None))  # fmt: skip
    if app is None and intent is not Intent.LIST:
        raise NotUnderstood(_say(lang, "어느 볼륨인지 이름을 알려 주세요.", "Which claim? Name it, for example:"),
                            _suggest(intent, lang, None))  # fmt: skip
    sized = intent in (Intent.CREATE_CLAIM, Intent.RESIZE_CLAIM)
    request = Request(intent, app=app, namespace=namespace, context=context, kind=None if sized else kind,
                      storage=storage.size if sized else None, language=lang)  # fmt: skip
    return _validated(request, lang, app)


def _validated(request: Request, lang: str, app: str | None) -> Request:
    try:
        return validate_request(request)
    except NotUnderstood as e:
        raise NotUnderstood(e.message, _suggest(request.intent, lang, app)) from None


def _say(lang: str, ko: str, en: str) -> str:
    return ko if lang == "ko" else en


def _not_understood(lang: str) -> NotUnderstood:
    return NotUnderstood(
        _say(lang, "무슨 말인지 모르겠어요. 이렇게 말해 보세요:", "I didn't understand that. Try, for example:"),
        EXAMPLES[lang],
    )


def _cue_intent(cue: Cue | None) -> Intent:
    """The intent a cue most likely becomes, for suggestions made before it is settled."""
    if cue is None:
        return Intent.STATUS
    return cue.value if isinstance(cue.value, Intent) else Intent.SET_IMAGE


def _find_cues(norm: Normalized) -> tuple[set[Cue], bool]:
    """Every action cue in the text; and whether the only scale cue was 내려 ("bring down")."""
    found: set[Cue] = set()
    only_lower = False
    compact, spaced = norm.compact, norm.text
    for cue, pattern in KOREAN_CUE_PATTERNS:
        matches = pattern.findall(compact)
        if matches:
            found.add(cue)
            only_lower = only_lower or (cue is Cue.SCALE and set(matches) == {"내려"})
            compact = pattern.sub(lambda m: "#" * len(m[0]), compact)  # mask: 재시작 hides 시작
    for cue, pattern in ENGLISH_CUE_PATTERNS:
        if pattern.search(spaced):
            found.add(cue)
            spaced = pattern.sub(lambda m: "#" * len(m[0]), spaced)
    return found, only_lower


def _resolve(cues: set[Cue], *, has_image: bool, has_numbers: bool, lang: str) -> Cue | None:
    """One cue from all those found, by rules that mirror how the phrases combine."""
    acts = cues & _MUTATING
    if Cue.AUTOSCALE in acts:
        acts -= {Cue.SCALE, Cue.CHANGE, Cue.RUN}  # "자동으로 늘려", "set up autoscaling"
    if Cue.ROLLBACK in acts and not has_image:
        acts -= {Cue.RUN, Cue.CHANGE}  # "이전 버전으로 돌려/바꿔줘"
    if Cue.RESTART in acts:
        acts -= {Cue.RUN}
    if Cue.EXPOSE in acts and Cue.RUN in acts:
        acts -= {Cue.EXPOSE}  # "run payment and expose 8080": one run with a port
    if Cue.DELETE in acts and Cue.STOP in acts:
        acts -= {Cue.STOP}  # "멈추고 지워줘": the delete is the point
    if Cue.SCALE in acts:
        acts -= {Cue.RUN, Cue.CHANGE, Cue.STOP, Cue.DELETE}  # "줄여서 멈춰", "remove 2 replicas"
    if Cue.CHANGE in acts and Cue.RUN in acts:
        acts -= {Cue.RUN}  # "v2로 업데이트해서 배포해줘"
    if acts == {Cue.DELETE} and has_numbers and not has_image:
        return Cue.SCALE  # "remove 2 replicas of payment", "파드 2개 지워줘": fewer, not gone
    if len(acts) > 1:
        names = ", ".join(sorted(c.name.lower() for c in acts))
        raise Ambiguous(
            _say(lang, f"한 번에 한 가지만 할 수 있어요 ({names}). 나눠서 말해 주세요.",
                 f"That asks for several things at once ({names}); please ask for one at a time."),
            EXAMPLES[lang][:3],
        )  # fmt: skip
    if acts:
        return acts.pop()
    if Cue.LOGS in cues:
        return Cue.LOGS
    return Cue.STATUS if Cue.STATUS in cues else None


def _choose_app(
    text: str, lang: str, *, keep_locative: bool, lone_place: bool, intent: Intent
) -> tuple[str | None, str | None]:
    """(app, context): the best-marked candidate name; a Korean "X에서" beside another name is a context."""
    tokens = text.split()
    scored: list[tuple[int, int, str]] = []  # (score, position, name)
    for i, token in enumerate(tokens):
        if not _NAME_TOKEN.fullmatch(token) or token.isdigit() or token in STOPWORDS:
            continue
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        score = 0
        if prev in STRONG_NAME_MARKERS:
            score += 4
        marked = nxt in NAME_NOUNS or prev in NAME_NOUNS or nxt in NAME_PARTICLES
        if marked or nxt.startswith(("이미지", "을", "를")):
            score += 2
        if nxt in LOCATIVE_PARTICLES:
            score -= 1  # a place, more likely than a thing
        scored.append((score, i, token))
    if not scored:
        return None, None
    context = None
    if keep_locative and lang == "ko" and (lone_place or len({name for _, _, name in scored}) > 1):
        # "gke-prod에서 payment 늘려줘": the name followed by 에서/에 is where, the other what.
        places = [(s, i, n) for s, i, n in scored if i + 1 < len(tokens) and tokens[i + 1] in LOCATIVE_PARTICLES]
        if len(places) == 1:
            context = places[0][2]
            scored.remove(places[0])
    if not scored:
        return None, context
    best = max(s for s, _, _ in scored)
    top = list(dict.fromkeys(n for s, _, n in scored if s == best))
    if len(top) > 1:
        raise Ambiguous(
            _say(lang, f"어느 앱인지 모르겠어요: {', '.join(top)}", f"Which app do you mean: {', '.join(top)}?"),
            [s for name in top for s in _suggest(intent, lang, name)],
        )
    return top[0], context


def _app_from_image(image: str) -> str | None:
    """``registry.io/team/payment:v2`` → ``payment``: the app a bare "deploy IMAGE" is about."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1].split(":", 1)[0]
    return last if DNS_SUBDOMAIN.match(last) else None


def _complete(
    cue: Cue | None,
    base: Request,
    *,
    norm: Normalized,
    numbers: list[Number],
    image: str | None,
    tag_only: bool,
    port: int | None,
    only_lower: bool,
    autoscale: tuple[int | None, int | None, int | None],
    logs: tuple[int | None, bool],
    revision: int | None,
) -> Request:
    """Fill the request for the resolved cue from the slots that cue uses."""
    text, lang = norm.text, norm.language
    decrease = DECREASE.search(text) is not None
    increase = not decrease and INCREASE.search(text) is not None
    everything = base.app is None and bool(EVERYTHING.search(text))
    kinds = {kind for kind, pattern in KIND_WORDS if pattern.search(text)}
    if cue is Cue.CHANGE and image is None:
        if numbers:
            cue = Cue.SCALE
        else:
            raise NotUnderstood(
                _say(
                    lang, "무엇으로 바꿀지 알려 주세요 (이미지나 개수).", "Change it to what? Say an image or a number."
                ),
                _suggest(Intent.SET_IMAGE, lang, base.app) + _suggest(Intent.SCALE, lang, base.app),
            )
    if cue is Cue.CHANGE:
        return replace(base, intent=Intent.SET_IMAGE, image=image)
    if cue is Cue.RUN:
        if tag_only and image is not None:
            return replace(base, intent=Intent.SET_IMAGE, image=image)  # "v2로 올려줘": a new version
        delta = choose_number(numbers, ("delta",))
        if delta is not None:
            return replace(base, intent=Intent.SCALE_BY, delta=delta.value)
        count = choose_number(numbers, ("target", "count", "bare"))
        if POD_NOUN.search(text) and (count is None or count.value == 1):
            return replace(base, intent=Intent.RUN_POD, image=image, port=port)
        return replace(base, intent=Intent.RUN_APP, replicas=count.value if count else None, image=image, port=port)
    if cue is Cue.SCALE:
        return _scale(
            base,
            numbers,
            change=decrease or increase,
            sign=-1 if decrease else 1,
            only_lower=only_lower,
            everything=everything,
        )
    if cue is Cue.STOP:
        return replace(base, intent=Intent.STOP, all=everything)
    if cue is Cue.DELETE:
        if base.app is not None:
            kind: str | None = "pods" if "pods" in kinds else None  # "marvel-collection 파드 삭제": the Pod itself
        else:
            # "delete all pods" deletes only pods; "all apps" is everything an app is made of.
            kind = kinds.pop() if len(kinds) == 1 and kinds != {"deployments"} else None
        return replace(base, intent=Intent.DELETE, all=everything, kind=kind)
    if cue is Cue.EXPOSE:
        if port is None:
            number = choose_number(numbers, ("bare", "count", "target"))
            port = number.value if number else None
        return replace(base, intent=Intent.EXPOSE, port=port)
    if cue is Cue.AUTOSCALE:
        cpu_percent, low, high = autoscale
        return replace(base, intent=Intent.AUTOSCALE, cpu_percent=cpu_percent, min_replicas=low, max_replicas=high)
    if cue is Cue.ROLLBACK:
        return replace(base, intent=Intent.ROLLBACK, revision=revision)
    if cue is Cue.RESTART:
        return replace(base, intent=Intent.RESTART)
    if cue is Cue.LOGS:
        tail, follow = logs
        return replace(base, intent=Intent.LOGS, tail=tail, follow=follow)
    if base.app is not None and cue is Cue.STATUS:
        return replace(base, intent=Intent.STATUS)
    if (cue is None and (base.app is not None or not kinds)) or not (kinds or everything or LISTING.search(text)):
        raise _not_understood(lang)  # "어때?" alone is no listing
    kind = kinds.pop() if len(kinds) == 1 else "all"
    return replace(base, intent=Intent.LIST, kind=kind)


def _scale(
    base: Request, numbers: list[Number], *, change: bool, sign: int, only_lower: bool, everything: bool
) -> Request:
    lang = base.language
    target = choose_number(numbers, ("target",))
    if target is not None:
        if target.value == 0:
            return replace(base, intent=Intent.STOP, all=everything)
        return replace(base, intent=Intent.SCALE, replicas=target.value)
    relative = choose_number(numbers, ("delta",))
    number = relative or choose_number(numbers, ("count", "bare"))
    if number is None:
        if only_lower:
            return replace(base, intent=Intent.STOP, all=everything)  # "payment 내려줘": bring it down
        raise NotUnderstood(
            _say(lang, "몇 개로 맞출지 알려 주세요.", "Scale to how many replicas?"),
            _suggest(Intent.SCALE, lang, base.app),
        )
    # A count said with 늘려/줄여 and without 로 is a change ("2개 늘려줘" = two more), as is one
    # with "by"/더/+; with a neutral verb ("스케일 3개", "scale payment 3") it is the target.
    if relative is not None or change:
        return replace(base, intent=Intent.SCALE_BY, delta=-number.value if number.negative else sign * number.value)
    if number.value == 0:
        return replace(base, intent=Intent.STOP, all=everything)
    return replace(base, intent=Intent.SCALE, replicas=number.value)


_SUGGESTIONS = {
    Intent.RUN_APP: ("{name} 앱을 3개 실행해줘", "run 3 {name} apps"),
    Intent.RUN_POD: ("{name} 파드 1개 실행해 줘", "run one {name} pod"),
    Intent.SCALE: ("{name} 5개로 늘려줘", "scale {name} to 5"),
    Intent.SCALE_BY: ("{name} 2개 더 늘려줘", "scale {name} up by 2"),
    Intent.STOP: ("{name} 멈춰줘", "stop {name}"),
    Intent.DELETE: ("{name} 삭제해줘", "delete the {name} app"),
    Intent.STATUS: ("{name} 상태 보여줘", "status of {name}"),
    Intent.LIST: ("파드 목록 보여줘", "show me the pods"),
    Intent.LOGS: ("{name} 로그 보여줘", "logs of {name}"),
    Intent.SET_IMAGE: ("{name} 이미지를 {name}:v2로 바꿔줘", "update {name} image to {name}:v2"),
    Intent.ROLLBACK: ("{name} 롤백해줘", "roll back {name}"),
    Intent.RESTART: ("{name} 재시작해줘", "restart {name}"),
    Intent.EXPOSE: ("{name} 8080 포트로 노출해줘", "expose {name} on port 8080"),
    Intent.AUTOSCALE: (
        "{name} 최소 1개 최대 10개 CPU 50%로 오토스케일해줘",
        "autoscale {name} between 1 and 10 at 50% cpu",
    ),
    Intent.RUN_JOB: ("{name} 작업 한 번 돌려줘", "run the {name} job"),
    Intent.RUN_CRONJOB: ("매일 새벽 3시에 {name} 돌려줘", "every day at 3am run {name}"),
    Intent.RUN_STATEFULSET: ("{name} 3개를 순서대로 띄워줘", "run 3 {name} in order"),
    Intent.DRAIN: ("노드 비워줘", "drain the node"),
    Intent.CORDON: ("노드 cordon 해줘", "cordon the node"),
    Intent.UNCORDON: ("노드 다시 스케줄 가능하게 해줘", "uncordon the node"),
    Intent.CREATE_CLAIM: ("{name} 볼륨 1Gi 만들어줘", "create a 1Gi claim called {name}"),
    Intent.RESIZE_CLAIM: ("{name} 볼륨 5Gi로 늘려줘", "resize claim {name} to 5Gi"),
}


def _suggest(intent: Intent, lang: str, app: str | None) -> list[str]:
    """A request of this kind that would be understood, about this app (or ``payment``)."""
    ko, en = _SUGGESTIONS[intent]
    return [(ko if lang == "ko" else en).format(name=app or "payment")]
