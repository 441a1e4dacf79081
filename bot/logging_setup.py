"""Logging that never shows the bot token, phone numbers or ID numbers.

python-telegram-bot logs the API URL (which embeds the token) at DEBUG, and httpx logs every
request URL at INFO. Redaction therefore happens where records are made (a log record factory),
so every handler — including ones attached later, such as a test's capture — sees clean text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

# Anything shaped like a Bot API token, even one we were not told about.
TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Personal data: an 18-digit resident ID number (身份证号, last character may be X), a mainland
# mobile number (optionally +86, optionally split as 3-4-4) and a landline with its area code.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
PHONE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])0\d{2,3}-\d{7,8}(?![0-9A-Za-z])"
)
REDACTED = "<redacted>"
PERSONAL = "<personal>"

RecordFactory = Callable[..., logging.LogRecord]


class Redactor:
    """Replaces known secrets, token-shaped strings, phone and ID numbers in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = TOKEN_SHAPE.sub(REDACTED, text)
        text = ID_NUMBER.sub(PERSONAL, text)
        return PHONE.sub(PERSONAL, text)


def _redacting_factory(base: RecordFactory, redact: Redactor) -> RecordFactory:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.redactor = redact  # type: ignore[attr-defined]
    return factory


def install_redaction(secrets: Iterable[str]) -> Redactor:
    """Make every future log record redact ``secrets``; calling again replaces the secrets."""
    current = logging.getLogRecordFactory()
    existing: Redactor | None = getattr(current, "redactor", None)
    if existing is not None:
        existing.secrets = [s for s in [*existing.secrets, *secrets] if s]
        return existing
    redactor = Redactor(secrets)
    logging.setLogRecordFactory(_redacting_factory(current, redactor))
    return redactor


def configure_logging(level: int = logging.INFO) -> None:
    """Operator-facing logs: one line each; httpx's per-request lines only at WARNING and up."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
