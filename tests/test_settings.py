"""Settings: design.md's defaults, one-line errors naming the variable, proxy wiring, docs."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.config import Settings, SettingsError, load_settings
from tests.harness import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_the_design() -> None:
    settings = load_settings({})
    assert settings.bot_token is None
    assert settings.db == Path("zhucun.db")
    assert settings.api_base_url is None
    assert settings.api_file_url is None
    assert settings.proxy is None
    assert settings.webhook_secret is None
    assert settings.tz == "Asia/Shanghai"
    assert settings.locale == "zh"
    assert settings.summary_time == time(20, 0)
    assert settings.remind_time == time(12, 0)
    assert settings.required_days == 20
    assert settings.flow_timeout == 30
    assert settings.due_urgent_days == 3
    assert settings.due_normal_days == 14
    assert settings.coverage_days == 30


def test_values_are_read_from_the_mapping() -> None:
    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": TOKEN,
            "ZHUCUN_DB": "/srv/zhucun/store.db",
            "ZHUCUN_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "ZHUCUN_API_FILE_URL": "http://127.0.0.1:8081/file/bot",
            "ZHUCUN_PROXY": "socks5://127.0.0.1:1080",
            "ZHUCUN_WEBHOOK_SECRET": "s3cret_-XYZ",
            "ZHUCUN_TZ": "Asia/Urumqi",
            "ZHUCUN_LOCALE": "en",
            "ZHUCUN_SUMMARY_TIME": "8:05",
            "ZHUCUN_REMIND_TIME": " 11:30 ",
            "ZHUCUN_REQUIRED_DAYS": "22",
            "ZHUCUN_FLOW_TIMEOUT": "15",
            "ZHUCUN_DUE_URGENT_DAYS": "2",
            "ZHUCUN_DUE_NORMAL_DAYS": "10",
            "ZHUCUN_COVERAGE_DAYS": "60",
            "OTHER_VARIABLE": "ignored",
        }
    )
    assert settings.bot_token is not None
    assert settings.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert settings.db == Path("/srv/zhucun/store.db")
    assert settings.files_dir == Path("/srv/zhucun/store.db.files")
    assert settings.proxy == "socks5://127.0.0.1:1080"
    assert settings.zone.key == "Asia/Urumqi"
    assert settings.locale == "en"
    assert (settings.summary_time, settings.remind_time) == (time(8, 5), time(11, 30))
    assert (settings.required_days, settings.flow_timeout) == (22, 15)
    assert (settings.due_urgent_days, settings.due_normal_days) == (2, 10)
    assert settings.coverage_days == 60


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_remind_time_means_off(blank: str) -> None:
    assert load_settings({"ZHUCUN_REMIND_TIME": blank}).remind_time is None


@pytest.mark.parametrize("name", ["BOT_TOKEN", "PROXY", "API_BASE_URL", "WEBHOOK_SECRET"])
def test_blank_optional_values_mean_unset(name: str) -> None:
    settings = load_settings({f"ZHUCUN_{name}": ""})
    assert getattr(settings, name.lower()) is None


MALFORMED = [
    ("REQUIRED_DAYS", "abc"),
    ("REQUIRED_DAYS", "0"),
    ("REQUIRED_DAYS", "32"),
    ("FLOW_TIMEOUT", "-5"),
    ("FLOW_TIMEOUT", "ten"),
    ("DUE_URGENT_DAYS", "1.5"),
    ("DUE_NORMAL_DAYS", "0"),
    ("COVERAGE_DAYS", "many"),
    ("SUMMARY_TIME", "25:00"),
    ("SUMMARY_TIME", "20:60"),
    ("SUMMARY_TIME", "8pm"),
    ("SUMMARY_TIME", ""),
    ("REMIND_TIME", "noon"),
    ("REMIND_TIME", "12.00"),
    ("TZ", "Mars/Olympus_Mons"),
    ("TZ", "Beijing"),
    ("LOCALE", "fr"),
    ("LOCALE", "zh-CN"),
    ("PROXY", "ftp://proxy.example:21"),
    ("PROXY", "127.0.0.1:1080"),
    ("PROXY", "socks4://127.0.0.1:1080"),
    ("API_BASE_URL", "127.0.0.1:8081/bot"),
    ("API_BASE_URL", "ftp://example.org/bot"),
    ("API_FILE_URL", "file:///tmp/x"),
    ("WEBHOOK_SECRET", "has space"),
    ("WEBHOOK_SECRET", "秘密口令"),
    ("WEBHOOK_SECRET", "x" * 257),
    ("WEBHOOK_SECRET", "semi;colon"),
]


@pytest.mark.parametrize(("name", "value"), MALFORMED)
def test_a_malformed_value_gives_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({f"ZHUCUN_{name}": value, "ZHUCUN_BOT_TOKEN": TOKEN})
    message = str(caught.value)
    assert message.startswith(f"ZHUCUN_{name}: ")
    assert "\n" not in message
    assert len(message) < 300
    assert caught.value.__cause__ is None  # no chained pydantic traceback to print
    assert TOKEN not in message
    if name == "WEBHOOK_SECRET":
        assert value not in message  # secrets are never echoed


def test_only_the_first_bad_variable_is_named() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"ZHUCUN_TZ": "Nowhere/At_All", "ZHUCUN_LOCALE": "fr"})
    assert str(caught.value).count("ZHUCUN_") == 1


def test_process_environment_is_used_only_without_a_mapping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ZHUCUN_REQUIRED_DAYS", "25")
    assert load_settings().required_days == 25
    assert load_settings({}).required_days == 20
    monkeypatch.setenv("ZHUCUN_REQUIRED_DAYS", "many")
    with pytest.raises(SettingsError, match=r"^ZHUCUN_REQUIRED_DAYS: "):
        load_settings()


def test_dot_env_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZHUCUN_LOCALE", raising=False)
    (tmp_path / ".env").write_text("ZHUCUN_LOCALE=en\n", encoding="utf-8")
    assert load_settings().locale == "en"


# --- the proxy reaches both of python-telegram-bot's request objects ---------------------------


def _proxies(settings: Settings) -> list[object]:
    app = build_application(settings)
    # Bot keeps (get_updates_request, request); each HTTPXRequest keeps its httpx client kwargs.
    requests = app.bot._request
    assert len(requests) == 2
    assert all(isinstance(r, HTTPXRequest) for r in requests)
    return [r._client_kwargs["proxy"] for r in requests]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "proxy", ["socks5://127.0.0.1:1080", "http://proxy.example:3128", "socks5h://user:pw@h:1"]
)
def test_proxy_is_used_for_get_updates_and_every_other_call(tmp_path: Path, proxy: str) -> None:
    settings = load_settings(
        {"ZHUCUN_BOT_TOKEN": TOKEN, "ZHUCUN_DB": str(tmp_path / "z.db"), "ZHUCUN_PROXY": proxy}
    )
    assert _proxies(settings) == [proxy, proxy]


def test_without_proxy_no_proxy_is_configured(tmp_path: Path) -> None:
    settings = load_settings({"ZHUCUN_BOT_TOKEN": TOKEN, "ZHUCUN_DB": str(tmp_path / "z.db")})
    assert _proxies(settings) == [None, None]


def test_api_urls_are_handed_over_as_they_are(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": TOKEN,
            "ZHUCUN_DB": str(tmp_path / "z.db"),
            "ZHUCUN_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "ZHUCUN_API_FILE_URL": "http://127.0.0.1:8081/file/bot",
        }
    )
    app = build_application(settings)
    assert app.bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert app.bot.base_file_url == f"http://127.0.0.1:8081/file/bot{TOKEN}"


# --- documentation ---------------------------------------------------------------------------


def _readme_rows() -> dict[str, str]:
    """``ZHUCUN_X`` → its default column, from README's settings table."""
    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(ZHUCUN_[A-Z_]+)`\s*\|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = _readme_rows()
    fields = {f"ZHUCUN_{name.upper()}" for name in Settings.model_fields}
    assert fields - set(documented) == set(), "undocumented settings"
    assert set(documented) - fields == set(), "documented settings that do not exist"


def test_readme_defaults_are_the_real_defaults() -> None:
    defaults = load_settings({})
    for variable, shown in _readme_rows().items():
        value = getattr(defaults, variable.removeprefix("ZHUCUN_").lower())
        if value is None or shown in {"—", "none", "Telegram's"}:
            assert value is None, variable
            continue
        if isinstance(value, time):
            value = value.strftime("%H:%M")
        assert shown.strip("`").removeprefix("./") == str(value), variable
