"""The HTTP server understands every body encoding a client may use, with keep-alive."""

from __future__ import annotations

import asyncio

import httpx

from bot.standin import FakeTelegram
from bot.standin.server import StandinServer


async def test_form_json_query_and_multipart_bodies(
    server: StandinServer, api: FakeTelegram
) -> None:
    url = f"{server.base_url}{api.token}"
    async with httpx.AsyncClient() as client:
        form = await client.post(f"{url}/sendMessage", data={"chat_id": "42", "text": "表单"})
        body = await client.post(f"{url}/SENDMESSAGE", json={"chat_id": 42, "text": "JSON"})
        query = await client.get(f"{url}/sendMessage", params={"chat_id": "42", "text": "查询"})
        upload = await client.post(
            f"{url}/sendPhoto", data={"chat_id": "42"}, files={"photo": ("p.jpg", b"jpg")}
        )
        missing = await client.get(f"{server.file_url}{api.token}/photos/none.jpg")
    assert [r.status_code for r in (form, body, query, upload, missing)] == [200] * 4 + [404]
    assert api.texts_to(42) == ["表单", "JSON", "查询", ""]
    assert upload.json()["result"]["photo"][-1]["file_size"] == 3


async def test_keep_alive_and_concurrent_connections(
    server: StandinServer, api: FakeTelegram
) -> None:
    url = f"{server.base_url}{api.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(
            *(client.post(url, data={"chat_id": "42", "text": str(n)}) for n in range(20))
        )
        again = await client.post(url, data={"chat_id": "42", "text": "再"})
    assert {a.status_code for a in answers} == {200}
    assert again.headers["connection"] == "keep-alive"
    assert len(api.bot_messages(42)) == 21
