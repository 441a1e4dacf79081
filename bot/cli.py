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
NO_WEBHOOK_SECRET = (
    "ZHUCUN_WEBHOOK_SECRET is not set: webhook mode needs it (1-256 characters from "
    "A-Z, a-z, 0-9, _ and -); Telegram sends it with every update."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhucun", description="驻村通 — operator commands")
    verbs = parser.add_subparsers(dest="verb", required=True)

    run_verb = verbs.add_parser("run", help="poll Telegram (or ZHUCUN_API_BASE_URL)")
    run_verb.add_argument("--webhook", metavar="URL", help="webhook mode: the public HTTPS URL")
    run_verb.add_argument("--listen", default="127.0.0.1", help="address the webhook serves on")
    run_verb.add_argument("--port", type=int, default=8080, help="port the webhook serves on")
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

    backup = verbs.add_parser("backup", help="consistent copy of the store and its files")
    backup.add_argument("file", type=Path)

    summ = verbs.add_parser("summary", help="print a township's summary or a county's roll-up")
    summ.add_argument("--region", required=True, help="township or county code")
    summ.add_argument("--date", help="the day (YYYY-MM-DD, 昨天 …); default today")

    exp = verbs.add_parser("export", help="write a workbook: entries, public notice or monthly")
    exp.add_argument("--region", required=True, help="region code (township, county, village)")
    exp.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    exp.add_argument("--to", dest="end", required=True, help="last day (YYYY-MM-DD)")
    exp.add_argument("-o", "--output", required=True, type=Path, help="the .xlsx file to write")
    exp.add_argument("--kind", choices=["entries", "notice", "monthly"], default="entries")
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
        if args.webhook:
            return run_webhook(settings, args.webhook, args.listen, args.port)
        return run(settings)
    if args.verb == "backup":
        from bot.backup import backup_cli

        return backup_cli(settings, args.file)
    if args.verb == "demo":
        from bot.demo import run_demo

        return run_demo(settings)
    if args.verb == "summary":
        return asyncio.run(_with_store(settings, lambda db: _summary(db, args, settings)))
    if args.verb == "export":
        return asyncio.run(_with_store(settings, lambda db: _export(db, args, settings)))
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


async def _export(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.exports import ExportKind, ExportService

    service = ExportService(db, SystemClock(), settings)
    period = service.parse_period(f"{args.start} {args.end}")
    made = await service.export(
        None, ExportKind(args.kind), period, region_code=args.region, operator=_operator()
    )
    args.output.write_bytes(made.content)
    print(f"{args.kind}: {made.rows} rows, {len(made.content)} bytes -> {args.output}")
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


def run_webhook(settings: Settings, url: str, listen: str, port: int) -> int:
    """Webhook mode behind an HTTPS reverse proxy; stops on SIGINT/SIGTERM."""
    from bot.logging_setup import configure_logging

    if settings.bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    if settings.webhook_secret is None:
        print(NO_WEBHOOK_SECRET, file=sys.stderr)
        return EXIT_USAGE
    configure_logging()
    asyncio.run(_serve_webhook(settings, url, listen, port))
    return 0


async def _serve_webhook(settings: Settings, url: str, listen: str, port: int) -> None:
    import signal

    from bot.app import build_application, serving
    from bot.webhook import webhook_mode

    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    app = build_application(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        serving(app),
        webhook_mode(app, url=url, secret=secret, listen=listen, port=port) as server,
    ):
        print(f"webhook: {url} -> {server.url}", flush=True)
        await stop.wait()
