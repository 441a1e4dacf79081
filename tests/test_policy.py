"""Policy library: import, search on short, colloquial and dialect questions, region limits,
the bot's answers (command, button, free text, whole section) and the unanswered questions."""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import policysearch as ps
from bot.errors import NotFound
from bot.models import Member, Role
from bot.policysearch import looks_like_question
from bot.sample import SAMPLE_ACTOR, Persona, register
from bot.services.imports import import_regions
from bot.services.policies import PolicyFileError, PolicyService, parse_document
from locales import read_language
from storage import audit
from tests.harness import Harness, persona, running

MEMBER = persona("member")
TOWNSHIP = persona("township")
SHUINING = Persona("shuining", 1201, "赵大山", Role.MEMBER, "511902102001")  # 水宁寺镇 青龙村

DOC = """# 测试政策
issuer: 测试县扶贫办
date: 2019-05

## 低保
农村低保对象每月领取低保金。

## 医保
贫困人口参加医保由财政资助。
"""


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The harness with its job queue (flows time out); a logged ERROR fails the test."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


async def member_of(h: Harness, who: Persona) -> Member:
    found = await h.services.members.identify(who.telegram_id)
    assert found is not None
    return found


# --- import -----------------------------------------------------------------------------------


def test_parse_reads_title_metadata_sections_and_paragraphs() -> None:
    doc = parse_document("t.md", DOC + "\n第二段\n接着写。\n")
    assert doc.title == "测试政策" and doc.issuer == "测试县扶贫办" and doc.issued == "2019-05"
    assert [(p.section, p.text) for p in doc.passages] == [
        ("低保", "农村低保对象每月领取低保金。"),
        ("医保", "贫困人口参加医保由财政资助。"),
        ("医保", "第二段接着写。"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("没有标题\n", 1, "no '# title'"),
        ("# 标题\ndate: 2019-13\n\n正文\n", 2, "date"),
        ("# 标题\n\n## 空节\n\n## 下一节\n正文\n", 3, "has no text"),
        ("# 标题\n\n正文\n\n# 又一个标题\n", 5, "second"),
        ("# 标题\n\n### 三级\n", 3, "headings"),
        ("# 标题\nissuer: 甲\n", 1, "no text"),
    ],
)
def test_malformed_files_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_document("bad.md", text)
    assert caught.value.line == line and reason in caught.value.reason
    assert str(caught.value).startswith(f"bad.md: line {line}: ")


async def test_import_reimport_change_and_refusal(bot: Harness, tmp_path: Path) -> None:
    service = PolicyService(bot.services.db, bot.clock)
    path = write(tmp_path, "doc.md", DOC)
    first = await service.import_path(path, SAMPLE_ACTOR)
    assert (first.created, first.passages) == (1, 2)
    dump = await bot.services.db.iterdump()
    again = await service.import_path(path, SAMPLE_ACTOR)
    assert (again.created, again.replaced, again.unchanged, again.passages) == (0, 0, 1, 0)
    assert await bot.services.db.iterdump() == dump  # the same file twice changes nothing

    write(tmp_path, "doc.md", DOC.replace("每月领取低保金", "按季领取救助款"))
    changed = await service.import_path(path, SAMPLE_ACTOR)
    assert (changed.replaced, changed.passages) == (1, 2)
    admin = await member_of(bot, persona("admin"))
    hit = next(h for h in (await service.ask(admin, "救助款")).hits if h.title == "测试政策")
    section = await service.section(admin, hit.passage_id)
    assert section.passages == ("农村低保对象按季领取救助款。",)  # the old passage is gone
    row = await bot.services.db.fetchone(
        "SELECT id FROM policy_documents WHERE title = ?", ("测试政策",)
    )
    assert row is not None
    events = await audit.events_for(bot.services.db, "policy_document", row["id"])
    assert [e.action for e in events][-2:] == ["import.create", "import.update"]

    # A malformed file in a folder: refused with its name and line, nothing of the folder written.
    folder = tmp_path / "lib"
    folder.mkdir()
    write(folder, "a.md", DOC.replace("测试政策", "另一份政策"))
    write(folder, "b.md", "# 坏文件\nregion: 99\n\n正文\n")
    dump = await bot.services.db.iterdump()
    with pytest.raises(PolicyFileError) as caught:
        await service.import_path(folder, SAMPLE_ACTOR)
    assert str(caught.value) == "b.md: line 2: unknown region code '99'"
    assert await bot.services.db.iterdump() == dump
    write(folder, "b.md", "# 好文件\nregion: 5119\n\n正文在这里。\n")
    result = await service.import_path(folder, SAMPLE_ACTOR)
    assert (result.created, result.passages) == (2, 3)


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("低保", "农村低保对象"),
        ("医保", "城乡居民基本医疗保险"),
        ("危房", "改造对象"),
        ("住院自己要出多少钱", "县域内住院个人支付"),
        ("娃儿读高中要交学费吗", "普通高中"),
        ("贷款要抵押不", "贷款条件"),
        ("屋头房子垮了咋个办", "危房鉴定"),
        ("护林员一年有好多钱", "生态护林员"),
    ],
)
async def test_short_colloquial_and_dialect_questions(
    bot: Harness, question: str, section: str
) -> None:
    member = await member_of(bot, MEMBER)
    answer = await bot.services.policies.ask(member, question)
    assert section in [hit.section for hit in answer.hits], question
    assert answer.hits[0].spans  # something to make bold


async def test_synonyms_reach_passages_that_share_no_word(bot: Harness) -> None:
    member = await member_of(bot, MEMBER)
    answer = await bot.services.policies.ask(member, "瘸了腿的老汉能领啥子钱")
    assert answer.hits[0].section == "残疾人两项补贴"
    assert "瘸" not in answer.hits[0].text


async def test_operator_synonyms_extend_the_packaged_ones(bot: Harness, tmp_path: Path) -> None:
    write(tmp_path, "policy_synonyms.toml", '[synonyms]\n"莽子" = ["儿童", "幼儿"]\n')
    service = PolicyService(bot.services.db, bot.clock)  # the store lives in tmp_path
    assert service.vocabulary.synonyms["莽子"] == ("儿童", "幼儿")
    assert "看病" in service.vocabulary.synonyms


async def _shihu(service: PolicyService, actor: Member) -> set[str]:
    return {h.title for h in (await service.ask(actor, "种石斛有补助吗")).hits if "石斛" in h.title}


async def test_region_limits(bot: Harness, tmp_path: Path) -> None:
    db = bot.services.db
    await import_regions(
        db,
        bot.clock,
        write(tmp_path, "r.csv", "编码,上级编码,级别,名称\n52,,省,贵州省\n"),
        SAMPLE_ACTOR,
    )
    service = bot.services.policies
    for name, region in (
        ("巴中市石斛补助", "5119"),
        ("贵州省石斛补助", "52"),
        ("清江镇石斛补助", "511902101"),
    ):
        write(
            tmp_path / "lib",
            f"{region}.md",
            f"# {name}\nregion: {region}\n\n## 石斛\n种石斛每亩补助。\n",
        ) if (tmp_path / "lib").exists() else (
            (tmp_path / "lib").mkdir(),
            write(
                tmp_path / "lib",
                f"{region}.md",
                f"# {name}\nregion: {region}\n\n## 石斛\n种石斛每亩补助。\n",
            ),
        )
    await service.import_path(tmp_path / "lib", SAMPLE_ACTOR)
    shuining = await register(db, bot.clock, SHUINING)
    seen = await _shihu(service, shuining)
    assert seen == {"巴中市石斛补助"}  # the city above, not another province nor another township
    member = await member_of(bot, MEMBER)  # 石桥村, under 清江镇
    seen = await _shihu(service, member)
    assert seen == {"巴中市石斛补助", "清江镇石斛补助"}
    admin = await member_of(bot, persona("admin"))
    seen = await _shihu(service, admin)
    assert "贵州省石斛补助" in seen
    # The whole-section read checks again: another province's passage is "not found".
    guizhou = next(
        h for h in (await service.ask(admin, "石斛有补助吗")).hits if h.title.startswith("贵州")
    )
    with pytest.raises(NotFound):
        await service.section(shuining, guizhou.passage_id)
    assert (await service.section(admin, guizhou.passage_id)).passages == ("种石斛每亩补助。",)


async def test_search_sees_what_another_service_imported_after_it_cached(
    bot: Harness, tmp_path: Path
) -> None:
    """The bot's service caches frequencies and visible documents per library version; an import
    by another service (the CLI beside the running bot) must show in its very next search."""
    service = bot.services.policies
    other = PolicyService(bot.services.db, bot.clock)

    async def titles(question: str) -> list[str]:
        return [r.row.title for r in await service.rank(None, question)]

    # The question's only term is unknown, so there is nothing to search for until an import.
    assert await titles("石斛") == []
    doc = "# 石斛产业扶持\n\n## 石斛\n种石斛每亩补助五百元。\n"
    await other.import_path(write(tmp_path, "shihu.md", doc), SAMPLE_ACTOR)
    assert (await titles("石斛"))[:1] == ["石斛产业扶持"]
    # A known term beside one cached as unknown: the search runs, on stale frequencies.
    assert "天麻产业扶持" not in await titles("种天麻有补助吗")
    doc = "# 天麻产业扶持\n\n## 天麻\n种天麻每亩补助八百元。\n"
    await other.import_path(write(tmp_path, "tianma.md", doc), SAMPLE_ACTOR)
    assert (await titles("种天麻有补助吗"))[:1] == ["天麻产业扶持"]


@pytest.mark.parametrize(
    "text",
    [
        "Ｃ级贫困户",
        "低保（农村）：每月",
        "全角\u3000空格",
        "Ａ\u0301",
        "①号文件",
        "ﬁ㈱",
        "ABC，ＤＥＦ",
    ],
)
def test_normalize_is_exactly_nfkc_lowered(text: str) -> None:
    assert ps.normalize(text) == unicodedata.normalize("NFKC", text).lower()


def test_search_terms_take_each_phrase_rarest_term_within_the_budget() -> None:
    found = [ps.Concept(("中等职业教育", "技校"), synonym=True), ps.Concept(("补助",))]
    df = {"中等": 30, "等职": 9, "职业": 40, "业教": 12, "教育": 50, "技校": 5, "补助": 20}
    weights = ps.Weights(common=0.5, budget=0.3, min_terms=2)
    # 等职, the rarest, alone finds every passage with 中等职业教育; 补助 would take
    # the postings searched past 30% of the 100 passages, and two terms are enough.
    assert ps.phrase_terms(found, df) == ["等职", "技校", "补助"]
    assert ps.search_terms(found, df, 100, weights) == ["技校", "等职"]
    assert ps.phrase_terms([ps.Concept(("准线",))], {"准线": 0}) == []


async def test_no_match_records_the_question_for_review(bot: Harness) -> None:
    member = await member_of(bot, MEMBER)
    answer = await bot.services.policies.ask(member, "电视信号不好咋个办", source=(1001, 77))
    assert answer.recorded and not answer.hits
    await bot.services.policies.ask(member, "电视信号不好咋个办", source=(1001, 77))  # re-delivery
    township = await member_of(bot, TOWNSHIP)
    listed = await bot.services.policies.unanswered(township)
    assert [(q.text, q.member_name) for q in listed] == [("电视信号不好咋个办", MEMBER.name)]
    await bot.services.policies.mark_answered(township, listed[0].id)
    assert await bot.services.policies.unanswered(township) == []
    with pytest.raises(NotFound):
        await bot.services.policies.mark_answered(township, listed[0].id)


# --- the bot ----------------------------------------------------------------------------------


def test_question_detection() -> None:
    for text in ("低保怎么申请", "贷款要抵押不", "医保？", "能不能报", "住院要交押金吗"):
        assert looks_like_question(text), text
    for text in ("好的", "收到", "王秀英", "今天走访了三户"):
        assert not looks_like_question(text), text


async def test_policy_command_answers_with_source_bold_and_section_button(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "policy", "娃儿读高中要交学费吗")
    text = replies[-1]
    assert "普通高中" in text and "财政部 教育部" in text
    message = bot.api.last_message_to(MEMBER.telegram_id)
    assert any(e["type"] == "bold" for e in message.get("entities", []))
    markup = message["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    data = markup["inline_keyboard"][0][0]["callback_data"]
    assert data.startswith("pol:sec:") and len(data.encode()) <= 64
    before = len(bot.api.texts_to(MEMBER.telegram_id))
    await bot.deliver(bot.api.press(MEMBER.telegram_id, message, data))
    section = bot.api.texts_to(MEMBER.telegram_id)[before:]
    assert section and "章节" in section[-1]


async def test_button_asks_for_the_question(bot: Harness) -> None:
    replies = await bot.text(MEMBER, "问政策")
    assert "请发送您的问题" in replies[-1]
    replies = await bot.text(MEMBER, "低保怎么申请")
    assert "低保申请程序" in replies[-1]


async def test_free_text_routing(bot: Harness) -> None:
    assert "王秀英" in (await bot.text(MEMBER, "王秀英"))[-1]  # a household name → its card
    hint = read_language("zh")["fallback.hint"]
    assert (await bot.text(MEMBER, "好的"))[-1] == hint
    assert "贷款条件" in (await bot.text(MEMBER, "贷款要抵押不"))[-1]
    replies = await bot.text(MEMBER, "电视信号不好咋个办？")
    assert "乡镇" in replies[-1]
    township = await member_of(bot, TOWNSHIP)
    assert [q.text for q in await bot.services.policies.unanswered(township)] == [
        "电视信号不好咋个办？"
    ]


async def test_english_reply_has_no_chinese_template_text(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "policy", "低保怎么申请", language_code="en")
    assert "Section:" in replies[-1]
