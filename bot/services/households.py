"""Households: search within scope, the status card, adding one and changing its status.

Every read and write checks :mod:`bot.scope`: a household outside the actor's scope is answered
exactly like one that does not exist. Card reads are audited (``household.read``), as are
additions (``household.create``) and status changes (``household.status``, before and after).

The card has named extension points (:data:`VISITS_SLOT`, :data:`PROBLEMS_SLOT`): another service
registers a :data:`SectionProvider` with :meth:`HouseholdService.register_section`, and the card
carries its :class:`CardSection` for the edge to render, without changes here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz

from bot import scope
from bot.clock import Clock
from bot.errors import InvalidInput, NotFound
from bot.models import Household, HouseholdStatus, Level, Member, Region
from bot.pinyin_keys import normalize
from bot.scope import Capability
from bot.services.throttle import Throttle
from storage import audit
from storage import households as repo
from storage import regions as region_repo
from storage.db import Database
from storage.households import SearchRow, has_han, name_keys

DEFAULT_LIMIT = 8
QUERY_MAX = 40  # longer text is a sentence, not a name or a number
NAME_MAX = 20
SIZE_MAX = 30
NUMBER_MIN = 4  # digits needed to match a registry number by its start or its end
LOCAL_PREFIX = "L"
# Fuzzy thresholds (rapidfuzz ratio, 0-100): on Chinese characters, and on pinyin.
HAN_FUZZY = 60.0
PINYIN_FUZZY = 80.0

VISITS_SLOT = "visits"  # the last three visits (issue 5, visits)
PROBLEMS_SLOT = "problems"  # the household's open problems (issue 5, problems)
CARD_SLOTS = (VISITS_SLOT, PROBLEMS_SLOT)


class MatchKind(StrEnum):
    """How a household matched a query, best first."""

    EXACT = "exact"  # the name, the number or its last digits, the full pinyin, the initials
    PREFIX = "prefix"  # the start of any of those (or a part of the name)
    FUZZY = "fuzzy"  # a homophone or a typo, on characters or on pinyin


_ORDER = {kind: i for i, kind in enumerate(MatchKind)}


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HouseholdMatch(_Value):
    household: Household
    kind: MatchKind
    score: float


ParamValue = str | int | float | datetime


class CardLine(_Value):
    """One line of a card section: a catalog key and its values (datetimes shown in local time)."""

    key: str
    params: dict[str, ParamValue] = {}


class CardSection(_Value):
    """A block of the card that another feature contributes, such as the last visits."""

    slot: str
    title_key: str
    lines: tuple[CardLine, ...] = ()
    empty_key: str | None = None  # shown instead of lines when there are none


# Called after the scope check, with the reader and the household; None leaves the slot out.
SectionProvider = Callable[[Member, Household], Awaitable[CardSection | None]]


class HouseholdCard(_Value):
    """What the card shows; the phone only ever leaves the service masked."""

    household: Household
    phone_masked: str | None
    can_correct: bool
    sections: tuple[CardSection, ...] = ()


def mask_phone(phone: str | None) -> str | None:
    """``13800001111`` → ``138****1111``; short numbers keep only their last two digits."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if not digits:
        return None
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * (len(digits) - 2) + digits[-2:] if len(digits) > 2 else "*" * len(digits)


def clean_head_name(text: str | None) -> str:
    """The head's name as entered, spaces collapsed; InvalidInput when blank or implausible."""
    cleaned = " ".join((text or "").split())
    if not cleaned:
        raise InvalidInput("household.name_blank")
    if (
        len(cleaned) > NAME_MAX
        or not cleaned.isprintable()
        or not any(ch.isalpha() for ch in cleaned)
    ):
        raise InvalidInput("household.bad_name", limit=NAME_MAX)
    return cleaned


def parse_size(text: str | None) -> int:
    """Household size from text such as ``3`` or ``３``; InvalidInput outside 1..SIZE_MAX."""
    value = normalize(text or "")
    if not value.isdigit() or not 1 <= int(value) <= SIZE_MAX:
        raise InvalidInput("household.bad_size", limit=SIZE_MAX)
    return int(value)


def rank(
    rows: Sequence[SearchRow], query: str, limit: int = DEFAULT_LIMIT
) -> list[tuple[SearchRow, MatchKind, float]]:
    """Rank rows against a query: exact > prefix > fuzzy, then by score, then by number."""
    q = normalize(query)
    if not q or len(q) > QUERY_MAX:
        return []
    han = has_han(q)
    latin = q.isascii() and q.isalpha()
    spelled = name_keys(q).pinyin if han else ()
    found: list[tuple[SearchRow, MatchKind, float]] = []
    for row in rows:
        best: tuple[MatchKind, float] | None = None
        for kind, score in _scores(row, q, han, latin, spelled):
            if best is None or (_ORDER[kind], -score) < (_ORDER[best[0]], -best[1]):
                best = (kind, score)
        if best is not None:
            found.append((row, best[0], best[1]))
    found.sort(key=lambda m: (_ORDER[m[1]], -m[2], m[0].registry_no))
    return found[:limit]


def _scores(
    row: SearchRow, q: str, han: bool, latin: bool, spelled: tuple[str, ...]
) -> list[tuple[MatchKind, float]]:
    scores: list[tuple[MatchKind, float]] = []
    number = normalize(row.registry_no)
    if number == q:
        scores.append((MatchKind.EXACT, 100.0))
    elif any(ch.isdigit() for ch in q) and len(q) >= NUMBER_MIN:
        if number.endswith(q):
            scores.append((MatchKind.EXACT, 90.0))  # the last four digits, as cadres say it
        elif number.startswith(q):
            scores.append((MatchKind.PREFIX, 80.0))
    if han:
        name = normalize(row.head_name)
        if name == q:
            scores.append((MatchKind.EXACT, 100.0))
        elif name.startswith(q):
            scores.append((MatchKind.PREFIX, 90.0))
        elif len(q) >= 2 and q in name:
            scores.append((MatchKind.PREFIX, 60.0))
        if set(spelled) & set(row.pinyin):
            scores.append((MatchKind.FUZZY, 100.0))  # a homophone: what an input method types
        elif len(q) >= 2:
            by_char = fuzz.ratio(q, name)
            if by_char >= HAN_FUZZY:
                scores.append((MatchKind.FUZZY, by_char * 0.9))
            by_sound = max((fuzz.ratio(a, b) for a in spelled for b in row.pinyin), default=0.0)
            if by_sound >= PINYIN_FUZZY:
                scores.append((MatchKind.FUZZY, by_sound * 0.95))
    elif latin:
        if q in row.pinyin:
            scores.append((MatchKind.EXACT, 100.0))
        elif len(q) >= 2 and q in row.initials:
            scores.append((MatchKind.EXACT, 95.0))
        elif len(q) >= 2 and any(p.startswith(q) for p in row.pinyin):
            scores.append((MatchKind.PREFIX, 90.0))
        elif len(q) >= 2 and any(i.startswith(q) for i in row.initials):
            scores.append((MatchKind.PREFIX, 80.0))
        elif len(q) >= 4:
            by_sound = max((fuzz.ratio(q, p) for p in row.pinyin), default=0.0)
            if by_sound >= PINYIN_FUZZY:
                scores.append((MatchKind.FUZZY, by_sound))
    return scores


def decisive(matches: Sequence[HouseholdMatch]) -> Household | None:
    """The one household a search clearly means: the only match, or the only exact one."""
    if len(matches) == 1:
        return matches[0].household
    exact = [m for m in matches if m.kind is MatchKind.EXACT]
    return exact[0].household if len(exact) == 1 else None


class HouseholdService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._sections: dict[str, SectionProvider] = {}
        self._keys_checked = False
        self._throttle = Throttle(db, clock)

    # --- extension points -------------------------------------------------------------------

    def register_section(self, slot: str, provider: SectionProvider) -> None:
        """Add a card section (e.g. :data:`VISITS_SLOT`); slots show in :data:`CARD_SLOTS` order,
        unknown slots after them in registration order."""
        self._sections[slot] = provider

    # --- reads ------------------------------------------------------------------------------

    async def find(
        self, actor: Member | None, query: str, limit: int = DEFAULT_LIMIT
    ) -> list[Household]:
        """Households in the actor's READ scope matching ``query``, best first, up to ``limit``."""
        return [m.household for m in await self.matches(actor, query, limit)]

    async def matches(
        self, actor: Member | None, query: str, limit: int = DEFAULT_LIMIT
    ) -> list[HouseholdMatch]:
        """Like :meth:`find`, with how each household matched (for "unique and exact")."""
        roots = scope.roots(actor, Capability.READ)
        if roots is not None and not roots:
            return []
        await self._ensure_keys()
        ranked = rank(await repo.search_rows(self._db, roots), query, limit)
        households = {h.id: h for h in await repo.get_many(self._db, [r.id for r, _, _ in ranked])}
        return [
            HouseholdMatch(household=households[row.id], kind=kind, score=score)
            for row, kind, score in ranked
            if row.id in households and scope.may(actor, Capability.READ, households[row.id])
        ]

    async def get(
        self, actor: Member | None, household_id: int, capability: Capability = Capability.READ
    ) -> Household:
        """One household the actor may use ``capability`` on; NotFound otherwise (not audited)."""
        household = await repo.get(self._db, household_id)
        if household is None:
            raise NotFound()
        scope.require(actor, capability, household)
        return household

    async def card(self, actor: Member | None, household_id: int) -> HouseholdCard:
        """The household's card, audited as ``household.read``; NotFound when out of scope."""
        household = await self.get(actor, household_id)
        assert actor is not None  # get() refuses strangers
        await self._throttle.check_card_read(actor.id)  # bulk reading is refused, not audited
        async with self._db.transaction() as tx:
            await audit.record(
                tx,
                at=self._clock.now(),
                actor=audit.member_actor(actor.id),
                action="household.read",
                entity="household",
                entity_id=household.id,
            )
        sections: list[CardSection] = []
        order = [*CARD_SLOTS, *(s for s in self._sections if s not in CARD_SLOTS)]
        for slot in order:
            provider = self._sections.get(slot)
            section = await provider(actor, household) if provider else None
            if section is not None:
                sections.append(section)
        return HouseholdCard(
            household=household,
            phone_masked=mask_phone(household.phone),
            can_correct=scope.may(actor, Capability.CORRECT, household),
            sections=tuple(sections),
        )

    def may_add(self, actor: Member | None) -> bool:
        """Whether the actor may add households somewhere (for the card's button)."""
        return scope.has_capability(actor, Capability.CORRECT)

    async def villages_for_add(self, actor: Member | None) -> list[Region]:
        """Villages where the actor may add a household."""
        roots = scope.roots(actor, Capability.CORRECT)
        if roots is not None and not roots:
            return []
        found = await region_repo.in_roots(self._db, roots, Level.VILLAGE)
        return [r for r in found if scope.may(actor, Capability.CORRECT, r)]

    # --- writes -----------------------------------------------------------------------------

    async def set_status(
        self, actor: Member | None, household_id: int, status: HouseholdStatus
    ) -> Household:
        """Change the status (CORRECT in scope), audited with before and after."""
        async with self._db.transaction() as tx:
            household = await repo.tx_get(tx, household_id)
            if household is None:
                raise NotFound()
            scope.require(actor, Capability.CORRECT, household)
            assert actor is not None
            if household.status is status:
                return household
            await repo.set_status(tx, household.id, status)
            await audit.record(
                tx,
                at=self._clock.now(),
                actor=audit.member_actor(actor.id),
                action="household.status",
                entity="household",
                entity_id=household.id,
                before={"status": household.status.value},
                after={"status": status.value},
            )
        return household.model_copy(update={"status": status})

    async def add(
        self,
        actor: Member | None,
        *,
        village_code: str,
        head_name: str,
        size: int,
        status: HouseholdStatus,
        source: tuple[int, int] | None = None,
    ) -> Household:
        """Add a household with a local registry number (``L`` + village code + sequence).

        ``source`` is the (chat id, message id) the entry came from: the same source again
        returns the household it already created instead of a second one.
        """
        name = clean_head_name(head_name)
        if not 1 <= size <= SIZE_MAX:
            raise InvalidInput("household.bad_size", limit=SIZE_MAX)
        village = await region_repo.get(self._db, village_code)
        if village is None or village.level is not Level.VILLAGE:
            raise NotFound()
        scope.require(actor, Capability.CORRECT, village)
        assert actor is not None
        prefix = f"{LOCAL_PREFIX}{village.code}"
        async with self._db.transaction() as tx:
            if source is not None:
                existing = await repo.tx_by_source(tx, *source)
                if existing is not None:
                    return existing
            taken = await repo.local_numbers(tx, village.code, prefix)
            sequence = 1 + max(
                (int(n[len(prefix) :]) for n in taken if n[len(prefix) :].isdigit()), default=0
            )
            registry_no = f"{prefix}{sequence:04d}"
            household_id = await repo.insert_local(
                tx,
                registry_no=registry_no,
                village_code=village.code,
                head_name=name,
                size=size,
                status=status,
                source=source,
            )
            await audit.record(
                tx,
                at=self._clock.now(),
                actor=audit.member_actor(actor.id),
                action="household.create",
                entity="household",
                entity_id=household_id,
                after={
                    "registry_no": registry_no,
                    "village_code": village.code,
                    "head_name": name,
                    "size": size,
                    "status": status.value,
                },
            )
            created = await repo.tx_get(tx, household_id)
        assert created is not None
        return created

    async def _ensure_keys(self) -> None:
        """Once per process: give households stored before search keys existed their keys."""
        if self._keys_checked:
            return
        if await repo.has_unkeyed(self._db):
            async with self._db.transaction() as tx:
                await repo.fill_keys(tx)
        self._keys_checked = True
