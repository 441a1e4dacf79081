"""Check-ins (签到) and the monthly residency count.

Telegram gives no proof of where a phone is, so a location is self-reported and counts as
verified only when it plausibly came from the member's own device: see :func:`assess`. A live
location's first fix makes the check-in and later fixes (edits of the same message) refine it.
A re-delivered message finds the check-in it already made (its source is unique).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.attendance import (
    AbsenceKind,
    Approval,
    CheckIn,
    LocationReport,
    Residency,
    Source,
    Unverified,
)
from bot.clock import Clock
from bot.config import Settings
from bot.dates import local_day, local_today
from bot.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.geo import distance_m
from bot.models import Level, Member, Region
from storage import absences as absence_repo
from storage import audit
from storage import checkins as checkin_repo
from storage import regions as region_repo
from storage.db import Database

NOTE_MAX = 500


class Assessment(BaseModel):
    """What a location says about a check-in in one village."""

    model_config = ConfigDict(frozen=True)

    distance_m: float | None
    in_fence: bool | None
    reason: Unverified | None


class Recorded(BaseModel):
    """A check-in and whether this call made it (False: the source had already made it)."""

    model_config = ConfigDict(frozen=True)

    checkin: CheckIn
    created: bool


class Refined(BaseModel):
    """A live check-in before and after a later fix."""

    model_config = ConfigDict(frozen=True)

    before: CheckIn
    after: CheckIn

    @property
    def verdict_changed(self) -> bool:
        return (self.before.verified, self.before.in_fence) != (
            self.after.verified,
            self.after.in_fence,
        )


def assess(village: Region, location: LocationReport | None) -> Assessment:
    """Distance to the centre, inside the geofence or not, and why it is not verified (if so).

    The first reason in this order wins: no location, forwarded, venue, no accuracy (a pin
    dropped by hand), accuracy worse than the village radius, no village centre.
    """
    if location is None:
        return Assessment(distance_m=None, in_fence=None, reason=Unverified.NO_LOCATION)
    distance: float | None = None
    in_fence: bool | None = None
    if village.lat is not None and village.lon is not None:
        distance = distance_m(location.lat, location.lon, village.lat, village.lon)
        in_fence = distance <= village.radius_m
    reason: Unverified | None = None
    if location.forwarded:
        reason = Unverified.FORWARDED
    elif location.venue:
        reason = Unverified.VENUE
    elif location.accuracy_m is None:
        reason = Unverified.NO_ACCURACY
    elif location.accuracy_m > village.radius_m:
        reason = Unverified.POOR_ACCURACY
    elif distance is None:
        reason = Unverified.NO_CENTRE
    return Assessment(distance_m=distance, in_fence=in_fence, reason=reason)


def clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    cleaned = " ".join(note.split())
    if len(cleaned) > NOTE_MAX:
        raise InvalidInput("checkin.note_too_long", limit=NOTE_MAX)
    return cleaned or None


class CheckInService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    async def villages(self, member: Member) -> list[Region]:
        """Villages the member may check in to; Forbidden when their roles allow none."""
        if not scope.has_capability(member, scope.Capability.ENTER):
            raise Forbidden("checkin.not_team")
        codes = [
            m.region_code
            for m in member.memberships
            if m.region_code and scope.may(member, scope.Capability.ENTER, m)
        ]
        found = await region_repo.get_many(self._db, sorted(set(codes))) if codes else []
        villages = [r for r in found if r.level is Level.VILLAGE]
        return sorted(villages, key=lambda r: r.path)

    async def recorded(self, member: Member, source: Source) -> CheckIn | None:
        """The check-in this member already made from this message, if any."""
        found = await checkin_repo.by_source(self._db, source)
        return found if found is not None and found.member_id == member.id else None

    async def check_in(
        self,
        member: Member,
        village: str | Region,
        *,
        at: datetime,
        source: Source,
        location: LocationReport | None = None,
        note: str | None = None,
    ) -> Recorded:
        """Record a check-in (committed before this returns); the same source twice: one row.

        ``village`` is a code (read here, e.g. from a button's draft) or a village this service
        returned in this update (:meth:`villages`); level and scope are checked on it either way.
        """
        if not scope.has_capability(member, scope.Capability.ENTER):
            raise Forbidden("checkin.not_team")
        found = await region_repo.get(self._db, village) if isinstance(village, str) else village
        if found is None or found.level is not Level.VILLAGE:
            raise NotFound()
        village = found
        scope.require(member, scope.Capability.ENTER, village)
        cleaned = clean_note(note)
        verdict = assess(village, location)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            created = await checkin_repo.insert(
                tx,
                member_id=member.id,
                village=village,
                at=at,
                day=local_day(at, self._settings.zone),
                lat=location.lat if location else None,
                lon=location.lon if location else None,
                accuracy_m=location.accuracy_m if location else None,
                distance_m=verdict.distance_m,
                in_fence=verdict.in_fence,
                reason=verdict.reason,
                note=cleaned,
                live=bool(location and location.live_period),
                source=source,
                created_at=now,
            )
            if created is None:
                existing = await checkin_repo.tx_by_source(tx, source)
                if existing is None or existing.member_id != member.id:
                    raise Conflict()
                return Recorded(checkin=existing, created=False)
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(member.id),
                action="checkin.create",
                entity="checkin",
                entity_id=created.id,
                after={
                    "village": village.code,
                    "verified": verdict.reason is None,
                    "reason": verdict.reason,
                    "in_fence": verdict.in_fence,
                    "distance_m": round(verdict.distance_m) if verdict.distance_m else None,
                    "note": cleaned,
                },
            )
        return Recorded(checkin=created, created=True)

    async def refine(
        self, member: Member, source: Source, location: LocationReport
    ) -> Refined | None:
        """A later fix of a live location (an edited message) updates its check-in in place.

        None when the message made no live check-in of this member (nothing to refine).
        Refinements are not audited: the position moves, the entry stays the same.
        """
        existing = await self.recorded(member, source)
        if existing is None or not existing.live:
            return None
        village = await region_repo.get(self._db, existing.village_code)
        if village is None or not scope.may(member, scope.Capability.ENTER, village):
            return None
        verdict = assess(village, location)
        async with self._db.transaction() as tx:
            await checkin_repo.refine(
                tx,
                existing.id,
                lat=location.lat,
                lon=location.lon,
                accuracy_m=location.accuracy_m,
                distance_m=verdict.distance_m,
                in_fence=verdict.in_fence,
                reason=verdict.reason,
                updated_at=self._clock.now(),
            )
            after = await checkin_repo.tx_get(tx, existing.id)
        assert after is not None
        return Refined(before=existing, after=after)

    async def residency(
        self, member: Member, month: date | None = None, *, actor: Member | None = None
    ) -> Residency:
        """``member``'s days in the village in ``month`` (default: this month), as of today.

        ``actor`` (default: the member) must be able to see the member; otherwise NotFound.
        """
        if actor is not None and actor.id != member.id:
            scope.require(actor, scope.Capability.READ, member)
        today = local_today(self._clock, self._settings.zone)
        first = (month or today).replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        upto = min(last, today)
        checkin_days: set[date] = set()
        duty_days: set[date] = set()
        leave_days: set[date] = set()
        if upto >= first:
            for checkin in await checkin_repo.for_member(self._db, member.id, first, upto):
                if checkin.counts:
                    checkin_days.add(checkin.day)
            for absence in await absence_repo.overlapping(self._db, member.id, first, upto):
                days = _days(max(absence.from_day, first), min(absence.to_day, upto))
                if absence.kind is AbsenceKind.DUTY_TRIP:
                    duty_days |= days
                elif absence.approval is Approval.APPROVED:
                    leave_days |= days
        counted = checkin_days | duty_days
        left = 0
        if last >= today:
            left = sum(1 for d in _days(max(today, first), last) if d not in counted)
        return Residency(
            member_id=member.id,
            month=first,
            required=self._settings.required_days,
            checkin_days=tuple(sorted(checkin_days)),
            duty_days=tuple(sorted(duty_days)),
            leave_days=tuple(sorted(leave_days)),
            days_left=left,
        )


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}
