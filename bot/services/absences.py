"""Absences: a duty trip (公务外出, counts as days on duty) or a leave request (请假, does not
count; pending until the township decides in ``/review``).

``/away <from> [to] <reason>`` is parsed here, not in the handler, so every channel gets the same
rules: dates as :mod:`bot.dates` reads them, no further back than :data:`MAX_PAST_DAYS`, at most
:data:`MAX_DAYS` long, and a reason. The kind follows from the reason's words when they are clear
(:func:`classify`); otherwise the caller asks the member.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.attendance import Absence, AbsenceKind, Approval, Source
from bot.clock import Clock
from bot.config import Settings
from bot.dates import DateError, leading, local_today
from bot.errors import Conflict, Forbidden, InvalidInput
from bot.models import Member
from storage import absences as absence_repo
from storage import audit
from storage.db import Database

MAX_PAST_DAYS = 7
MAX_DAYS = 31
REASON_MAX = 200

DUTY_WORDS = ("会议", "开会", "培训", "学习", "出差", "公务", "调研", "考察", "述职", "汇报")
DUTY_WORDS_EN = ("meeting", "training", "conference", "business trip", "official")
LEAVE_WORDS = ("请假", "病假", "事假", "休假", "年假", "婚假", "产假", "丧假", "探亲", "家里")
LEAVE_WORDS_EN = ("leave", "sick", "holiday", "vacation", "family")


class AwayRequest(BaseModel):
    """A parsed ``/away``: the days, the reason and the kind when the reason makes it clear."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date
    reason: str
    kind: AbsenceKind | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class RecordedAbsence(BaseModel):
    model_config = ConfigDict(frozen=True)

    absence: Absence
    created: bool


def classify(reason: str) -> AbsenceKind | None:
    """Duty trip or leave from the reason's words; None when neither or both kinds appear."""
    text = reason.casefold()
    duty = any(w in text for w in DUTY_WORDS + DUTY_WORDS_EN)
    leave = any(w in text for w in LEAVE_WORDS + LEAVE_WORDS_EN)
    if duty == leave:
        return None
    return AbsenceKind.DUTY_TRIP if duty else AbsenceKind.LEAVE


class AbsenceService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    def today(self) -> date:
        return local_today(self._clock, self._settings.zone)

    def parse(self, member: Member, text: str) -> AwayRequest:
        """Read ``<from> [to] <reason>``; InvalidInput (``away.*`` keys) says what is wrong."""
        _require_team(member)
        if not text.strip():
            raise InvalidInput("away.usage")
        today = self.today()
        try:
            found = leading(text, today, prefer="nearest")
        except DateError as exc:
            raise InvalidInput(f"away.{exc.code}", text=exc.text) from exc
        if found is None:
            raise InvalidInput("away.not_a_date", text=text.split()[0])
        reason = " ".join(found.rest.split())
        if not reason:
            raise InvalidInput("away.no_reason")
        request = AwayRequest(
            start=found.range.start, end=found.range.end, reason=reason, kind=classify(reason)
        )
        self._check(request, today)
        return request

    async def recorded(self, member: Member, source: Source) -> Absence | None:
        """The absence this member already recorded from this message, if any."""
        found = await absence_repo.by_source(self._db, source)
        return found if found is not None and found.member_id == member.id else None

    async def record(
        self, member: Member, request: AwayRequest, kind: AbsenceKind, source: Source
    ) -> RecordedAbsence:
        """Store the absence (leave starts pending); the same source twice makes one row."""
        _require_team(member)
        self._check(request, self.today())
        approval = Approval.PENDING if kind is AbsenceKind.LEAVE else None
        now = self._clock.now()
        async with self._db.transaction() as tx:
            new_id = await absence_repo.insert(
                tx,
                member_id=member.id,
                kind=kind,
                from_day=request.start,
                to_day=request.end,
                reason=request.reason,
                approval=approval,
                source=source,
                created_at=now,
            )
            if new_id is None:
                existing = await absence_repo.tx_by_source(tx, source)
                if existing is None or existing.member_id != member.id:
                    raise Conflict()
                return RecordedAbsence(absence=existing, created=False)
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(member.id),
                action="absence.create",
                entity="absence",
                entity_id=new_id,
                after={
                    "kind": kind.value,
                    "from": request.start.isoformat(),
                    "to": request.end.isoformat(),
                    "reason": request.reason,
                    "approval": approval.value if approval else None,
                },
            )
        absence = await absence_repo.get(self._db, new_id)
        assert absence is not None
        return RecordedAbsence(absence=absence, created=True)

    def _check(self, request: AwayRequest, today: date) -> None:
        if request.end < request.start:
            raise InvalidInput("away.reversed", text="")
        if (today - request.start).days > MAX_PAST_DAYS:
            raise InvalidInput("away.too_old", day=request.start.isoformat(), limit=MAX_PAST_DAYS)
        if request.days > MAX_DAYS:
            raise InvalidInput("away.too_long", days=request.days, limit=MAX_DAYS)
        if len(request.reason) > REASON_MAX:
            raise InvalidInput("away.reason_too_long", limit=REASON_MAX)


def _require_team(member: Member) -> None:
    if not scope.has_capability(member, scope.Capability.ENTER):
        raise Forbidden("away.not_team")
