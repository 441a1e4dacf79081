"""Who is talking to the bot, and their own preferences."""

from __future__ import annotations

from bot.clock import Clock
from bot.errors import InvalidInput
from bot.models import Member
from locales import LANGUAGES
from storage import audit
from storage import members as member_repo
from storage.db import Database


class MemberService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def identify(self, telegram_user_id: int) -> Member | None:
        """The active member behind a Telegram user; a deactivated one is a stranger."""
        member = await member_repo.by_telegram_id(self._db, telegram_user_id)
        return member if member is not None and member.active else None

    async def set_language(self, member: Member, lang: str) -> Member:
        if lang not in LANGUAGES:
            raise InvalidInput("lang.usage")
        async with self._db.transaction() as tx:
            await member_repo.set_locale(tx, member.id, lang)
            await audit.record(
                tx,
                at=self._clock.now(),
                actor=audit.member_actor(member.id),
                action="member.language",
                entity="member",
                entity_id=member.id,
                before={"locale": member.locale},
                after={"locale": lang},
            )
        return member.model_copy(update={"locale": lang})
