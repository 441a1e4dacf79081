"""The township's review (``/review``): open problems, doubtful check-ins, leave, questions.

Every action re-reads its target, checks REVIEW scope on it (out of scope: NotFound, like a
missing one) and checks its state inside the writing transaction, so a second press, a forged
button or a colleague's earlier decision changes nothing and says which of those it was
(:class:`Outcome`). Each change is audited with its before and after, and names who must be told
(:class:`Notice`); the edge tells them at least once, keyed by the event that changed things.

Problem statuses move so:

    open, in_progress, escalated, sent_back ──resolve──▶ resolved (closed; a note is required)
    open, escalated, sent_back ──progress──▶ in_progress
    open, in_progress, sent_back ──escalate──▶ escalated (the county's officers are told)
    open, in_progress, escalated ──send back──▶ sent_back (the reporter answers) ──▶ open
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.attendance import Approval, Decision
from bot.clock import Clock
from bot.config import Settings
from bot.dates import local_today
from bot.errors import InvalidInput, NotFound
from bot.fieldwork import OPEN_STATUSES, Problem, ProblemStatus
from bot.models import Member
from bot.scope import Capability
from storage import audit
from storage import members as member_repo
from storage import problems as problem_repo
from storage import review as repo
from storage.db import Database
from storage.review import AbsenceItem, CheckInItem, ProblemEvent

PAGE_SIZE = 5
NOTE_MAX = 1000
T = TypeVar("T")


class Outcome(StrEnum):
    DONE = "done"  # this call changed it
    ALREADY = "already"  # it already was so (a second press, or a colleague)
    CLOSED = "closed"  # the problem was resolved or voided meanwhile: nothing to do


class ProblemAction(StrEnum):
    PROGRESS = "progress"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    SEND_BACK = "send_back"
    ASSIGN = "assign"
    ANSWER = "answer"


# What each action needs the status to be, and what it makes it.
_FROM: dict[ProblemAction, frozenset[ProblemStatus]] = {
    ProblemAction.PROGRESS: frozenset(
        {ProblemStatus.OPEN, ProblemStatus.ESCALATED, ProblemStatus.SENT_BACK}
    ),
    ProblemAction.RESOLVE: frozenset(OPEN_STATUSES),
    ProblemAction.ESCALATE: frozenset(
        {ProblemStatus.OPEN, ProblemStatus.IN_PROGRESS, ProblemStatus.SENT_BACK}
    ),
    ProblemAction.SEND_BACK: frozenset(
        {ProblemStatus.OPEN, ProblemStatus.IN_PROGRESS, ProblemStatus.ESCALATED}
    ),
    ProblemAction.ANSWER: frozenset({ProblemStatus.SENT_BACK}),
}
_TO: dict[ProblemAction, ProblemStatus] = {
    ProblemAction.PROGRESS: ProblemStatus.IN_PROGRESS,
    ProblemAction.RESOLVE: ProblemStatus.RESOLVED,
    ProblemAction.ESCALATE: ProblemStatus.ESCALATED,
    ProblemAction.SEND_BACK: ProblemStatus.SENT_BACK,
    ProblemAction.ANSWER: ProblemStatus.OPEN,
}
# The problem event kind each action writes (the key of its notice).
EVENT_KIND: dict[ProblemAction, str] = {
    ProblemAction.PROGRESS: "in_progress",
    ProblemAction.RESOLVE: "resolved",
    ProblemAction.ESCALATE: "escalated",
    ProblemAction.SEND_BACK: "sent_back",
    ProblemAction.ASSIGN: "assigned",
    ProblemAction.ANSWER: "answered",
}


class QuestionSource(Protocol):
    """The policy library's unanswered questions (``PolicyService``), shown in the review."""

    async def unanswered(self, actor: Member | None) -> Sequence[Question]: ...

    async def mark_answered(self, actor: Member | None, question_id: int) -> None: ...


class Question(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def member_name(self) -> str: ...

    @property
    def text(self) -> str: ...


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class Notice(_Value):
    """Someone to tell about a change: ``what`` names the message, ``subject`` its delivery."""

    member: Member
    what: str
    subject: str


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    page: int
    pages: int
    total: int


class Overview(_Value):
    problems: int
    checkins: int
    leave: int
    questions: int | None  # None: the policy library is not attached


class ProblemItem(_Value):
    problem: Problem
    overdue: bool


class ProblemView(_Value):
    problem: Problem
    overdue: bool
    assignee_name: str | None
    events: tuple[tuple[ProblemEvent, str], ...]  # each event and its actor's name


class ProblemResult(_Value):
    outcome: Outcome
    action: ProblemAction
    problem: Problem
    notices: tuple[Notice, ...] = ()
    note: str | None = None  # the note of the event the notices tell of


class CheckInResult(_Value):
    outcome: Outcome
    item: CheckInItem
    notices: tuple[Notice, ...] = ()


class LeaveResult(_Value):
    outcome: Outcome
    item: AbsenceItem
    notices: tuple[Notice, ...] = ()


def clean_note(text: str | None) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise InvalidInput("review.note_empty")
    if len(cleaned) > NOTE_MAX:
        raise InvalidInput("review.note_too_long", limit=NOTE_MAX)
    return cleaned


def _page(total: int, page: int) -> tuple[int, int]:
    """(page clamped into range, pages); an empty list has one empty page."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return min(max(page, 0), pages - 1), pages


class ReviewService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        questions: QuestionSource | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._questions = questions

    def attach_questions(self, questions: QuestionSource) -> None:
        """Hook for the policy library: its unanswered questions join the review."""
        self._questions = questions

    @property
    def has_questions(self) -> bool:
        return self._questions is not None

    def _today(self) -> date:
        return local_today(self._clock, self._settings.zone)

    def _overdue(self, problem: Problem) -> bool:
        return problem.status in OPEN_STATUSES and problem.due_day < self._today()

    # --- the queues ------------------------------------------------------------------------------

    async def overview(self, actor: Member | None) -> Overview:
        """How much waits in each queue; Forbidden for roles that do not review."""
        scope.require_capability(actor, Capability.REVIEW)
        roots = scope.roots(actor, Capability.REVIEW)
        questions = None
        if self._questions is not None:
            questions = len(await self._questions.unanswered(actor))
        return Overview(
            problems=await repo.count_open_problems(self._db, roots),
            checkins=await repo.count_doubtful_checkins(self._db, roots),
            leave=await repo.count_pending_leave(self._db, roots),
            questions=questions,
        )

    async def problems(self, actor: Member | None, page: int = 0) -> Page[ProblemItem]:
        scope.require_capability(actor, Capability.REVIEW)
        roots = scope.roots(actor, Capability.REVIEW)
        total = await repo.count_open_problems(self._db, roots)
        page, pages = _page(total, page)
        found = await repo.open_problems(self._db, roots, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        items = tuple(ProblemItem(problem=p, overdue=self._overdue(p)) for p in found)
        return Page(items=items, page=page, pages=pages, total=total)

    async def checkins(self, actor: Member | None, page: int = 0) -> Page[CheckInItem]:
        scope.require_capability(actor, Capability.REVIEW)
        roots = scope.roots(actor, Capability.REVIEW)
        total = await repo.count_doubtful_checkins(self._db, roots)
        page, pages = _page(total, page)
        found = await repo.doubtful_checkins(
            self._db, roots, limit=PAGE_SIZE, offset=page * PAGE_SIZE
        )
        return Page(items=tuple(found), page=page, pages=pages, total=total)

    async def leave(self, actor: Member | None, page: int = 0) -> Page[AbsenceItem]:
        scope.require_capability(actor, Capability.REVIEW)
        roots = scope.roots(actor, Capability.REVIEW)
        total = await repo.count_pending_leave(self._db, roots)
        page, pages = _page(total, page)
        found = await repo.pending_leave(self._db, roots, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        return Page(items=tuple(found), page=page, pages=pages, total=total)

    async def questions(self, actor: Member | None, page: int = 0) -> Page[Question]:
        scope.require_capability(actor, Capability.REVIEW)
        if self._questions is None:
            raise NotFound()
        found = list(await self._questions.unanswered(actor))
        page, pages = _page(len(found), page)
        shown = tuple(found[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
        return Page(items=shown, page=page, pages=pages, total=len(found))

    async def mark_answered(self, actor: Member | None, question_id: int) -> None:
        """Take a policy question off the list (the policy library checks scope and audits)."""
        scope.require_capability(actor, Capability.REVIEW)
        if self._questions is None:
            raise NotFound()
        await self._questions.mark_answered(actor, question_id)

    # --- one problem -----------------------------------------------------------------------------

    async def _problem(self, actor: Member | None, problem_id: int) -> Problem:
        problem = await problem_repo.get(self._db, problem_id)
        if problem is None:
            raise NotFound()
        scope.require(actor, Capability.REVIEW, problem.village_path)
        return problem

    async def problem(self, actor: Member | None, problem_id: int) -> ProblemView:
        """The problem with its events, for the reviewer's card."""
        problem = await self._problem(actor, problem_id)
        assignee = (
            await member_repo.get(self._db, problem.assignee_id) if problem.assignee_id else None
        )
        events = await repo.events(self._db, problem_id)
        names: dict[str, str] = {}
        for event in events:
            if event.actor not in names:
                names[event.actor] = await self._actor_name(event.actor)
        return ProblemView(
            problem=problem,
            overdue=self._overdue(problem),
            assignee_name=assignee.name if assignee else None,
            events=tuple((e, names[e.actor]) for e in events),
        )

    async def _actor_name(self, actor: str) -> str:
        if actor.startswith(audit.MEMBER_PREFIX):
            found = await member_repo.get(self._db, int(actor.removeprefix(audit.MEMBER_PREFIX)))
            if found is not None:
                return found.name
        return actor.split(":", 1)[-1]

    async def progress(self, actor: Member | None, problem_id: int) -> ProblemResult:
        return await self._move(actor, problem_id, ProblemAction.PROGRESS)

    async def resolve(self, actor: Member | None, problem_id: int, note: str) -> ProblemResult:
        return await self._move(actor, problem_id, ProblemAction.RESOLVE, clean_note(note))

    async def check_resolvable(self, actor: Member | None, problem_id: int) -> ProblemResult | None:
        """Before asking for the note: None when it can be resolved, else what it already is."""
        return await self._precheck(actor, problem_id, ProblemAction.RESOLVE)

    async def escalate(self, actor: Member | None, problem_id: int) -> ProblemResult:
        return await self._move(actor, problem_id, ProblemAction.ESCALATE)

    async def send_back(self, actor: Member | None, problem_id: int, comment: str) -> ProblemResult:
        return await self._move(actor, problem_id, ProblemAction.SEND_BACK, clean_note(comment))

    async def check_sendable(self, actor: Member | None, problem_id: int) -> ProblemResult | None:
        """Before asking for the comment: None when it can be sent back, else its state."""
        return await self._precheck(actor, problem_id, ProblemAction.SEND_BACK)

    async def _precheck(
        self, actor: Member | None, problem_id: int, action: ProblemAction
    ) -> ProblemResult | None:
        problem = await self._problem(actor, problem_id)
        outcome = self._blocked(problem, action)
        if outcome is None:
            return None
        return ProblemResult(outcome=outcome, action=action, problem=problem)

    @staticmethod
    def _blocked(problem: Problem, action: ProblemAction) -> Outcome | None:
        if action is not ProblemAction.ASSIGN and problem.status is _TO[action]:
            return Outcome.ALREADY
        if problem.voided or problem.status not in _FROM.get(action, OPEN_STATUSES):
            return Outcome.CLOSED
        return None

    async def _move(
        self,
        actor: Member | None,
        problem_id: int,
        action: ProblemAction,
        note: str | None = None,
        *,
        reporter_only: bool = False,
    ) -> ProblemResult:
        now = self._clock.now()
        target = _TO[action]
        event_id = 0
        async with self._db.transaction() as tx:
            before = await problem_repo.tx_get(tx, problem_id)
            if before is None:
                raise NotFound()
            if reporter_only:
                if actor is None or not actor.active or before.reporter_id != actor.id:
                    raise NotFound()
            else:
                scope.require(actor, Capability.REVIEW, before.village_path)
            assert actor is not None
            blocked = self._blocked(before, action)
            if blocked is None:
                who = audit.member_actor(actor.id)
                moved = await repo.set_problem(
                    tx,
                    problem_id,
                    expected=before.status,
                    status=target,
                    at=now,
                    resolution=note if action is ProblemAction.RESOLVE else None,
                )
                assert moved  # the status was read inside this same transaction
                event_id = await repo.add_event(
                    tx,
                    problem_id,
                    at=now,
                    actor=who,
                    kind=EVENT_KIND[action],
                    status=target,
                    note=note,
                )
                await audit.record(
                    tx,
                    at=now,
                    actor=who,
                    action=f"problem.{action.value}",
                    entity="problem",
                    entity_id=problem_id,
                    before={"status": before.status.value},
                    after={"status": target.value, "note": note},
                )
            after = await problem_repo.tx_get(tx, problem_id)
        assert after is not None
        outcome = blocked or Outcome.DONE
        if outcome is Outcome.CLOSED:
            return ProblemResult(outcome=outcome, action=action, problem=after)
        if outcome is Outcome.ALREADY:
            event = await repo.last_event(self._db, problem_id, EVENT_KIND[action])
            if event is None:
                return ProblemResult(outcome=outcome, action=action, problem=after)
            event_id, note = event.id, event.note
        notices = await self._notices(after, action, actor, event_id)
        return ProblemResult(
            outcome=outcome, action=action, problem=after, notices=notices, note=note
        )

    async def _notices(
        self, problem: Problem, action: ProblemAction, actor: Member, event_id: int
    ) -> tuple[Notice, ...]:
        subject = f"{problem.number}:e{event_id}"
        found: list[Notice] = []
        if action is ProblemAction.ANSWER:
            sender = await repo.last_event(
                self._db, problem.id, EVENT_KIND[ProblemAction.SEND_BACK]
            )
            if sender is not None and sender.actor.startswith(audit.MEMBER_PREFIX):
                member_id = int(sender.actor.removeprefix(audit.MEMBER_PREFIX))
                reviewer = await member_repo.get(self._db, member_id)
                if reviewer is not None and reviewer.active:
                    found.append(Notice(member=reviewer, what="answered", subject=subject))
            return tuple(found)
        if action is ProblemAction.ASSIGN:
            assert problem.assignee_id is not None
            assignee = await member_repo.get(self._db, problem.assignee_id)
            if assignee is not None and assignee.id != actor.id:
                found.append(Notice(member=assignee, what="assigned", subject=subject))
        reporter = await member_repo.get(self._db, problem.reporter_id)
        if reporter is not None and reporter.active and reporter.id != actor.id:
            found.append(Notice(member=reporter, what=EVENT_KIND[action], subject=subject))
        if action is ProblemAction.ESCALATE:
            for officer in await repo.county_leaders(self._db, problem.village_path):
                if officer.id not in {actor.id, *(n.member.id for n in found)}:
                    found.append(Notice(member=officer, what="escalated_county", subject=subject))
        return tuple(found)

    # --- assigning -------------------------------------------------------------------------------

    async def assignees(self, actor: Member | None, problem_id: int) -> list[Member]:
        """The village team a problem can be assigned to."""
        problem = await self._problem(actor, problem_id)
        return await repo.village_team(self._db, problem.village_code)

    async def assign(self, actor: Member | None, problem_id: int, member_id: int) -> ProblemResult:
        now = self._clock.now()
        action = ProblemAction.ASSIGN
        async with self._db.transaction() as tx:
            before = await problem_repo.tx_get(tx, problem_id)
            if before is None:
                raise NotFound()
            scope.require(actor, Capability.REVIEW, before.village_path)
            assert actor is not None
            team = await repo.village_team(self._db, before.village_code)
            assignee = next((m for m in team if m.id == member_id), None)
            if assignee is None:
                raise NotFound()
            outcome: Outcome = Outcome.DONE
            event_id = 0
            note: str | None = None
            if before.voided or before.status not in OPEN_STATUSES:
                outcome = Outcome.CLOSED
            elif before.assignee_id == member_id:
                outcome = Outcome.ALREADY
            else:
                who = audit.member_actor(actor.id)
                changed = await repo.assign(tx, problem_id, member_id, now)
                assert changed  # the assignee was read inside this same transaction
                event_id = await repo.add_event(
                    tx,
                    problem_id,
                    at=now,
                    actor=who,
                    kind=EVENT_KIND[action],
                    note=assignee.name,
                )
                await audit.record(
                    tx,
                    at=now,
                    actor=who,
                    action="problem.assign",
                    entity="problem",
                    entity_id=problem_id,
                    before={"assignee": before.assignee_id},
                    after={"assignee": member_id},
                )
            after = await problem_repo.tx_get(tx, problem_id)
        assert after is not None
        if outcome is Outcome.CLOSED:
            return ProblemResult(outcome=outcome, action=action, problem=after)
        if outcome is Outcome.ALREADY:
            event = await repo.last_event(self._db, problem_id, EVENT_KIND[action])
            if event is None:
                return ProblemResult(outcome=outcome, action=action, problem=after)
            event_id, note = event.id, event.note
        notices = await self._notices(after, action, actor, event_id)
        return ProblemResult(
            outcome=outcome, action=action, problem=after, notices=notices, note=note
        )

    # --- the reporter's answer to a sent-back problem ---------------------------------------------

    async def for_answer(self, member: Member | None, problem_id: int) -> ProblemView:
        """The sent-back problem its reporter is about to answer (NotFound for anyone else)."""
        problem = await problem_repo.get(self._db, problem_id)
        if problem is None or member is None or not member.active:
            raise NotFound()
        if problem.reporter_id != member.id:
            raise NotFound()
        events = await repo.events(self._db, problem_id)
        return ProblemView(
            problem=problem,
            overdue=self._overdue(problem),
            assignee_name=None,
            events=tuple((e, "") for e in events),
        )

    async def answer(self, member: Member | None, problem_id: int, text: str) -> ProblemResult:
        """The reporter answers: the problem is open again, with the answer as its event."""
        return await self._move(
            member, problem_id, ProblemAction.ANSWER, clean_note(text), reporter_only=True
        )

    # --- check-ins -------------------------------------------------------------------------------

    async def checkin(self, actor: Member | None, checkin_id: int) -> CheckInItem:
        item = await repo.checkin(self._db, checkin_id)
        if item is None:
            raise NotFound()
        scope.require(actor, Capability.REVIEW, item.village_path)
        return item

    async def decide_checkin(
        self, actor: Member | None, checkin_id: int, decision: Decision
    ) -> CheckInResult:
        """Confirm (counts toward the residency quota) or reject a check-in, once."""
        item = await self.checkin(actor, checkin_id)
        assert actor is not None
        now = self._clock.now()
        async with self._db.transaction() as tx:
            changed = await repo.decide_checkin(tx, checkin_id, decision, actor.id, now)
            if changed:
                await audit.record(
                    tx,
                    at=now,
                    actor=audit.member_actor(actor.id),
                    action=f"checkin.{decision.value}",
                    entity="checkin",
                    entity_id=checkin_id,
                    before={"decision": None, "counts": item.checkin.counts},
                    after={"decision": decision.value, "counts": decision is Decision.CONFIRMED},
                )
        after = await repo.checkin(self._db, checkin_id)
        assert after is not None
        decided = after.checkin.decision
        if not changed and decided is not decision:
            return CheckInResult(outcome=Outcome.CLOSED, item=after)
        notices: tuple[Notice, ...] = ()
        member = await member_repo.get(self._db, after.checkin.member_id)
        if member is not None and member.active and member.id != actor.id:
            notices = (
                Notice(
                    member=member,
                    what=f"checkin_{decision.value}",
                    subject=f"checkin{checkin_id}:{decision.value}",
                ),
            )
        outcome = Outcome.DONE if changed else Outcome.ALREADY
        return CheckInResult(outcome=outcome, item=after, notices=notices)

    # --- leave -----------------------------------------------------------------------------------

    async def leave_request(self, actor: Member | None, absence_id: int) -> AbsenceItem:
        item = await repo.absence(self._db, absence_id)
        if item is None or item.absence.approval is None:
            raise NotFound()
        member = await member_repo.get(self._db, item.absence.member_id)
        if member is None:
            raise NotFound()
        scope.require(actor, Capability.REVIEW, member)
        return item

    async def decide_leave(
        self, actor: Member | None, absence_id: int, approval: Approval
    ) -> LeaveResult:
        """Approve or reject a leave request, once; the member is told."""
        if approval is Approval.PENDING:
            raise NotFound()
        item = await self.leave_request(actor, absence_id)
        assert actor is not None
        now = self._clock.now()
        async with self._db.transaction() as tx:
            changed = await repo.decide_leave(tx, absence_id, approval, actor.id, now)
            if changed:
                await audit.record(
                    tx,
                    at=now,
                    actor=audit.member_actor(actor.id),
                    action=f"absence.{approval.value}",
                    entity="absence",
                    entity_id=absence_id,
                    before={"approval": Approval.PENDING.value},
                    after={"approval": approval.value},
                )
        after = await repo.absence(self._db, absence_id)
        assert after is not None
        if not changed and after.absence.approval is not approval:
            return LeaveResult(outcome=Outcome.CLOSED, item=after)
        notices: tuple[Notice, ...] = ()
        member = await member_repo.get(self._db, item.absence.member_id)
        if member is not None and member.active and member.id != actor.id:
            notices = (
                Notice(
                    member=member,
                    what=f"leave_{approval.value}",
                    subject=f"absence{absence_id}:{approval.value}",
                ),
            )
        outcome = Outcome.DONE if changed else Outcome.ALREADY
        return LeaveResult(outcome=outcome, item=after, notices=notices)
