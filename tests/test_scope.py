"""Acceptance: who may do what where (design.md's roles and scope), as explicit tables.

The first part checks :mod:`bot.scope` cell by cell on models built with the sample township's
real codes and paths; the second proves at the service level that out of scope looks exactly
like missing, and that a deactivated member is a stranger.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import count

import pytest

from bot import scope
from bot.errors import Forbidden, InvalidInput
from bot.models import (
    Cause,
    Guarantee,
    Household,
    HouseholdStatus,
    Level,
    Member,
    Membership,
    Region,
    RegionKind,
    Role,
)
from bot.sample import SAMPLE_ACTOR
from bot.scope import Capability
from storage import members as member_repo
from storage import regions as region_repo
from tests.harness import Harness, persona

C = Capability
CREATED = datetime(2026, 11, 1, tzinfo=UTC)

# --- the region tree: the sample township's codes, plus a look-alike code --------------------


def _region(code: str, parent: Region | None, level: Level, name: str) -> Region:
    return Region(
        code=code,
        parent_code=parent.code if parent else None,
        level=level,
        name=name,
        kind=RegionKind.POOR if level is Level.VILLAGE else None,
        path=f"{parent.path if parent else '/'}{code}/",
    )


PROVINCE = _region("51", None, Level.PROVINCE, "四川省")
CITY = _region("5119", PROVINCE, Level.CITY, "巴中市")
COUNTY = _region("511902", CITY, Level.COUNTY, "巴州区")
OTHER_COUNTY = _region("511903", CITY, Level.COUNTY, "恩阳区")
T1 = _region("511902101", COUNTY, Level.TOWNSHIP, "清江镇")
T2 = _region("511902102", COUNTY, Level.TOWNSHIP, "水宁寺镇")
# A code that starts with T1's code: paths end in '/', so T1 must not cover it.
T1_LOOKALIKE = _region("5119021019", COUNTY, Level.TOWNSHIP, "假清江镇")
A = _region("511902101001", T1, Level.VILLAGE, "石桥村")
B = _region("511902101002", T1, Level.VILLAGE, "桂花村")
C_VILLAGE = _region("511902102001", T2, Level.VILLAGE, "青龙村")

REGIONS = {
    "province": PROVINCE,
    "city": CITY,
    "county": COUNTY,
    "other_county": OTHER_COUNTY,
    "T1": T1,
    "T2": T2,
    "T1_lookalike": T1_LOOKALIKE,
    "A": A,
    "B": B,
    "C": C_VILLAGE,
}


def _household(id_: int, village: Region, head: str) -> Household:
    return Household(
        id=id_,
        registry_no=f"{village.code}{id_:04d}",
        village_code=village.code,
        village_path=village.path,
        village_name=village.name,
        head_name=head,
        size=3,
        status=HouseholdStatus.NOT_LIFTED,
        causes=(Cause.ILLNESS,),
        measure=None,
        helper_name=None,
        helper_member_id=None,
        income=None,
        phone=None,
        notes=None,
        food=Guarantee.UNKNOWN,
        clothing=Guarantee.UNKNOWN,
        education=Guarantee.UNKNOWN,
        medical=Guarantee.UNKNOWN,
        housing=Guarantee.UNKNOWN,
        water=Guarantee.UNKNOWN,
        last_visit_at=None,
        local=False,
    )


# --- people ---------------------------------------------------------------------------------

_ids = count(1)


def _member(name: str, *grants: tuple[Role, Region | None], active: bool = True) -> Member:
    member_id = next(_ids)
    return Member(
        id=member_id,
        telegram_user_id=10_000 + member_id,
        name=name,
        phone=None,
        locale=None,
        active=active,
        created_at=CREATED,
        memberships=tuple(
            Membership(
                id=next(_ids),
                member_id=member_id,
                role=role,
                region_code=region.code if region else None,
                region_path=region.path if region else None,
                region_name=region.name if region else None,
            )
            for role, region in grants
        ),
    )


ACTORS: dict[str, Member | None] = {
    "member_A": _member("李明", (Role.MEMBER, A)),
    "cadre_A": _member("张桂兰", (Role.CADRE, A)),
    "secretary_A": _member("王建军", (Role.SECRETARY, A)),
    "township_T1": _member("陈晓东", (Role.TOWNSHIP, T1)),
    "county": _member("刘志强", (Role.COUNTY, COUNTY)),
    "admin": _member("周敏", (Role.ADMIN, None)),
    "member_A_and_C": _member("赵两村", (Role.MEMBER, A), (Role.MEMBER, C_VILLAGE)),
    "leader_T1_and_T2": _member("孙两镇", (Role.TOWNSHIP, T1), (Role.TOWNSHIP, T2)),
    "inactive_secretary_A": _member("钱离任", (Role.SECRETARY, A), active=False),
    "stranger": None,
}

TARGETS: dict[str, scope.Target] = {
    **REGIONS,
    "household_A": _household(1, A, "王秀英"),
    "household_C": _household(2, C_VILLAGE, "何秀珍"),
    "someone_in_A": _member("队员甲", (Role.MEMBER, A)),
    "someone_in_B": _member("村干部乙", (Role.CADRE, B)),
    "someone_in_C": _member("队员丙", (Role.MEMBER, C_VILLAGE)),
    "someone_in_A_and_C": _member("队员丁", (Role.MEMBER, A), (Role.MEMBER, C_VILLAGE)),
    "leader_of_T1": _member("镇长戊", (Role.TOWNSHIP, T1)),
    "another_admin": _member("管理员己", (Role.ADMIN, None)),
    "nobody_yet": _member(
        "没有身份",
    ),
    "path_of_A": A.path,
}

# --- what each actor's memberships reach ----------------------------------------------------

NOTHING: frozenset[str] = frozenset()
IN_A = frozenset({"A", "household_A", "someone_in_A", "someone_in_A_and_C", "path_of_A"})
IN_C = frozenset({"C", "household_C", "someone_in_C", "someone_in_A_and_C"})
IN_T1 = IN_A | {"T1", "B", "someone_in_B", "leader_of_T1"}
IN_T2 = IN_C | {"T2"}
IN_COUNTY = IN_T1 | IN_T2 | {"county", "T1_lookalike"}
EVERYTHING = frozenset(TARGETS) - {"nobody_yet"}  # a member without memberships lives nowhere


def _table(
    read: frozenset[str],
    enter: frozenset[str] = NOTHING,
    correct: frozenset[str] = NOTHING,
    list_team: frozenset[str] = NOTHING,
    manage_team: frozenset[str] = NOTHING,
    review: frozenset[str] = NOTHING,
) -> dict[Capability, frozenset[str]]:
    return {
        C.READ: read,
        C.ENTER: enter,
        C.CORRECT: correct,
        C.LIST_TEAM: list_team,
        C.MANAGE_TEAM: manage_team,
        C.REVIEW: review,
    }


# Every cell not listed is denied. Village roles enter only in their village; leaders do not
# make entries of their own (ENTER is for the people living in the village).
ALLOWED: dict[str, dict[Capability, frozenset[str]]] = {
    "member_A": _table(read=IN_A, enter=IN_A),
    "cadre_A": _table(read=IN_A, enter=IN_A),
    "secretary_A": _table(read=IN_A, enter=IN_A, correct=IN_A, list_team=IN_A),
    "township_T1": _table(
        read=IN_T1, correct=IN_T1, list_team=IN_T1, manage_team=IN_T1, review=IN_T1
    ),
    "county": _table(
        read=IN_COUNTY,
        correct=IN_COUNTY,
        list_team=IN_COUNTY,
        manage_team=IN_COUNTY,
        review=IN_COUNTY,
    ),
    "admin": _table(
        read=EVERYTHING,
        correct=EVERYTHING,
        list_team=EVERYTHING,
        manage_team=EVERYTHING,
        review=EVERYTHING,
    ),
    "member_A_and_C": _table(read=IN_A | IN_C, enter=IN_A | IN_C),
    "leader_T1_and_T2": _table(
        read=IN_T1 | IN_T2,
        correct=IN_T1 | IN_T2,
        list_team=IN_T1 | IN_T2,
        manage_team=IN_T1 | IN_T2,
        review=IN_T1 | IN_T2,
    ),
    "inactive_secretary_A": _table(read=NOTHING),
    "stranger": _table(read=NOTHING),
}

MATRIX = [
    (actor, capability, target, target in ALLOWED[actor][capability])
    for actor in ACTORS
    for capability in Capability
    for target in TARGETS
]


def test_tables_cover_every_actor_capability_and_target() -> None:
    assert set(ALLOWED) == set(ACTORS)
    for actor, table in ALLOWED.items():
        assert set(table) == set(Capability), actor
        assert table[C.READ] >= table[C.ENTER] | table[C.CORRECT] | table[C.REVIEW], actor
        unknown = set().union(*table.values()) - set(TARGETS)
        assert not unknown, (actor, unknown)
    allowed = sum(expected for *_, expected in MATRIX)
    assert 0 < allowed < len(MATRIX)


@pytest.mark.parametrize(
    ("actor", "capability", "target", "expected"),
    MATRIX,
    ids=[f"{a}-{c.value}-{t}-{'allow' if e else 'deny'}" for a, c, t, e in MATRIX],
)
def test_may(actor: str, capability: Capability, target: str, expected: bool) -> None:
    assert scope.may(ACTORS[actor], capability, TARGETS[target]) is expected


@pytest.mark.parametrize(("actor", "capability", "target", "expected"), MATRIX[::7])
def test_require_raises_not_found_exactly_when_denied(
    actor: str, capability: Capability, target: str, expected: bool
) -> None:
    from bot.errors import NotFound

    if expected:
        scope.require(ACTORS[actor], capability, TARGETS[target])
    else:
        with pytest.raises(NotFound):
            scope.require(ACTORS[actor], capability, TARGETS[target])


HAS_CAPABILITY = {
    actor: {capability for capability, reach in table.items() if reach}
    for actor, table in ALLOWED.items()
}


@pytest.mark.parametrize("actor", list(ACTORS))
def test_has_capability_and_require_capability(actor: str) -> None:
    for capability in Capability:
        expected = capability in HAS_CAPABILITY[actor]
        assert scope.has_capability(ACTORS[actor], capability) is expected, capability
        if expected:
            scope.require_capability(ACTORS[actor], capability)
        else:
            with pytest.raises(Forbidden):
                scope.require_capability(ACTORS[actor], capability)


# --- roots: the SQL half of the same decision -------------------------------------------------

ROOTS: list[tuple[str, Capability, tuple[str, ...] | None]] = [
    ("member_A", C.READ, (A.path,)),
    ("member_A", C.ENTER, (A.path,)),
    ("member_A", C.REVIEW, ()),
    ("secretary_A", C.CORRECT, (A.path,)),
    ("secretary_A", C.MANAGE_TEAM, ()),
    ("township_T1", C.READ, (T1.path,)),
    ("township_T1", C.ENTER, ()),
    ("county", C.REVIEW, (COUNTY.path,)),
    ("admin", C.READ, None),
    ("admin", C.REVIEW, None),
    ("admin", C.ENTER, ()),
    ("member_A_and_C", C.READ, (A.path, C_VILLAGE.path)),
    ("leader_T1_and_T2", C.MANAGE_TEAM, (T1.path, T2.path)),
    ("inactive_secretary_A", C.READ, ()),
    ("stranger", C.READ, ()),
]


@pytest.mark.parametrize(("actor", "capability", "expected"), ROOTS)
def test_roots(actor: str, capability: Capability, expected: tuple[str, ...] | None) -> None:
    assert scope.roots(ACTORS[actor], capability) == expected


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("capability", list(Capability))
def test_roots_agree_with_may_on_regions(actor: str, capability: Capability) -> None:
    found = scope.roots(ACTORS[actor], capability)
    for name, region in REGIONS.items():
        in_roots = found is None or any(region.path.startswith(root) for root in found)
        assert in_roots is scope.may(ACTORS[actor], capability, region), name


# --- may_invite: design.md's "may invite" column ----------------------------------------------

INVITE_REGIONS: dict[str, Region | None] = {**REGIONS, "none": None}

# (role, region) pairs each actor may hand out; every other pair is refused.
MAY_INVITE: dict[str, frozenset[tuple[Role, str]]] = {
    "member_A": frozenset(),
    "cadre_A": frozenset(),
    "secretary_A": frozenset({(Role.MEMBER, "A"), (Role.CADRE, "A")}),
    "township_T1": frozenset(
        (role, village)
        for role in (Role.SECRETARY, Role.CADRE, Role.MEMBER)
        for village in ("A", "B")
    ),
    "county": frozenset(
        {(Role.TOWNSHIP, t) for t in ("T1", "T2", "T1_lookalike")}
        | {
            (role, village)
            for role in (Role.SECRETARY, Role.CADRE, Role.MEMBER)
            for village in ("A", "B", "C")
        }
    ),
    "admin": frozenset(
        {(Role.ADMIN, "none")}
        | {(Role.COUNTY, c) for c in ("county", "other_county")}
        | {(Role.TOWNSHIP, t) for t in ("T1", "T2", "T1_lookalike")}
        | {
            (role, village)
            for role in (Role.SECRETARY, Role.CADRE, Role.MEMBER)
            for village in ("A", "B", "C")
        }
    ),
    "member_A_and_C": frozenset(),
    "leader_T1_and_T2": frozenset(
        (role, village)
        for role in (Role.SECRETARY, Role.CADRE, Role.MEMBER)
        for village in ("A", "B", "C")
    ),
    "inactive_secretary_A": frozenset(),
    "stranger": frozenset(),
}

INVITE_MATRIX = [
    (actor, role, region, (role, region) in MAY_INVITE[actor])
    for actor in ACTORS
    for role in Role
    for region in INVITE_REGIONS
]


@pytest.mark.parametrize(
    ("actor", "role", "region", "expected"),
    INVITE_MATRIX,
    ids=[f"{a}-{r.value}-{g}-{'allow' if e else 'deny'}" for a, r, g, e in INVITE_MATRIX],
)
def test_may_invite(actor: str, role: Role, region: str, expected: bool) -> None:
    assert scope.may_invite(ACTORS[actor], role, INVITE_REGIONS[region]) is expected


def test_level_mismatches_are_refused_even_for_admin() -> None:
    admin = ACTORS["admin"]
    assert not scope.may_invite(admin, Role.MEMBER, T1)  # a village role at a township
    assert not scope.may_invite(admin, Role.TOWNSHIP, A)  # a township role at a village
    assert not scope.may_invite(admin, Role.COUNTY, T1)
    assert not scope.may_invite(admin, Role.ADMIN, A)  # admin belongs to no region
    assert not scope.may_invite(admin, Role.MEMBER, None)  # a village role needs its village


INVITABLE_ROLES = {
    "member_A": [],
    "cadre_A": [],
    "secretary_A": [Role.MEMBER, Role.CADRE],
    "township_T1": [Role.MEMBER, Role.CADRE, Role.SECRETARY],
    "county": [Role.MEMBER, Role.CADRE, Role.SECRETARY, Role.TOWNSHIP],
    "admin": list(Role),
    "member_A_and_C": [],
    "leader_T1_and_T2": [Role.MEMBER, Role.CADRE, Role.SECRETARY],
    "inactive_secretary_A": [],
    "stranger": [],
}


@pytest.mark.parametrize("actor", list(ACTORS))
def test_invitable_roles(actor: str) -> None:
    assert scope.invitable_roles(ACTORS[actor]) == INVITABLE_ROLES[actor]
    # Consistent with may_invite: a role is offered exactly when it can be used somewhere.
    usable = {role for role, _ in MAY_INVITE[actor]}
    assert set(INVITABLE_ROLES[actor]) == usable


# --- the same rules through the services, on the sample store ------------------------------


async def test_sample_store_paths_match_the_tables(bot: Harness) -> None:
    db = bot.services.db
    for region in (PROVINCE, CITY, COUNTY, T1, T2, A, B, C_VILLAGE):
        stored = await region_repo.get(db, region.code)
        assert stored is not None, region.code
        assert (stored.path, stored.level, stored.name) == (region.path, region.level, region.name)


async def _member_of(bot: Harness, key: str) -> Member:
    member = await bot.services.members.identify(persona(key).telegram_id)
    assert member is not None, key
    return member


async def _add_membership(bot: Harness, telegram_id: int, role: Role, region: str | None) -> None:
    invites = bot.services.invites
    invite = await invites.create(role=role, region_code=region, name=None, operator=SAMPLE_ACTOR)
    await invites.redeem(invite.code, telegram_user_id=telegram_id, telegram_name="某人")


def _codes(regions: Iterable[Region]) -> list[str]:
    return [r.code for r in regions]


VILLAGES_T1 = ["511902101001", "511902101002", "511902101003"]
VILLAGE_T2 = ["511902102001"]


@pytest.mark.parametrize(
    ("key", "role", "expected"),
    [
        ("member", Role.MEMBER, []),
        ("cadre", Role.CADRE, []),
        ("secretary", Role.MEMBER, ["511902101001"]),
        ("secretary", Role.CADRE, ["511902101001"]),
        ("secretary", Role.SECRETARY, []),
        ("township", Role.SECRETARY, VILLAGES_T1),
        ("township", Role.TOWNSHIP, []),
        ("county", Role.MEMBER, VILLAGES_T1 + VILLAGE_T2),
        ("county", Role.TOWNSHIP, ["511902101", "511902102"]),
        ("county", Role.COUNTY, []),
        ("admin", Role.COUNTY, ["511902"]),
        ("admin", Role.ADMIN, []),
    ],
)
async def test_regions_for_lists_only_regions_in_scope(
    bot: Harness, key: str, role: Role, expected: list[str]
) -> None:
    inviter = await _member_of(bot, key)
    assert _codes(await bot.services.invites.regions_for(inviter, role)) == expected


async def test_regions_for_a_member_of_two_villages_and_a_leader_of_two_townships(
    bot: Harness,
) -> None:
    secretary = persona("secretary").telegram_id
    await _add_membership(bot, secretary, Role.SECRETARY, "511902102001")
    inviter = await _member_of(bot, "secretary")
    regions = await bot.services.invites.regions_for(inviter, Role.MEMBER)
    assert _codes(regions) == ["511902101001", "511902102001"]

    township = persona("township").telegram_id
    await _add_membership(bot, township, Role.TOWNSHIP, "511902102")
    leader = await _member_of(bot, "township")
    regions = await bot.services.invites.regions_for(leader, Role.CADRE)
    assert _codes(regions) == VILLAGES_T1 + VILLAGE_T2


async def _refusal(bot: Harness, inviter: Member, role: Role, region: str | None) -> Exception:
    with pytest.raises((Forbidden, InvalidInput)) as caught:
        await bot.services.invites.create(
            role=role, region_code=region, name="某人", inviter=inviter
        )
    return caught.value


def _shape(error: Exception) -> tuple[type[Exception], str, dict[str, object]]:
    assert isinstance(error, Forbidden | InvalidInput)
    params = {k: v for k, v in error.params.items() if k != "code"}
    return type(error), error.key, params


@pytest.mark.parametrize(
    ("key", "role", "out_of_scope"),
    [
        ("secretary", Role.MEMBER, "511902101002"),  # a sibling village
        ("secretary", Role.MEMBER, "511902102001"),  # a village of another township
        ("township", Role.SECRETARY, "511902102001"),
        ("township", Role.MEMBER, "511902102"),  # another township, wrong level too
        ("secretary", Role.MEMBER, "511902101"),  # its own township, wrong level too
    ],
)
async def test_inviting_out_of_scope_looks_like_an_unknown_region(
    bot: Harness, key: str, role: Role, out_of_scope: str
) -> None:
    inviter = await _member_of(bot, key)
    missing = await _refusal(bot, inviter, role, "999999999999")
    hidden = await _refusal(bot, inviter, role, out_of_scope)
    assert _shape(hidden) == _shape(missing)


async def test_roles_one_may_not_hand_out_are_forbidden_anywhere(bot: Harness) -> None:
    member = await _member_of(bot, "member")
    with pytest.raises(Forbidden):
        await bot.services.invites.create(
            role=Role.MEMBER, region_code="511902101001", name="某人", inviter=member
        )
    secretary = await _member_of(bot, "secretary")
    with pytest.raises(Forbidden):
        await bot.services.invites.create(
            role=Role.SECRETARY, region_code="511902101001", name="某人", inviter=secretary
        )
    with pytest.raises(Forbidden):
        await bot.services.invites.create(
            role=Role.ADMIN, region_code=None, name="某人", inviter=secretary
        )


async def test_invites_inside_scope_are_created_by_the_inviter(bot: Harness) -> None:
    township = await _member_of(bot, "township")
    invite = await bot.services.invites.create(
        role=Role.SECRETARY, region_code="511902101002", name="新书记", inviter=township
    )
    assert invite.created_by == f"member:{township.id}"
    assert invite.region_code == "511902101002"


async def test_a_deactivated_member_is_a_stranger(bot: Harness) -> None:
    secretary = await _member_of(bot, "secretary")
    async with bot.services.db.transaction() as tx:
        await member_repo.set_active(tx, secretary.id, False)
    assert await bot.services.members.identify(persona("secretary").telegram_id) is None
    stored = await member_repo.get(bot.services.db, secretary.id)
    assert stored is not None
    assert not stored.active
    assert not scope.may(stored, C.READ, A)
    assert await bot.services.invites.regions_for(stored, Role.MEMBER) == []
    await _refusal(bot, stored, Role.MEMBER, "511902101001")

    replies = await bot.command(persona("secretary"), "me")
    stranger = await bot.command(1099, "me")
    assert replies == stranger

    async with bot.services.db.transaction() as tx:
        await member_repo.set_active(tx, secretary.id, True)
    assert await bot.services.members.identify(persona("secretary").telegram_id) is not None
