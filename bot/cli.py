"""The operator's command line, ``zhucun``: every verb parses its arguments and calls services."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.clock import SystemClock
from bot.config import Settings, SettingsError, load_settings
from bot.errors import ZhucunError
from bot.models import Role
from locales import load_catalog
from storage.audit import operator_actor
from storage.db import Database

EXIT_USAGE = 2
EXIT_FAILED = 1

NO_TOKEN = (
    "ZHUCUN_BOT_TOKEN is not set: put your bot's token from @BotFather in the environment "
    "or .env, or try the playground with `zhucun demo` (no token needed)."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhucun", description="驻村通 — operator commands")
    verbs = parser.add_subparsers(dest="verb", required=True)

    verbs.add_parser("run", help="poll Telegram (or ZHUCUN_API_BASE_URL)")
    verbs.add_parser(
        "demo", help="the playground: the real bot against a local stand-in, no token needed"
    )

    db = verbs.add_parser("db", help="the store").add_subparsers(dest="db_verb", required=True)
    db.add_parser("migrate", help="apply migrations")
    db.add_parser("check", help="integrity check")

    imp = verbs.add_parser(
        "import",
        help="import regions or households (CSV/XLSX), or policies (Markdown file or folder)",
    )
    imp.add_argument("kind", choices=["regions", "households", "policies"])
    imp.add_argument("file", type=Path)

    inv = verbs.add_parser("invite", help="create an invite; the code is the last line")
    inv.add_argument("--role", required=True, choices=[r.value for r in Role])
    inv.add_argument("--region", help="region code (none for admin)")
    inv.add_argument("--name", help="the invitee's real name")
    inv.add_argument("--phone")
    inv.add_argument("--days", type=int, default=7)

    summ = verbs.add_parser("summary", help="print a township's summary or a county's roll-up")
    summ.add_argument("--region", required=True, help="township or county code")
    summ.add_argument("--date", help="the day (YYYY-MM-DD, 昨天 …); default today")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(dispatch(args, settings))


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.verb == "run":
        return run(settings)
    if args.verb == "demo":
        from bot.demo import run_demo

        return run_demo(settings)
    if args.verb == "summary":
        return asyncio.run(_with_store(settings, lambda db: _summary(db, args, settings)))
    handler = VERBS[(args.verb, getattr(args, "db_verb", None))]
    return asyncio.run(_with_store(settings, lambda db: handler(db, args)))


async def _with_store(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = await Database.open(settings.db)
    try:
        await db.migrate()
        return await work(db)
    except ZhucunError as exc:
        print(load_catalog().label("en", exc.key, **exc.params), file=sys.stderr)
        return EXIT_FAILED
    finally:
        await db.close()


def _operator() -> str:
    return operator_actor(getpass.getuser())


async def _migrate(db: Database, args: argparse.Namespace) -> int:
    print("migrations applied:", ", ".join(await db.applied_migrations()))
    return 0


async def _check(db: Database, args: argparse.Namespace) -> int:
    problems = await db.integrity_check()
    for problem in problems:
        print(problem)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return EXIT_FAILED if problems else 0


async def _import(db: Database, args: argparse.Namespace) -> int:
    from bot.services.imports import ImportFileError, import_households, import_regions

    if args.kind == "policies":
        return await _import_policies(db, args)
    action = import_regions if args.kind == "regions" else import_households
    try:
        result = await action(db, SystemClock(), args.file, _operator())
    except ImportFileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{args.kind}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )
    return 0


async def _import_policies(db: Database, args: argparse.Namespace) -> int:
    from bot.services.policies import PolicyFileError, PolicyService

    try:
        result = await PolicyService(db, SystemClock()).import_path(args.file, _operator())
    except PolicyFileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    print(
        f"policies: {result.created} created, {result.replaced} replaced, "
        f"{result.unchanged} unchanged, {result.passages} passages written"
    )
    return 0


async def _invite(db: Database, args: argparse.Namespace) -> int:
    from bot.services.invites import InviteService

    invite = await InviteService(db, SystemClock()).create(
        role=Role(args.role),
        region_code=args.region,
        name=args.name,
        phone=args.phone,
        days=args.days,
        operator=_operator(),
    )
    region, name = invite.region_code or "-", invite.name or "-"
    print(f"role: {invite.role.value}  region: {region}  name: {name}")
    print(f"expires: {invite.expires_at.isoformat(timespec='minutes')}")
    print("send this to the invitee: /start " + invite.code)
    print(invite.code)
    return 0


async def _summary(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.summary import SummaryService
    from handlers.summary import render

    service = SummaryService(db, SystemClock(), settings)
    summary = await service.for_region(args.region, service.parse_day(args.date))
    print(render(load_catalog(), settings.locale, summary, html=False))
    return 0


VERBS: dict[tuple[str, str | None], Callable[[Database, argparse.Namespace], Awaitable[int]]] = {
    ("db", "migrate"): _migrate,
    ("db", "check"): _check,
    ("import", None): _import,
    ("invite", None): _invite,
}


def run(settings: Settings) -> int:
    from bot.app import ALLOWED_UPDATES, build_application
    from bot.logging_setup import configure_logging

    if settings.bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    configure_logging()
    app = build_application(settings)
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0
