"""One-line visits end to end over HTTP polling, and the bot's memory while it does them.

    python -m bench.http [--size tiny|full]

The in-process benchmark (``bench.fieldwork``) leaves out what a deployment pays on top of the
handlers: the HTTP stack both ways (long-polling ``getUpdates`` and every ``sendMessage`` over
httpx), JSON on the wire, and one process doing it all. So here the bot runs as its own process
(``python -m bench.http --bot-runner``: the product bot alone, as ``tests.pipeline.field_runner``
runs it) polling the stand-in served over HTTP/1.1 on loopback from this process, and the
figure is measured against python-telegram-bot itself doing the least a bot can do over the
same path: a plain ``ApplicationBuilder().token().base_url()`` bot whose one handler replies
"ok" (``--baseline-runner``, PTB's defaults: one update at a time), also its own process, on a
stand-in of its own. Both are started together and measured one after the other, alternating
for a few rounds, so they never compete for the two cores; the best round of each is reported
(the noise on these boxes only ever makes a round slower).

- **visits/s**: N one-line ``/visit 王秀英 …`` from M team members queued at once; the clock
  runs from the first enqueue until the stand-in has recorded every "走访已保存" reply (the
  baseline: every "ok"). Every visit is to the one household the pipeline tests use, so its
  visits pile up over the rounds as they would over months. Telegram's overall 30 messages/s
  is lifted from the bot's rate limiter (``RetryingRateLimiter(overall_max_rate=0)``; the
  limiter itself stays in the path): kept, it would measure the limit, not the bot. The
  baseline has no limiter at all. Target: ≥ 0.7 of the baseline.
  Beside each rate, the process's CPU time per message (least of the rounds): the figure a
  busy neighbour on the box disturbs least.
- **peak RSS**: the bot process's ``VmHWM`` (Linux), read after the last round and before it
  is stopped, so start-up, migrations and every burst are in it. Target: < 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Row, at_least, table
from bot.standin.api import FakeTelegram, JsonDict
from bot.standin.server import StandinServer
from tests.pipeline.live import ROOT, BotProcess

TARGET_RATIO = 0.7
RSS_LIMIT_MB = 250.0
RUN_TIMEOUT = 120.0  # only a stuck bot reaches it
SAVED = "走访已保存"  # the one-line visit's reply (locales/zh.toml, visit.saved)
OK = "ok"
READY = "polling"


@dataclass(frozen=True)
class Size:
    members: int
    per_member: int  # visits per member and round
    rounds: int  # alternating bursts of each side; the best is reported


SIZES = {
    "tiny": Size(members=5, per_member=4, rounds=1),
    "full": Size(members=20, per_member=10, rounds=5),
}


class CountingTelegram(FakeTelegram):
    """The stand-in, counting the replies to ``watched`` chats as they are recorded.

    Waiting on a count kept here costs the stand-in's process nothing per reply; scanning
    ``bot_messages`` after each one (as the tests do) would grow with the run.
    """

    def __init__(self, *args: Any, marker: str, watched: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker
        self.watched = frozenset(watched)
        self.matched = 0
        self.matched_at = 0.0
        self.unexpected: list[str] = []
        self._changed = asyncio.Event()

    async def call(
        self,
        method: str,
        params: Mapping[str, str],
        files: Mapping[str, tuple[str, bytes]],
        *,
        token: str | None = None,
    ) -> tuple[int, JsonDict]:
        status, body = await super().call(method, params, files, token=token)
        if status == 200 and method.lower() == "sendmessage":
            message = body["result"]
            if message["chat"]["id"] in self.watched:
                if self.marker in str(message.get("text", "")):
                    self.matched += 1
                    self.matched_at = asyncio.get_running_loop().time()
                else:
                    self.unexpected.append(str(message.get("text", "")))
                self._changed.set()
        return status, body

    async def until_matched(self, count: int) -> None:
        """Until ``count`` replies carried the marker; any other reply to a watched chat fails."""
        while self.matched < count:
            if self.unexpected:
                raise AssertionError(f"unexpected replies: {self.unexpected[:3]}")
            self._changed.clear()
            await self._changed.wait()


@dataclass
class Side:
    """One bot process and the stand-in it polls."""

    api: CountingTelegram
    bot: BotProcess
    members: list[int]

    async def burst(self, per_member: int, round_: int) -> tuple[float, float | None]:
        """(messages/s, the process's CPU ms per message): ``per_member`` one-line visits from
        every member, queued at once."""
        api, total = self.api, len(self.members) * per_member
        before, cpu_before = api.matched, cpu_seconds(self.bot.process.pid)
        start = asyncio.get_running_loop().time()
        for n in range(per_member):
            for person in self.members:
                api.command(person, "visit", f"王秀英 第{round_}轮第{n}次 送药")
        await self.bot.until(api.until_matched(before + total))
        cpu_after = cpu_seconds(self.bot.process.pid)
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return total / (api.matched_at - start), None if cpu is None else 1000 * cpu / total

    async def warm_up(self) -> None:
        """One visit through the whole path first: lazy imports and first connections aside."""
        before = self.api.matched
        self.api.command(self.members[0], "visit", "王秀英 热身")
        await self.bot.until(self.api.until_matched(before + 1))


# The project's modules are imported where they are used: the baseline process imports this
# module too, and should carry python-telegram-bot alone, not the bot it is compared with.


async def _start(
    stack: AsyncExitStack, folder: Path, role: str, marker: str, members: list[int]
) -> Side:
    from bot.clock import FixedClock
    from tests.harness import TOKEN
    from tests.pipeline.field_runner import DAY

    api = CountingTelegram(TOKEN, clock=FixedClock(DAY), marker=marker, watched=members)
    server = await stack.enter_async_context(StandinServer(api))
    log = folder / f"{role}.log"
    args = ["--base-url", server.base_url, "--file-url", server.file_url, "--token", TOKEN]
    args += ["--db", str(folder / f"{role}.db"), f"--{role}-runner"]
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.http",
            *args,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    bot = BotProcess(process, log)
    stack.push_async_callback(bot.stop)
    return Side(api, bot, members)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time the process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (``VmHWM``) so far, in MB; None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


@dataclass(frozen=True)
class Measured:
    ours: float  # visits/s, best round
    baseline: float  # updates/s, best round
    ours_cpu_ms: float | None  # CPU ms per visit, least of the rounds
    baseline_cpu_ms: float | None
    rss_mb: float | None
    baseline_rss_mb: float | None


def _least(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


async def measure(size: Size) -> Measured:
    from tests.pipeline.field_runner import seed, team

    members = [p.telegram_id for p in team(size.members)]
    with tempfile.TemporaryDirectory(prefix="zhucun-bench-http-") as name:
        folder = Path(name)
        await seed(folder / "bot.db", size.members)
        async with AsyncExitStack() as stack, asyncio.timeout(RUN_TIMEOUT):
            ours = await _start(stack, folder, "bot", SAVED, members)
            base = await _start(stack, folder, "baseline", OK, members)
            for side in (ours, base):
                await side.bot.until(side.api.polling.wait())
                await side.warm_up()
            runs: dict[str, list[tuple[float, float | None]]] = {"bot": [], "baseline": []}
            for round_ in range(size.rounds):
                runs["bot"].append(await ours.burst(size.per_member, round_))
                runs["baseline"].append(await base.burst(size.per_member, round_))
            rss = peak_rss_mb(ours.bot.process.pid)
            base_rss = peak_rss_mb(base.bot.process.pid)
    return Measured(
        ours=max(rate for rate, _ in runs["bot"]),
        baseline=max(rate for rate, _ in runs["baseline"]),
        ours_cpu_ms=_least([cpu for _, cpu in runs["bot"]]),
        baseline_cpu_ms=_least([cpu for _, cpu in runs["baseline"]]),
        rss_mb=rss,
        baseline_rss_mb=base_rss,
    )


def _cpu(ms: float | None) -> str:
    """The CPU cost per message, where it could be read."""
    return "" if ms is None else f", {ms:.1f} ms CPU each"


def rows(size: str) -> list[Row]:
    chosen = SIZES[size]
    measured = asyncio.run(measure(chosen))
    ratio, met = at_least(measured.ours, measured.baseline, TARGET_RATIO)
    shape = f"{chosen.members} members × {chosen.per_member}"
    best = f"best of {chosen.rounds}" if chosen.rounds > 1 else "1 round"
    visits = Row(
        figure=(
            f"one-line visits/s over HTTP polling ({shape}, {best}; bot as a process polling"
            " the stand-in on loopback, 30 msg/s limit lifted)"
        ),
        value=f"{measured.ours:.0f} visits/s{_cpu(measured.ours_cpu_ms)}",
        baseline=(
            f"{measured.baseline:.0f} updates/s{_cpu(measured.baseline_cpu_ms)}"
            " (reply-only PTB bot, same path)"
        ),
        ratio=ratio,
        target=f"≥ {TARGET_RATIO}",
        met=met,
    )
    if measured.rss_mb is None:
        memory = Row(figure="peak RSS of the bot during the HTTP run", value="n/a (no /proc)")
    else:
        scale = measured.baseline_rss_mb
        beside = "" if scale is None else f"; the reply-only PTB bot: {scale:.0f} MB"
        memory = Row(
            figure=f"peak RSS of the bot during the HTTP run (VmHWM{beside})",
            value=f"{measured.rss_mb:.0f} MB",
            target=f"< {RSS_LIMIT_MB:.0f} MB",
            met=measured.rss_mb < RSS_LIMIT_MB,
        )
    return [visits, memory]


# --- the two bot processes ------------------------------------------------------------------


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(READY, flush=True)
    await stop.wait()


async def run_bot(base_url: str, file_url: str, db: Path, token: str) -> None:
    """The product bot as ``tests.pipeline.field_runner`` runs it, without the 30 msg/s limit."""
    from bot.app import ALLOWED_UPDATES, build_application, serving
    from bot.clock import FixedClock
    from bot.config import load_settings
    from bot.sending import RetryingRateLimiter
    from tests.pipeline.field_runner import DAY

    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": token,
            "ZHUCUN_DB": str(db),
            "ZHUCUN_API_BASE_URL": base_url,
            "ZHUCUN_API_FILE_URL": file_url,
        }
    )
    app = build_application(
        settings,
        clock=FixedClock(DAY),
        rate_limiter=RetryingRateLimiter(overall_max_rate=0),
    )
    async with serving(app):
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5, allowed_updates=ALLOWED_UPDATES)
        await _until_signalled()


async def run_baseline(base_url: str, token: str) -> None:
    """python-telegram-bot's defaults and one handler that replies "ok"."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    app = ApplicationBuilder().token(token).base_url(base_url).build()

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(OK)

    app.add_handler(MessageHandler(filters.ALL, reply))
    async with app:  # what run_polling does, minus owning the event loop and signals
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        try:
            await _until_signalled()
        finally:
            await app.updater.stop()
            await app.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    runner = parser.add_mutually_exclusive_group()
    runner.add_argument("--bot-runner", action="store_true", help=argparse.SUPPRESS)
    runner.add_argument("--baseline-runner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--file-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)  # the stand-in's, not a real one
    args = parser.parse_args(argv)
    if args.bot_runner or args.baseline_runner:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        if args.bot_runner:
            asyncio.run(run_bot(args.base_url, args.file_url, args.db, args.token))
        else:
            asyncio.run(run_baseline(args.base_url, args.token))
        return 0
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
