"""The one place that decides who may read or change what.

Scope is the union of a member's memberships: a membership covers its region's subtree, and an
admin membership covers everything. A capability says which roles may use it; a target is
anything that lives somewhere in the region tree. Services ask :func:`may` (or :func:`require`)
before every read and write, and :func:`roots` to filter lists in SQL, so the two can never
disagree. Out-of-scope targets raise :class:`~bot.errors.NotFound`, exactly like missing ones.
"""

from __future__ import annotations

from enum import StrEnum

from bot.errors import Forbidden, NotFound
from bot.models import (
    LEADER_ROLES,
    VILLAGE_ROLES,
    Household,
    Member,
    Membership,
    Region,
    Role,
)


class Capability(StrEnum):
    READ = "read"  # see regions, households, entries and members in scope
    ENTER = "enter"  # make one's own entries in a village (check-in, visit, problem)
    CORRECT = "correct"  # correct or void entries, add a household, change its status
    LIST_TEAM = "list_team"  # see the team and its invites
    MANAGE_TEAM = "manage_team"  # deactivate, move, revoke invites
    REVIEW = "review"  # review queues, summaries, exports


CAPABILITY_ROLES: dict[Capability, frozenset[Role]] = {
    Capability.READ: frozenset(Role),
    Capability.ENTER: VILLAGE_ROLES,
    Capability.CORRECT: frozenset({Role.SECRETARY}) | LEADER_ROLES,
    Capability.LIST_TEAM: frozenset({Role.SECRETARY}) | LEADER_ROLES,
    Capability.MANAGE_TEAM: LEADER_ROLES,
    Capability.REVIEW: LEADER_ROLES,
}

# Who may invite whom: the inviter's role → roles it may hand out inside its own region subtree.
INVITABLE: dict[Role, frozenset[Role]] = {
    Role.SECRETARY: frozenset({Role.MEMBER, Role.CADRE}),
    Role.TOWNSHIP: frozenset({Role.SECRETARY, Role.CADRE, Role.MEMBER}),
    Role.COUNTY: frozenset({Role.TOWNSHIP, Role.SECRETARY, Role.CADRE, Role.MEMBER}),
    Role.ADMIN: frozenset(Role),
}

Target = Region | Household | Member | Membership | str


def _paths(target: Target) -> tuple[str | None, ...]:
    """Where a target lives; a member lives wherever any of their memberships is."""
    if isinstance(target, str):
        return (target,)
    if isinstance(target, Region):
        return (target.path,)
    if isinstance(target, Household):
        return (target.village_path,)
    if isinstance(target, Membership):
        return (target.region_path,)
    return tuple(m.region_path for m in target.memberships)


def _grants(actor: Member | None, capability: Capability) -> list[Membership]:
    if actor is None or not actor.active:
        return []
    allowed = CAPABILITY_ROLES[capability]
    return [m for m in actor.memberships if m.role in allowed]


def _covers(membership: Membership, path: str | None) -> bool:
    if membership.role is Role.ADMIN:
        return True
    return (
        path is not None
        and membership.region_path is not None
        and path.startswith(membership.region_path)
    )


def may(actor: Member | None, capability: Capability, target: Target) -> bool:
    """Whether ``actor`` may use ``capability`` on ``target``; strangers and inactive: never."""
    grants = _grants(actor, capability)
    return any(_covers(g, path) for g in grants for path in _paths(target))


def require(actor: Member | None, capability: Capability, target: Target) -> None:
    """Raise NotFound when not allowed, so out of scope is indistinguishable from missing."""
    if not may(actor, capability, target):
        raise NotFound()


def has_capability(actor: Member | None, capability: Capability) -> bool:
    """Whether the actor's roles allow the capability anywhere (for menus and commands)."""
    return bool(_grants(actor, capability))


def require_capability(actor: Member | None, capability: Capability) -> None:
    """Raise Forbidden when no role of the actor allows the capability anywhere."""
    if not has_capability(actor, capability):
        raise Forbidden()


def roots(actor: Member | None, capability: Capability) -> tuple[str, ...] | None:
    """Subtree paths the capability reaches, for SQL filters; None means everything."""
    grants = _grants(actor, capability)
    if any(g.role is Role.ADMIN for g in grants):
        return None
    return tuple(sorted({g.region_path for g in grants if g.region_path is not None}))


def may_invite(actor: Member | None, role: Role, region: Region | None) -> bool:
    """Whether ``actor`` may invite someone as ``role`` at ``region`` (design.md's table)."""
    if role.level is None:
        if region is not None:
            return False
    elif region is None or region.level is not role.level:
        return False
    for grant in actor.memberships if actor is not None and actor.active else ():
        if role not in INVITABLE.get(grant.role, frozenset()):
            continue
        if grant.role is Role.ADMIN or (region is not None and _covers(grant, region.path)):
            return True
    return False


def invitable_roles(actor: Member | None) -> list[Role]:
    """Roles the actor could hand out somewhere, in the order of design.md's table."""
    if actor is None or not actor.active:
        return []
    found: set[Role] = set()
    for grant in actor.memberships:
        found |= INVITABLE.get(grant.role, frozenset())
    return [role for role in Role if role in found]


def invite_roots(actor: Member | None, role: Role) -> tuple[str, ...] | None:
    """Subtrees in which the actor may invite ``role``; None means anywhere."""
    if actor is None or not actor.active:
        return ()
    grants = [g for g in actor.memberships if role in INVITABLE.get(g.role, frozenset())]
    if any(g.role is Role.ADMIN for g in grants):
        return None
    return tuple(sorted({g.region_path for g in grants if g.region_path is not None}))
