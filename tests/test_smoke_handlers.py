from tests.harness import Harness, persona


async def test_me_shows_name_and_membership(bot: Harness) -> None:
    replies = await bot.command(persona("member"), "me")
    assert len(replies) == 1
    assert "李明" in replies[0] and "石桥村" in replies[0]


async def test_stranger_gets_registration_hint(bot: Harness) -> None:
    replies = await bot.text(1099, "你好")
    assert replies and "邀请" in replies[0]
