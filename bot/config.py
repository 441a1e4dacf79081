"""Settings from ``ZHUCUN_*`` environment variables (and an optional ``.env``).

Read through pydantic-settings so every value is validated once, at start-up, and a malformed one
stops the program with one line naming the variable. Tests inject their own mapping instead of
touching the process environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PREFIX = "ZHUCUN_"


class SettingsError(Exception):
    """A setting is malformed or missing; the message is one line naming it."""


def _empty_to_none(value: Any) -> Any:
    """An empty variable means "not set", as operators write ``ZHUCUN_REMIND_TIME=`` to turn off."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _parse_hhmm(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if not match:
            raise ValueError("expected a time of day as HH:MM")
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            raise ValueError("expected a time of day as HH:MM")
        return time(hour, minute)
    return value


OptionalStr = Annotated[str | None, BeforeValidator(_empty_to_none)]
ClockTime = Annotated[time, BeforeValidator(_parse_hhmm)]
OptionalClockTime = Annotated[
    # Before-validators run last-listed first: blank means "off" before the time is parsed.
    time | None, BeforeValidator(_parse_hhmm), BeforeValidator(_empty_to_none)
]


class Settings(BaseSettings):
    """Every setting of design.md; field names are the variable names without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    bot_token: Annotated[SecretStr | None, BeforeValidator(_empty_to_none)] = None
    db: Path = Path("zhucun.db")
    api_base_url: OptionalStr = None
    api_file_url: OptionalStr = None
    proxy: OptionalStr = None
    webhook_secret: Annotated[SecretStr | None, BeforeValidator(_empty_to_none)] = None
    tz: str = "Asia/Shanghai"
    locale: Literal["zh", "en"] = "zh"
    summary_time: ClockTime = time(20, 0)
    remind_time: OptionalClockTime = time(12, 0)
    required_days: int = Field(default=20, ge=1, le=31)
    flow_timeout: int = Field(default=30, ge=1, le=24 * 60)
    due_urgent_days: int = Field(default=3, ge=1, le=365)
    due_normal_days: int = Field(default=14, ge=1, le=365)
    coverage_days: int = Field(default=30, ge=1, le=3650)
    backup_dir: Annotated[Path | None, BeforeValidator(_empty_to_none)] = None
    backup_keep: int = Field(default=7, ge=1, le=3650)

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_scheme(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|socks5h?)://[^\s/]+", value):
            raise ValueError("expected http://, https://, socks5:// or socks5h:// with a host")
        return value

    @field_validator("api_base_url", "api_file_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts only these characters in X-Telegram-Bot-Api-Secret-Token.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def files_dir(self) -> Path:
        """Photos and voice notes live beside the store so a backup takes both."""
        return self.db.with_name(self.db.name + ".files")


class _InjectedSettings(Settings):
    """Settings from an injected mapping alone: the process environment and ``.env`` are unread."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the settings; ``environ`` replaces the process environment and ``.env`` entirely."""
    try:
        if environ is None:
            return Settings()
        values = {
            key[len(PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.upper().startswith(PREFIX)
        }
        return _InjectedSettings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = str(first["msg"]).removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if field in {"bot_token", "webhook_secret"} else f" (got {value!r})"
    return f"{PREFIX}{field.upper()}: {message}{shown}"
