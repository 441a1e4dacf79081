"""A local stand-in for the Telegram Bot API: one behaviour, an in-process and an HTTP transport.

``FakeTelegram`` is the behaviour, ``StandinRequest`` hands it python-telegram-bot's calls in the
same process, ``StandinServer`` serves it over HTTP for end-to-end tests and ``zhucun demo``, and
``FaultPlan`` makes it misbehave on purpose.
"""

from bot.standin.api import ApiError, FakeTelegram, RecordedCall, StoredFile, Upload
from bot.standin.faults import ConnectionDropped, Fault, FaultKind, FaultPlan
from bot.standin.transport import StandinRequest

__all__ = [
    "ApiError",
    "ConnectionDropped",
    "FakeTelegram",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "RecordedCall",
    "StandinRequest",
    "StoredFile",
    "Upload",
]
