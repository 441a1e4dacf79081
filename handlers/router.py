"""Free text outside any flow, routed in design.md's order; the first route that takes it wins.

Each route gets the caller (a registered member) and the text, and returns whether it answered.
What no route takes gets the fallback hint. A question goes to the policy library (issue 8).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot.context import BotContext
from handlers import household, policy
from handlers.common import Caller

Route = Callable[[Update, BotContext, Caller, str], Awaitable[bool]]

ROUTES: list[Route] = [
    household.offer,  # a household name or number in scope → its card, or buttons to choose
    policy.offer,  # a question (ends in ？/?, or has a question word) → policy passages
]


async def route(update: Update, context: BotContext, who: Caller) -> bool:
    """Try each route on a member's text message; False when none answered it."""
    message = update.effective_message
    text = message.text if message is not None else None
    if who.member is None or not text or text.startswith("/"):
        return False
    for candidate in ROUTES:
        if await candidate(update, context, who, text):
            return True
    return False
