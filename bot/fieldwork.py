"""Domain models for work in the village: visits, problems and the files kept with them.

Plain pydantic values exchanged by ``bot.services.visits``, ``bot.services.problems`` and
``bot.services.files`` and their repositories; no Telegram types.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from bot.models import GUARANTEE_ITEMS, Frozen, Guarantee

__all__ = [
    "GUARANTEE_ITEMS",
    "Category",
    "FileKind",
    "KeptFile",
    "Problem",
    "ProblemStatus",
    "Severity",
    "Visit",
]

VISIT_PREFIX = "V"  # entry numbers as shown: V12 is visit 12, P7 is problem 7
PROBLEM_PREFIX = "P"


class FileKind(StrEnum):
    PHOTO = "photo"
    VOICE = "voice"


class Category(StrEnum):
    MEDICAL = "medical"
    EDUCATION = "education"
    HOUSING = "housing"
    WATER = "water"
    ROADS = "roads"
    INDUSTRY = "industry"
    EMPLOYMENT = "employment"
    SOCIAL_SECURITY = "social_security"
    OTHER = "other"


class Severity(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class ProblemStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    SENT_BACK = "sent_back"


OPEN_STATUSES = (
    ProblemStatus.OPEN,
    ProblemStatus.IN_PROGRESS,
    ProblemStatus.ESCALATED,
    ProblemStatus.SENT_BACK,
)


class KeptFile(Frozen):
    """A photo or voice note: Telegram's id, and where its bytes are kept (None: too big)."""

    id: int
    kind: FileKind
    member_id: int
    telegram_file_id: str
    file_unique_id: str
    path: str | None
    caption: str | None
    size: int | None
    visit_id: int | None
    problem_id: int | None
    source_chat_id: int
    source_message_id: int
    created_at: datetime


class Visit(Frozen):
    id: int
    household_id: int
    household_name: str
    registry_no: str
    village_code: str
    village_name: str
    village_path: str
    member_id: int
    member_name: str
    visit_day: date
    visited_at: datetime
    backdated: bool
    text: str
    food: Guarantee | None
    clothing: Guarantee | None
    education: Guarantee | None
    medical: Guarantee | None
    housing: Guarantee | None
    water: Guarantee | None
    follow_up_day: date | None
    one_line: bool
    voided: bool
    source_chat_id: int
    source_message_id: int
    created_at: datetime
    updated_at: datetime | None
    files: int = 0

    @property
    def number(self) -> str:
        return f"{VISIT_PREFIX}{self.id}"

    def observations(self) -> dict[str, Guarantee]:
        """The items this visit observed."""
        found = {item: getattr(self, item) for item in GUARANTEE_ITEMS}
        return {item: state for item, state in found.items() if state is not None}


class Problem(Frozen):
    id: int
    village_code: str
    village_name: str
    village_path: str
    household_id: int | None
    household_name: str | None
    reporter_id: int
    reporter_name: str
    category: Category
    severity: Severity
    description: str
    status: ProblemStatus
    assignee_id: int | None
    due_day: date
    resolution: str | None
    voided: bool
    source_chat_id: int
    source_message_id: int
    created_at: datetime
    updated_at: datetime | None
    files: int = 0

    @property
    def number(self) -> str:
        return f"{PROBLEM_PREFIX}{self.id}"


def parse_entry_number(text: str) -> tuple[str, int] | None:
    """``V12`` → ("visit", 12), ``p7`` → ("problem", 7); None for anything else."""
    cleaned = "".join(text.split()).upper().removeprefix("#")
    kinds = {VISIT_PREFIX: "visit", PROBLEM_PREFIX: "problem"}
    if len(cleaned) < 2 or cleaned[0] not in kinds:
        return None
    digits = cleaned[1:].removeprefix("#")
    if not digits.isdigit() or len(digits) > 12:
        return None
    return kinds[cleaned[0]], int(digits)
