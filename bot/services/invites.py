"""Invites: the only way in. Codes are single use, expiring and revocable."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.clock import Clock
from bot.errors import Conflict, Forbidden, InvalidInput
from bot.models import Invite, Member, Region, Role
from bot.services.throttle import Throttle
from storage import audit
from storage import invites as invite_repo
from storage import members as member_repo
from storage import regions as region_repo
from storage.db import Database

DEFAULT_DAYS = 7
MAX_DAYS = 90
NAME_MAX = 40


class Registration(BaseModel):
    """What ``/start <code>`` did, for the greeting."""

    model_config = ConfigDict(frozen=True)

    member: Member
    role: Role
    region: Region | None
    new_member: bool


def new_code() -> str:
    """A URL-safe code that fits a ``/start`` deep link (64 characters of [A-Za-z0-9_-])."""
    return secrets.token_urlsafe(12)


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(name.split())
    if not cleaned:
        return None
    if len(cleaned) > NAME_MAX or not cleaned.isprintable():
        raise InvalidInput("invite.bad_name", limit=NAME_MAX)
    return cleaned


class InviteService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._throttle = Throttle(db, clock)

    async def create(
        self,
        *,
        role: Role,
        region_code: str | None,
        name: str | None,
        phone: str | None = None,
        days: int = DEFAULT_DAYS,
        inviter: Member | None = None,
        operator: str | None = None,
    ) -> Invite:
        """Create an invite for a member (scope-checked) or for the operator at the CLI."""
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput("invite.bad_days", limit=MAX_DAYS)
        region = await region_repo.get(self._db, region_code) if region_code else None
        hidden = region is not None and not scope.may(inviter, scope.Capability.READ, region)
        if operator is None and hidden:
            region = None  # outside the inviter's scope: answered exactly like a missing one
        if region_code and region is None:
            raise InvalidInput("invite.unknown_region", code=region_code)
        if role.level is None and region is not None:
            raise InvalidInput("invite.admin_no_region")
        if role.level is not None and (region is None or region.level is not role.level):
            raise InvalidInput("invite.region_level")
        if operator is None:
            if not scope.may_invite(inviter, role, region):
                raise Forbidden()
            assert inviter is not None  # may_invite is False for None
            created_by = audit.member_actor(inviter.id)
        else:
            created_by = operator
        now = self._clock.now()
        invite = Invite(
            code=new_code(),
            role=role,
            region_code=region_code,
            name=clean_name(name),
            phone=phone.strip() if phone else None,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        async with self._db.transaction() as tx:
            await invite_repo.create(
                tx,
                code=invite.code,
                role=invite.role,
                region_code=invite.region_code,
                name=invite.name,
                phone=invite.phone,
                created_by=created_by,
                created_at=now,
                expires_at=invite.expires_at,
            )
            await audit.record(
                tx,
                at=now,
                actor=created_by,
                action="invite.create",
                entity="invite",
                entity_id=invite.code,
                after={"role": role.value, "region": region_code, "name": invite.name},
            )
        return invite

    async def redeem(self, code: str, *, telegram_user_id: int, telegram_name: str) -> Registration:
        """Spend a code: create (or reactivate) the member and add the membership at once.

        Failed attempts are counted per Telegram user; too many within the hour are refused
        before the code is even looked at (``bot.services.throttle``).
        """
        await self._throttle.check_start(telegram_user_id)
        try:
            return await self._redeem(
                code, telegram_user_id=telegram_user_id, telegram_name=telegram_name
            )
        except InvalidInput as exc:
            if exc.key.startswith("start.code_"):
                await self._throttle.start_failed(telegram_user_id)
            raise

    async def _redeem(
        self, code: str, *, telegram_user_id: int, telegram_name: str
    ) -> Registration:
        now = self._clock.now()
        async with self._db.transaction() as tx:
            invite = await invite_repo.tx_get(tx, code)
            _check_usable(invite, now)
            assert invite is not None
            name = invite.name or clean_name(telegram_name) or str(telegram_user_id)
            member_id = await member_repo.tx_by_telegram_id(tx, telegram_user_id)
            new_member = member_id is None
            if member_id is None:
                member_id = await member_repo.create(
                    tx,
                    telegram_user_id=telegram_user_id,
                    name=name,
                    phone=invite.phone,
                    created_at=now,
                )
            else:
                await member_repo.reactivate(tx, member_id, invite.name or name)
            if not await invite_repo.mark_used(tx, code, member_id, now):
                raise InvalidInput("start.code_used")
            await member_repo.add_membership(
                tx,
                member_id=member_id,
                role=invite.role,
                region_code=invite.region_code,
                created_at=now,
            )
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(member_id),
                action="invite.redeem",
                entity="invite",
                entity_id=code,
                after={
                    "member": member_id,
                    "role": invite.role.value,
                    "region": invite.region_code,
                },
            )
        member = await member_repo.get(self._db, member_id)
        if member is None:
            raise Conflict()
        region = await region_repo.get(self._db, invite.region_code) if invite.region_code else None
        return Registration(member=member, role=invite.role, region=region, new_member=new_member)

    async def choices(self, inviter: Member) -> list[Role]:
        """Roles this member may hand out, for the ``/invite`` buttons."""
        return scope.invitable_roles(inviter)

    async def regions_for(self, inviter: Member, role: Role) -> list[Region]:
        """Regions at the role's level where this member may invite it."""
        if role.level is None:
            return []
        found = await region_repo.in_roots(self._db, scope.invite_roots(inviter, role), role.level)
        return [r for r in found if scope.may_invite(inviter, role, r)]


def _check_usable(invite: Invite | None, now: datetime) -> None:
    if invite is None:
        raise InvalidInput("start.code_unknown")
    if invite.revoked_at is not None:
        raise InvalidInput("start.code_revoked")
    if invite.used_at is not None:
        raise InvalidInput("start.code_used")
    if invite.expires_at <= now:
        raise InvalidInput("start.code_expired")
