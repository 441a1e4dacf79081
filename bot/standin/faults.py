"""Ways the stand-in misbehaves on purpose, so tests see what a real network and server do.

A :class:`FaultPlan` is consulted by :class:`~bot.standin.api.FakeTelegram` for every call. It
answers with at most one :class:`Fault`: latency, a 429 with ``retry_after``, a 5xx before the
call takes effect, a 5xx after it took effect (the dangerous one: the message was sent but the
bot is told it failed), or a dropped connection. Faults are scripted per method and call number,
or drawn at a rate from a seeded generator so a failing run can be replayed. Holds let a test
order replies across chats, e.g. keep chat A's reply back until chat B's has been recorded.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    LATENCY = "latency"
    RETRY_AFTER = "retry_after"
    ERROR_BEFORE = "error_before"
    ERROR_AFTER = "error_after"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour; ``seconds`` is the latency, ``retry_after`` the 429's advice."""

    kind: FaultKind
    seconds: float = 0.0
    retry_after: int = 1
    status: int = 502


class ConnectionDropped(Exception):
    """The server hangs up without answering; transports turn it into their own failure."""


class FaultPlan:
    """Decides, call by call, which fault (if any) the stand-in plays."""

    def __init__(
        self,
        *,
        rate: float = 0.0,
        seed: int = 0,
        kinds: Iterable[Fault] = (
            Fault(FaultKind.RETRY_AFTER),
            Fault(FaultKind.ERROR_BEFORE),
            Fault(FaultKind.ERROR_AFTER, status=500),
            Fault(FaultKind.DROP),
        ),
        methods: Iterable[str] | None = None,
    ) -> None:
        self._rate = rate
        self._random = random.Random(seed)
        self._kinds = tuple(kinds)
        self._methods = None if methods is None else {name.lower() for name in methods}
        self._scripted: dict[tuple[str, int], Fault] = {}
        self._counts: Counter[str] = Counter()
        self._faulted: set[str] = set()
        self._holds: dict[str, str] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self.played: list[tuple[str, Fault]] = []

    def script(self, method: str, fault: Fault, *, nth: int = 1) -> None:
        """Play ``fault`` on the ``nth`` call (1-based) of ``method``."""
        self._scripted[(method.lower(), nth)] = fault

    def hold(self, chat_id: int | str, *, until: int | str) -> None:
        """Keep sends to ``chat_id`` waiting until a send to ``until`` has been performed."""
        self._holds[str(chat_id)] = str(until)
        self._gates.setdefault(str(until), asyncio.Event())

    def choose(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        """The fault for this call; a random fault never hits the same call twice."""
        key = method.lower()
        self._counts[key] += 1
        fault = self._scripted.pop((key, self._counts[key]), None)
        if fault is None and self._rate > 0 and self._kinds:
            if self._methods is not None and key not in self._methods:
                return None
            identity = key + json.dumps(params, sort_keys=True, default=str)
            if identity in self._faulted or self._random.random() >= self._rate:
                return None
            self._faulted.add(identity)
            fault = self._random.choice(self._kinds)
        if fault is not None:
            self.played.append((method, fault))
        return fault

    async def wait_turn(self, params: Mapping[str, Any]) -> None:
        """Block a held chat's send until the chat it waits for has been answered."""
        chat = params.get("chat_id")
        until = self._holds.get(str(chat)) if chat is not None else None
        if until is not None:
            await self._gates[until].wait()
            self._holds.pop(str(chat), None)

    def performed(self, params: Mapping[str, Any]) -> None:
        """Open the gate of the chat a send was just recorded for."""
        chat = params.get("chat_id")
        gate = self._gates.get(str(chat)) if chat is not None else None
        if gate is not None:
            gate.set()
