"""Text normalisation: from what people type to one canonical, lowercase, spaced form.

The parser's rules are written against this form only, so every variation people produce is
absorbed here, once:

* Unicode: NFC (Korean typed on macOS arrives decomposed into jamo), full-width ASCII
  (``３개``, ``ｐａｙｍｅｎｔ`` from Korean IMEs) folded to ASCII.
* Address: the vocative (``쿠버야``, ``쿠버네티스야``, ``hey kube``, ``kube,``) is dropped wherever
  it stands, as is sentence punctuation.
* Numbers: Korean numerals become digits — native (하나 둘 셋…, 한 두 세…, 열한, 스물다섯) and
  Sino-Korean (일 이 삼…, 오십) — as do English number words. Each rule requires the context that
  makes the word a number (a counter such as 개/대, a particle, a word boundary), because most of
  these syllables also live inside ordinary words (세 in 해주세요, 네 in 네임스페이스, 열 in 열어줘).
* Scripts: a space is put between Hangul and Latin/digits. Korean attaches particles to whatever
  precedes them (``payment를``, ``gke-prod에서``, ``3개로``) and people omit spaces freely
  (``파드1개``); after this step a Latin name or a number is always its own token, and the
  particle that followed it is the next token.

Letters are lowercased (Kubernetes names are lowercase) except inside image references, whose tags
are case-sensitive: those are remembered with their original case in :attr:`Normalized.cased`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

HANGUL = "가-힣"


@dataclass(frozen=True)
class Normalized:
    text: str
    """Lowercase, single-spaced, numerals as digits, Hangul and Latin separated."""
    compact: str
    """``text`` without spaces: Korean verb phrases are matched here, whatever the spacing
    (``실행해 줘`` = ``실행해줘``, ``늘려 주세요`` = ``늘려주세요``)."""
    cased: dict[str, str]
    """Image references (lowercased → as typed)."""
    language: str
    """``ko`` when the text has any Hangul, else ``en``."""


_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_IMAGE_LIKE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_.-]*(?::\d+)?(?:/[A-Za-z0-9_.-]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?(?:@sha256:[0-9a-fA-F]+)?"
)

# Vocatives: "쿠버야" (-야 after a vowel) is the product's name; people also call it by the
# project's name or "쿠버네티스야", and in English "hey kube," / "kube,". Only at the start or the
# end (a word like "kubernetes" mid-sentence may be content).
_VOCATIVE = (
    r"(?:(?:hey|hi|hello|ok|okay|yo|헤이|야)\s+)?"
    r"(?:쿠버네티스야|쿠버네티스|쿠버리야|쿠버야|쿠베야|큐브야|kuberya|kubernetes|kube|k8s)"
)
_LEADING_VOCATIVE = re.compile(rf"^\s*{_VOCATIVE}(?:\s*[,!.~]+\s*|\s+|$)")
_TRAILING_VOCATIVE = re.compile(rf"[\s,]+{_VOCATIVE}\s*[!.~?]*\s*$")
_INNER_VOCATIVE = re.compile(r"(?<![가-힣])(?:쿠버네티스야|쿠버야)(?![가-힣])")

# Sentence punctuation → space; '.', ':', '/', '@', '-', '_' survive inside names and image
# references, '%', '+', '=', '~' survive where they carry meaning.
_PUNCT = re.compile(r"[!?,;\"'“”‘’()\[\]{}<>…·]|(?<![\w])[.:](?![\w])|[.:](?=\s|$)|(?<=\s)~|~(?=\s|$)")

# English contractions before punctuation goes; then a possessive 's is just dropped
# ("payment's image" → "payment image").
_CONTRACTIONS = {"what's": "what is", "how's": "how is", "it's": "it is", "that's": "that is", "let's": "let us",
                 "i'm": "i am", "i'd": "i would", "don't": "do not", "can't": "can not", "won't": "will not",
                 "isn't": "is not", "aren't": "are not", "there's": "there is", "who's": "who is"}  # fmt: skip
_CONTRACTION = re.compile(rf"(?<![a-z])(?:{'|'.join(re.escape(c) for c in _CONTRACTIONS)})(?![a-z])")
_POSSESSIVE = re.compile(r"(?<=[a-z0-9])'s(?![a-z])")

# "한번" / "한 번" is "once, just" (a softener: "한번 재시작해줘"), not the number one.
_SOFTENER = re.compile(r"(?<![가-힣])한\s?번(?!\s?째)|(?<![가-힣])좀(?![가-힣])|(?<![a-z])please(?![a-z])")

_NATIVE_UNITS = [
    (1, ("하나", "한")),
    (2, ("둘", "두")),
    (3, ("셋", "세")),
    (4, ("넷", "네")),
    (5, ("다섯",)),
    (6, ("여섯",)),
    (7, ("일곱",)),
    (8, ("여덟",)),
    (9, ("아홉",)),
]
_NATIVE_TENS = [(10, ("열",)), (20, ("스물", "스무")), (30, ("서른",)), (40, ("마흔",)), (50, ("쉰",))]
# Prenominal forms (한 두 세 네 스무) only ever stand before a counter: "세 개" but never "세로".
_PRENOMINAL = {"한", "두", "세", "네", "스무"}


def _native_words() -> tuple[dict[str, int], dict[str, int]]:
    standalone: dict[str, int] = {}
    prenominal: dict[str, int] = {}
    for value, forms in _NATIVE_UNITS + _NATIVE_TENS:
        for form in forms:
            (prenominal if form in _PRENOMINAL else standalone)[form] = value
    for tens, tens_forms in _NATIVE_TENS:
        for unit, unit_forms in _NATIVE_UNITS:
            for t in tens_forms:
                if t == "스무":  # 스무 is 20 alone; 21 is 스물하나/스물한
                    continue
                for u in unit_forms:
                    (prenominal if u in _PRENOMINAL else standalone)[t + u] = tens + unit
    return standalone, prenominal


_STANDALONE, _PRENOMINAL_WORDS = _native_words()
_SINO_DIGITS = {"일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8, "구": 9}


def _alternation(words: list[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


# A native numeral may follow a space, the start, a non-Hangul character, or — because people
# write "파드세개", "앱을두개" without spaces — one of the nouns and particles that precede counts.
_NUM_BEFORE = r"(^|[^가-힣]|파드|포드|앱|을|를|은|는|이|가|도|만|레플리카|복제본|인스턴스|서버|컨테이너)"
_COUNTER = r"(?=\s?(?:개|대|번째|줄|레플리카|replica))"
_NATIVE_WITH_COUNTER = re.compile(_NUM_BEFORE + rf"({_alternation([*_STANDALONE, *_PRENOMINAL_WORDS])})" + _COUNTER)
# Standalone forms also end a phrase or take a particle: "셋으로", "하나만", "둘까지", "하나 더".
_NATIVE_STANDALONE = re.compile(
    _NUM_BEFORE + rf"({_alternation(list(_STANDALONE))})(?=$|[^가-힣]|으로|로|만|까지|씩|를|을|이|가|도)"
)
# Sino-Korean numerals (일 이 삼 … 오십 백) are how people read digits, but 이/일/사/오 are also
# particles and word parts, so they count only before 개/퍼센트/프로/줄/번째.
_SINO = re.compile(
    r"(?<![가-힣])((?:[이삼사오육칠팔구]?십[일이삼사오육칠팔구]?)|백|[일이삼사오육칠팔구])"
    r"(?=\s?(?:개|퍼센트|프로|줄|번째))"
)
_EN_UNITS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)  # fmt: skip
_EN_NUMBERS = dict(zip(_EN_UNITS, range(21), strict=True)) | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "single": 1,
}
_EN_NUMBER = re.compile(rf"(?<![\w-])({'|'.join(_EN_NUMBERS)})(?![\w-])")
_TIMES = re.compile(r"(?<![\w-])[x×]\s?(\d+)(?![\w-])|(?<=\d)\s?[x×](?![\w-])")
# "payment3개로" typed without spaces: the digits before a counter are the count, not the name.
_NAME_DIGITS_COUNTER = re.compile(r"(?<![\w-])([a-z][a-z0-9-]*[a-z-])(\d+)(?=\s?(?:개|대))")
_SCRIPT_BOUNDARY = re.compile(r"(?<=[가-힣])(?=[a-z0-9+\-])|(?<=[a-z0-9%])(?=[가-힣])")
_SPACES = re.compile(r"\s+")


def _sino_value(word: str) -> int:
    if word == "백":
        return 100
    if "십" not in word:
        return _SINO_DIGITS[word]
    tens, _, units = word.partition("십")
    return (_SINO_DIGITS[tens] if tens else 1) * 10 + (_SINO_DIGITS[units] if units else 0)


def _native_value(word: str) -> int:
    return _STANDALONE.get(word) or _PRENOMINAL_WORDS[word]


def korean_numerals_to_digits(text: str) -> str:
    """Replace Korean numerals with digits where the context makes them numbers."""
    text = _NATIVE_WITH_COUNTER.sub(lambda m: f"{m[1]} {_native_value(m[2])}", text)
    text = _NATIVE_STANDALONE.sub(lambda m: f"{m[1]} {_native_value(m[2])}", text)
    return _SINO.sub(lambda m: str(_sino_value(m[1])), text)


def normalize(text: str) -> Normalized:
    text = unicodedata.normalize("NFC", text).translate(_FULLWIDTH)
    cased = {m[0].lower(): m[0] for m in _IMAGE_LIKE.finditer(text) if any(c in m[0] for c in ":/@")}
    text = text.lower().replace("\n", " ").replace("’", "'").replace("‘", "'")
    text = _POSSESSIVE.sub("", _CONTRACTION.sub(lambda m: _CONTRACTIONS[m[0]], text))
    text = _LEADING_VOCATIVE.sub(" ", text)
    text = _PUNCT.sub(" ", text)
    text = _TRAILING_VOCATIVE.sub(" ", text)
    text = _INNER_VOCATIVE.sub(" ", text)
    text = _SOFTENER.sub(" ", text)
    text = korean_numerals_to_digits(text)
    text = _EN_NUMBER.sub(lambda m: str(_EN_NUMBERS[m[1]]), text)
    text = _TIMES.sub(lambda m: f" {m[1]} replicas " if m[1] else " replicas ", text)
    text = _NAME_DIGITS_COUNTER.sub(r"\1 \2", text)
    text = _SCRIPT_BOUNDARY.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    language = "ko" if re.search(f"[{HANGUL}]", text) else "en"
    return Normalized(text=text, compact=text.replace(" ", ""), cased=cased, language=language)
