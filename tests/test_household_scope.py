"""Who may do what to which household: one table per action, everyone else gets nothing.

Targets: 王秀英 (石桥村, the village of the village personas), 陈永富 (桂花村, another village of
the same township) and 罗开富 (青龙村, in another township). Personas: every role of the sample
township, a stranger and a deactivated member. "Nothing" means exactly what a missing
household gets: no match, the not-found answer, NotFound from the service.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import NotFound
from bot.models import HouseholdStatus, Member
from storage import households as household_repo
from storage import members as member_repo
from tests.harness import Harness, persona

WANG, CHEN, LUO = "5119021010010001", "5119021010020001", "5119021020010001"
TARGETS = {WANG: "王秀英", CHEN: "陈永富", LUO: "罗开富"}
VILLAGES = {WANG: "511902101001", CHEN: "511902101002", LUO: "511902102001"}
PERSONAS = ("member", "cadre", "secretary", "township", "county", "admin", "stranger", "gone")
STRANGER_ID = 1099
NOT_FOUND = "没有找到。"

READ = {
    "member": {WANG},
    "cadre": {WANG},
    "secretary": {WANG},
    "township": {WANG, CHEN},
    "county": {WANG, CHEN, LUO},
    "admin": {WANG, CHEN, LUO},
    "stranger": set(),
    "gone": set(),  # a deactivated member (the village member) is a stranger
}
CORRECT = {
    "member": set(),
    "cadre": set(),
    "secretary": {WANG},
    "township": {WANG, CHEN},
    "county": {WANG, CHEN, LUO},
    "admin": {WANG, CHEN, LUO},
    "stranger": set(),
    "gone": set(),
}


async def actor(bot: Harness, key: str) -> tuple[int, Member | None]:
    """The persona's Telegram id and the Member the services see (None for a stranger)."""
    if key == "stranger":
        return STRANGER_ID, None
    who = persona("member" if key == "gone" else key)
    member = await member_repo.by_telegram_id(bot.services.db, who.telegram_id)
    assert member is not None
    if key == "gone":
        async with bot.services.db.transaction() as tx:
            await member_repo.set_active(tx, member.id, False)
        member = await member_repo.get(bot.services.db, member.id)
    return who.telegram_id, member


async def ids(bot: Harness) -> dict[str, int]:
    found = {}
    for number in TARGETS:
        household = await household_repo.by_registry_no(bot.services.db, number)
        assert household is not None
        found[number] = household.id
    return found


async def forge(bot: Harness, user_id: int, data: str) -> dict[str, Any]:
    """A callback query with chosen data on a message the bot sent the user."""
    bot.api.add_user(user_id)
    await bot.app.bot.send_message(user_id, "·")
    message = bot.api.last_message_to(user_id)
    query_id = f"forged-{len(bot.api.calls)}"
    query = {
        "id": query_id,
        "from": dict(bot.api.users[user_id]),
        "message": dict(message),
        "chat_instance": "forged",
        "data": data,
    }
    bot.api.open_queries[query_id] = query
    await bot.deliver({"update_id": 900_000 + len(bot.api.calls), "callback_query": query})
    return bot.api.calls_to("answerCallbackQuery")[-1].params


async def read_count(bot: Harness) -> int:
    row = await bot.services.db.fetchone(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'household.read'"
    )
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("key", PERSONAS)
async def test_find(bot: Harness, key: str) -> None:
    user_id, member = await actor(bot, key)
    for number, name in TARGETS.items():
        found = [h.registry_no for h in await bot.services.households.find(member, name)]
        assert (number in found) == (number in READ[key]), (key, name)
        replies = await bot.command(user_id, "household", number)
        assert (name in replies[0]) == (number in READ[key]), (key, name, replies)
    everything = {h.registry_no for h in await bot.services.households.find(member, "5119", 50)}
    assert everything & set(TARGETS) == READ[key]


@pytest.mark.parametrize("key", PERSONAS)
async def test_card(bot: Harness, key: str) -> None:
    user_id, member = await actor(bot, key)
    household_ids = await ids(bot)
    for number, name in TARGETS.items():
        reads = await read_count(bot)
        before = len(bot.api.texts_to(user_id))
        answer = await forge(bot, user_id, f"hh:card:{household_ids[number]}")
        shown = [text for text in bot.api.texts_to(user_id)[before:] if text != "·"]
        if number in READ[key]:
            assert shown and shown[0].startswith(name), (key, name)
            assert await read_count(bot) == reads + 1
            card = await bot.services.households.card(member, household_ids[number])
            assert card.household.registry_no == number
        else:
            assert await read_count(bot) == reads
            assert not any(name in text for text in shown), (key, name)
            if key not in {"stranger", "gone"}:  # strangers are told to register instead
                assert answer.get("text") == NOT_FOUND
            with pytest.raises(NotFound):
                await bot.services.households.card(member, household_ids[number])


@pytest.mark.parametrize("key", PERSONAS)
async def test_change_status(bot: Harness, key: str) -> None:
    user_id, member = await actor(bot, key)
    household_ids = await ids(bot)
    for number in TARGETS:
        answer = await forge(bot, user_id, f"hh:set:{household_ids[number]}:monitored")
        stored = await household_repo.get(bot.services.db, household_ids[number])
        assert stored is not None
        allowed = number in CORRECT[key]
        assert (stored.status is HouseholdStatus.MONITORED) == allowed, (key, number)
        if not allowed:
            if key not in {"stranger", "gone"}:
                assert answer.get("text") == NOT_FOUND
            with pytest.raises(NotFound):
                await bot.services.households.set_status(
                    member, household_ids[number], HouseholdStatus.LIFTED
                )
    # The card offers 改状态 exactly where the change is allowed.
    for number in READ[key]:
        await bot.command(user_id, "household", number)
        markup = bot.api.last_message_to(user_id).get("reply_markup") or {}
        labels = [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
        assert ("改状态" in labels) == (number in CORRECT[key]), (key, number)


@pytest.mark.parametrize("key", PERSONAS)
async def test_add(bot: Harness, key: str) -> None:
    _, member = await actor(bot, key)
    service = bot.services.households
    offered = {v.code for v in await service.villages_for_add(member)}
    for number, village in VILLAGES.items():
        allowed = number in CORRECT[key]
        assert (village in offered) == allowed, (key, village)
        if allowed:
            added = await service.add(
                member,
                village_code=village,
                head_name="新户",
                size=2,
                status=HouseholdStatus.NOT_LIFTED,
            )
            assert added.registry_no == f"L{village}0001" and added.village_code == village
        else:
            with pytest.raises(NotFound):
                await service.add(
                    member,
                    village_code=village,
                    head_name="新户",
                    size=2,
                    status=HouseholdStatus.NOT_LIFTED,
                )
    with pytest.raises(NotFound):  # a village that does not exist looks the same
        await service.add(
            member, village_code="999", head_name="新户", size=2, status=HouseholdStatus.LIFTED
        )
