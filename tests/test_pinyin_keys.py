"""bot.pinyin_keys gives exactly lazy_pinyin's syllables, so stored search keys are unchanged."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT

from bot import pinyin_keys
from bot.pinyin_keys import normalize, usual_syllables
from storage import households
from storage.households import SearchKeys

SAMPLE = Path(pinyin_keys.__file__).parent / "sampledata" / "households.csv"
# Surnames with more than one reading, common ones, and compound ones (phrases themselves).
SURNAMES = (
    "曾单解仇朴查盖区乐尉缪覃翟折种召繁都句秘"
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭肖田董袁潘于蒋蔡余杜叶程苏"
)
COMPOUND = ("欧阳", "司马", "诸葛", "上官", "长孙", "万俟", "尉迟", "令狐", "皇甫", "东方")
GIVEN = (
    "秀英桂兰建军志强德华国平大贵永富明芳玉珍文华海燕红梅"
    "春花金山世中光荣家明小龙云凤淑琴长生学成行重和乐朝"
)
ODD = (
    "",
    " ",
    "王a1",
    "Zhang San",
    "ＡＢＣ王",
    "王·小明",
    "阿卜杜拉·买买提",
    "李 四",
    "张三123",
    "〇一二",
    "やまだ太郎",
    "Müller王",
    "王_明",
    "重庆人",
    "长长久久",
    "曾经沧海",
    "银行行长",
    "单于",
    "乐乐",
    "𠀋张",
    "张𠀋",
    "ß",
    "王'芳",
)


def _whole_name(text: str) -> list[str]:
    """What the keys were made of before: pypinyin asked for the whole name."""
    return [s for s in (normalize(py) for py in lazy_pinyin(text)) if s]


def _same(names: list[str]) -> None:
    texts = [normalize(name) for name in names]
    differing = [
        (text, _whole_name(text), usual_syllables(text))
        for text in texts
        if text and _whole_name(text) != usual_syllables(text)
    ]
    assert differing == []


def test_sample_names_get_the_same_keys() -> None:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        names = [row["户主姓名"] for row in csv.DictReader(handle)]
    assert len(names) > 10
    _same(names)


def test_odd_names_get_the_same_keys() -> None:
    _same(list(ODD))


def test_generated_names_and_phrases_get_the_same_keys() -> None:
    rng = random.Random(20261128)
    phrases = sorted(word for word in PHRASES_DICT if 2 <= len(word) <= 4)
    rare = [chr(code) for code in range(0x4E00, 0x9FA6)]
    names: list[str] = []
    for n in range(50_000):
        kind = n % 10
        if kind < 5:  # surname and a given name of one or two characters
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        elif kind == 5:  # a compound surname
            name = rng.choice(COMPOUND) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        elif kind == 6:  # a phrase after a surname, or as the whole name
            name = rng.choice(("", *SURNAMES)) + rng.choice(phrases)
        elif kind == 7:  # any characters at all
            name = "".join(rng.choices(rare, k=rng.choice((2, 3, 4))))
        elif kind == 8:  # a surname with two readings and phrase words after it
            name = rng.choice("曾单解仇朴查盖区") + rng.choice(phrases)[:2] + rng.choice(GIVEN)
        else:  # spaces, dots and letters around the name
            name = rng.choice(("", " ", "·", "A", "ｂ")).join(
                [rng.choice(SURNAMES), "".join(rng.choices(GIVEN, k=2))]
            )
        names.append(name)
    assert len(set(names)) > 30_000
    _same(names)


def test_both_ways_of_cutting_a_name_are_used() -> None:
    assert pinyin_keys._words("王秀英") == ["王", "秀", "英"]
    assert pinyin_keys._words("王重庆") == ["王", "重庆"]  # a phrase: the segmenter runs
    assert pinyin_keys._words("王a1") == ["王", "a1"]


def test_search_keys_remember_each_name() -> None:
    keys = SearchKeys()
    assert keys.of("曾德华") == ("cengdehua zengdehua", "cdh zdh")
    assert keys.of("曾德华") is keys.of("曾德华")
    assert keys.of("单国平") == (
        households.key_columns("单国平")["head_pinyin"],
        households.key_columns("单国平")["head_initials"],
    )
