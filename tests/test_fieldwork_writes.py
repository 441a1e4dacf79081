"""Saving a visit: the model returned by the INSERT, the household refreshed without a recount,
the store asked as little as possible, and a re-delivered one-line visit answered as before."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.errors import NotFound
from bot.models import GUARANTEE_ITEMS, Guarantee, HouseholdStatus, Member
from bot.sample import VILLAGE
from bot.services.visits import Notes
from storage import households as household_repo
from storage import visits as visit_repo
from tests.harness import Harness, persona, running

MEMBER = persona("member")  # 李明, 石桥村
SECRETARY = persona("secretary")
LUO = "5119021020010001"  # 罗开富, 青龙村 (another township)
SEVERAL = "5119021010010"  # the start of every 石桥村 registry number
STATES = list(Guarantee)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)


async def member(bot: Harness, who: Any = MEMBER) -> Member:
    found = await bot.services.members.identify(who.telegram_id)
    assert found is not None
    return found


@contextmanager
def hops() -> Iterator[list[str]]:
    """Every call to an aiosqlite connection's thread while inside (one hop each)."""
    calls: list[str] = []
    original: Any = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]) if args else getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def test_the_returned_visit_is_the_stored_one(bot: Harness) -> None:
    who = await member(bot)
    visits = bot.services.visits
    [match] = await visits.candidates(who, "王秀英")
    today = visits.today()
    cases = [
        (Notes(day=today, backdated=False, text="送药"), {}, None),
        (
            Notes(day=today - timedelta(days=3), backdated=True, text="看望"),
            {"food": Guarantee.MET, "water": Guarantee.NOT_MET},
            today + timedelta(days=7),
        ),
    ]
    for n, (notes, observed, follow_up) in enumerate(cases):
        recorded = await visits.record(
            who,
            match.household,
            notes=notes,
            at=bot.clock.now(),
            source=(MEMBER.telegram_id, 7000 + n),
            observations=observed,
            follow_up_day=follow_up,
            one_line=not observed,
        )
        assert recorded.created
        assert recorded.visit == await visit_repo.get(bot.services.db, recorded.visit.id)


async def test_a_household_passed_in_is_checked_for_scope(bot: Harness) -> None:
    who = await member(bot)
    luo = await household_repo.by_registry_no(bot.services.db, LUO)  # another township
    assert luo is not None
    with pytest.raises(NotFound):
        await bot.services.visits.record(
            who,
            luo,
            notes=Notes(day=bot.services.visits.today(), backdated=False, text="看望"),
            at=bot.clock.now(),
            source=(MEMBER.telegram_id, 7100),
        )
    assert await visit_repo.by_source(bot.services.db, MEMBER.telegram_id, 7100) is None


async def _guarantees(bot: Harness, ids: list[int]) -> list[dict[str, Any]]:
    marks = ", ".join("?" * len(ids))
    rows = await bot.services.db.fetchall(
        f"SELECT id, {', '.join(GUARANTEE_ITEMS)}, last_visit_at FROM households"
        f" WHERE id IN ({marks}) ORDER BY id",
        ids,
    )
    return [dict(row) for row in rows]


async def test_a_new_visit_refreshes_the_household_as_the_full_recount_would(
    bot: Harness,
) -> None:
    who = await member(bot)
    secretary = await member(bot, SECRETARY)
    visits = bot.services.visits
    households = [m.household for m in await visits.candidates(who, SEVERAL)][:2]
    assert len(households) == 2
    ids = [h.id for h in households]
    today = visits.today()
    rng = random.Random(20261128)
    saved: list[int] = []
    for n in range(60):
        back = rng.choice([0, 0, 0, 1, 2, 5, 30])
        observed = {
            item: rng.choice(STATES) for item in rng.sample(GUARANTEE_ITEMS, rng.randint(0, 3))
        }
        bot.clock.advance(timedelta(minutes=rng.randint(1, 90)))
        recorded = await visits.record(
            who,
            rng.choice(households),
            notes=Notes(day=today - timedelta(days=back), backdated=back > 0, text=f"第{n}次"),
            at=bot.clock.now(),
            source=(MEMBER.telegram_id, 8000 + n),
            observations=observed,
        )
        saved.append(recorded.visit.id)
        if saved and rng.random() < 0.15:  # voids and corrections recount in full
            await visits.void(secretary, saved.pop(rng.randrange(len(saved))))
        after_insert = await _guarantees(bot, ids)
        async with bot.services.db.transaction() as tx:
            for household_id in ids:
                await visit_repo.refresh_household(tx, household_id)
        assert after_insert == await _guarantees(bot, ids), n


async def test_saving_a_visit_asks_the_store_only_to_write(bot: Harness) -> None:
    who = await member(bot)
    [match] = await bot.services.visits.candidates(who, "王秀英")
    with hops() as calls:
        await bot.services.visits.record(
            who,
            match.household,
            notes=Notes(day=bot.services.visits.today(), backdated=False, text="送药"),
            at=bot.clock.now(),
            source=(MEMBER.telegram_id, 7200),
            one_line=True,
        )
    # BEGIN, the visit, the household's last visit, the audit event, COMMIT: no reads
    assert len(calls) <= 5, calls
    assert not [c for c in calls if c.lstrip().upper().startswith("SELECT")], calls


async def test_a_one_line_visit_re_delivered_after_the_search_changed(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    command = bot.api.command(uid, "visit", "王秀英 送药")
    await bot.deliver(command)
    secretary = await member(bot, SECRETARY)
    await bot.services.households.add(
        secretary,
        village_code=VILLAGE,
        head_name="王秀英",
        size=2,
        status=HouseholdStatus.NOT_LIFTED,
    )
    assert "选择" in (await bot.command(MEMBER, "visit", "王秀英 看望"))[0]  # two now
    before = len(bot.api.bot_messages(uid))
    await bot.deliver(command)  # a crash before the update was marked done
    [again] = bot.api.bot_messages(uid)[before:]
    assert "编号 V1" in again["text"]
    assert "inline_keyboard" not in (again.get("reply_markup") or {})
    rows = await bot.services.db.fetchall("SELECT count(*) AS n FROM visits")
    assert rows[0]["n"] == 1
