"""Domain models shared by services and storage; plain pydantic, no Telegram types."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Models are values: repositories hand out fresh ones, nobody mutates them in place."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


class RegionKind(StrEnum):
    POOR = "poor"
    NON_POOR = "non_poor"


class Role(StrEnum):
    MEMBER = "member"
    CADRE = "cadre"
    SECRETARY = "secretary"
    TOWNSHIP = "township"
    COUNTY = "county"
    ADMIN = "admin"

    @property
    def level(self) -> Level | None:
        """The level of region a membership of this role is attached to (admin: none)."""
        return ROLE_LEVEL[self]


ROLE_LEVEL: dict[Role, Level | None] = {
    Role.MEMBER: Level.VILLAGE,
    Role.CADRE: Level.VILLAGE,
    Role.SECRETARY: Level.VILLAGE,
    Role.TOWNSHIP: Level.TOWNSHIP,
    Role.COUNTY: Level.COUNTY,
    Role.ADMIN: None,
}
VILLAGE_ROLES = frozenset({Role.MEMBER, Role.CADRE, Role.SECRETARY})
LEADER_ROLES = frozenset({Role.TOWNSHIP, Role.COUNTY, Role.ADMIN})


class HouseholdStatus(StrEnum):
    NOT_LIFTED = "not_lifted"
    LIFTED = "lifted"
    MONITORED = "monitored"
    ORDINARY = "ordinary"


class Cause(StrEnum):
    ILLNESS = "illness"
    DISABILITY = "disability"
    SCHOOLING = "schooling"
    DISASTER = "disaster"
    MARRIAGE = "marriage"
    LACK_OF_LAND = "lack_of_land"
    LACK_OF_WATER = "lack_of_water"
    LACK_OF_SKILLS = "lack_of_skills"
    LACK_OF_LABOUR = "lack_of_labour"
    LACK_OF_CAPITAL = "lack_of_capital"
    POOR_TRANSPORT = "poor_transport"
    LACK_OF_DRIVE = "lack_of_drive"
    OTHER = "other"


class Measure(StrEnum):
    PRODUCTION = "production"
    RELOCATION = "relocation"
    ECOLOGICAL = "ecological"
    EDUCATION = "education"
    SOCIAL_SECURITY = "social_security"


class Guarantee(StrEnum):
    """State of one "两不愁三保障" item, as the latest visit that observed it left it."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


GUARANTEE_ITEMS = ("food", "clothing", "education", "medical", "housing", "water")


class Region(Frozen):
    code: str
    parent_code: str | None
    level: Level
    name: str
    kind: RegionKind | None = None
    lat: float | None = None
    lon: float | None = None
    radius_m: int = 1000
    path: str

    @property
    def ancestor_codes(self) -> tuple[str, ...]:
        """Codes from the root down to and including this region."""
        return tuple(part for part in self.path.split("/") if part)


class Membership(Frozen):
    id: int
    member_id: int
    role: Role
    region_code: str | None
    region_path: str | None
    region_name: str | None


class Member(Frozen):
    id: int
    telegram_user_id: int
    name: str
    phone: str | None
    locale: str | None
    active: bool
    created_at: datetime
    memberships: tuple[Membership, ...] = ()


class Invite(Frozen):
    code: str
    role: Role
    region_code: str | None
    name: str | None
    phone: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_by: int | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class Household(Frozen):
    id: int
    registry_no: str
    village_code: str
    village_path: str
    village_name: str
    head_name: str
    size: int
    status: HouseholdStatus
    causes: tuple[Cause, ...]
    measure: Measure | None
    helper_name: str | None
    helper_member_id: int | None
    income: float | None
    phone: str | None
    notes: str | None
    food: Guarantee
    clothing: Guarantee
    education: Guarantee
    medical: Guarantee
    housing: Guarantee
    water: Guarantee
    last_visit_at: datetime | None
    local: bool


class AuditEvent(Frozen):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: str | None
    after: str | None
