"""Field work over real HTTP: the bot polls the stand-in, files are fetched through its file URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e import REPLY_TIMEOUT, live_bot
from tests.harness import persona

MEMBER = persona("member")


async def test_visit_today_and_files_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        uid = MEMBER.telegram_id
        saved = await bot.exchange(MEMBER, "/visit 王秀英 昨天 老伴卧床，已联系村医")
        assert "走访已保存 · 编号 V1" in saved[0] and "补录" in saved[0]
        prompt = await bot.exchange(MEMBER, "/visit 曾德华")
        assert "曾德华" in prompt[0]
        bot.api.photo(uid, b"\xff\xd8\xff\xe0-over-http", caption="院坝")
        async with asyncio.timeout(REPLY_TIMEOUT):
            status = await bot.api.wait_for_message_to(uid, 3)
        assert "照片 1 张" in status["text"]
        row = await bot.services.db.fetchone("SELECT path FROM files")
        assert row is not None
        kept = bot.services.files.root / row["path"]
        assert kept.read_bytes() == b"\xff\xd8\xff\xe0-over-http"
        today = await bot.exchange(MEMBER, "/today")
        assert "今天的走访：1 户" in today[0] and "王秀英" in today[0]
