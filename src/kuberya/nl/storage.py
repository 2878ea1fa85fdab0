"""Recognising storage requests: sizes in words, claims, and apps that keep their data.

:func:`find_storage` runs on the normalised text before the workload and app intents. A request
is about storage when it says a size (``1Gi``, ``2 GB``, ``500메가``) or names a storage noun
(볼륨/디스크/스토리지/클레임, volume/disk/storage/claim, pvc, pv). It finds what the request is
and *blanks* the size and the storage words, so that what is left is read for the usual slots and
names (a size never comes back as a replica count, "claim" never as the claim's name):

* a size with a launch verb (띄워, 실행, 붙여, run, start, give…) or with the StatefulSet words
  (순서대로, statefulset): the app runs as a StatefulSet whose ``volumeClaimTemplates`` give each
  replica its own claim — also for one replica, because that is what keeps a database's data
  across pod deletion and re-creation, and what charts of databases do;
* a size with a create verb (만들어, 생성, create, make) and a claim or volume noun, and no app
  noun: a PersistentVolumeClaim;
* a size with a grow verb (늘려, 확장, 키워, resize, expand, grow, increase, 바꿔, set): a
  resize of the claim; a shrink is refused (the API only lets a claim grow);
* a storage noun with a delete verb: the claim (or, said as pv, the PersistentVolume) goes;
* a storage noun otherwise: the list, or one claim when it is named.

Sizes become Kubernetes quantities, and a unit the API already reads is kept as written: ``1Gi``
stays ``1Gi`` and ``500M`` stays ``500M``. ``GB``/``MB``/``TB`` (and gigabyte(s)…) are the decimal
units Kubernetes writes ``G``/``M``/``T``, so ``2 GB`` is ``2G`` (2×10⁹ bytes, not 2Gi). The bare
words 기가/메가/테라 and "gig(s)" name no convention at all; they become the binary units that
manifests use, ``Gi``/``Mi``/``Ti``. A lone ``m`` is read as megabytes (``500m``): the text is
lowercased, and 500 milli-bytes is never what anyone means by a volume's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kuberya.nl.errors import Ambiguous, NotUnderstood
from kuberya.nl.lexicon import WORD_END, WORD_START, Cue
from kuberya.nl.normalize import Normalized
from kuberya.nl.plan import Intent
from kuberya.nl.workloads import STATEFUL_WORDS

_P = re.compile

# --- sizes -----------------------------------------------------------------------------------
_UNITS: dict[str, str] = {
    **{u: u.capitalize() for u in ("ki", "mi", "gi", "ti", "pi")},
    **{f"{u}b": u.capitalize() for u in ("ki", "mi", "gi", "ti", "pi")},
    "k": "k", "kb": "k", "m": "M", "mb": "M", "g": "G", "gb": "G", "t": "T", "tb": "T",
    "kilobytes": "k", "kilobyte": "k", "megabytes": "M", "megabyte": "M", "gigabytes": "G", "gigabyte": "G",
    "terabytes": "T", "terabyte": "T", "gigs": "Gi", "gig": "Gi", "megs": "Mi", "meg": "Mi",
    "기가바이트": "Gi", "기가": "Gi", "기비바이트": "Gi", "메가바이트": "Mi", "메가": "Mi", "메비바이트": "Mi",
    "테라바이트": "Ti", "테라": "Ti", "킬로바이트": "Ki",
}  # fmt: skip
_LATIN_UNIT = "|".join(sorted((u for u in _UNITS if u.isascii()), key=len, reverse=True))
_HANGUL_UNIT = "|".join(sorted((u for u in _UNITS if not u.isascii()), key=len, reverse=True))
# A one-letter unit only when attached ("500m", "2g"): "3 m" is too loose to be a size. "1Gi씩"
# (each) goes with its size, or the 씩 would make a replica count before it a change ("2개 … 씩").
_LATIN_MULTI = "|".join(sorted((u for u in _UNITS if u.isascii() and len(u) > 1), key=len, reverse=True))
_SIZE = _P(
    rf"{WORD_START}(\d+(?:\.\d+)?)(?:({_LATIN_UNIT}){WORD_END}| ({_LATIN_MULTI}){WORD_END}| ?({_HANGUL_UNIT}))(?: ?씩)?"
)


def _size(m: re.Match[str]) -> str:
    unit = next(u for u in m.groups()[1:] if u is not None)
    return f"{m[1]}{_UNITS[unit]}"


# --- words -----------------------------------------------------------------------------------
_CLAIM_NOUN = _P(
    rf"퍼시스턴트 ?볼륨 ?클레임|볼륨 ?클레임|클레임|{WORD_START}(?:pvcs?|persistent ?volume ?claims?|"
    rf"volume ?claims?|claims?){WORD_END}"
)
_CLASS_NOUN = _P(rf"스토리지 ?클래스|{WORD_START}(?:storage ?class(?:es)?|sc){WORD_END}")
_PV_NOUN = _P(rf"퍼시스턴트 ?볼륨|영구 ?볼륨|{WORD_START}(?:pvs?|persistent ?volumes?){WORD_END}")
_VOLUME_NOUN = _P(rf"볼륨|디스크|스토리지|저장 ?공간|{WORD_START}(?:volumes?|disks?|storage){WORD_END}")
_APP_NOUN = _P(rf"앱|애플리케이션|{WORD_START}(?:apps?|applications?){WORD_END}")
# Words that only frame a size ("데이터 1Gi로", "1Gi of storage", "각각", "give … a volume").
_FILLER = _P(
    rf"데이터|각각|각자|용량|크기|사이즈|공간|{WORD_START}(?:of (?:data|storage|disk|space)|data|space|size|"
    rf"capacity|each|apiece|resize|per (?:replica|pod)|give|attach(?:ed)?|mount(?:ed)?|provision(?:ed)?|expand|extend|"
    rf"enlarge|bigger|larger){WORD_END}"
)
_LAUNCH = _P(
    r"실행|띄워|띄우|띄어|(?<!되)돌려|돌리|배포|(?<!시)켜|시작|구동|기동|올려|올리|붙여|붙이|달아|연결"
    rf"|{WORD_START}(?:run|start|launch|deploy|spin up|boot|bring up|fire up|give|attach){WORD_END}"
)
_CREATE = _P(rf"만들|생성|준비|{WORD_START}(?:create|make|provision|new){WORD_END}")
_GROW = _P(
    r"늘려|늘리|늘여|키워|키우|확장|증설|증가|바꿔|바꾸|변경|조정"
    rf"|{WORD_START}(?:resize|expand|extend|grow|increase|enlarge|bump|raise|set|change|make it){WORD_END}"
)
_SHRINK = _P(rf"줄여|줄이|축소|감소|{WORD_START}(?:shrink|reduce|decrease|smaller){WORD_END}")


@dataclass(frozen=True)
class Storage:
    intent: Intent
    """RUN_STATEFULSET, CREATE_CLAIM, RESIZE_CLAIM, DELETE, STATUS or LIST (STATUS when a name is left)."""
    text: str
    """The normalised text with the size and the storage words blanked."""
    size: str | None
    kind: str | None
    """``persistentvolumeclaims``, ``persistentvolumes``, ``volumes`` (both) or ``storageclasses``."""


def _blank(text: str, pattern: re.Pattern[str]) -> tuple[str, list[re.Match[str]]]:
    found = list(pattern.finditer(text))
    for m in found:
        text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
    return text, found


def find_storage(norm: Normalized, cues: set[Cue]) -> Storage | None:
    """The storage request this text is, if it is one; raises on the combinations refused."""
    lang, original = norm.language, norm.text
    text = original
    text, found = _blank(text, _SIZE)
    sizes = [_size(m) for m in found]
    text, classes = _blank(text, _CLASS_NOUN)
    text, claims = _blank(text, _CLAIM_NOUN)
    text, pvs = _blank(text, _PV_NOUN)
    text, volumes = _blank(text, _VOLUME_NOUN)
    if not sizes and not (classes or claims or pvs or volumes):
        return None
    if len(set(sizes)) > 1:
        raise Ambiguous(_say(lang, f"크기가 여럿이에요: {', '.join(sizes)}", f"more than one size: {', '.join(sizes)}"))
    size = sizes[0] if sizes else None
    text, _ = _blank(text, _FILLER)
    if classes and not (sizes or claims or pvs or volumes):
        if cues - {Cue.STATUS}:
            raise NotUnderstood(
                _say(lang, "스토리지클래스는 보여 주기만 할 수 있어요.", "Storage classes I can only list."),
                [_say(lang, "스토리지클래스 목록 보여줘", "list storage classes")],
            )
        return Storage(Intent.LIST, text, None, "storageclasses")
    kind = "persistentvolumes" if pvs and not claims else "persistentvolumeclaims" if claims else "volumes"
    compact = original.replace(" ", "")
    launch = _LAUNCH.search(original) is not None or _LAUNCH.search(compact) is not None
    stateful = STATEFUL_WORDS.search(original) is not None
    create = _CREATE.search(original) is not None or _CREATE.search(compact) is not None
    grow = _GROW.search(original) is not None or _GROW.search(compact) is not None
    shrink = _SHRINK.search(original) is not None or _SHRINK.search(compact) is not None

    if Cue.DELETE in cues:
        if size is not None:
            raise NotUnderstood(_say(lang, "크기를 말하면서 지울 수는 없어요.", "A size and a delete at once?"),
                                [_say(lang, "cache 볼륨 지워줘", "delete the claim cache")])  # fmt: skip
        return Storage(Intent.DELETE, text, None, "persistentvolumes" if kind == "persistentvolumes" else
                       "persistentvolumeclaims")  # fmt: skip
    if shrink:
        raise NotUnderstood(
            _say(lang, "볼륨은 늘릴 수만 있어요: 쿠버네티스는 클레임을 줄이지 못해요.",
                 "A claim can only grow: Kubernetes does not shrink a PersistentVolumeClaim."),
            [_say(lang, "cache 볼륨 5Gi로 늘려줘", "resize claim cache to 5Gi")],
        )  # fmt: skip
    if grow and not stateful and not (launch and not (claims or volumes)):
        if size is None:
            raise NotUnderstood(_say(lang, "얼마로 늘릴지 알려 주세요 (예: 5Gi).", "Grow it to what size (e.g. 5Gi)?"),
                                [_say(lang, "cache 볼륨 5Gi로 늘려줘", "resize claim cache to 5Gi")])  # fmt: skip
        return Storage(Intent.RESIZE_CLAIM, text, size, None)
    claim_noun = bool(claims) or (bool(volumes or pvs) and _APP_NOUN.search(original) is None)
    if create and claim_noun and not stateful and (claims or not _launch_without_create(original, compact)):
        if size is None:
            raise NotUnderstood(_say(lang, "크기를 알려 주세요 (예: 1Gi).", "How big? Say a size such as 1Gi."),
                                [_say(lang, "cache 볼륨 1Gi 만들어줘", "create a 1Gi claim called cache")])  # fmt: skip
        return Storage(Intent.CREATE_CLAIM, text, size, None)
    if launch or stateful or create or Cue.RUN in cues:
        if size is None:
            raise NotUnderstood(
                _say(lang, "볼륨 크기를 알려 주세요 (예: 1Gi).", "How much storage? Say a size such as 1Gi."),
                [_say(lang, "redis를 데이터 1Gi로 띄워줘", "run redis with 1Gi of storage")],
            )
        return Storage(Intent.RUN_STATEFULSET, text, size, None)
    if size is not None:
        raise NotUnderstood(
            _say(lang, f"{size}로 무엇을 할지 알려 주세요.", f"What should {size} be for?"),
            [_say(lang, "redis를 데이터 1Gi로 띄워줘", "give postgres a 5Gi volume"),
             _say(lang, "cache 볼륨 1Gi 만들어줘", "create a 2Gi claim called cache")],
        )  # fmt: skip
    return Storage(Intent.LIST, text, None, kind)


def _launch_without_create(original: str, compact: str) -> bool:
    """A launch verb other than the create verbs ("만들어서 실행해줘" runs; "만들어줘" alone creates)."""
    spaced = _CREATE.sub(" ", original)
    return _LAUNCH.search(spaced) is not None or _LAUNCH.search(_CREATE.sub("", compact)) is not None


def _say(lang: str, ko: str, en: str) -> str:
    return ko if lang == "ko" else en
