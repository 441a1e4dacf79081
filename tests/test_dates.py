"""bot/dates.py: the dates cadres type, relative to an injected today (a Saturday)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.clock import FixedClock
from bot.dates import DateError, DateRange, leading, local_today, parse_date, parse_range

TODAY = date(2026, 11, 28)  # the harness's START, a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天", date(2026, 11, 28)),
        ("今日", date(2026, 11, 28)),
        ("昨天", date(2026, 11, 27)),
        ("前天", date(2026, 11, 26)),
        ("大前天", date(2026, 11, 25)),
        ("明天", date(2026, 11, 29)),
        ("后天", date(2026, 11, 30)),
        ("today", date(2026, 11, 28)),
        ("Yesterday", date(2026, 11, 27)),
        ("11月25日", date(2026, 11, 25)),
        ("11月25号", date(2026, 11, 25)),
        ("11月25", date(2026, 11, 25)),
        ("11 月 25 日", date(2026, 11, 25)),
        ("11-25", date(2026, 11, 25)),
        ("11.25", date(2026, 11, 25)),
        ("12/1", date(2026, 12, 1)),
        ("2026-11-25", date(2026, 11, 25)),
        ("2026/11/25", date(2026, 11, 25)),
        ("2026.11.25", date(2026, 11, 25)),
        ("2026年11月25日", date(2026, 11, 25)),
        ("2025-02-28", date(2025, 2, 28)),
        ("25号", date(2026, 11, 25)),
        # No year: the one nearest to today, so early-year dates said in late November are next
        # year's.
        ("1月5日", date(2027, 1, 5)),
        ("6月1日", date(2026, 6, 1)),
        # Weekdays: the next occurrence, today included; 下/上/本周 name a calendar week.
        ("周六", date(2026, 11, 28)),
        ("周日", date(2026, 11, 29)),
        ("周一", date(2026, 11, 30)),
        ("星期五", date(2026, 12, 4)),
        ("星期天", date(2026, 11, 29)),
        ("礼拜三", date(2026, 12, 2)),
        ("下周一", date(2026, 11, 30)),
        ("下周三", date(2026, 12, 2)),
        ("本周一", date(2026, 11, 23)),
        ("上周五", date(2026, 11, 20)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "prefer", "expected"),
    [
        ("1月5日", "past", date(2026, 1, 5)),
        ("12月1日", "past", date(2025, 12, 1)),
        ("11月1日", "future", date(2027, 11, 1)),
        ("周一", "past", date(2026, 11, 23)),
        ("周六", "past", date(2026, 11, 28)),
    ],
)
def test_prefer_past_or_future(text: str, prefer: str, expected: date) -> None:
    assert parse_date(text, TODAY, prefer=prefer) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2月30日", "impossible"),
        ("13月1日", "impossible"),
        ("11月31日", "impossible"),
        ("0月5日", "impossible"),
        ("2026-02-29", "impossible"),
        ("2月29日", "impossible"),  # 2026 and 2027 are not leap years
        ("32号", "impossible"),
        ("随便写写", "not_a_date"),
        ("", "not_a_date"),
        ("todays", "not_a_date"),
        ("11月25日下午", "not_a_date"),  # parse_date wants the whole text
    ],
)
def test_parse_date_refuses(text: str, code: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(text, TODAY)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("12月1日-12月3日", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日到3日", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日到3号", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日至12月3日", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日～3日", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日 - 3", date(2026, 12, 1), date(2026, 12, 3)),
        ("11-30到12-2", date(2026, 11, 30), date(2026, 12, 2)),
        ("11-30-12-2", date(2026, 11, 30), date(2026, 12, 2)),
        ("今天到后天", date(2026, 11, 28), date(2026, 11, 30)),
        ("周一到周三", date(2026, 11, 30), date(2026, 12, 2)),
        ("12月30日到1月2日", date(2026, 12, 30), date(2027, 1, 2)),
        ("2026-12-30到2027-01-02", date(2026, 12, 30), date(2027, 1, 2)),
        ("12月1日 12月3日", date(2026, 12, 1), date(2026, 12, 3)),
        ("明天", date(2026, 11, 29), date(2026, 11, 29)),
    ],
)
def test_parse_range(text: str, start: date, end: date) -> None:
    found = parse_range(text, TODAY)
    assert found == DateRange(start, end)
    assert found.days == (end - start).days + 1
    assert found.each()[0] == start and found.each()[-1] == end


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12月3日到12月1日", "reversed"),
        ("12月3日-1日", "reversed"),
        ("12月1日到2月30日", "impossible"),
        ("12月1日到下个月", "not_a_date"),
    ],
)
def test_parse_range_refuses(text: str, code: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_range(text, TODAY)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("text", "start", "end", "rest"),
    [
        ("明天 到县里开会", date(2026, 11, 29), date(2026, 11, 29), "到县里开会"),
        ("明天开会", date(2026, 11, 29), date(2026, 11, 29), "开会"),
        ("12月1日到3日 培训", date(2026, 12, 1), date(2026, 12, 3), "培训"),
        ("12月1日 12月3日 请假 家里有事", date(2026, 12, 1), date(2026, 12, 3), "请假 家里有事"),
        ("  昨天   王秀英家 ", date(2026, 11, 27), date(2026, 11, 27), "王秀英家"),
    ],
)
def test_leading_dates_and_the_rest(text: str, start: date, end: date, rest: str) -> None:
    found = leading(text, TODAY)
    assert found is not None
    assert (found.range.start, found.range.end, found.rest) == (start, end, rest)


def test_leading_without_a_date_is_none() -> None:
    assert leading("王秀英 老伴卧床", TODAY) is None


def test_local_today_follows_the_zone_not_utc() -> None:
    # 2026-11-27 17:30 UTC is already the 28th in Shanghai.
    clock = FixedClock(datetime(2026, 11, 27, 17, 30, tzinfo=UTC))
    assert local_today(clock, "Asia/Shanghai") == date(2026, 11, 28)
    assert local_today(clock, "UTC") == date(2026, 11, 27)
