"""Cron schedules read as robfig/cron's ParseStandard reads them (what upstream's CronJobs use)."""

import datetime

import pytest

from kuberya.meta.cron import ScheduleError, load_zone, parse_standard

UTC = datetime.UTC
START = datetime.datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)  # a Thursday


def upcoming(spec: str, count: int = 3, *, start: datetime.datetime = START) -> list[str]:
    schedule = parse_standard(spec)
    out: list[str] = []
    when: datetime.datetime | None = start
    for _ in range(count):
        assert when is not None
        when = schedule.next(when)
        assert when is not None, spec
        out.append(when.strftime("%m-%d %a %H:%M:%S"))
    return out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("*/1 * * * *", ["01-01 Thu 00:01:00", "01-01 Thu 00:02:00", "01-01 Thu 00:03:00"]),
        ("30 6-16/4 * * 1-5", ["01-01 Thu 06:30:00", "01-01 Thu 10:30:00", "01-01 Thu 14:30:00"]),
        ("0 0 * * 5", ["01-02 Fri 00:00:00", "01-09 Fri 00:00:00", "01-16 Fri 00:00:00"]),
        ("0 0 ? * MON", ["01-05 Mon 00:00:00", "01-12 Mon 00:00:00", "01-19 Mon 00:00:00"]),
        ("0 0 1 jan-mar *", ["02-01 Sun 00:00:00", "03-01 Sun 00:00:00", "01-01 Fri 00:00:00"]),
        ("5/15 * * * *", ["01-01 Thu 00:05:00", "01-01 Thu 00:20:00", "01-01 Thu 00:35:00"]),
    ],
)
def test_standard_fields(spec: str, expected: list[str]) -> None:
    assert upcoming(spec) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # Neither day field is a star: a day matching either one fires (Vixie cron's rule too).
        ("0 0 13 * 5", ["01-02 Fri 00:00:00", "01-09 Fri 00:00:00", "01-13 Tue 00:00:00"]),
        # A star with a step above 1 is no star for robfig: the OR rule applies (odd days or Fridays).
        ("0 0 */2 * 5", ["01-02 Fri 00:00:00", "01-03 Sat 00:00:00", "01-05 Mon 00:00:00"]),
        # A star with step 1 still is one: both must match, so Mondays only.
        ("0 0 */1 * 1", ["01-05 Mon 00:00:00", "01-12 Mon 00:00:00", "01-19 Mon 00:00:00"]),
        ("0 0 * * 1", ["01-05 Mon 00:00:00", "01-12 Mon 00:00:00", "01-19 Mon 00:00:00"]),
    ],
)
def test_day_of_month_and_day_of_week_as_robfig(spec: str, expected: list[str]) -> None:
    assert upcoming(spec) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("@hourly", ["01-01 Thu 01:00:00", "01-01 Thu 02:00:00", "01-01 Thu 03:00:00"]),
        ("@daily", ["01-02 Fri 00:00:00", "01-03 Sat 00:00:00", "01-04 Sun 00:00:00"]),
        ("@midnight", ["01-02 Fri 00:00:00", "01-03 Sat 00:00:00", "01-04 Sun 00:00:00"]),
        ("@weekly", ["01-04 Sun 00:00:00", "01-11 Sun 00:00:00", "01-18 Sun 00:00:00"]),
        ("@monthly", ["02-01 Sun 00:00:00", "03-01 Sun 00:00:00", "04-01 Wed 00:00:00"]),
        ("@yearly", ["01-01 Fri 00:00:00", "01-01 Sat 00:00:00", "01-01 Mon 00:00:00"]),
        ("@annually", ["01-01 Fri 00:00:00", "01-01 Sat 00:00:00", "01-01 Mon 00:00:00"]),
        # @every counts from the moment given, whole seconds.
        ("@every 90s", ["01-01 Thu 00:02:00", "01-01 Thu 00:03:30", "01-01 Thu 00:05:00"]),
        ("@every 1h30m", ["01-01 Thu 01:30:30", "01-01 Thu 03:00:30", "01-01 Thu 04:30:30"]),
    ],
)
def test_descriptors(spec: str, expected: list[str]) -> None:
    assert upcoming(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("0 * * * * *", "expected exactly 5 fields, found 6: [0 * * * * *]"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("0 0 L * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
        ("0 0 1W * *", 'failed to parse int from 1W: strconv.Atoi: parsing "1W": invalid syntax'),
        ("0 0 * * 1#2", 'failed to parse int from 1#2: strconv.Atoi: parsing "1#2": invalid syntax'),
        ("0 0 * foo *", 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'),
        ("@reboot", "unrecognized descriptor: @reboot"),
        ("@every soon", 'failed to parse duration @every soon: time: invalid duration "soon"'),
        ("TZ=Mars/Base 0 * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
    ],
)
def test_what_robfig_refuses_is_refused_with_its_message(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_standard(spec)
    assert str(caught.value) == message


def test_a_schedule_that_parses_but_never_fires_has_no_next_time() -> None:
    # robfig accepts February 31st and finds no activation in five years.
    assert parse_standard("0 0 31 2 *").next(START) is None


def test_zones_from_the_prefix_or_the_caller() -> None:
    seoul = parse_standard("TZ=Asia/Seoul 0 9 * * *")
    assert seoul.next(START) == datetime.datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
    berlin = parse_standard("0 9 * * *", zone=load_zone("Europe/Berlin"))
    assert berlin.next(START) == datetime.datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    summer = datetime.datetime(2026, 7, 1, tzinfo=UTC)
    assert berlin.next(summer) == datetime.datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # CEST


def test_unknown_zones() -> None:
    assert load_zone("") is UTC
    with pytest.raises(ScheduleError, match="unknown time zone Nowhere/Land"):
        load_zone("Nowhere/Land")


def test_daylight_saving_changes_as_robfig() -> None:
    new_york = load_zone("America/New_York")
    # 02:30 does not exist on 2026-03-08 (spring forward): robfig skips that day.
    spring = parse_standard("30 2 * * *", zone=new_york)
    first = spring.next(datetime.datetime(2026, 3, 7, 12, tzinfo=UTC))
    assert first is not None and first.astimezone(new_york).isoformat() == "2026-03-09T02:30:00-04:00"
    # 01:30 happens twice on 2026-11-01 (fall back): both fire.
    fall = parse_standard("30 1 * * *", zone=new_york)
    once = fall.next(datetime.datetime(2026, 10, 31, 12, tzinfo=UTC))
    assert once is not None and once.astimezone(new_york).isoformat() == "2026-11-01T01:30:00-04:00"
    twice = fall.next(once)
    assert twice is not None and twice.astimezone(new_york).isoformat() == "2026-11-01T01:30:00-05:00"
