"""Domain models for being in the village: check-ins, absences and the monthly residency count.

Plain pydantic values exchanged by ``bot.services.checkins``/``bot.services.absences`` and their
repositories (``storage.checkins``, ``storage.absences``); no Telegram types.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from bot.models import Frozen


class Unverified(StrEnum):
    """Why a check-in is not verified (shown to the member, kept for the township)."""

    NO_LOCATION = "no_location"  # /checkin <note> without a location
    FORWARDED = "forwarded"  # someone's location passed on, not this device's
    VENUE = "venue"  # a place picked from a list
    NO_ACCURACY = "no_accuracy"  # no horizontal_accuracy: typical of a pin dropped by hand
    POOR_ACCURACY = "poor_accuracy"  # less precise than the village's radius
    NO_CENTRE = "no_centre"  # the village has no centre to measure against


class Decision(StrEnum):
    """The township's word on a check-in (``/review``)."""

    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class LocationReport(Frozen):
    """A location as the member's message carried it."""

    lat: float
    lon: float
    accuracy_m: float | None = None
    live_period: int | None = None
    forwarded: bool = False
    venue: bool = False


class Source(Frozen):
    """The message an entry was made from; (chat, message) is unique per entry."""

    chat_id: int
    message_id: int


class CheckIn(Frozen):
    id: int
    member_id: int
    village_code: str
    village_name: str
    village_radius_m: int
    at: datetime
    day: date
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    distance_m: float | None
    in_fence: bool | None
    verified: bool
    reason: Unverified | None
    note: str | None
    live: bool
    decision: Decision | None
    decided_by: int | None
    decided_at: datetime | None
    source_chat_id: int
    source_message_id: int
    created_at: datetime
    updated_at: datetime | None

    @property
    def counts(self) -> bool:
        """Whether this check-in makes its day a day in the village (the township has the last
        word: confirmed counts, rejected does not; otherwise verified and inside the fence)."""
        if self.decision is not None:
            return self.decision is Decision.CONFIRMED
        return self.verified and bool(self.in_fence)


class AbsenceKind(StrEnum):
    DUTY_TRIP = "duty_trip"  # 公务外出: counts as days on duty
    LEAVE = "leave"  # 请假: does not count; the township approves it


class Approval(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Absence(Frozen):
    id: int
    member_id: int
    kind: AbsenceKind
    from_day: date
    to_day: date
    reason: str
    approval: Approval | None  # None for a duty trip, which needs none
    decided_by: int | None
    decided_at: datetime | None
    source_chat_id: int
    source_message_id: int
    created_at: datetime

    @property
    def days(self) -> int:
        return (self.to_day - self.from_day).days + 1


class Residency(Frozen):
    """One member's days in the village for one calendar month, as counted so far.

    A day counts when it has a check-in that counts (:attr:`CheckIn.counts`) or lies in a duty
    trip; days after ``today`` never count yet. ``days_left`` are the days from today to the
    month's end that are not yet counted (0 for a past month).
    """

    member_id: int
    month: date  # the first day of the month
    required: int
    checkin_days: tuple[date, ...]
    duty_days: tuple[date, ...]
    leave_days: tuple[date, ...]  # approved leave, for information
    days_left: int

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(sorted(set(self.checkin_days) | set(self.duty_days)))

    @property
    def counted(self) -> int:
        return len(self.days)

    @property
    def missing(self) -> int:
        """Days still needed to reach the quota."""
        return max(0, self.required - self.counted)
