"""Calendar dates as cadres type them: 今天, 昨天, 11月25日, 12/1, 周一, 12月1日到3日.

Everything is relative to a ``today`` the caller supplies (from the injected clock in
``ZHUCUN_TZ``, see :func:`local_today`), so parsing never reads the wall clock.

    DateError(ValueError)   ``code`` says why, for a localized reply:
        not_a_date          nothing at the start of the text looks like a date
        impossible          it looks like a date but is not one (2月30日, 13月1日)
        reversed            a range whose end lies before its start

A date written without a year takes the year that puts it nearest to the anchor (``today``, or a
range's start for its end), unless the caller asks for the past or the future explicitly:
on 2026-11-28 "1月5日" is 2027-01-05, and "12月30日到1月2日" spans the new year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.clock import Clock

Prefer = Literal["nearest", "past", "future"]

RELATIVE: dict[str, int] = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    "后天": 2,
    "大后天": 3,
    "yesterday": -1,
    "today": 0,
    "tomorrow": 1,
}
WEEKDAYS: dict[str, int] = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "末": 5,
}
RANGE_SEPARATORS = ("到", "至", "~", "～", "—", "–", "-")

_RELATIVE = re.compile("|".join(sorted(RELATIVE, key=len, reverse=True)), re.IGNORECASE)
_WEEKDAY = re.compile(r"(上|下|这|本)?(?:周|星期|礼拜)([一二三四五六日天末])")
_FULL = re.compile(
    r"(\d{4})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?|([-/.])(\d{1,2})\4(\d{1,2}))"
)
_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_NUMERIC = re.compile(r"(\d{1,2})([-/.])(\d{1,2})(?![\d.])")
_BARE_DAY = re.compile(r"(\d{1,2})\s*[日号]")
_BARE_END_DAY = re.compile(r"(\d{1,2})(?!\d)")


class DateError(ValueError):
    """The text is not an acceptable date; ``code`` names the reason (see the module doc)."""

    def __init__(self, code: str, text: str = "") -> None:
        self.code = code
        self.text = text
        super().__init__(code, text)


@dataclass(frozen=True)
class DateRange:
    """Inclusive calendar days ``start`` … ``end``."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def each(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.start + timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True)
class Leading:
    """Dates found at the start of a text, and the text after them."""

    range: DateRange
    rest: str
    is_range: bool


def local_today(clock: Clock, tz: str | ZoneInfo) -> date:
    """Today's calendar date in the configured zone."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return clock.now().astimezone(zone).date()


def local_day(moment: datetime, tz: str | ZoneInfo) -> date:
    """The calendar day a moment falls on in the configured zone."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return moment.astimezone(zone).date()


def parse_date(text: str, today: date, *, prefer: Prefer = "nearest") -> date:
    """The whole of ``text`` as one date; raise :class:`DateError` otherwise."""
    stripped = text.strip()
    found = _match_date(stripped, 0, today, prefer)
    if found is None or stripped[found[1] :].strip():
        raise DateError("not_a_date", stripped)
    return found[0]


def parse_range(text: str, today: date, *, prefer: Prefer = "nearest") -> DateRange:
    """The whole of ``text`` as a date or a range (``12月1日-12月3日``, ``12月1日到3日``)."""
    stripped = text.strip()
    found = leading(stripped, today, prefer=prefer)
    if found is None or found.rest:
        raise DateError("not_a_date", stripped)
    return found.range


def leading(text: str, today: date, *, prefer: Prefer = "nearest") -> Leading | None:
    """A date or range at the start of ``text`` and what follows it; None when it starts
    with no date. Raises :class:`DateError` for an impossible date or a reversed range.

    ``"12月1日到3日 去县里开会"`` gives 12-01…12-03 and ``"去县里开会"``; two dates separated by
    a space (``"12月1日 12月3日 …"``) are a range too; a separator followed by no date belongs to
    the rest (``"明天 到县里开会"``).
    """
    pos = _skip(text, 0)
    first = _match_date(text, pos, today, prefer)
    if first is None:
        return None
    start, pos = first
    after_first = pos
    pos = _skip(text, pos)
    separated = False
    for separator in RANGE_SEPARATORS:
        if text.startswith(separator, pos):
            separated = True
            pos = _skip(text, pos + len(separator))
            break
    second = _match_date(text, pos, start, "nearest") if pos < len(text) else None
    if second is None and separated:
        second = _match_end_day(text, pos, start)
    if second is None:  # "明天 到县里开会": 到 starts the rest, not a range
        return Leading(DateRange(start, start), text[after_first:].strip(), is_range=False)
    end, pos = second
    if end < start:
        raise DateError("reversed", text[:pos].strip())
    return Leading(DateRange(start, end), text[pos:].strip(), is_range=True)


# --- matching one date at a position ----------------------------------------------------------


def _match_date(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    for matcher in (_relative, _weekday, _full, _month_day, _numeric, _bare_day):
        found = matcher(text, pos, today, prefer)
        if found is not None:
            return found
    return None


def _relative(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    match = _RELATIVE.match(text, pos)
    if match is None or _runs_on(text, match.end()):
        return None
    return today + timedelta(days=RELATIVE[match.group(0).lower()]), match.end()


def _weekday(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    match = _WEEKDAY.match(text, pos)
    if match is None:
        return None
    week, day = match.group(1), WEEKDAYS[match.group(2)]
    monday = today - timedelta(days=today.weekday())
    if week in ("这", "本"):
        return monday + timedelta(days=day), match.end()
    if week == "下":
        return monday + timedelta(days=7 + day), match.end()
    if week == "上":
        return monday - timedelta(days=7 - day), match.end()
    ahead = (day - today.weekday()) % 7
    if prefer == "past":
        return today - timedelta(days=(today.weekday() - day) % 7), match.end()
    return today + timedelta(days=ahead), match.end()


def _full(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    match = _FULL.match(text, pos)
    if match is None:
        return None
    year = int(match.group(1))
    if match.group(2) is not None:
        month, day = int(match.group(2)), int(match.group(3))
    else:
        month, day = int(match.group(5)), int(match.group(6))
    return _make(year, month, day, match.group(0)), match.end()


def _month_day(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    match = _MONTH_DAY.match(text, pos)
    if match is None:
        return None
    month, day = int(match.group(1)), int(match.group(2))
    return _infer_year(month, day, today, prefer, match.group(0)), match.end()


def _numeric(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    match = _NUMERIC.match(text, pos)
    if match is None:
        return None
    month, day = int(match.group(1)), int(match.group(3))
    return _infer_year(month, day, today, prefer, match.group(0)), match.end()


def _bare_day(text: str, pos: int, today: date, prefer: Prefer) -> tuple[date, int] | None:
    """``25号`` alone: that day of the anchor's month."""
    match = _BARE_DAY.match(text, pos)
    if match is None:
        return None
    return _make(today.year, today.month, int(match.group(1)), match.group(0)), match.end()


def _match_end_day(text: str, pos: int, start: date) -> tuple[date, int] | None:
    """The end of ``12月1日到3`` or ``12月1日-3日``: a bare day in the start's month."""
    match = _BARE_DAY.match(text, pos) or _BARE_END_DAY.match(text, pos)
    if match is None:
        return None
    return _make(start.year, start.month, int(match.group(1)), match.group(0)), match.end()


def _skip(text: str, pos: int) -> int:
    """The position after any whitespace at ``pos``."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _runs_on(text: str, pos: int) -> bool:
    """Whether a Latin word continues past ``pos`` (so "todays" is not "today")."""
    return pos < len(text) and text[pos].isascii() and text[pos].isalnum()


def _make(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateError("impossible", text) from None


def _infer_year(month: int, day: int, anchor: date, prefer: Prefer, text: str) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise DateError("impossible", text)
    if month == 2 and day == 29 and not _leap(anchor.year):
        # 2月29日 said in a common year is a slip, not a date a year or more away.
        raise DateError("impossible", text)
    candidates: list[date] = []
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue  # 2月29日 outside a leap year
    if not candidates:
        raise DateError("impossible", text)
    if prefer == "past":
        past = [c for c in candidates if c <= anchor]
        if past:
            return max(past)
    elif prefer == "future":
        future = [c for c in candidates if c >= anchor]
        if future:
            return min(future)
    return min(candidates, key=lambda c: (abs((c - anchor).days), c))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
