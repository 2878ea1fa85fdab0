"""Schedule words → a cron expression, and a cron expression → words again.

``take_schedule(text)`` reads the schedule part of a normalised request ("매일 새벽 3 시에",
"every 5 minutes", "weekdays at 9:30", a literal ``0 3 * * *``) and returns the five-field cron
expression a CronJob's ``spec.schedule`` takes, plus the text with those words blanked (so that
the 3 of "3시" is never read as a replica count, nor 매일 as an app name). ``describe`` says an
expression back in Korean or English, so that the plan shows what will happen in words.

Korean: 매일/매주 X요일/평일/주말/매달 N일, 새벽/아침/오전/오후/저녁/밤 + N시 (M분/반), 자정/정오,
N분마다/N시간마다/매시간. Hours are read as people say them: 오후 3시 is 15, 저녁 7시 19, 밤 10시 22,
밤 12시 and 자정 0; an hour said with no time of day is taken as written (3시 = 03:00) with no
guess about am/pm. English: every N minutes/hours, hourly/daily/weekly/monthly, every day at 3am,
(on) weekdays/weekends at 9:30, every monday at 9am, at midnight/noon, every month on the 1st.

Only what is recognised is taken; a time of day without a day ("3시에") means every day, as
"at 3am" does: a CronJob has to repeat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kuberya.meta.cron import ScheduleError, parse_standard
from kuberya.nl.errors import NotUnderstood

_KO_DAYS = {"일": 0, "월": 1, "화": 2, "수": 3, "목": 4, "금": 5, "토": 6}
_EN_DAYS = {
    "sunday": 0, "sun": 0, "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2, "wednesday": 3, "wed": 3,
    "thursday": 4, "thu": 4, "thurs": 4, "friday": 5, "fri": 5, "saturday": 6, "sat": 6,
}  # fmt: skip
_KO_NATIVE_HOURS = {
    "열한": 11, "열두": 12, "한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8,
    "아홉": 9, "열": 10,
}  # fmt: skip
"""Hours are counted with native numerals (세 시), which normalisation leaves alone (시 is no counter)."""
_KO_DAY_NAMES = ["일", "월", "화", "수", "목", "금", "토"]
_EN_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

_HOUR_WORD = "|".join(sorted(_KO_NATIVE_HOURS, key=len, reverse=True))
_P = re.compile

# --- Korean ------------------------------------------------------------------------------------
_KO_EVERY_MINUTES = _P(r"(\d{1,2}) ?분 ?(?:마다|간격으로|에 한 ?번)")
_KO_EVERY_HOURS = _P(r"(\d{1,2}) ?시간 ?(?:마다|간격으로|에 한 ?번)")
_KO_HOURLY = _P(r"매 ?시간(?:마다)?|매시 ?정각(?:마다)?|한 ?시간마다")
_KO_EVERY_MINUTE = _P(r"매 ?분(?:마다)?|1 ?분마다")
_KO_DAILY = _P(r"매일(?: ?마다)?|날마다|하루에 ?한 ?번|매일매일")
_KO_WEEKDAYS = _P(r"평일(?:마다|에는|에|엔)?|주중(?:에|마다)?")
_KO_WEEKEND = _P(r"주말(?:마다|에는|에|엔)?")
_KO_WEEKDAY = _P(r"(?:매주 ?)?([일월화수목금토])요일(?:마다|에는|에|엔|날)?")
_KO_WEEKLY = _P(r"매주(?:마다)?|일주일(?:에|마다) ?한 ?번")
_KO_MONTH_DAY = _P(r"매달 ?(\d{1,2}) ?일(?:마다|에|에는)?|매월 ?(\d{1,2}) ?일(?:마다|에|에는)?")
_KO_MONTHLY = _P(r"매달|매월|한 ?달(?:에|마다) ?한 ?번")
# 시 must end the word (or take 반/정각/a particle): "3 시간" is a duration, "다시" no hour.
_KO_TIME = _P(
    rf"(?:(새벽|아침|오전|오후|낮|저녁|밤) ?)?(?:(?<![\d.])(\d{{1,2}})|(?<![가-힣])({_HOUR_WORD})) ?시"
    r"(?=$|\s|반|정각|에|엔|마다|로|으로)(?: ?(?:(\d{1,2}) ?분|(반)|정각))?(?: ?(?:마다|에는|에|엔|으로|로))?"
)
_KO_MIDNIGHT_NOON = _P(r"(자정|정오|한밤중)(?: ?(?:마다|에는|에|엔))?")

# --- English -----------------------------------------------------------------------------------
_EN_EVERY_MINUTES = _P(r"(?<![\w-])every (\d{1,2}) ?(?:minutes|mins?|m)(?![\w-])")
_EN_EVERY_HOURS = _P(r"(?<![\w-])every (\d{1,2}) ?(?:hours|hrs?|h)(?![\w-])")
_EN_HOURLY = _P(r"(?<![\w-])(?:hourly|every hour|once an hour|each hour)(?![\w-])")
_EN_EVERY_MINUTE = _P(r"(?<![\w-])(?:every minute|each minute|minutely)(?![\w-])")
_EN_DAILY = _P(r"(?<![\w-])(?:daily|every day|each day|everyday|every night|nightly|once a day)(?![\w-])")
_EN_WEEKDAYS = _P(r"(?<![\w-])(?:on )?(?:weekdays|every weekday|week days)(?![\w-])")
_EN_WEEKEND = _P(r"(?<![\w-])(?:on )?(?:weekends|every weekend|the weekend)(?![\w-])")
_EN_WEEKDAY = _P(rf"(?<![\w-])(?:every |on |each )?({'|'.join(sorted(_EN_DAYS, key=len, reverse=True))})s?(?![\w-])")
_EN_WEEKLY = _P(r"(?<![\w-])(?:weekly|every week|once a week)(?![\w-])")
_EN_MONTH_DAY = _P(
    r"(?<![\w-])(?:every month |monthly )?on the (\d{1,2})(?:st|nd|rd|th)?(?: of (?:every|each) month)?(?![\w-])"
)
_EN_MONTHLY = _P(r"(?<![\w-])(?:monthly|every month|once a month)(?![\w-])")
_EN_TIME = _P(
    r"(?<![\w-])(?:at )?(\d{1,2})(?::(\d{2}))? ?(am|pm|a\.m|p\.m|a\.m\.|p\.m\.)(?![\w-])"
    r"|(?<![\w-])at (\d{1,2}):(\d{2})(?![\w-])"
)
# "at 3" is a time only beside a day word ("every day at 3"): "at 50% cpu" is not.
_EN_BARE_HOUR = _P(r"(?<![\w-])at (\d{1,2})(?![\w:%.-])")
_EN_MIDNIGHT_NOON = _P(r"(?<![\w-])(?:at )?(midnight|noon|midday)(?![\w-])")

# --- literal cron ------------------------------------------------------------------------------
_FIELD = r"[\d*][\d*/,-]*"
_CRON = _P(rf"(?<![\w*/,-])(?:--schedule[= ])?({_FIELD} {_FIELD} {_FIELD} {_FIELD} {_FIELD})(?![\w*/,-])")
_MACRO = _P(r"(?<![\w-])(@(?:yearly|annually|monthly|weekly|daily|midnight|hourly))(?![\w-])")


@dataclass(frozen=True)
class Scanned:
    cron: str | None
    text: str
    """The text with the schedule's words blanked."""


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        m = pattern.search(self.text)
        if m:
            self.text = self.text[: m.start()] + " " * (m.end() - m.start()) + self.text[m.end() :]
        return m


def validate_cron(expression: str) -> str:
    """The expression, if a CronJob accepts it (robfig's ``ParseStandard`` grammar, as upstream)."""
    try:
        parse_standard(expression)
    except ScheduleError as e:
        raise NotUnderstood(f"{expression!r} is not a cron schedule: {e}") from None
    return expression


def _korean_hour(period: str | None, hour: int) -> int:
    if period in ("오후", "저녁", "밤", "낮") and hour < 12:
        # 밤 1시 and 낮 1시 are after midnight / noon; 밤 12시 is midnight.
        if period == "밤" and hour <= 4:
            return hour
        if period == "낮" and hour >= 7:
            return hour
        return hour + 12
    if period == "밤" and hour == 12:
        return 0
    if period in ("새벽", "아침", "오전") and hour == 12:
        return 0
    return hour


def _korean_time(scan: _Text) -> tuple[int, int] | None:
    if m := scan.take(_KO_MIDNIGHT_NOON):
        return (12, 0) if m[1] == "정오" else (0, 0)
    m = scan.take(_KO_TIME)
    if m is None:
        return None
    hour = int(m[2]) if m[2] else _KO_NATIVE_HOURS[m[3]]
    minute = int(m[4]) if m[4] else 30 if m[5] else 0
    hour = _korean_hour(m[1], hour)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise NotUnderstood(f"{m[0].strip()!r} is not a time of day")
    return hour, minute


def _english_time(scan: _Text, *, day_said: bool) -> tuple[int, int] | None:
    if m := scan.take(_EN_MIDNIGHT_NOON):
        return (0, 0) if m[1] == "midnight" else (12, 0)
    m = scan.take(_EN_TIME)
    if m is None:
        bare = scan.take(_EN_BARE_HOUR) if day_said else None
        if bare is None:
            return None
        hour = int(bare[1])
        if hour > 23:
            raise NotUnderstood(f"{bare[0].strip()!r} is not a time of day")
        return hour, 0
    if m[1]:
        hour, minute, half = int(m[1]), int(m[2] or 0), m[3][0]
        if not 1 <= hour <= 12:
            raise NotUnderstood(f"{m[0].strip()!r} is not a time of day")
        hour = hour % 12 + (12 if half == "p" else 0)
    else:
        hour, minute = int(m[4]), int(m[5])
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise NotUnderstood(f"{m[0].strip()!r} is not a time of day")
    return hour, minute


def take_schedule(text: str, language: str) -> Scanned:
    """The cron expression the text's schedule words say (None when there are none), and the rest."""
    scan = _Text(text)
    if m := scan.take(_MACRO):
        return Scanned(m[1], scan.text)
    if m := scan.take(_CRON):
        return Scanned(validate_cron(m[1]), scan.text)
    return Scanned(_korean(scan) if language == "ko" else _english(scan), scan.text)


def _interval(scan: _Text, minutes: re.Pattern[str], hours: re.Pattern[str]) -> str | None:
    if m := scan.take(minutes):
        n = int(m[1])
        if not 1 <= n <= 59:
            raise NotUnderstood(f"every {n} minutes cannot be a cron schedule (1-59)")
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if m := scan.take(hours):
        n = int(m[1])
        if not 1 <= n <= 23:
            raise NotUnderstood(f"every {n} hours cannot be a cron schedule (1-23)")
        return "0 * * * *" if n == 1 else f"0 */{n} * * *"
    return None


def _korean(scan: _Text) -> str | None:
    if cron := _interval(scan, _KO_EVERY_MINUTES, _KO_EVERY_HOURS):
        return cron
    if scan.take(_KO_EVERY_MINUTE):
        return "* * * * *"
    if scan.take(_KO_HOURLY):
        return "0 * * * *"
    days = _korean_days(scan)
    return _compose(days, _korean_time(scan))


def _korean_days(scan: _Text) -> _Days:
    if m := scan.take(_KO_MONTH_DAY):
        scan.take(_KO_MONTHLY)
        return _Days("*", _day_of_month(int(m[1] or m[2])))
    if scan.take(_KO_WEEKDAYS):
        return _Days("1-5")
    if scan.take(_KO_WEEKEND):
        return _Days("0,6")
    named = []
    while m := scan.take(_KO_WEEKDAY):
        named.append(_KO_DAYS[m[1]])
    if named:
        scan.take(_KO_WEEKLY)
        return _Days(",".join(str(d) for d in sorted(set(named))))
    if scan.take(_KO_WEEKLY):
        return _Days("0")  # 매주 alone: once a week, on Sunday, as cron's @weekly
    if scan.take(_KO_MONTHLY):
        return _Days("*", "1")
    return _Days(said=scan.take(_KO_DAILY) is not None)


def _english(scan: _Text) -> str | None:
    if cron := _interval(scan, _EN_EVERY_MINUTES, _EN_EVERY_HOURS):
        return cron
    if scan.take(_EN_EVERY_MINUTE):
        return "* * * * *"
    if scan.take(_EN_HOURLY):
        return "0 * * * *"
    days = _english_days(scan)
    return _compose(days, _english_time(scan, day_said=days.said))


def _english_days(scan: _Text) -> _Days:
    if m := scan.take(_EN_MONTH_DAY):
        scan.take(_EN_MONTHLY)
        return _Days("*", _day_of_month(int(m[1])))
    if scan.take(_EN_WEEKDAYS):
        return _Days("1-5")
    if scan.take(_EN_WEEKEND):
        return _Days("0,6")
    named = []
    while m := scan.take(_EN_WEEKDAY):
        named.append(_EN_DAYS[m[1]])
    if named:
        scan.take(_EN_WEEKLY)
        return _Days(",".join(str(d) for d in sorted(set(named))))
    if scan.take(_EN_WEEKLY):
        return _Days("0")
    if scan.take(_EN_MONTHLY):
        return _Days("*", "1")
    return _Days(said=scan.take(_EN_DAILY) is not None)


def _day_of_month(day: int) -> str:
    if not 1 <= day <= 31:
        raise NotUnderstood(f"a month has no day {day}")
    return str(day)


@dataclass(frozen=True)
class _Days:
    """Which days: cron's weekday and day-of-month fields, and whether any day word was said."""

    weekday: str = "*"
    day_of_month: str = "*"
    said: bool = True


def _compose(days: _Days, at: tuple[int, int] | None) -> str | None:
    if not days.said and at is None:
        return None
    # "매주 월요일", "monthly", "매일" with no time: at midnight, as cron's @weekly/@monthly/@daily.
    hour, minute = at or (0, 0)
    return f"{minute} {hour} {days.day_of_month} * {days.weekday}"


# --- words again -------------------------------------------------------------------------------

_MACRO_WORDS = {
    "@yearly": ("매년 1월 1일 00:00", "every year on January 1 at 00:00"),
    "@annually": ("매년 1월 1일 00:00", "every year on January 1 at 00:00"),
    "@monthly": ("매달 1일 00:00", "on day 1 of every month at 00:00"),
    "@weekly": ("매주 일요일 00:00", "every Sunday at 00:00"),
    "@daily": ("매일 00:00", "every day at 00:00"),
    "@midnight": ("매일 00:00", "every day at 00:00"),
    "@hourly": ("매시간 정각", "every hour, on the hour"),
}


def describe(cron: str, language: str) -> str:
    """The schedule in words, for the shapes :func:`take_schedule` makes (others: the expression)."""
    ko = language == "ko"
    if cron in _MACRO_WORDS:
        return _MACRO_WORDS[cron][0 if ko else 1]
    fields = cron.split()
    if len(fields) != 5:
        return f"{'일정' if ko else 'schedule'} {cron}"
    minute, hour, dom, month, dow = fields
    if cron == "* * * * *":
        return "매분" if ko else "every minute"
    if hour == "*" and dom == month == dow == "*":
        if minute.startswith("*/"):
            return f"{minute[2:]}분마다" if ko else f"every {minute[2:]} minutes"
        if minute == "0":
            return "매시간 정각" if ko else "every hour, on the hour"
        if minute.isdigit():
            return f"매시간 {int(minute)}분" if ko else f"every hour at minute {int(minute)}"
    if minute.isdigit() and hour.startswith("*/") and dom == month == dow == "*":
        return f"{hour[2:]}시간마다" if ko else f"every {hour[2:]} hours"
    if not (minute.isdigit() and hour.isdigit() and month == "*"):
        return f"cron {cron}"
    at = f"{int(hour):02d}:{int(minute):02d}"
    if dom != "*" and dow == "*":
        return f"매달 {dom}일 {at}" if ko else f"on day {dom} of every month at {at}"
    if dom != "*":
        return f"cron {cron}"
    if dow == "*":
        return f"매일 {at}" if ko else f"every day at {at}"
    if dow == "1-5":
        return f"평일 {at}" if ko else f"weekdays at {at}"
    if dow == "0,6":
        return f"주말 {at}" if ko else f"weekends at {at}"
    if re.fullmatch(r"[0-7](?:,[0-7])*", dow):
        days = [int(d) % 7 for d in dow.split(",")]
        if ko:
            return f"매주 {', '.join(_KO_DAY_NAMES[d] + '요일' for d in days)} {at}"
        return f"every {', '.join(_EN_DAY_NAMES[d] for d in days)} at {at}"
    return f"cron {cron}"
