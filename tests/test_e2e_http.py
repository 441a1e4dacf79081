"""The real bot over real HTTP against the stand-in: registration, menu, strangers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.models import Role
from bot.sample import VILLAGE
from storage import members as member_repo
from tests.e2e import REPLY_TIMEOUT, live_bot
from tests.harness import persona


async def test_registration_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        invite = await bot.services.invites.create(
            role=Role.MEMBER, region_code=VILLAGE, name="赵小红", operator="operator:test"
        )
        replies = await bot.exchange(2001, f"/start {invite.code}")
        assert "欢迎您，赵小红" in replies[0] and "石桥村" in replies[0]
        stored = await member_repo.by_telegram_id(bot.services.db, 2001)
        assert stored is not None and stored.memberships[0].role is Role.MEMBER
        # The menu is published after the welcome, so wait for that call rather than the reply.
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_call(
                "setMyCommands",
                lambda c: c.params.get("scope") == {"type": "chat", "chat_id": 2001},
            )

        again = await bot.exchange(2002, f"/start {invite.code}")
        assert "已经用过" in again[0]


async def test_members_and_strangers_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        me = await bot.exchange(persona("member"), "/me")
        assert "李明" in me[0]
        stranger = await bot.exchange(1099, "王秀英")
        assert "还没有注册" in stranger[0]
        assert "王秀英" not in stranger[0]


async def test_default_commands_published_for_strangers(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        default = [
            c.params
            for c in bot.api.calls_to("setMyCommands")
            if c.params["scope"]["type"] == "default"
        ]
        assert default, "post_init publishes the strangers' menu"
        for params in default:
            assert [c["command"] for c in params["commands"]] == ["start", "help"]
