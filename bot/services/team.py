"""Team management (``/members``): the team in scope, deactivation, moves and invites.

A secretary sees the village team (LIST_TEAM); township and up (MANAGE_TEAM) may change it.
Changing a membership needs a grant *above* it: a township leader manages the village roles of
the township's villages, a county officer also the township leaders, an admin everyone. Whom
the actor cannot see is NotFound; whom they see but may not change is Forbidden with a reason.
Deactivating someone needs every one of their memberships managed by the actor, so a leader
never cuts off a member's work elsewhere. Every change is audited and checked against the state
it was decided on, so a second press changes nothing and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.attendance import Residency
from bot.clock import Clock
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.models import VILLAGE_ROLES, Invite, Level, Member, Membership, Region, Role
from bot.scope import Capability
from bot.services.checkins import CheckInService
from bot.services.review import Notice, Outcome, Page
from storage import audit
from storage import invites as invite_repo
from storage import members as member_repo
from storage import regions as region_repo
from storage import team as repo
from storage.db import Database

PAGE_SIZE = 8
VILLAGE_PAGE_SIZE = 8


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class TeamRow(_Value):
    member: Member
    memberships: tuple[Membership, ...]  # those inside the actor's view
    last_checkin: datetime | None
    residency: Residency | None  # village roles only


class TeamMember(_Value):
    row: TeamRow
    can_deactivate: bool
    movable: tuple[Membership, ...]


class Changed(_Value):
    outcome: Outcome
    member: Member
    notices: tuple[Notice, ...] = ()


class Moved(_Value):
    outcome: Outcome
    member: Member
    membership: Membership
    village: Region
    notices: tuple[Notice, ...] = ()


class Revoked(_Value):
    outcome: Outcome
    invite: Invite


@dataclass(frozen=True)
class TeamPage:
    page: Page[TeamRow]
    can_manage: bool


def _manages(actor: Member, membership: Membership) -> bool:
    """Whether a MANAGE_TEAM grant of the actor lies strictly above the membership."""
    for grant in actor.memberships if actor.active else ():
        if grant.role not in scope.CAPABILITY_ROLES[Capability.MANAGE_TEAM]:
            continue
        if grant.role is Role.ADMIN:
            return True
        path, root = membership.region_path, grant.region_path
        if path is not None and root is not None and path != root and path.startswith(root):
            return True
    return False


class TeamService:
    def __init__(self, db: Database, clock: Clock, checkins: CheckInService) -> None:
        self._db = db
        self._clock = clock
        self._checkins = checkins

    async def team(self, actor: Member | None, page: int = 0) -> TeamPage:
        """One page of the active team in the actor's LIST_TEAM scope, by name."""
        scope.require_capability(actor, Capability.LIST_TEAM)
        assert actor is not None
        roots = scope.roots(actor, Capability.LIST_TEAM)
        total = await repo.count_active(self._db, roots)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        members = await repo.active_in_roots(
            self._db, roots, limit=PAGE_SIZE, offset=page * PAGE_SIZE
        )
        last = await repo.last_checkins(self._db, [m.id for m in members])
        rows = tuple([await self._row(actor, m, last.get(m.id)) for m in members])
        return TeamPage(
            page=Page(items=rows, page=page, pages=pages, total=total),
            can_manage=scope.has_capability(actor, Capability.MANAGE_TEAM),
        )

    async def _row(self, actor: Member, member: Member, last: datetime | None) -> TeamRow:
        shown = tuple(m for m in member.memberships if scope.may(actor, Capability.LIST_TEAM, m))
        residency = None
        if any(m.role in VILLAGE_ROLES for m in member.memberships):
            residency = await self._checkins.residency(member, actor=actor)
        return TeamRow(member=member, memberships=shown, last_checkin=last, residency=residency)

    async def _visible(self, actor: Member | None, member_id: int) -> Member:
        member = await member_repo.get(self._db, member_id)
        if member is None or not member.active:
            raise NotFound()
        scope.require(actor, Capability.LIST_TEAM, member)
        return member

    async def member(self, actor: Member | None, member_id: int) -> TeamMember:
        """One member of the team and what the actor may do to them."""
        member = await self._visible(actor, member_id)
        assert actor is not None
        last = await repo.last_checkins(self._db, [member.id])
        row = await self._row(actor, member, last.get(member.id))
        return TeamMember(
            row=row,
            can_deactivate=self._may_deactivate(actor, member),
            movable=tuple(
                m for m in member.memberships if m.role in VILLAGE_ROLES and _manages(actor, m)
            ),
        )

    @staticmethod
    def _may_deactivate(actor: Member, member: Member) -> bool:
        return (
            member.id != actor.id
            and bool(member.memberships)
            and all(_manages(actor, m) for m in member.memberships)
        )

    # --- deactivation ---------------------------------------------------------------------------

    async def deactivate(self, actor: Member | None, member_id: int) -> Changed:
        """The member becomes a stranger at once (audited); a second press says so."""
        scope.require_capability(actor, Capability.MANAGE_TEAM)
        assert actor is not None
        member = await member_repo.get(self._db, member_id)
        if member is None or not scope.may(actor, Capability.LIST_TEAM, member):
            raise NotFound()
        if not member.active:
            return Changed(outcome=Outcome.ALREADY, member=member)
        if member.id == actor.id:
            raise InvalidInput("members.not_yourself")
        if not self._may_deactivate(actor, member):
            raise Forbidden("members.not_yours")
        now = self._clock.now()
        async with self._db.transaction() as tx:
            changed = await repo.deactivate(tx, member_id)
            if changed:
                await audit.record(
                    tx,
                    at=now,
                    actor=audit.member_actor(actor.id),
                    action="member.deactivate",
                    entity="member",
                    entity_id=member_id,
                    before={"active": True},
                    after={"active": False},
                )
        after = await member_repo.get(self._db, member_id)
        assert after is not None
        if not changed:
            return Changed(outcome=Outcome.ALREADY, member=after)
        notice = Notice(member=after, what="deactivated", subject=f"member{member_id}:off:{now}")
        return Changed(outcome=Outcome.DONE, member=after, notices=(notice,))

    # --- moving a membership --------------------------------------------------------------------

    async def _movable(self, actor: Member | None, membership_id: int) -> tuple[Member, Membership]:
        scope.require_capability(actor, Capability.MANAGE_TEAM)
        assert actor is not None
        found = await repo.membership(self._db, membership_id)
        if found is None or not scope.may(actor, Capability.LIST_TEAM, found):
            raise NotFound()
        member = await member_repo.get(self._db, found.member_id)
        if member is None or not member.active:
            raise NotFound()
        if found.role not in VILLAGE_ROLES or not _manages(actor, found):
            raise Forbidden("members.not_yours")
        return member, found

    async def villages_for_move(
        self, actor: Member | None, membership_id: int, page: int = 0
    ) -> tuple[Membership, Page[Region]]:
        """Villages in the actor's MANAGE_TEAM scope the membership could move to."""
        _, membership = await self._movable(actor, membership_id)
        found = await region_repo.in_roots(
            self._db, scope.roots(actor, Capability.MANAGE_TEAM), Level.VILLAGE
        )
        villages = [v for v in found if v.code != membership.region_code]
        pages = max(1, math.ceil(len(villages) / VILLAGE_PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        shown = tuple(villages[page * VILLAGE_PAGE_SIZE : (page + 1) * VILLAGE_PAGE_SIZE])
        return membership, Page(items=shown, page=page, pages=pages, total=len(villages))

    async def move(self, actor: Member | None, membership_id: int, village_code: str) -> Moved:
        """Point a village membership at another village in scope (audited, the member told)."""
        member, membership = await self._movable(actor, membership_id)
        assert actor is not None
        village = await region_repo.get(self._db, village_code)
        if (
            village is None
            or village.level is not Level.VILLAGE
            or not scope.may(actor, Capability.MANAGE_TEAM, village)
        ):
            raise NotFound()
        if membership.region_code == village.code:
            return Moved(
                outcome=Outcome.ALREADY, member=member, membership=membership, village=village
            )
        assert membership.region_code is not None  # village roles always have a village
        now = self._clock.now()
        async with self._db.transaction() as tx:
            if await repo.holds(tx, member.id, membership.role.value, village.code):
                raise InvalidInput("members.already_there", name=member.name, village=village.name)
            moved = await repo.move_membership(
                tx, membership_id, expected_region=membership.region_code, region_code=village.code
            )
            if moved:
                await audit.record(
                    tx,
                    at=now,
                    actor=audit.member_actor(actor.id),
                    action="membership.move",
                    entity="membership",
                    entity_id=membership_id,
                    before={
                        "member": member.id,
                        "role": membership.role.value,
                        "region": membership.region_code,
                    },
                    after={
                        "member": member.id,
                        "role": membership.role.value,
                        "region": village.code,
                    },
                )
        after = await repo.membership(self._db, membership_id)
        refreshed = await member_repo.get(self._db, member.id)
        assert after is not None and refreshed is not None
        if not moved:
            outcome = Outcome.ALREADY if after.region_code == village.code else Outcome.CLOSED
            return Moved(outcome=outcome, member=refreshed, membership=after, village=village)
        notice = Notice(
            member=refreshed,
            what="moved",
            subject=f"membership{membership_id}:{village.code}:{now.isoformat()}",
        )
        return Moved(
            outcome=Outcome.DONE,
            member=refreshed,
            membership=after,
            village=village,
            notices=(notice,),
        )

    # --- invites --------------------------------------------------------------------------------

    async def invites(self, actor: Member | None) -> list[Invite]:
        """Unused, unrevoked, unexpired invites for regions in the actor's MANAGE_TEAM scope."""
        scope.require_capability(actor, Capability.MANAGE_TEAM)
        return await repo.open_invites(
            self._db, scope.roots(actor, Capability.MANAGE_TEAM), self._clock.now()
        )

    async def revoke(self, actor: Member | None, code: str) -> Revoked:
        """Revoke an unused invite in scope (audited); a second press says so."""
        scope.require_capability(actor, Capability.MANAGE_TEAM)
        assert actor is not None
        invite = await invite_repo.get(self._db, code)
        if invite is None:
            raise NotFound()
        region = await region_repo.get(self._db, invite.region_code) if invite.region_code else None
        in_scope = (
            scope.may(actor, Capability.MANAGE_TEAM, region)
            if region is not None
            else scope.roots(actor, Capability.MANAGE_TEAM) is None
        )
        if not in_scope:
            raise NotFound()
        if invite.revoked_at is not None:
            return Revoked(outcome=Outcome.ALREADY, invite=invite)
        if invite.used_at is not None:
            return Revoked(outcome=Outcome.CLOSED, invite=invite)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            revoked = await invite_repo.revoke(tx, code, now)
            if revoked:
                await audit.record(
                    tx,
                    at=now,
                    actor=audit.member_actor(actor.id),
                    action="invite.revoke",
                    entity="invite",
                    entity_id=code,
                    before={"revoked": False},
                    after={"revoked": True},
                )
        after = await invite_repo.get(self._db, code)
        assert after is not None
        if revoked:
            return Revoked(outcome=Outcome.DONE, invite=after)
        outcome = Outcome.ALREADY if after.revoked_at is not None else Outcome.CLOSED
        return Revoked(outcome=outcome, invite=after)
