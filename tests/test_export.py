"""Exports: workbooks opened with openpyxl (sheets, headers, rows, masking), the public notice,
the monthly record, ``/export`` over the harness, ``zhucun export``, and scope."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from bot.attendance import AbsenceKind, Approval, LocationReport, Source
from bot.cli import main
from bot.dates import DateRange
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.fieldwork import Category, Severity
from bot.models import Member
from bot.sample import OTHER_TOWNSHIP, SAMPLE_ACTOR, TOWNSHIP, VILLAGE
from bot.services.absences import AwayRequest
from bot.services.exports import ExportKind
from tests.harness import Harness, persona, running

MEMBER = persona("member")
LEADER = persona("township")
COUNTY = persona("county")
INSIDE = LocationReport(lat=31.8810, lon=106.8130, accuracy_m=10)
NOVEMBER = DateRange(date(2026, 11, 1), date(2026, 11, 30))
OUTSIDER_ID = 1201


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()  # flows schedule their time-out there, as in production
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def member(bot: Harness, key: str) -> Member:
    found = await bot.services.members.identify(persona(key).telegram_id)
    assert found is not None
    return found


async def fill(bot: Harness) -> None:
    """李明: in the village on 11-25, a duty trip on 11-26, approved leave on 11-27, and on
    11-28 (today) a visit and a problem but no check-in."""
    li = await member(bot, "member")
    services = bot.services
    bot.clock.advance(timedelta(days=-3))
    await services.checkins.check_in(
        li, VILLAGE, at=bot.clock.now(), source=Source(chat_id=1001, message_id=1), location=INSIDE
    )
    bot.clock.advance(timedelta(days=3))
    for number, (day, kind) in enumerate(
        [(date(2026, 11, 26), AbsenceKind.DUTY_TRIP), (date(2026, 11, 27), AbsenceKind.LEAVE)],
        start=2,
    ):
        request = AwayRequest(start=day, end=day, reason="开会", kind=kind)
        recorded = await services.absences.record(
            li, request, kind, Source(chat_id=1001, message_id=number)
        )
    await services.review.decide_leave(
        await member(bot, "township"), recorded.absence.id, Approval.APPROVED
    )
    household = (await services.households.find(li, "王秀英"))[0]
    await services.visits.record(
        li,
        household.id,
        notes=services.visits.notes("老人腿疼，已联系村医"),
        at=bot.clock.now(),
        source=(1001, 10),
    )
    await services.problems.report(
        li,
        village_code=VILLAGE,
        category=Category.ROADS,
        severity=Severity.NORMAL,
        description="村道塌方",
        source=(1001, 11),
        household_id=household.id,
    )


def book(content: bytes) -> Workbook:
    return load_workbook(io.BytesIO(content))


def rows(wb: Workbook, title: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in wb[title].iter_rows(values_only=True)]


def cells(wb: Workbook) -> list[Any]:
    return [v for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r]


async def test_entries_workbook_for_a_township_is_masked(bot: Harness) -> None:
    await fill(bot)
    made = await bot.services.exports.export(
        await member(bot, "township"), ExportKind.ENTRIES, NOVEMBER
    )
    assert not made.unmasked and made.area == "清江镇"
    wb = book(made.content)
    assert wb.sheetnames == ["签到", "走访", "问题", "农户"]
    checkins = rows(wb, "签到")
    assert checkins[0][:5] == ("日期", "时间", "村", "队员", "是否核验")
    assert len(checkins) == 2
    assert checkins[1][0] == datetime(2026, 11, 25)  # a real date
    assert checkins[1][1] == datetime(2026, 11, 25, 9, 0)  # local time, naive
    assert checkins[1][2:5] == ("石桥村", "李明", "是")
    assert wb["签到"].freeze_panes == "A2"
    assert wb["签到"]["A2"].number_format == "yyyy-mm-dd"
    assert wb["签到"].column_dimensions["I"].width == 30
    visits = rows(wb, "走访")
    assert visits[0][:3] == ("编号", "日期", "村") and len(visits) == 2
    assert visits[1][4:6] == ("王秀英", "李明")
    problems = rows(wb, "问题")
    assert len(problems) == 2 and problems[1][7] == "村道塌方" and problems[1][5] == "道路"
    households = rows(wb, "农户")
    header = households[0]
    assert "联系电话" in header and "户主" in header and "致贫原因" in header
    assert len(households) == 1 + 12  # 清江镇's households, not 水宁寺镇's
    phone = header.index("联系电话")
    wang = next(r for r in households if r[2] == "王秀英")
    assert wang[phone] == "138****1111"
    assert "13800001111" not in cells(wb)
    events = await bot.services.db.fetchall(
        "SELECT * FROM audit_events WHERE action = 'export.unmasked'"
    )
    assert events == []


async def test_county_export_is_unmasked_and_audited(bot: Harness) -> None:
    county = await member(bot, "county")
    made = await bot.services.exports.export(county, ExportKind.ENTRIES, NOVEMBER)
    assert made.unmasked
    wb = book(made.content)
    households = rows(wb, "农户")
    phone = households[0].index("联系电话")
    assert next(r for r in households if r[2] == "王秀英")[phone] == "13800001111"
    assert len(households) == 1 + 13  # the whole county
    events = await bot.services.db.fetchall(
        "SELECT * FROM audit_events WHERE action = 'export.unmasked'"
    )
    assert len(events) == 1 and events[0]["actor"] == f"member:{county.id}"
    assert json.loads(events[0]["after"])["kind"] == "entries"


async def test_public_notice_holds_only_what_may_be_posted(bot: Harness) -> None:
    await fill(bot)
    made = await bot.services.exports.export(
        await member(bot, "county"), ExportKind.NOTICE, NOVEMBER, region_code=TOWNSHIP
    )
    wb = book(made.content)
    assert wb.sheetnames == ["石桥村公示", "桂花村公示", "柏林村公示"]
    notice = rows(wb, "石桥村公示")
    assert notice[0] == ("序号", "户主", "状态", "帮扶措施", "帮扶责任人")
    assert notice[1] == (1, "王秀英", "未脱贫", "社会保障兜底", "李明")
    assert len(notice) == 1 + 5
    text = " ".join(str(v) for v in cells(wb) if v is not None)
    for secret in ("138", "1111", "2650", "3120", "因病", "缺劳力", "老伴长期卧床", "养殖山羊"):
        assert secret not in text, secret
    for header in ("联系电话", "人均纯收入", "致贫原因", "备注"):
        assert header not in text
    # a notice has no phones, so even a county's is not an unmasked export
    assert not made.unmasked


async def test_monthly_record_shows_each_day(bot: Harness) -> None:
    await fill(bot)
    made = await bot.services.exports.export(
        await member(bot, "township"), ExportKind.MONTHLY, NOVEMBER
    )
    wb = book(made.content)
    assert "李明考勤" in wb.sheetnames and "李明日记" in wb.sheetnames
    assert "石桥村台账" in wb.sheetnames
    record = rows(wb, "李明考勤")
    assert record[0] == ("日期", "星期", "在岗情况", "签到村", "走访户次", "报告问题")
    assert len(record) == 1 + 30
    by_day = {r[0].date(): r for r in record[1:]}
    assert by_day[date(2026, 11, 25)][1:4] == ("三", "在村", "石桥村")
    assert by_day[date(2026, 11, 26)][2] == "公务外出"
    assert by_day[date(2026, 11, 27)][2] == "请假"
    assert by_day[date(2026, 11, 28)][2:] == ("未在村", None, 1, 1)
    assert by_day[date(2026, 11, 24)][2] == "未在村"
    assert by_day[date(2026, 11, 29)][2] == "—"
    diary = rows(wb, "李明日记")
    assert [r[2] for r in diary[1:]] == ["走访", "问题"]
    assert diary[1][6] == "老人腿疼，已联系村医"
    ledger = rows(wb, "石桥村台账")
    assert ledger[0][-3:] == ("本期走访次数", "最近走访", "未解决问题")
    wang = next(r for r in ledger if r[1] == "王秀英")
    assert wang[-3] == 1 and wang[-1] == 1
    assert len(ledger) == 1 + 5


async def test_scope_other_township_and_members(bot: Harness) -> None:
    await fill(bot)
    invite = await bot.services.invites.create(
        role=LEADER.role, region_code=OTHER_TOWNSHIP, name="赵其他", operator=SAMPLE_ACTOR
    )
    await bot.command(OUTSIDER_ID, "start", invite.code)
    outsider = await bot.services.members.identify(OUTSIDER_ID)
    assert outsider is not None
    with pytest.raises(NotFound):
        await bot.services.exports.export(
            outsider, ExportKind.ENTRIES, NOVEMBER, region_code=TOWNSHIP
        )
    own = book((await bot.services.exports.export(outsider, ExportKind.ENTRIES, NOVEMBER)).content)
    text = " ".join(str(v) for v in cells(own) if v is not None)
    assert "王秀英" not in text and "石桥村" not in text and "罗开富" in text
    with pytest.raises(Forbidden):
        await bot.services.exports.export(await member(bot, "member"), ExportKind.NOTICE, NOVEMBER)
    replies = await bot.command(MEMBER, "export")
    assert replies == ["您的角色不能使用这个功能。"]


async def test_ranges_too_long_or_not_ranges(bot: Harness) -> None:
    exports = bot.services.exports
    assert exports.parse_period("11月1日到11月20日") == DateRange(
        date(2026, 11, 1), date(2026, 11, 20)
    )
    assert exports.parse_period("2026-11-01 2026-11-20").days == 20
    with pytest.raises(InvalidInput) as bad:
        exports.parse_period("下个季度")
    assert bad.value.key == "export.bad_range"
    with pytest.raises(InvalidInput) as long:
        exports.parse_period("2024-01-01 2026-11-20")
    assert long.value.key == "export.too_long"


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def _press(bot: Harness, user_id: int, label: str) -> None:
    message = bot.api.last_message_to(user_id)
    await bot.deliver(bot.api.press(user_id, message, _buttons(message)[label]))


def _document(bot: Harness) -> tuple[Workbook, dict[str, Any]]:
    call = bot.api.calls_to("sendDocument")[-1]
    upload = call.params["document"]
    assert upload.filename.endswith(".xlsx")
    return book(upload.data), call.params


async def test_export_flow_over_the_bot(bot: Harness) -> None:
    await fill(bot)
    uid = LEADER.telegram_id
    await bot.command(LEADER, "export")
    assert set(_buttons(bot.api.last_message_to(uid))) == {
        "登记明细（签到、走访、问题、农户）",
        "公示表（可张榜公布）",
        "月度材料（考勤、民情日记、台账）",
    }
    await _press(bot, uid, "登记明细（签到、走访、问题、农户）")
    assert set(_buttons(bot.api.last_message_to(uid))) == {"本月", "上月", "自选日期"}
    await _press(bot, uid, "本月")
    wb, params = _document(bot)
    assert wb.sheetnames == ["签到", "走访", "问题", "农户"]
    assert "登记明细：清江镇，2026-11-01 至 2026-11-30" in params["caption"]
    # a typed range, first a bad one
    await bot.command(LEADER, "export")
    await _press(bot, uid, "公示表（可张榜公布）")
    await _press(bot, uid, "自选日期")
    replies = await bot.text(LEADER, "随便什么")
    assert "看不懂日期范围" in replies[0]
    await bot.text(LEADER, "11月1日到11月20日")
    wb, params = _document(bot)
    assert wb.sheetnames[0] == "石桥村公示"
    assert len(bot.api.calls_to("sendDocument")) == 2
    # /export with dates asks only for the kind
    await bot.command(LEADER, "export", "11月1日 11月20日")
    await _press(bot, uid, "月度材料（考勤、民情日记、台账）")
    wb, params = _document(bot)
    assert "李明考勤" in wb.sheetnames and len(rows(wb, "李明考勤")) == 1 + 20
    replies = await bot.command(LEADER, "export", "去年到今年再到明年")
    assert "看不懂日期范围" in replies[0]


async def test_county_export_over_the_bot_says_it_is_unmasked(bot: Harness) -> None:
    await bot.command(COUNTY, "export", "2026-11-01 2026-11-28")
    await _press(bot, COUNTY.telegram_id, "登记明细（签到、走访、问题、农户）")
    _, params = _document(bot)
    assert "审计日志" in params["caption"]


def test_cli_export_writes_the_same_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    async def seed() -> None:
        async with running(tmp_path) as harness:
            await fill(harness)

    asyncio.run(seed())
    for name in list(os.environ):
        if name.startswith("ZHUCUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHUCUN_DB", str(tmp_path / "zhucun.db"))
    out = tmp_path / "month.xlsx"
    argv = ["export", "--region", TOWNSHIP, "--from", "2026-11-01", "--to", "2026-11-30"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "-o", str(out), "--kind", "monthly"])
    assert done.value.code == 0, capsys.readouterr().err
    wb = load_workbook(out)
    assert "李明考勤" in wb.sheetnames and "柏林村台账" in wb.sheetnames
    with pytest.raises(SystemExit) as done:
        main([*argv, "-o", str(out)])
    assert done.value.code == 0
    households = rows(load_workbook(out), "农户")
    phone = households[0].index("联系电话")
    assert "13800001111" in [r[phone] for r in households]  # the operator's export: full
    with pytest.raises(SystemExit) as done:
        main(
            [
                "export",
                "--region",
                "nowhere",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-02",
                "-o",
                str(out),
            ]
        )
    assert done.value.code == 1


async def test_too_large_for_telegram_and_too_long_over_the_bot(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.services.exports as exports

    monkeypatch.setattr(exports, "MAX_BYTES", 1000)
    with pytest.raises(InvalidInput) as large:
        await bot.services.exports.export(
            await member(bot, "township"), ExportKind.ENTRIES, NOVEMBER
        )
    assert large.value.key == "export.too_large"
    replies = await bot.command(LEADER, "export", "2024-01-01 2026-11-20")
    assert replies == ["日期范围太长（1055天）。一次最多导出366天，请分几次导出。"]
    assert bot.api.calls_to("sendDocument") == []


async def test_the_workbook_is_written_off_the_event_loop(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    import bot.workbooks as workbooks

    threads: list[str] = []
    real = workbooks.write

    def spy(sheets: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(sheets)

    monkeypatch.setattr("bot.services.exports.write", spy)
    await bot.services.exports.export(await member(bot, "township"), ExportKind.NOTICE, NOVEMBER)
    assert threads and threads[0] != threading.main_thread().name
    assert asyncio.get_running_loop()  # still ours
