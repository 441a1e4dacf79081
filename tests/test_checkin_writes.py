"""Saving a check-in: the model returned by the INSERT, the store asked as little as possible, and
a re-delivered check-in answered as the first time, also once the member has two villages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.attendance import LocationReport, Source
from bot.errors import NotFound
from bot.models import Member, Role
from bot.sample import OTHER_VILLAGE, SAMPLE_ACTOR
from storage import checkins as checkin_repo
from storage import regions as region_repo
from tests.harness import Harness, persona, running
from tests.test_fieldwork_writes import hops

MEMBER = persona("member")  # 李明, 石桥村: centre 31.8802,106.8123, radius 1200 m
INSIDE = (31.8810, 106.8130)


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


async def member(bot: Harness) -> Member:
    found = await bot.services.members.identify(MEMBER.telegram_id)
    assert found is not None
    return found


def report(**changes: Any) -> LocationReport:
    values: dict[str, Any] = {"lat": INSIDE[0], "lon": INSIDE[1], "accuracy_m": 10.5}
    return LocationReport(**(values | changes))


async def test_the_returned_checkin_is_the_stored_one(bot: Harness) -> None:
    who = await member(bot)
    [village] = await bot.services.checkins.villages(who)
    cases: list[tuple[LocationReport | None, str | None]] = [
        (report(), None),
        (report(accuracy_m=10), "整数精度"),  # a REAL column given an integer
        (report(accuracy_m=None), None),
        (report(venue=True, live_period=600), None),
        (report(lat=31.9, accuracy_m=5000), None),
        (None, "在镇上开会"),
    ]
    for n, (location, note) in enumerate(cases):
        recorded = await bot.services.checkins.check_in(
            who,
            village if n % 2 else village.code,
            at=bot.clock.now(),
            source=Source(chat_id=MEMBER.telegram_id, message_id=9000 + n),
            location=location,
            note=note,
        )
        assert recorded.created
        assert recorded.checkin == await checkin_repo.get(bot.services.db, recorded.checkin.id)


async def test_a_village_passed_in_is_checked_for_scope(bot: Harness) -> None:
    who = await member(bot)
    other = await region_repo.get(bot.services.db, OTHER_VILLAGE)
    assert other is not None
    with pytest.raises(NotFound):
        await bot.services.checkins.check_in(
            who,
            other,
            at=bot.clock.now(),
            source=Source(chat_id=MEMBER.telegram_id, message_id=9100),
        )
    gone = Source(chat_id=MEMBER.telegram_id, message_id=9100)
    assert await checkin_repo.by_source(bot.services.db, gone) is None


async def test_saving_a_checkin_asks_the_store_only_to_write(bot: Harness) -> None:
    who = await member(bot)
    [village] = await bot.services.checkins.villages(who)
    with hops() as calls:
        await bot.services.checkins.check_in(
            who,
            village,
            at=bot.clock.now(),
            source=Source(chat_id=MEMBER.telegram_id, message_id=9200),
            location=report(),
        )
    # BEGIN, the check-in, the audit event, COMMIT: no reads
    assert len(calls) <= 4, calls
    assert not [c for c in calls if c.lstrip().upper().startswith("SELECT")], calls


async def test_re_delivered_checkins_answer_as_the_first_time(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    note = bot.api.command(uid, "checkin", "在村委开会")
    location = bot.api.location(uid, *INSIDE, horizontal_accuracy=10)
    await bot.deliver(note)
    await bot.deliver(location)
    first = bot.api.texts_to(uid)[-2:]
    assert all("签到已保存" in t for t in first)
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code=OTHER_VILLAGE, name="李明", operator=SAMPLE_ACTOR
    )
    await bot.command(MEMBER, "start", invite.code)  # two villages now: a new one asks which
    for update, answer in ((note, first[0]), (location, first[1])):
        before = len(bot.api.bot_messages(uid))
        await bot.deliver(update)  # a crash before the update was marked done
        [again] = bot.api.bot_messages(uid)[before:]
        assert again["text"] == answer
        assert "inline_keyboard" not in (again.get("reply_markup") or {})
    rows = await bot.services.db.fetchall("SELECT count(*) AS n FROM checkins")
    assert rows[0]["n"] == 2
