"""SQL for "inside these subtrees", the storage half of scope checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# None means "everything" (an admin); an empty tuple means "nothing".
Roots = Sequence[str] | None


def path_filter(column: str, roots: Roots) -> tuple[str, list[Any]]:
    """A WHERE fragment matching rows whose region path lies under one of ``roots``."""
    if roots is None:
        return "1", []
    if not roots:
        return "0", []
    # substr rather than LIKE: codes may contain '_' and '%', which LIKE treats as wildcards.
    clause = " OR ".join(f"substr({column}, 1, length(?)) = ?" for _ in roots)
    params: list[Any] = []
    for root in roots:
        params += [root, root]
    return f"({clause})", params
