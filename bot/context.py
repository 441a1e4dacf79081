"""Typed per-update context: handlers reach services and texts through properties, not dict keys."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.services import Services
from locales import Catalog, load_catalog


class BotData:
    """Process-wide state; ``services`` is filled in ``post_init`` once the store is open."""

    def __init__(self) -> None:
        self.catalog: Catalog = load_catalog()
        self.clock: Clock = SystemClock()
        self._settings: Settings | None = None
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("settings are attached by build_application")
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services exist only between post_init and post_shutdown")
        return self._services

    @services.setter
    def services(self, value: Services) -> None:
        self._services = value

    def release_services(self) -> Services | None:
        """Detach the services for shutdown; None when start-up never got that far."""
        services, self._services = self._services, None
        return services


class BotContext(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler receives."""

    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def catalog(self) -> Catalog:
        return self.bot_data.catalog

    @property
    def settings(self) -> Settings:
        return self.bot_data.settings


ZhucunApp = Application[
    ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[BotContext]
]
