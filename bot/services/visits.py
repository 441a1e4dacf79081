"""Household visits (走访): find the household inside ENTER scope, record, edit, correct, void.

A visit is committed before the edge says it is saved; its source message is unique, so a
re-delivered update finds the visit it already made. Saving a visit updates the household: each
"两不愁三保障" item follows the latest standing visit that observed it, and ``last_visit_at``
the latest standing visit. A one-line visit may be corrected by editing its message within
:data:`EDIT_WINDOW`; a secretary (CORRECT in the village) may correct or void any visit of the
village. Every change is audited with before and after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.dates import DateError, leading, local_today, parse_date
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.fieldwork import Visit
from bot.models import GUARANTEE_ITEMS, Guarantee, Household, Member
from bot.scope import Capability
from bot.services.households import (
    CardLine,
    CardSection,
    HouseholdMatch,
    HouseholdService,
)
from storage import audit
from storage import files as file_repo
from storage import members as member_repo
from storage import visits as repo
from storage.db import Database

TEXT_MAX = 2000
EDIT_WINDOW = timedelta(hours=48)
BACKDATE_MAX_DAYS = 366
CARD_VISITS = 3
SNIPPET = 40


class Notes(BaseModel):
    """A visit's text with the day it names at its start (if any) taken off."""

    model_config = ConfigDict(frozen=True)

    day: date
    backdated: bool
    text: str


class Recorded(BaseModel):
    model_config = ConfigDict(frozen=True)

    visit: Visit
    created: bool


class Changed(BaseModel):
    """A correction or a voiding: the entry before and after, and its author to tell."""

    model_config = ConfigDict(frozen=True)

    before: Visit
    after: Visit
    author: Member | None


def clean_text(text: str | None) -> str:
    cleaned = (text or "").strip()
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput("visit.too_long", limit=TEXT_MAX, length=len(cleaned))
    return cleaned


def snippet(text: str, limit: int = SNIPPET) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class VisitService:
    def __init__(
        self, db: Database, clock: Clock, settings: Settings, households: HouseholdService
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._households = households

    # --- finding the household ------------------------------------------------------------

    def may_visit(self, member: Member | None) -> bool:
        return scope.has_capability(member, Capability.ENTER)

    async def candidates(self, member: Member | None, query: str) -> list[HouseholdMatch]:
        """Households the member may visit matching ``query``, best first."""
        if not self.may_visit(member):
            raise Forbidden("visit.not_team")
        matches = await self._households.matches(member, query)
        return [m for m in matches if scope.may(member, Capability.ENTER, m.household)]

    async def household(self, member: Member | None, household_id: int) -> Household:
        """A household the member may visit; NotFound otherwise (forged ids included)."""
        return await self._households.get(member, household_id, Capability.ENTER)

    def today(self) -> date:
        return local_today(self._clock, self._settings.zone)

    def notes(self, text: str, at: datetime | None = None) -> Notes:
        """Split a leading date (昨天, 11月25日 …) off the text; future dates are refused."""
        today = (at or self._clock.now()).astimezone(self._settings.zone).date()
        cleaned = clean_text(text)
        try:
            found = leading(cleaned, today, prefer="past")
        except DateError as error:
            raise InvalidInput("visit.bad_date", text=error.text) from None
        if found is None or found.is_range:
            return Notes(day=today, backdated=False, text=cleaned)
        day = found.range.start
        if day > today:
            raise InvalidInput("visit.future", day=day.isoformat())
        if (today - day).days > BACKDATE_MAX_DAYS:
            raise InvalidInput("visit.too_old", limit=BACKDATE_MAX_DAYS)
        return Notes(day=day, backdated=day < today, text=found.rest)

    def follow_up(self, text: str) -> date:
        """A follow-up day: today or later."""
        today = self.today()
        try:
            day = parse_date(text, today, prefer="future")
        except DateError as error:
            raise InvalidInput("visit.bad_follow_up", text=error.text or text) from None
        if day < today:
            raise InvalidInput("visit.follow_up_past")
        return day

    # --- recording --------------------------------------------------------------------------

    async def recorded(self, member: Member, source: tuple[int, int]) -> Visit | None:
        found = await repo.by_source(self._db, *source)
        return found if found is not None and found.member_id == member.id else None

    async def record(
        self,
        member: Member | None,
        household: int | Household,
        *,
        notes: Notes,
        at: datetime,
        source: tuple[int, int],
        observations: Mapping[str, Guarantee] | None = None,
        follow_up_day: date | None = None,
        one_line: bool = False,
        file_ids: Sequence[int] = (),
    ) -> Recorded:
        """Save a visit (committed on return); the same source again returns the first one.

        ``household`` is an id (read here, e.g. from a draft) or a household this service
        returned in this update (:meth:`candidates`, :meth:`household`); scope is checked on it
        either way.
        """
        if isinstance(household, Household):
            scope.require(member, Capability.ENTER, household)
        else:
            household = await self.household(member, household)
        assert member is not None
        observed = {k: Guarantee(v) for k, v in (observations or {}).items()}
        if set(observed) - set(GUARANTEE_ITEMS):
            raise InvalidInput()
        text = clean_text(notes.text)
        if not text and not file_ids and not observed:
            raise InvalidInput("visit.empty")
        latest = max(at, self._clock.now()).astimezone(self._settings.zone).date()
        if notes.day > latest:  # judged by the message's own time as much as by the clock
            raise InvalidInput("visit.future", day=notes.day.isoformat())
        visited_at = (
            at
            if not notes.backdated
            else datetime.combine(notes.day, time(0), tzinfo=self._settings.zone)
        )
        now = self._clock.now()
        async with self._db.transaction() as tx:
            created = await repo.insert(
                tx,
                household=household,
                member_id=member.id,
                member_name=member.name,
                visit_day=notes.day,
                visited_at=visited_at,
                backdated=notes.backdated,
                text=text,
                observations=observed,
                follow_up_day=follow_up_day,
                one_line=one_line,
                source=source,
                created_at=now,
            )
            if created is None:
                existing = await repo.tx_by_source(tx, *source)
                if existing is None or existing.member_id != member.id:
                    raise NotFound()
                return Recorded(visit=existing, created=False)
            await file_repo.link_visit(tx, file_ids, member.id, created.id)
            await repo.refresh_after_insert(
                tx,
                household.id,
                visit_day=notes.day,
                visited_at=visited_at,
                observations=observed,
            )
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(member.id),
                action="visit.create",
                entity="visit",
                entity_id=created.id,
                after={
                    "household": household.registry_no,
                    "day": notes.day.isoformat(),
                    "backdated": notes.backdated,
                    "text": text,
                    "observations": {k: v.value for k, v in observed.items()},
                    "follow_up": follow_up_day.isoformat() if follow_up_day else None,
                    "files": list(file_ids),
                },
            )
            if file_ids:  # read back how many of them the visit got (some may not be linkable)
                created = await repo.tx_get(tx, created.id)
        assert created is not None
        return Recorded(visit=created, created=True)

    async def edit_one_line(
        self, member: Member | None, source: tuple[int, int], text: str
    ) -> tuple[Visit, Visit] | None:
        """The author edited the message of a one-line visit: update it (within 48 hours).

        None when that message made no one-line visit of this member. The edited text is the
        whole command's notes (after the household), parsed as when it was first sent.
        """
        if member is None:
            return None
        before = await self.recorded(member, source)
        if before is None or not before.one_line or before.voided:
            return None
        scope.require(member, Capability.ENTER, before.village_path)
        now = self._clock.now()
        if now - before.created_at > EDIT_WINDOW:
            raise InvalidInput(
                "visit.edit_too_late", hours=int(EDIT_WINDOW.total_seconds() // 3600)
            )
        notes = self.notes(text, before.created_at)
        if not notes.text:
            raise InvalidInput("visit.empty")
        visited_at = (
            before.created_at
            if not notes.backdated
            else datetime.combine(notes.day, time(0), tzinfo=self._settings.zone)
        )
        async with self._db.transaction() as tx:
            await repo.set_text(
                tx,
                before.id,
                text=notes.text,
                visit_day=notes.day,
                visited_at=visited_at,
                backdated=notes.backdated,
                updated_at=now,
            )
            await repo.refresh_household(tx, before.household_id)
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(member.id),
                action="visit.edit",
                entity="visit",
                entity_id=before.id,
                before={"text": before.text, "day": before.visit_day.isoformat()},
                after={"text": notes.text, "day": notes.day.isoformat()},
            )
            after = await repo.tx_get(tx, before.id)
        assert after is not None
        return before, after

    # --- corrections by the secretary -------------------------------------------------------

    async def for_correction(self, actor: Member | None, visit_id: int) -> Visit:
        """A visit the actor may correct (CORRECT in its village); NotFound otherwise."""
        visit = await repo.get(self._db, visit_id)
        if visit is None:
            raise NotFound()
        scope.require(actor, Capability.CORRECT, visit.village_path)
        return visit

    async def correct(self, actor: Member | None, visit_id: int, text: str) -> Changed:
        cleaned = clean_text(text)
        if not cleaned:
            raise InvalidInput("visit.empty")
        return await self._change(actor, visit_id, "visit.correct", text=cleaned)

    async def void(self, actor: Member | None, visit_id: int) -> Changed:
        return await self._change(actor, visit_id, "visit.void", text=None)

    async def _change(
        self, actor: Member | None, visit_id: int, action: str, text: str | None
    ) -> Changed:
        now = self._clock.now()
        async with self._db.transaction() as tx:
            before = await repo.tx_get(tx, visit_id)
            if before is None:
                raise NotFound()
            scope.require(actor, Capability.CORRECT, before.village_path)
            assert actor is not None
            if before.voided:
                raise InvalidInput("fix.already_void")
            if text is None:
                await repo.void(tx, visit_id, now)
                state_before: dict[str, object] = {"voided": False}
                state_after: dict[str, object] = {"voided": True}
            else:
                await repo.set_text(tx, visit_id, text=text, updated_at=now)
                state_before, state_after = {"text": before.text}, {"text": text}
            await repo.refresh_household(tx, before.household_id)
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(actor.id),
                action=action,
                entity="visit",
                entity_id=visit_id,
                before=state_before,
                after=state_after,
            )
            after = await repo.tx_get(tx, visit_id)
        assert after is not None
        author = await member_repo.get(self._db, before.member_id)
        return Changed(before=before, after=after, author=author)

    # --- reads ------------------------------------------------------------------------------

    async def card_section(self, actor: Member, household: Household) -> CardSection:
        """The card's "last three visits" (the household's scope was checked by the card)."""
        visits = await repo.latest_for_household(self._db, household.id, CARD_VISITS)
        lines = tuple(
            CardLine(
                key="visit.card_line_backdated" if v.backdated else "visit.card_line",
                params={
                    "number": v.number,
                    "month": v.visit_day.month,
                    "day": v.visit_day.day,
                    "member": v.member_name,
                    "text": snippet(v.text) or "—",
                },
            )
            for v in visits
        )
        return CardSection(
            slot="visits", title_key="visit.card_title", lines=lines, empty_key="visit.card_empty"
        )

    async def entered_between(
        self, member: Member, since: datetime, until: datetime
    ) -> list[Visit]:
        return await repo.by_member_created(self._db, member.id, since, until)

    async def not_covered(self, member: Member, limit: int) -> tuple[list[Household], int]:
        """Households in the member's READ scope not visited within ``coverage_days``."""
        roots = scope.roots(member, Capability.READ)
        if roots is not None and not roots:
            return [], 0
        since = self._clock.now() - timedelta(days=self._settings.coverage_days)
        return await repo.not_covered(self._db, roots, since, limit)
