"""Domain errors that services raise and handlers turn into localized replies.

    ZhucunError
     ├── NotFound      the thing does not exist, or is outside the caller's scope (deliberately
     │                 indistinguishable, so names cannot be probed)
     ├── Forbidden     the caller is known but may not do this action at all
     ├── InvalidInput  the caller's input is malformed; ``key`` names the locale message
     └── Conflict      the write collides with existing state (storage turns IntegrityError into it)

Every error carries a locale ``key`` and ``params`` so the edge can render it in the user's
language without the service knowing about languages.
"""

from __future__ import annotations

from typing import Any


class ZhucunError(Exception):
    """Base of every error the services raise on purpose."""

    default_key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or self.default_key
        self.params = params
        super().__init__(self.key, params)


class NotFound(ZhucunError):
    """Missing, or outside scope: the two must look the same to the caller."""

    default_key = "error.not_found"


class Forbidden(ZhucunError):
    """The caller's role may never do this, wherever the target is."""

    default_key = "error.forbidden"


class InvalidInput(ZhucunError):
    """The input cannot be accepted as given."""

    default_key = "error.invalid"


class Conflict(ZhucunError):
    """The write would contradict what is already stored."""

    default_key = "error.conflict"
