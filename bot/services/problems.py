"""Problem reports (报问题): category, description, optional household and photo, severity.

The due day follows the severity (``due_urgent_days`` / ``due_normal_days`` from the report's
local day). An urgent problem names the township leaders of its village (members holding a
township membership whose township contains the village) for the edge to alert through the
at-least-once deliveries. Every report, correction and voiding is audited and kept as a
problem event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.dates import local_day
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.fieldwork import Category, Problem, ProblemStatus, Severity
from bot.models import Household, Level, Member, Region
from bot.scope import Capability
from bot.services.households import CardLine, CardSection
from bot.services.visits import snippet
from storage import audit
from storage import files as file_repo
from storage import households as household_repo
from storage import members as member_repo
from storage import problems as repo
from storage import regions as region_repo
from storage.db import Database

TEXT_MAX = 2000


class Reported(BaseModel):
    model_config = ConfigDict(frozen=True)

    problem: Problem
    created: bool
    alert: tuple[Member, ...] = ()  # township leaders to alert (urgent problems)


class Changed(BaseModel):
    model_config = ConfigDict(frozen=True)

    before: Problem
    after: Problem
    author: Member | None


def clean_description(text: str | None) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise InvalidInput("problem.empty")
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput("problem.too_long", limit=TEXT_MAX, length=len(cleaned))
    return cleaned


class ProblemService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    async def villages(self, member: Member | None) -> list[Region]:
        """Villages the member may report problems in; Forbidden when none."""
        if member is None or not scope.has_capability(member, Capability.ENTER):
            raise Forbidden("problem.not_team")
        codes = sorted(
            {
                m.region_code
                for m in member.memberships
                if m.region_code and scope.may(member, Capability.ENTER, m)
            }
        )
        found = await region_repo.get_many(self._db, codes) if codes else []
        return sorted((r for r in found if r.level is Level.VILLAGE), key=lambda r: r.path)

    async def report(
        self,
        member: Member | None,
        *,
        village_code: str,
        category: Category,
        severity: Severity,
        description: str,
        source: tuple[int, int],
        household_id: int | None = None,
        file_ids: Sequence[int] = (),
    ) -> Reported:
        """Save a problem (committed on return); the same source again returns the first one."""
        village = await region_repo.get(self._db, village_code)
        if village is None or village.level is not Level.VILLAGE:
            raise NotFound()
        scope.require(member, Capability.ENTER, village)
        assert member is not None
        household: Household | None = None
        if household_id is not None:
            household = await household_repo.get(self._db, household_id)
            if household is None or household.village_code != village.code:
                raise NotFound()
            scope.require(member, Capability.ENTER, household)
        text = clean_description(description)
        now = self._clock.now()
        days = (
            self._settings.due_urgent_days
            if severity is Severity.URGENT
            else self._settings.due_normal_days
        )
        due = local_day(now, self._settings.zone) + timedelta(days=days)
        async with self._db.transaction() as tx:
            new_id = await repo.insert(
                tx,
                village_code=village.code,
                household_id=household.id if household else None,
                reporter_id=member.id,
                category=category,
                severity=severity,
                description=text,
                due_day=due,
                source=source,
                created_at=now,
            )
            if new_id is None:
                existing = await repo.tx_by_source(tx, *source)
                if existing is None or existing.reporter_id != member.id:
                    raise NotFound()
                problem, created = existing, False
            else:
                await file_repo.link_problem(tx, file_ids, member.id, new_id)
                actor = audit.member_actor(member.id)
                await repo.add_event(
                    tx, new_id, at=now, actor=actor, kind="created", status=ProblemStatus.OPEN
                )
                await audit.record(
                    tx,
                    at=now,
                    actor=actor,
                    action="problem.create",
                    entity="problem",
                    entity_id=new_id,
                    after={
                        "village": village.code,
                        "household": household.registry_no if household else None,
                        "category": category.value,
                        "severity": severity.value,
                        "description": text,
                        "due": due.isoformat(),
                        "files": list(file_ids),
                    },
                )
                fresh = await repo.tx_get(tx, new_id)
                assert fresh is not None
                problem, created = fresh, True
        alert: tuple[Member, ...] = ()
        if problem.severity is Severity.URGENT and not problem.voided:
            alert = tuple(await repo.township_leaders(self._db, problem.village_path))
        return Reported(problem=problem, created=created, alert=alert)

    # --- corrections by the secretary -------------------------------------------------------

    async def for_correction(self, actor: Member | None, problem_id: int) -> Problem:
        problem = await repo.get(self._db, problem_id)
        if problem is None:
            raise NotFound()
        scope.require(actor, Capability.CORRECT, problem.village_path)
        return problem

    async def correct(self, actor: Member | None, problem_id: int, text: str) -> Changed:
        return await self._change(actor, problem_id, clean_description(text))

    async def void(self, actor: Member | None, problem_id: int) -> Changed:
        return await self._change(actor, problem_id, None)

    async def _change(self, actor: Member | None, problem_id: int, text: str | None) -> Changed:
        now = self._clock.now()
        async with self._db.transaction() as tx:
            before = await repo.tx_get(tx, problem_id)
            if before is None:
                raise NotFound()
            scope.require(actor, Capability.CORRECT, before.village_path)
            assert actor is not None
            if before.voided:
                raise InvalidInput("fix.already_void")
            who = audit.member_actor(actor.id)
            if text is None:
                await repo.void(tx, problem_id, now)
                await repo.add_event(tx, problem_id, at=now, actor=who, kind="voided")
                action = "problem.void"
                state_before: dict[str, object] = {"voided": False}
                state_after: dict[str, object] = {"voided": True}
            else:
                await repo.set_description(tx, problem_id, text, now)
                await repo.add_event(tx, problem_id, at=now, actor=who, kind="corrected", note=text)
                action = "problem.correct"
                state_before, state_after = (
                    {"description": before.description},
                    {"description": text},
                )
            await audit.record(
                tx,
                at=now,
                actor=who,
                action=action,
                entity="problem",
                entity_id=problem_id,
                before=state_before,
                after=state_after,
            )
            after = await repo.tx_get(tx, problem_id)
        assert after is not None
        author = await member_repo.get(self._db, before.reporter_id)
        return Changed(before=before, after=after, author=author)

    # --- reads ------------------------------------------------------------------------------

    async def card_section(self, actor: Member, household: Household) -> CardSection:
        """The card's "open problems" (the household's scope was checked by the card)."""
        problems = await repo.open_for_household(self._db, household.id)
        lines = tuple(
            CardLine(
                key="problem.card_line",
                params={
                    "number": p.number,
                    "category_key": f"problem.category.{p.category.value}",
                    "severity_key": f"problem.severity.{p.severity.value}",
                    "status_key": f"problem.status.{p.status.value}",
                    "month": p.due_day.month,
                    "day": p.due_day.day,
                    "text": snippet(p.description),
                },
            )
            for p in problems
        )
        return CardSection(
            slot="problems",
            title_key="problem.card_title",
            lines=lines,
            empty_key="problem.card_empty",
        )

    async def reported_between(
        self, member: Member, since: datetime, until: datetime
    ) -> list[Problem]:
        return await repo.by_reporter_created(self._db, member.id, since, until)

    async def events(self, problem_id: int) -> list[tuple[str, str | None]]:
        return await repo.events(self._db, problem_id)
